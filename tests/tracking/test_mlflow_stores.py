"""MLflow's SQL stores through MLflow's own client, with mlrun installed beside MLflow (the
`mlflow` extra), and read back by MlflowClient."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.services.mlflow_env import read_run

pytestmark = pytest.mark.mlflow
PARENT = """
import json, sys
from mlflow.tracking import MlflowClient
run = MlflowClient(tracking_uri=sys.argv[1]).get_run(sys.argv[2])
print(json.dumps([run.data.params, run.data.metrics]))
"""


@pytest.fixture(scope="module")
def mlrun_beside_mlflow(mlflow_python: Path) -> Path:
    """The MLflow side venv with this checkout of mlrun installed into it (editable)."""
    probe = [str(mlflow_python), "-c", "import mlrun_cli, sys; print(mlrun_cli.__file__)"]
    found = subprocess.run(probe, capture_output=True, text=True, check=False, cwd="/").stdout.strip()
    if not found.startswith(str(REPO)):
        uv = Path(sys.executable).parent / "uv"
        subprocess.run(
            [str(uv), "pip", "install", "-q", "--python", str(mlflow_python), "-e", str(REPO)], check=True
        )
    return mlflow_python


def test_sqlite_store_through_mlflows_client(
    mlrun_beside_mlflow: Path, tmp_path: Path, example: Callable[[str], Path]
) -> None:
    python = mlrun_beside_mlflow
    project = example("sklearn_linear")
    env = {**os.environ, "PATH": f"{python.parent}:{os.environ['PATH']}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = subprocess.run(
        [
            str(python),
            "-m",
            "mlrun_cli",
            "run",
            str(project),
            "--env-manager",
            "local",
            "-P",
            "alpha=0.3",
            "--json",
            "--tracking-uri",
            uri,
            "--experiment-name",
            "sql",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    data = read_run(python, uri, run_id)
    assert data["status"] == "FINISHED" and data["params"] == {"alpha": "0.3"}
    assert data["metrics"]["mse"] > 1000  # the child's mlflow, into the same SQLite run
    assert data["tags"]["mlrun.exit_code"] == "0" and "mlrun/console.log" in data["artifacts"]
    listed = subprocess.run(
        [str(python), "-m", "mlrun_cli", "runs", "list", "--tracking-uri", uri, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert run_id in [r["run_id"] for r in json.loads(listed)]
    # A sweep's parent holds the best point as its own params and metric, through MLflow's client.
    swept = subprocess.run(
        [str(python), "-m", "mlrun_cli", "run", str(project), "-S", "alpha=0.001,1", "--objective", "mse",
         "--env-manager", "local", "--json", "--tracking-uri", uri],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    out = json.loads(swept.stdout)
    read = [str(python), "-c", PARENT, uri, out["parent_run_id"]]
    params, metrics = json.loads(
        subprocess.run(read, capture_output=True, text=True, env=env, check=True).stdout
    )
    assert params == {"alpha": out["best"]["point"]["alpha"]} and metrics == {"mse": out["best"]["objective"]}


HISTORY = """
import json, sys
from mlflow.tracking import MlflowClient
from mlrun_cli.tracking import get_tracker
from mlrun_cli.tracking.base import metric_history
client = MlflowClient(tracking_uri=sys.argv[1])
run = client.create_run("0")
for step in (2, 0, 1):
    client.log_metric(run.info.run_id, "loss", 1.0 / (step + 1), step=step)
tracker = get_tracker(sys.argv[1])
print(json.dumps([type(tracker).__name__, metric_history(tracker, run.info.run_id, "loss")]))
"""


def test_metric_history_through_mlflows_client(mlflow_python: Path, tmp_path: Path) -> None:
    """What --early-stop reads from a SQL store: every step MLflow's client logged, in order
    (this checkout on PYTHONPATH beside MLflow, nothing installed into its venv)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true"}
    argv = [str(mlflow_python), "-c", HISTORY, f"sqlite:///{tmp_path}/mlflow.db"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    name, history = json.loads(out.splitlines()[-1])
    assert name == "MlflowClientTracker" and history == [[0, 1.0], [1, 0.5], [2, 1 / 3]]
