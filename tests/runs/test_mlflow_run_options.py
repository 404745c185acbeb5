"""Every `mlflow run` option is accepted with its meaning, or refused (exit 2) saying what to use
instead; checked against MLflow's real CLI, and each one run for real."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from mlrun_cli.cli.run import run as run_command
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
SPEC = (
    "entry_points:\n  main:\n    parameters:\n      alpha: {type: float, default: 0.5}\n"
    '    command: "echo alpha={alpha}"\n'
)
OPTIONS_OF = (
    "import json\nfrom mlflow.cli import run\nprint(json.dumps([o for p in run.params for o in p.opts]))"
)


@pytest.mark.mlflow
def test_every_mlflow_run_option_is_an_mlrun_run_option(mlflow_python: Path) -> None:
    out = subprocess.run([str(mlflow_python), "-c", OPTIONS_OF], capture_output=True, text=True, check=True)
    theirs = set(json.loads(out.stdout)) - {"uri"}
    assert {"--param-list", "--run-id", "--storage-dir", "--build-image"} <= theirs  # read for real
    ours = {opt for param in run_command.params if isinstance(param, click.Option) for opt in param.opts}
    assert sorted(theirs - ours) == []


def _store(work: Path) -> FileStore:
    return FileStore(work / "mlruns")


def _waiting_run(work: Path, name: str = "from-the-orchestrator") -> str:
    """A run created as an orchestrator (or a parent's mlflow.start_run()) leaves it: RUNNING."""
    store = _store(work)
    store.check()  # the store with its default experiment, as mlrun makes it
    experiment = store.resolve_experiment(None, None)
    ref = store.create_run(experiment.experiment_id, name, "someone", int(time.time() * 1000), {"mine": "1"})
    return ref.run_id


def test_param_list_is_p_and_undeclared_params_are_appended_with_a_warning(
    mlrun: Mlrun, project_factory: Factory
) -> None:
    project = project_factory({"MLproject": SPEC})
    done = mlrun(
        "run", str(project), "--param-list", "alpha=0.25", "-P", "extra=x y", "--env-manager", "local"
    )
    assert done.returncode == 0, done.stderr
    assert "alpha=0.25 --extra 'x y'" in done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        "Warning: -P extra: not a parameter of entry point 'main'; passed as --extra (as MLflow does)"
    ]


def test_run_id_records_into_the_existing_run(mlrun: Mlrun, project_factory: Factory, isolated: Path) -> None:
    project = project_factory({"MLproject": SPEC})
    run_id = _waiting_run(isolated)
    done = mlrun(
        "run", str(project), "--run-id", run_id, "-P", "alpha=0.3", "--env-manager", "local", "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["run_id"], result["run_name"], result["status"]) == (
        run_id,
        "from-the-orchestrator",
        "FINISHED",
    )
    store = _store(isolated)
    assert [r.run_id for r in store.search_runs(None, 10)] == [run_id]  # no second run
    record = store.get_run(run_id)
    assert record.status is RunStatus.FINISHED
    assert record.params["alpha"] == "0.3" and record.tags["mine"] == "1"
    assert record.tags["mlflow.project.entryPoint"] == "main"
    assert "mlrun/console.log" in record.artifacts


def test_run_id_run_ends_failed_when_the_environment_cannot_be_built(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    """Whoever created the run waits for its end: a failed build must not leave it RUNNING."""
    project = project_factory(
        {
            "MLproject": "python_env: python_env.yaml\nentry_points: {main: {command: 'true'}}\n",
            "python_env.yaml": "dependencies: [./does-not-exist]\n",
        }
    )
    run_id = _waiting_run(isolated)
    failed = mlrun("run", str(project), "--run-id", run_id, "--env-manager", "uv")
    assert failed.returncode not in (0, 3) and "Traceback" not in failed.stderr, failed.stderr
    record = _store(isolated).get_run(run_id)
    assert record.status is RunStatus.FAILED
    assert "does-not-exist" in record.tags["mlrun.error"]


def test_run_id_is_refused_when_the_run_cannot_be_continued(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = str(project_factory({"MLproject": SPEC}))
    local = ("--env-manager", "local")
    unknown = mlrun("run", project, "--run-id", "0" * 32, *local)
    assert unknown.returncode == 2 and f"no run with id '{'0' * 32}'" in unknown.stderr
    finished = _waiting_run(isolated)
    assert mlrun("run", project, "--run-id", finished, *local).returncode == 0
    again = mlrun("run", project, "--run-id", finished, *local)
    assert again.returncode == 2
    assert (
        f"Error: run {finished} is FINISHED: only a run that has not ended can be continued" in again.stderr
    )
    assert "Hint: leave out --run-id to record a new run" in again.stderr
    changed = mlrun("run", project, "--run-id", finished, "-P", "alpha=0.9", *local)
    assert changed.returncode == 2 and "FINISHED" in changed.stderr
    waiting = _waiting_run(isolated)
    _store(isolated).log_batch(waiting, {"alpha": "0.1"}, {})
    conflict = mlrun("run", project, "--run-id", waiting, "-P", "alpha=0.9", *local)
    assert conflict.returncode == 2
    assert (
        f"run {waiting} has recorded alpha='0.1' (now '0.9'); a logged parameter cannot change"
        in conflict.stderr
    )
    for extra, says in (
        (("--experiment-id", "123"), f"run {waiting} is in experiment 0, not 123"),
        (("--retries", "1"), "not with --run-id"),
        (("--needed",), "not both"),
        (("-S", "alpha=1,2"), "a sweep records a run per point"),
        (("--no-track",), "not with --no-track"),
    ):
        refused = mlrun("run", project, "--run-id", waiting, "-P", "alpha=0.1", *local, *extra)
        assert refused.returncode == 2 and says in refused.stderr, (extra, refused.stderr)
    assert _store(isolated).get_run(waiting).status is RunStatus.RUNNING  # untouched by all that


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ("--storage-dir", "mlrun downloads no 'path' parameters, so it has no storage dir"),
        ("--docker-auth", "mlrun uses this machine's Docker credentials: run 'docker login REGISTRY'"),
    ],
)
def test_mlflow_options_mlrun_has_no_use_for_say_what_to_do(
    mlrun: Mlrun, project_factory: Factory, option: str, says: str
) -> None:
    project = project_factory({"MLproject": SPEC})
    refused = mlrun("run", str(project), option, "x", "--env-manager", "local")
    assert refused.returncode == 2
    assert f"Error: {option} (an 'mlflow run' option) is not needed here: {says}" in refused.stderr
    assert not Path("mlruns").exists()  # nothing ran


def test_the_python_api_refuses_them_too() -> None:
    from mlrun_cli import run
    from mlrun_cli.errors import UsageError

    with pytest.raises(UsageError, match="storage_dir is not needed here: mlrun downloads no 'path'"):
        run(".", storage_dir="/tmp")


def test_the_python_api_continues_a_run(project_factory: Factory, isolated: Path) -> None:
    from mlrun_cli import run

    waiting = _waiting_run(isolated)
    result = run(str(project_factory({"MLproject": SPEC})), run_id=waiting, env_manager="local")
    assert result.run_id == waiting and result.status is RunStatus.FINISHED  # type: ignore[union-attr]
    assert [r.run_id for r in _store(isolated).search_runs(None, 10)] == [waiting]
