"""`mlrun ui`: MLflow's own UI over the tracking store, whether or not MLflow is installed here.

mlrun writes MLflow's formats without depending on MLflow, so `pip install mlrun-cli` brings no
`mlflow` command. This finds one (on PATH, or importable next to mlrun through the `mlflow`
extra), else installs MLflow once with uv into a tool venv under $MLRUN_HOME, and starts
`mlflow ui` on the store a run would record into.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mlrun_cli.errors import CommandFailed, InfrastructureError, UsageError
from mlrun_cli.tracking import NO_TRACKING, resolve_tracking_uri
from mlrun_cli.uri_credentials import redact_uri, split_credentials

TOOL_DIR = ("tools", "mlflow")
READY = "mlrun-ready"
# MLflow 3.13+ refuses a file store unless this is set; mlrun's stores are file stores by default.
UI_ENV = {"MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
STORE_VARIABLE = "MLFLOW_BACKEND_STORE_URI"
# MLflow 3 opens on its GenAI mode (each experiment on "Traces", empty for mlrun's runs); its UI
# (a hash router) reads the mode from this query, which lasts while one stays in the experiment
# (back in the experiments list, the browser's remembered mode applies again: README says how to
# set it). Experiment 0, Default, is where runs go without --experiment-name. Checked against the
# MLflow the tests install (tests/cli/test_ui.py) and in a browser; older UIs ignore the query.
RUNS_VIEW = "/#/experiments/0?workflowType=machine_learning"


@dataclass(frozen=True)
class UiRequest:
    tracking_uri: str | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    extra_args: tuple[str, ...] = ()


def tool_venv() -> Path:
    from mlrun_cli.home import mlrun_home

    return mlrun_home().joinpath(*TOOL_DIR)


def find_mlflow() -> list[str] | None:
    """An `mlflow` command already here: on PATH, else importable next to mlrun, else the tool
    venv built by an earlier `mlrun ui`."""
    found = shutil.which("mlflow")
    if found is not None:
        return [found]
    if importlib.util.find_spec("mlflow") is not None:
        return [sys.executable, "-m", "mlflow"]
    venv = tool_venv()
    if (venv / READY).is_file() and (venv / "bin" / "mlflow").is_file():
        return [str(venv / "bin" / "mlflow")]
    return None


def install_mlflow() -> list[str]:
    """Install MLflow with uv into the tool venv, once (a lock keeps two installs apart)."""
    from filelock import FileLock

    from mlrun_cli.envs.progress import progress
    from mlrun_cli.envs.venvs import uv_executable
    from mlrun_cli.home import writable_dir
    from mlrun_cli.process import run_logged

    venv = tool_venv()
    writable_dir(*TOOL_DIR[:-1])
    with FileLock(str(venv.with_suffix(".lock"))):
        if (venv / READY).is_file():
            return [str(venv / "bin" / "mlflow")]
        shutil.rmtree(venv, ignore_errors=True)
        uv = uv_executable()
        log_path = venv.with_suffix(".log")
        try:
            message = f"MLflow is not installed here: installing it once into {venv} for its UI"
            with log_path.open("w", encoding="utf-8") as raw_log, progress(message, log=raw_log) as log:
                run_logged([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], log=log)
                python = str(venv / "bin" / "python")
                run_logged([uv, "pip", "install", "--python", python, "mlflow"], log=log)
        except CommandFailed as error:
            shutil.rmtree(venv, ignore_errors=True)
            raise InfrastructureError(
                f"cannot install MLflow for its UI: {error.message}",
                hint=f"see {log_path}; or install it yourself: pip install 'mlrun-cli[mlflow]'",
            ) from None
        (venv / READY).write_text("")
    return [str(venv / "bin" / "mlflow")]


def ui_command(request: UiRequest, mlflow: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """`mlflow ui`'s command line and environment. A store URI with credentials goes in the
    environment (MLFLOW_BACKEND_STORE_URI, which `mlflow ui` reads), never on the command line,
    where `ps` shows it to every user of the machine."""
    uri = resolve_tracking_uri(request.tracking_uri)
    env = dict(UI_ENV)
    store: list[str] = ["--backend-store-uri", uri]
    if split_credentials(uri)[1:] != (None, None):
        env[STORE_VARIABLE] = uri
        store = []
    where = ["--host", request.host, "--port", str(request.port)]
    return [*mlflow, "ui", *store, *where, *request.extra_args], env


def server_url(request: UiRequest) -> str | None:
    """An http(s) tracking URI is a server that serves its own UI: nothing to start (the URL
    returned is safe to print: credentials redacted)."""
    uri = resolve_tracking_uri(request.tracking_uri)
    if uri == NO_TRACKING:
        raise UsageError("--tracking-uri none records nothing: there is nothing to look at")
    return redact_uri(uri) if urlparse(uri).scheme in ("http", "https") else None


def runs_view_url(base: str) -> str:
    """The URL of the Default experiment's runs (the "Model training" workflow) on the UI at `base`."""
    return base.rstrip("/") + RUNS_VIEW


def start_ui(request: UiRequest) -> None:
    """Replace this process with `mlflow ui` (Ctrl-C and exit codes are then MLflow's own)."""
    from mlrun_cli.envs.progress import announce
    from mlrun_cli.process import replace_process

    mlflow = find_mlflow() or install_mlflow()
    argv, env = ui_command(request, mlflow)
    store = redact_uri(resolve_tracking_uri(request.tracking_uri))
    host = f"[{request.host}]" if ":" in request.host else request.host
    announce(f"MLflow's UI for {store} at {runs_view_url(f'http://{host}:{request.port}')}")
    replace_process(argv, env)
