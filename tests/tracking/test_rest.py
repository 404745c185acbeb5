"""Recording into a real `mlflow server` over REST (MLflow from the side venv, SQLite backend,
artifacts served by the server's proxy, bound to 127.0.0.1 on a free port)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.git_daemon import free_port

pytestmark = pytest.mark.mlflow

READ = """
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
run = client.get_run(sys.argv[2])
path = client.download_artifacts(run.info.run_id, "mlrun/console.log", sys.argv[3])
print(json.dumps({"status": run.info.status, "params": run.data.params, "tags": run.data.tags,
                  "metrics": run.data.metrics, "console": open(path).read(),
                  "experiment": client.get_experiment(run.info.experiment_id).name}))
"""


@pytest.fixture(scope="module")
def server(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        log.close()
        raise RuntimeError("mlflow server did not start:\n" + (root / "server.log").read_text())
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_sklearn_example_recorded_on_a_tracking_server(
    server: str,
    mlflow_python: Path,
    mlrun: Callable[..., Result],
    example: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    project = example("sklearn_linear")
    result = mlrun(
        "run",
        str(project),
        "--env-manager",
        "local",
        "-P",
        "alpha=0.3",
        "--json",
        "--tracking-uri",
        server,
        "--experiment-name",
        "on-server",
        env={"PATH": f"{mlflow_python.parent}:{os.environ['PATH']}"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    out = subprocess.run(
        [str(mlflow_python), "-c", READ, server, run_id, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    assert data["status"] == "FINISHED" and data["experiment"] == "on-server"
    assert data["params"] == {"alpha": "0.3"}
    assert data["metrics"]["mse"] < 1e-20  # logged by the child's own mlflow, into our run
    assert data["tags"]["mlflow.source.type"] == "PROJECT" and data["tags"]["mlrun.exit_code"] == "0"
    assert "alpha=0.3 mse=" in data["console"]
    listed = json.loads(mlrun("runs", "list", "--tracking-uri", server, "--json").stdout)
    assert run_id in [r["run_id"] for r in listed]
    shown = json.loads(mlrun("runs", "show", run_id, "--tracking-uri", server, "--json").stdout)
    assert shown["status"] == "FINISHED" and "mlrun/console.log" in shown["artifacts"]


def test_failed_command_is_recorded_failed_on_the_server(
    server: str,
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'exit 6'}}\n"})
    result = mlrun("run", str(project), "--env-manager", "local", "--json", "--tracking-uri", server)
    assert result.returncode == 6
    shown = json.loads(
        mlrun("runs", "show", json.loads(result.stdout)["run_id"], "--tracking-uri", server, "--json").stdout
    )
    assert shown["status"] == "FAILED" and shown["tags"]["mlrun.error"] == "command exited with code 6"


def test_unreachable_server_is_a_clear_error_before_anything_runs(
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    project = project_factory({"MLproject": f"entry_points: {{main: {{command: 'touch {marker}'}}}}\n"})
    result = mlrun(
        "run",
        str(project),
        "--env-manager",
        "local",
        "--tracking-uri",
        f"http://user:s3cret@127.0.0.1:{free_port()}",
    )
    assert result.returncode == 2
    assert "cannot reach the tracking server http://127.0.0.1:" in result.stderr
    assert "s3cret" not in result.stderr and not marker.exists()
