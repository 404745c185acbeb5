"""A real `mlflow server` for the tests, from the MLflow side venv."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tests import tiers

ADMIN = ("admin", "Mlrun-Test-Admin-7")


def start_server(
    mlflow_python: Path, root: Path, port: int, *, basic_auth: bool = False, prefix: Sequence[str] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """`mlflow server` from the side venv on 127.0.0.1, SQLite backend, artifacts served;
    with MLflow's basic-auth app when asked; `prefix` runs it (and the health check) inside
    another network namespace."""
    tiers.require("mlflow")
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    auth: list[str] = []
    if basic_auth:
        (root / "auth.ini").write_text(
            f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{root}/auth.db\n"
            f"admin_username = {ADMIN[0]}\nadmin_password = {ADMIN[1]}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        env.update(MLFLOW_AUTH_CONFIG_PATH=str(root / "auth.ini"), MLFLOW_FLASK_SERVER_SECRET_KEY="test")
        auth = ["--app-name", "basic-auth"]
    with (root / "server.log").open("a") as log:
        proc = subprocess.Popen(
            [
                *prefix,
                str(mlflow_python.parent / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{root}/mlflow.db",
                "--artifacts-destination",
                str(root / "artifacts"),
                "--workers",
                "1",
                *auth,
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
            start_new_session=True,  # its uvicorn and job consumers go with it (stop_server)
        )
    url = f"http://127.0.0.1:{port}"
    # Its schema migrations alone took 19 s on a loaded 2-core machine: a deadline, not a wait.
    deadline = time.monotonic() + 240
    probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)"
    while time.monotonic() < deadline:
        if prefix:
            checked = subprocess.run(
                [*prefix, sys.executable, "-c", probe, f"{url}/health"], capture_output=True
            )
            if checked.returncode == 0:
                return proc, url
            time.sleep(0.2)
            continue
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.2)
    _kill_group(proc)
    raise RuntimeError("mlflow server did not start:\n" + (root / "server.log").read_text())


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """The server and every process it started: MLflow's uvicorn and huey job consumers
    outlived a server killed alone, one CI run long."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)  # reaped: a Popen dropped while its process runs is a ResourceWarning
