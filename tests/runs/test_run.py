"""End-to-end runs through the real `mlrun` command: exit codes, records, signals, concurrency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import MLRUN, Popen, Result

Mlrun = Callable[..., Result]
ProjectFactory = Callable[[dict[str, str]], Path]


def _project(factory: ProjectFactory, command: str, params: str = "{}") -> Path:
    return factory(
        {
            "MLproject": f"name: t\nentry_points:\n  main:\n    parameters: {params}\n"
            f"    command: {json.dumps(command)}\n"
        }
    )


def _runs(work: Path) -> list:  # type: ignore[type-arg]
    store = FileStore(work / "mlruns")
    return [store.get_run(r.run_id) for r in store.search_runs(None, 1000)]


def test_successful_run_is_recorded_with_params_tags_and_console_log(
    mlrun: Mlrun, example: Callable[[str], Path], isolated: Path
) -> None:
    project = example("typed_params")
    result = mlrun(
        "run",
        str(project),
        "--env-manager",
        "local",
        "-P",
        "text=hello world",
        "-P",
        "ratio=1e-1",
        "-P",
        "extra=x y",
        "--run-name",
        "first",
        "--experiment-name",
        "demo",
    )
    assert result.returncode == 0, result.stderr
    argv = json.loads(result.stdout.splitlines()[0])
    assert argv == [
        "hello world",
        "1e-1",
        "3",
        "False",
        str(project / "data.txt"),
        "s3://bucket/out",
        "fast",
        "--extra",
        "x y",
    ]
    [run] = _runs(isolated)
    assert run.status is RunStatus.FINISHED and run.run_name == "first"
    assert run.experiment_name == "demo"
    assert run.params == {
        "text": "hello world",
        "ratio": "1e-1",
        "count": "3",
        "verbose": "False",
        "data": str(project / "data.txt"),
        "target": "s3://bucket/out",
        "mode": "fast",
        "extra": "x y",
    }
    tags = run.tags
    assert tags["mlflow.source.type"] == "PROJECT" and tags["mlflow.source.name"] == str(project)
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.backend"] == "local" and tags["mlflow.project.env"] == "local"
    assert tags["mlflow.runName"] == "first" and tags["mlrun.exit_code"] == "0"
    assert tags["mlrun.command"].startswith("python show.py 'hello world' 1e-1 3 False ")
    assert tags["mlflow.user"] and tags["mlrun.version"]
    assert "mlrun.error" not in tags
    assert run.artifacts == ("mlrun/console.log",)
    console = Path(run.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
    assert json.loads(console.read_text()) == argv


def test_failing_command_exit_code_is_mirrored_and_run_failed(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    project = _project(project_factory, "echo out; echo err >&2; exit 7")
    result = mlrun("run", str(project), "--env-manager", "local")
    assert result.returncode == 7
    assert result.stdout.startswith("out\n") and "err\n" in result.stderr
    [run] = _runs(isolated)
    assert run.status is RunStatus.FAILED
    assert run.tags["mlrun.exit_code"] == "7"
    assert run.tags["mlrun.error"] == "command exited with code 7"
    console = Path(run.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
    assert sorted(console.read_text().splitlines()) == ["err", "out"]


def test_command_killed_by_a_signal_exits_128_plus_n(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    result = mlrun("run", str(_project(project_factory, "kill -9 $$")), "--env-manager", "local")
    assert result.returncode == 137
    assert _runs(isolated)[0].status is RunStatus.FAILED


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_the_whole_process_group_and_records_killed(
    signum: int, code: int, project_factory: ProjectFactory, isolated: Path, popen: Popen
) -> None:
    pid_file = isolated / "grandchild.pid"
    command = f"sleep 300 & echo $! > {pid_file}; echo ready; wait"
    project = _project(project_factory, command)
    proc = popen(
        [*MLRUN, "run", str(project), "--env-manager", "local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "MLRUN_KILL_GRACE_SECONDS": "3"},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"  # streamed live, while the command runs
    assert proc.poll() is None
    grandchild = int(pid_file.read_text())
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == code
    [run] = _runs(isolated)
    assert run.status is RunStatus.KILLED
    assert run.tags["mlrun.error"] == f"stopped by signal {int(signum)}"
    assert run.tags["mlrun.exit_code"] == str(code)
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(grandchild), "the command's background process outlived the run"


def test_command_ignoring_sigterm_is_killed_after_the_grace_period(
    project_factory: ProjectFactory, isolated: Path, popen: Popen
) -> None:
    project = _project(project_factory, "trap '' TERM; echo ready; while true; do sleep 0.1; done")
    proc = popen(
        [*MLRUN, "run", str(project), "--env-manager", "local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "MLRUN_KILL_GRACE_SECONDS": "1"},
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert time.monotonic() - started < 10
    assert _runs(isolated)[0].status is RunStatus.KILLED


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by init) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-P", "n=1.5", "-P", "alpha=abc"], "n (int): '1.5' is not an integer"),
        (["-P", "noequals"], "'noequals': expected NAME=VALUE"),
        (["-e", "nope"], "unknown entry point 'nope'"),
        (["--env-manager", "conda"], "this project has no conda environment"),
        (["--experiment-name", "a", "--experiment-id", "1"], "not both"),
        (["--experiment-id", "12345"], "no experiment with id '12345'"),
    ],
)
def test_bad_input_exits_2_and_records_nothing(
    args: list[str], message: str, mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    project = _project(
        project_factory,
        "echo {n} {alpha}",
        "{n: {type: int, default: 1}, alpha: {type: float, default: 0.1}}",
    )
    result = mlrun("run", str(project), "--env-manager", "local", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert _runs(isolated) == []


def test_invalid_project_exits_2_with_located_problems(mlrun: Mlrun, isolated: Path) -> None:
    from tests.conftest import EXAMPLES

    result = mlrun(
        "run",
        "--env-manager",
        "local",
        cwd=EXAMPLES / "invalid" / "typo_key",
        env={"MLFLOW_TRACKING_URI": str(isolated / "mlruns")},
    )
    assert result.returncode == 2
    assert "MLproject:2: entry_point: unknown key (did you mean 'entry_points'?)" in result.stderr
    assert not (isolated / "mlruns").exists()


def test_dry_run_shows_the_plan_and_records_nothing(
    mlrun: Mlrun, example: Callable[[str], Path], isolated: Path
) -> None:
    project = example("typed_params")
    result = mlrun("run", str(project), "--env-manager", "local", "-P", "text=$(id)", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["command"].startswith("python show.py '$(id)' 0.5 3 False ")
    assert plan["params"]["text"] == "$(id)" and plan["env_manager"] == "local"
    assert plan["env"]["state"] == "nothing to build" and plan["backend"] == "local"
    assert plan["tracking_uri"] == str(isolated / "mlruns")
    text = mlrun("run", str(project), "--env-manager", "local", "-P", "text=x", "--dry-run")
    assert "Dry run: nothing is run or recorded." in text.stdout
    assert not (isolated / "mlruns").exists()


def test_json_output_is_the_only_thing_on_stdout(mlrun: Mlrun, project_factory: ProjectFactory) -> None:
    result = mlrun(
        "run", str(_project(project_factory, "echo to-stdout; exit 3")), "--env-manager", "local", "--json"
    )
    assert result.returncode == 3
    data = json.loads(result.stdout)
    assert data["status"] == "FAILED" and data["exit_code"] == 3
    assert set(data) >= {"run_id", "experiment_id", "duration_s", "command", "params"}
    assert "to-stdout" in result.stderr


def test_mlflow_environment_variables_are_honoured(
    mlrun: Mlrun, project_factory: ProjectFactory, tmp_path: Path
) -> None:
    store = tmp_path / "elsewhere"
    project = _project(
        project_factory,
        "echo $MLFLOW_RUN_ID $MLFLOW_EXPERIMENT_ID $MLFLOW_TRACKING_URI "
        "$MLFLOW_ALLOW_FILE_STORE ${{MLFLOW_EXPERIMENT_NAME:-unset}}",
    )
    result = mlrun(
        "run",
        str(project),
        "--env-manager",
        "local",
        env={"MLFLOW_TRACKING_URI": str(store), "MLFLOW_EXPERIMENT_NAME": "from-env"},
    )
    assert result.returncode == 0, result.stderr
    [run] = FileStore(store).search_runs(None, 10)
    assert run.experiment_name == "from-env"
    assert result.stdout.split() == [run.run_id, run.experiment_id, store.as_uri(), "true", "unset"]


def test_env_manager_can_come_from_the_environment(mlrun: Mlrun, project_factory: ProjectFactory) -> None:
    result = mlrun("run", str(_project(project_factory, "echo ok")), env={"MLRUN_ENV_MANAGER": "local"})
    assert result.returncode == 0 and result.stdout == "ok\n"


def test_scripts_run_without_an_mlproject(mlrun: Mlrun, example: Callable[[str], Path]) -> None:
    project = example("no_mlproject")
    result = mlrun(
        "run",
        str(project),
        "-e",
        "train.py",
        "-P",
        "epochs=2",
        "--env-manager",
        "local",
        env={"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "trained for 2 epochs\n"
    result = mlrun("run", str(project), "-e", "run.sh", "-P", "a=b c", "--env-manager", "local")
    assert result.stdout == "run.sh got: --a b c\n"


def test_runs_list_and_show(mlrun: Mlrun, project_factory: ProjectFactory) -> None:
    project = _project(project_factory, "exit 0")
    first = json.loads(mlrun("run", str(project), "--env-manager", "local", "--json").stdout)
    second = json.loads(mlrun("run", str(project), "--env-manager", "local", "--json").stdout)
    listed = json.loads(mlrun("runs", "list", "--json").stdout)
    assert [r["run_id"] for r in listed] == [second["run_id"], first["run_id"]]
    table = mlrun("runs", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["RUN", "ID", "NAME"] and len(table) == 3
    shown = mlrun("runs", "show", first["run_id"])
    assert f"Run:         {first['run_id']}" in shown.stdout and "FINISHED" in shown.stdout
    missing = mlrun("runs", "show", "0" * 32)
    assert missing.returncode == 2 and "no run with id" in missing.stderr


@pytest.mark.slow
def test_twenty_runs_at_once_in_one_store_all_complete(
    project_factory: ProjectFactory, isolated: Path, popen: Popen
) -> None:
    project = _project(project_factory, "echo {i}", "{i: int}")
    procs = [
        popen(
            [
                *MLRUN,
                "run",
                str(project),
                "--env-manager",
                "local",
                "-P",
                f"i={i}",
                "--experiment-name",
                "parallel",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(20)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 20
    runs = _runs(isolated)
    assert len(runs) == 20
    assert {r.status for r in runs} == {RunStatus.FINISHED}
    assert sorted(int(r.params["i"]) for r in runs) == list(range(20))
    assert {r.experiment_name for r in runs} == {"parallel"}
    experiments = [p for p in (isolated / "mlruns").iterdir() if (p / "meta.yaml").exists()]
    assert len(experiments) == 2  # Default and one "parallel", despite the race
