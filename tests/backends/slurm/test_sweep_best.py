"""A detached sweep on the real one-node Slurm cluster, settled by `mlrun runs wait`: the points'
names lead with their values, and the parent holds the best point as its own params and metric."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# Each point logs the metric `loss` = (b - 2)^2 the way MLflow's client writes a file store.
POINT = """
import os, sys
b = int(sys.argv[1])
run = os.path.join(os.environ["MLFLOW_TRACKING_URI"].removeprefix("file://"),
                   os.environ["MLFLOW_EXPERIMENT_ID"], os.environ["MLFLOW_RUN_ID"], "metrics")
os.makedirs(run, exist_ok=True)
open(os.path.join(run, "loss"), "w").write(f"1 {(b - 2) ** 2} 0\\n")
"""
MLPROJECT = """\
name: best-on-slurm
entry_points:
  main:
    parameters: {b: {type: int, default: 1}, seed: {type: int, default: 7}}
    command: "python3 point.py {b}"
"""


def test_a_detached_slurm_sweeps_parent_holds_the_best_point(
    mlrun: Callable[..., Result],
    slurm_env: dict[str, str],
    project_factory: Callable[[dict[str, str]], Path],
    isolated: Path,
) -> None:
    project = project_factory({"MLproject": MLPROJECT, "point.py": POINT})
    args = (
        "-b",
        "slurm",
        "--env-manager",
        "local",
        "-S",
        "b=1,2,3",
        "--objective",
        "loss",
        "--run-name",
        "s",
    )
    submitted = mlrun("run", str(project), *args, "--detach", "--json", env=slurm_env)
    assert submitted.returncode == 0, submitted.stderr
    parent_id = json.loads(submitted.stdout)["parent_run_id"]
    waited = mlrun("runs", "wait", parent_id, env=slurm_env, timeout=180)
    assert waited.returncode == 0, waited.stderr
    store = FileStore(isolated / "mlruns")
    children = [store.get_run(c["run_id"]) for c in json.loads(submitted.stdout)["children"]]
    assert [c.run_name for c in children] == ["b=1 | s-0", "b=2 | s-1", "b=3 | s-2"]
    parent = store.get_run(parent_id)
    assert parent.status.name == "FINISHED"
    assert parent.params == {"seed": "7", "b": "2"} and parent.metrics == {"loss": 0.0}
