"""MLflow's own client reads what mlrun writes, and the child's mlflow joins mlrun's run.

MLflow is really installed (in a side venv, built once by the `mlflow_python` fixture)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.services.mlflow_env import on_path, read_run

pytestmark = pytest.mark.mlflow


def test_sklearn_example_is_read_back_by_mlflows_client(
    mlflow_python: Path,
    mlrun: Callable[..., Result],
    example: Callable[[str], Path],
    isolated: Path,
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
        "--experiment-name",
        "sklearn",
        env=on_path(mlflow_python),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    data = read_run(mlflow_python, (isolated / "mlruns").as_uri(), run_id)
    assert data["status"] == "FINISHED"
    assert data["experiment"] == "sklearn"
    assert data["params"] == {"alpha": "0.3"}  # logged by mlrun and by train.py, same value
    assert data["metrics"]["mse"] > 1000  # the held-out error of the diabetes fit
    tags = data["tags"]
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.runName"] == data["run_name"]
    assert tags["mlrun.exit_code"] == "0"
    assert data["artifacts"] == ["mlrun/console.log"]
    assert "alpha=0.3 mse=" in result.stderr  # the child's output, streamed


def test_child_crash_is_recorded_failed_although_mlflow_ends_it_finished(
    mlflow_python: Path,
    mlrun: Callable[..., Result],
    project_factory: Callable[..., Path],
    isolated: Path,
) -> None:
    project = project_factory(
        {
            "MLproject": "entry_points:\n  main:\n    command: python crash.py\n",
            # No context manager: MLflow's atexit hook marks the run FINISHED on the way out.
            "crash.py": "import sys, mlflow\nmlflow.start_run()\nmlflow.log_metric('m', 1)\nsys.exit(5)\n",
        }
    )
    result = mlrun(
        "run",
        str(project),
        "--env-manager",
        "local",
        "--json",
        env=on_path(mlflow_python),
        timeout=300,
    )
    assert result.returncode == 5, result.stderr
    data = read_run(mlflow_python, (isolated / "mlruns").as_uri(), json.loads(result.stdout)["run_id"])
    assert data["status"] == "FAILED"
    assert data["metrics"] == {"m": 1.0}
    assert data["tags"]["mlrun.error"] == "command exited with code 5"


def test_a_real_world_quirky_project_runs_as_mlflow_runs_it(
    mlflow_python: Path,
    mlrun: Callable[..., Result],
    example: Callable[[str], Path],
    isolated: Path,
) -> None:
    """`str`/`integer`/`boolean` types, a vendor key, `conda_env: ~`, `default: None`: the script
    gets the same argv from both, and mlrun records the text that was passed."""
    project = example("mlflow_quirks")
    given = ["-P", "epochs=+08"]
    ours = mlrun("run", str(project), "--env-manager", "local", "--json", *given, env=on_path(mlflow_python))
    assert ours.returncode == 0, ours.stderr
    assert "rocket: unknown key, ignored, as MLflow does" in ours.stderr
    env = {**on_path(mlflow_python), "MLFLOW_TRACKING_URI": (isolated / "theirs").as_uri()}
    env |= {"MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    theirs = subprocess.run(
        [str(mlflow_python.parent / "mlflow"), "run", str(project), "--env-manager", "local", *given],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert theirs.returncode == 0, theirs.stderr
    argv = ["data.txt", "--epochs", "+08", "--lr", "1e-3", "--shuffle", "True", "--seed", "None"]
    assert json.dumps(argv) in theirs.stdout
    assert json.dumps(argv) in ours.stderr  # the child's output, streamed
    data = read_run(mlflow_python, (isolated / "mlruns").as_uri(), json.loads(ours.stdout)["run_id"])
    assert data["params"] == {
        "data": "data.txt",
        "epochs": "+08",
        "lr": "1e-3",
        "shuffle": "True",
        "seed": "None",
    }


READ_SWEEP = """
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
parent = client.get_run(sys.argv[2])
children = client.search_runs(
    [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
)
print(json.dumps({
    "params": parent.data.params, "metrics": parent.data.metrics,
    "children": {c.data.params["alpha"]: [c.info.run_name, c.data.metrics["mse"]] for c in children},
}))
"""


@pytest.mark.slow
def test_a_first_sweep_of_the_quick_start_example_has_a_best_point(
    mlflow_python: Path, mlrun: Callable[..., Result], example: Callable[[str], Path], isolated: Path
) -> None:
    """The quick start's example, swept as a newcomer would, in its own env (built with uv from its
    python_env.yaml): alpha changes mse, the parent names the best point, and MLflow's client
    shows each point's name by its value and the best point in the parent's params and metrics."""
    project = example("sklearn_linear")
    args = ("-S", "alpha=0.0001,0.001,1", "--objective", "mse", "--run-name", "first", "--json")
    result = mlrun("run", str(project), *args, timeout=900)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    scores = {c["point"]["alpha"]: c["objective"] for c in out["children"]}
    assert len(set(scores.values())) == 3, scores  # alpha matters (and "1" is logged as "1", not "1.0")
    best = min(scores, key=lambda alpha: scores[alpha])
    assert out["objective"] == "mse:min" and out["best"]["point"] == {"alpha": best}
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    uri = (isolated / "mlruns").as_uri()
    read = subprocess.run(
        [str(mlflow_python), "-c", READ_SWEEP, uri, out["parent_run_id"]],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seen = json.loads(read.stdout)
    assert seen["params"] == {"alpha": best} and seen["metrics"] == {"mse": scores[best]}
    assert seen["children"] == {
        alpha: [f"alpha={alpha} | first-{index}", scores[alpha]] for index, alpha in enumerate(scores)
    }
