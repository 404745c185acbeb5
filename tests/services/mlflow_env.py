"""A Python with MLflow and scikit-learn in a side venv, built once per machine with uv, reused.

Shared by the tests (fixture `mlflow_python`) and the benchmarks in bench/."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests import tiers
from tests.services.side_venv import SideVenv

MLFLOW_VENV = SideVenv(
    name="mlflow-venv",
    env_var="MLRUN_TEST_MLFLOW_VENV",
    requirements=("mlflow[auth]", "scikit-learn", "numpy"),
    probe="import mlflow, sklearn, flask_wtf",
)


def ensure_mlflow_python() -> Path:
    tiers.require("mlflow")
    return MLFLOW_VENV.python()


READ_RUN = """
import json, sys, tempfile
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
run = client.get_run(sys.argv[2])
info = run.info
console = client.download_artifacts(info.run_id, "mlrun/console.log", tempfile.mkdtemp())
models = client.search_logged_models(experiment_ids=[info.experiment_id])
print(json.dumps({
    "status": info.status, "params": run.data.params, "tags": run.data.tags,
    "metrics": run.data.metrics, "experiment_id": info.experiment_id, "run_name": info.run_name,
    "artifacts": [a.path for a in client.list_artifacts(info.run_id, "mlrun")],
    "experiment": client.get_experiment(info.experiment_id).name,
    "models": [m.name for m in models if m.source_run_id == info.run_id],
    "console": open(console).read(),
}))
"""


def read_run(python: Path, tracking_uri: str, run_id: str, prefix: Sequence[str] = ()) -> dict:  # type: ignore[type-arg]
    """A run as MLflow's own client sees it, read in the MLflow venv (`prefix`: from another
    network namespace)."""
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run(
        [*prefix, str(python), "-c", READ_RUN, tracking_uri, run_id],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def on_path(python: Path) -> dict[str, str]:
    """Environment entries that put the MLflow venv first on PATH, for the command's `python`."""
    return {"PATH": f"{python.parent}:{os.environ['PATH']}"}
