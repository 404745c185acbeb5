"""Recording into a real `mlflow server` over REST (MLflow from the side venv, SQLite backend,
artifacts served by the server's proxy, bound to 127.0.0.1 on a free port)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.services.git_daemon import free_port
from tests.services.mlflow_env import on_path, read_run
from tests.services.mlflow_server import ADMIN, start_server, stop_server

pytestmark = pytest.mark.mlflow


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
        env=on_path(mlflow_python),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    data = read_run(mlflow_python, server, run_id)
    assert data["status"] == "FINISHED" and data["experiment"] == "on-server"
    assert data["params"] == {"alpha": "0.3"}
    assert data["metrics"]["mse"] > 1000  # logged by the child's own mlflow, into our run
    assert data["tags"]["mlflow.source.type"] == "PROJECT" and data["tags"]["mlrun.exit_code"] == "0"
    assert "alpha=0.3 mse=" in data["console"]
    assert data["models"] == ["model"]  # the model the child logged, attached to our run
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
    assert result.returncode == 75  # infrastructure: worth a retry, unlike a typo
    assert "cannot reach the tracking server http://127.0.0.1:" in result.stderr
    assert "s3cret" not in result.stderr and not marker.exists()


def test_server_lost_mid_run_then_runs_sync_sends_everything(
    mlflow_python: Path,
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
    tmp_path: Path,
    isolated: Path,
) -> None:
    from tests.faults.mid_run import started_run

    root, port = tmp_path / "server", free_port()
    proc, url = start_server(mlflow_python, root, port)
    project = project_factory(
        {"MLproject": "entry_points: {main: {command: 'echo started; sleep 4; echo done'}}\n"}
    )
    try:
        with started_run(project, url, cwd=isolated) as run:
            stop_server(proc)  # the server goes away while the command runs
            out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err  # the run's own result, whatever happened to tracking
        assert out == "done\n" and "mlrun runs sync" in err
        run_id = err.split("mlrun: run ", 1)[1].split()[0]
        pending = mlrun("runs", "sync")
        assert pending.returncode == 1 and "still pending" in pending.stdout
        proc, url = start_server(mlflow_python, root, port)  # back, with the same database
        synced = mlrun("runs", "sync")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert f"run {run_id} -> {url}:" in synced.stdout and "all sent" in synced.stdout
        shown = json.loads(mlrun("runs", "show", run_id, "--tracking-uri", url, "--json").stdout)
        assert shown["status"] == "FINISHED" and shown["tags"]["mlrun.exit_code"] == "0"
        assert "mlrun/console.log" in shown["artifacts"]
        assert mlrun("runs", "sync").stdout.strip() == "Nothing to send."
    finally:
        stop_server(proc)


@pytest.mark.parametrize(
    ("credentials", "ok"),
    [
        ({"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1]}, True),
        ({"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": "wrong"}, False),
        ({}, False),
    ],
)
def test_basic_auth_credentials(
    credentials: dict[str, str],
    ok: bool,
    auth_server: str,
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    project = project_factory({"MLproject": f"entry_points: {{main: {{command: 'touch {marker}'}}}}\n"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    result = mlrun(
        "run",
        str(project),
        "--env-manager",
        "local",
        "--json",
        "--tracking-uri",
        auth_server,
        env={**env, **credentials},
    )
    if ok:
        assert result.returncode == 0, result.stderr
        shown = mlrun(
            "runs",
            "show",
            json.loads(result.stdout)["run_id"],
            "--tracking-uri",
            auth_server,
            "--json",
            env={**env, **credentials},
        )
        assert json.loads(shown.stdout)["status"] == "FINISHED"
    else:
        assert result.returncode == 2
        output = result.stdout + result.stderr  # with --json the error is JSON on stdout
        assert "refused the credentials (401)" in output and not marker.exists()
        assert ADMIN[1] not in output


@pytest.fixture(scope="module")
def auth_server(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_server(mlflow_python, tmp_path_factory.mktemp("auth"), free_port(), basic_auth=True)
    yield url
    stop_server(proc)


PARENT = """
import json, sys
from mlflow.tracking import MlflowClient
run = MlflowClient(tracking_uri=sys.argv[1]).get_run(sys.argv[2])
print(json.dumps([run.data.params, run.data.metrics]))
"""


def test_a_sweeps_parent_on_the_server_holds_the_best_point(
    server: str, mlflow_python: Path, mlrun: Callable[..., Result], example: Callable[[str], Path]
) -> None:
    project = example("sklearn_linear")
    args = ("-S", "alpha=0.001,1", "--objective", "mse", "--tracking-uri", server, "--json")
    result = mlrun(
        "run", str(project), "--env-manager", "local", *args, env=on_path(mlflow_python), timeout=300
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    read = [str(mlflow_python), "-c", PARENT, server, out["parent_run_id"]]
    params, metrics = json.loads(subprocess.run(read, capture_output=True, text=True, check=True).stdout)
    assert params == {"alpha": out["best"]["point"]["alpha"]}
    assert metrics == {"mse": out["best"]["objective"]}


def test_an_early_stopping_sweep_reads_the_points_histories_from_the_server(
    server: str,
    mlflow_python: Path,
    mlrun: Callable[..., Result],
    example: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    """The points log `loss` with MLflow's own client (`mlflow.log_metric(..., step=)`); mlrun reads
    them back through metrics/get-history and stops the losing ones on the server."""
    from mlrun_cli.tracking.rest.tracker import RestTracker

    rules = tmp_path / "sweep.yaml"
    rules.write_text(
        "parameters: {rate: [0.4, 0.05], floor: [0.1, 0.5]}\nobjective: loss:min\n"
        "early_stop: {rule: asha, min_steps: 3, reduction_factor: 2}\n"
    )
    args = ("--sweep-file", str(rules), "--max-parallel", "2", "-P", "pause=0.3", "--tracking-uri", server)
    result = mlrun(
        "run", str(example("curves")), "--env-manager", "local", *args, "--json",
        env=on_path(mlflow_python), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    stopped = [p for p in out["children"] if p["early_stopped"]]
    assert stopped and out["stopped_early"] == len(stopped)
    tracker = RestTracker(server)
    for point in out["children"]:
        data = read_run(mlflow_python, server, point["run_id"])
        steps = [step for step, _ in tracker.metric_history(point["run_id"], "loss")]
        assert steps == list(range(len(steps)))
        if point["early_stopped"]:
            assert data["status"] == "KILLED" and len(steps) < 27
            assert json.loads(data["tags"]["mlrun.early_stopped"])["rule"] == "asha"
        else:
            assert data["status"] == "FINISHED" and len(steps) == 27
    assert out["best"]["point"] == {"rate": "0.4", "floor": "0.1"}
