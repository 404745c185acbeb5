"""Faults injected for real (issue 12), one test each: kill -9 of mlrun (the command dies with it;
what escaped is reaped by the next command), a hung tracking server, damaged outbox and store
files, envs pruned while in use, a store and an $MLRUN_HOME turning read-only, a YAML alias bomb,
credentials in URIs, SIGTERM of a container, MLflow's own client during an outage. Each test
fails on the code before the fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.shared.process import group_alive
from mlrun_cli.tracking.base import RunRef, RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from mlrun_cli.tracking.rest.tracker import RestTracker
from tests.conftest import MLRUN, Popen, Result
from tests.faults.hung import hung_server
from tests.faults.mid_run import read_only, run_as_its_store_turns_read_only
from tests.outbox import pending
from tests.services.docker_images import containers_labelled, docker_project
from tests.services.git_daemon import free_port
from tests.services.mlflow_env import on_path
from tests.services.mlflow_server import ADMIN, start_server, stop_server

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
QUICK = {"MLproject": "entry_points: {main: {command: 'true'}}\n"}


def _home() -> Path:
    return Path(os.environ["MLRUN_HOME"])


def _warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("mlrun: warning:")]


# -- item 2: the outbox is flushed only for the run's own store, in a bounded attempt ----------


def test_a_pending_outbox_for_a_hung_server_holds_up_no_other_run(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    from mlrun_cli.tracking import outbox

    project = project_factory(QUICK)
    with hung_server() as url:
        folder = pending("a" * 32, url, [{"op": "end_run", "status": "FINISHED", "end_time": 1}])
        for args in (["--no-track"], ["--tracking-uri", str(isolated / "mlruns")]):
            started = time.monotonic()
            result = mlrun("run", str(project), "--env-manager", "local", *args, timeout=60)
            assert result.returncode == 0, result.stderr
            assert time.monotonic() - started < 30
        for unrelated in ("none", str(isolated / "mlruns")):
            started = time.monotonic()
            outbox.flush_quietly(unrelated)
            assert time.monotonic() - started < 0.2
        started = time.monotonic()
        [own] = outbox.flush(url, budget_s=0.3)  # its own store: one short attempt
        assert time.monotonic() - started < 1.0
        assert own.pending == 1 and own.sent == 0
    assert (folder / "ops.json").is_file()  # still there for `mlrun runs sync`


# -- item 3: damaged outbox entries are moved aside ---------------------------------------------


@pytest.mark.parametrize("content", ["garbage{{", "{}", "[]"])
def test_a_damaged_outbox_file_is_moved_aside_with_one_warning(
    content: str, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    folder = _home() / "outbox" / ("b" * 32)
    folder.mkdir(parents=True)
    (folder / "ops.json").write_text(content)
    result = mlrun("run", str(project_factory(QUICK)), "--env-manager", "local")
    assert result.returncode == 0, result.stderr
    synced = mlrun("runs", "sync")
    assert synced.returncode == 0, synced.stderr
    [warning] = _warnings(result.stderr + synced.stderr)
    assert str(folder / "ops.json") in warning and "moved aside" in warning
    assert not folder.exists() and list((_home() / "outbox" / ".quarantine").iterdir())
    assert mlrun("runs", "sync").stdout.strip() == "Nothing to send."


def test_unknown_ops_and_missing_staged_files_are_never_sent_nor_block_the_end(
    mlrun: Mlrun, isolated: Path
) -> None:
    store = FileStore(isolated / "mlruns")
    store.check()
    run = store.create_run("0", "r", "u", int(time.time() * 1000), {})
    folder = _home() / "outbox" / run.run_id
    ops = [
        {"op": "rename_run", "name": "x"},
        {
            "op": "log_artifact",
            "file": str(folder / "files" / "0-gone.log"),
            "name": "gone.log",
            "artifact_path": "mlrun",
        },
        {"op": "log_batch", "params": {}, "tags": {"t": "1"}},
        {"op": "end_run", "status": "FINISHED", "end_time": int(time.time() * 1000)},
    ]
    pending(run.run_id, store.uri, ops)
    synced = mlrun("runs", "sync")
    assert synced.returncode == 0, synced.stderr
    assert f"run {run.run_id} -> {store.uri}: 2 sent, 2 damaged, moved aside" in synced.stdout
    warnings = _warnings(synced.stderr)
    assert len(warnings) == 2 and all(str(folder / "ops.json") in w for w in warnings)
    assert "rename_run" in warnings[0] and "gone.log" in warnings[1]
    record = store.get_run(run.run_id)
    assert record.status is RunStatus.FINISHED and record.tags["t"] == "1"


# -- item 4: damaged store and cache records ----------------------------------------------------


def _run_ids(mlrun: Mlrun, project: Path, *args: str) -> str:
    result = mlrun("run", str(project), "--env-manager", "local", "--json", *args)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["run_id"])


def test_a_damaged_run_is_skipped_by_list_and_reported_by_show(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory(QUICK)
    bad, good = _run_ids(mlrun, project), _run_ids(mlrun, project)
    [meta] = (isolated / "mlruns").glob(f"0/{bad}/meta.yaml")
    meta.write_text("run_id: [unclosed\n")
    listed = mlrun("runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [good]
    [warning] = _warnings(listed.stderr)
    assert str(meta) in warning
    shown = mlrun("runs", "show", bad)
    assert shown.returncode == 2 and str(meta) in shown.stderr and "damaged" in shown.stderr


def test_a_damaged_experiment_does_not_stop_runs_into_others(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory(QUICK)
    _run_ids(mlrun, project, "--experiment-name", "other")
    [meta] = [p for p in (isolated / "mlruns").glob("*/meta.yaml") if p.parent.name != "0"]
    meta.write_text("garbage{{: [\n")
    for args in (["--experiment-name", "third"], []):
        result = mlrun("run", str(project), "--env-manager", "local", *args)
        assert result.returncode == 0, result.stderr
        # Looking the name up reads every experiment: the damaged one is named, once.
        assert len([w for w in _warnings(result.stderr) if str(meta) in w]) == (1 if args else 0)


def test_a_run_without_start_time_has_no_absurd_duration(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    run_id = _run_ids(mlrun, project_factory(QUICK))
    [meta] = (isolated / "mlruns").glob(f"0/{run_id}/meta.yaml")
    meta.write_text("".join(line for line in meta.read_text().splitlines(True) if "start_time" not in line))
    assert json.loads(mlrun("runs", "show", run_id, "--json").stdout)["duration_s"] is None
    assert "Duration:    -" in mlrun("runs", "show", run_id).stdout


def test_a_damaged_env_record_is_skipped_by_env_list(mlrun: Mlrun) -> None:
    envs = _home() / "envs"
    for name, record in (("uv-good", '{"kind": "uv", "key": "good"}'), ("uv-bad", "garbage{{")):
        (envs / name).mkdir(parents=True)
        (envs / ".meta" / name).mkdir(parents=True)
        (envs / ".meta" / name / "complete.json").write_text(record)
    listed = mlrun("env", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [e["name"] for e in json.loads(listed.stdout)] == ["uv-good"]
    [warning] = _warnings(listed.stderr)
    assert str(envs / ".meta" / "uv-bad" / "complete.json") in warning


# -- item 6: a store, or $MLRUN_HOME, turning read-only ----------------------------------------


def test_a_store_turning_read_only_mid_run_keeps_the_exit_code_and_syncs_later(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    store = isolated / "mlruns"
    FileStore(store).check()
    code, err = run_as_its_store_turns_read_only(project_factory, store, cwd=isolated)
    assert code == 4, err  # the command's own exit code
    assert "mlrun runs sync" in err and "unexpected internal error" not in err
    run_id = err.split("mlrun: run ", 1)[1].split()[0]
    assert FileStore(store).get_run(run_id).status is RunStatus.RUNNING  # until it is synced
    assert mlrun("runs", "sync").returncode == 0
    record = FileStore(store).get_run(run_id)
    assert record.status is RunStatus.FAILED and record.tags["mlrun.exit_code"] == "4"
    assert "mlrun/console.log" in record.artifacts


def test_a_read_only_mlrun_home_is_a_clear_error(mlrun: Mlrun, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "MLproject").write_text(QUICK["MLproject"])
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], cwd=repo, check=True)
    _home().mkdir(parents=True, exist_ok=True)
    with read_only(_home()):
        result = mlrun("run", str(repo), "-v", "main", "--env-manager", "local")
    assert result.returncode == 75, result.stderr  # a read-only disk: infrastructure
    assert f"{_home()}" in result.stderr and "cannot be written" in result.stderr
    assert "unexpected internal error" not in result.stderr


# -- item 8: credentials in a tracking URI -----------------------------------------------------


def test_the_dry_run_never_prints_a_password(mlrun: Mlrun, project_factory: Factory) -> None:
    project = project_factory(QUICK)
    uri = f"http://alice:s3cret@127.0.0.1:{free_port()}"
    for extra in ([], ["--json"]):
        result = mlrun("run", str(project), "--dry-run", "--tracking-uri", uri, *extra)
        assert result.returncode == 0, result.stderr
        assert "s3cret" not in result.stdout + result.stderr and "alice:***@127.0.0.1" in result.stdout


def _files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.mlflow
def test_user_and_password_in_the_tracking_uri_authenticate_and_are_never_written(
    mlflow_python: Path, mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    proc, url = start_server(mlflow_python, tmp_path / "server", free_port(), basic_auth=True)
    try:
        uri = url.replace("http://", f"http://{ADMIN[0]}:{ADMIN[1]}@")
        command = "python -c 'import mlflow; mlflow.log_metric(\"m\", 2.0)'"
        project = project_factory(
            {"MLproject": f"entry_points: {{main: {{command: {json.dumps(command)}}}}}\n"}
        )
        result = mlrun(
            "run",
            str(project),
            "--env-manager",
            "local",
            "--json",
            "--tracking-uri",
            uri,
            env=on_path(mlflow_python),
        )
        assert result.returncode == 0, result.stderr
        assert ADMIN[1] not in result.stdout + result.stderr
        shown = mlrun("runs", "show", json.loads(result.stdout)["run_id"], "--tracking-uri", uri, "--json")
        record = json.loads(shown.stdout)
        assert record["status"] == "FINISHED" and record["metrics"] == {"m": 2.0}  # the child's too
        assert ADMIN[1] not in shown.stdout + shown.stderr
        assert _files_containing(_home(), ADMIN[1]) == [] and _files_containing(Path.cwd(), ADMIN[1]) == []
    finally:
        stop_server(proc)


# -- item 10 and issue 11: the child's own MLflow ----------------------------------------------


@pytest.mark.mlflow
def test_the_childs_mlflow_gives_up_quickly_when_the_server_is_down(mlflow_python: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    handshake = RestTracker(down).child_env(RunRef("0" * 32, "0", ""))
    started = time.monotonic()
    proc = subprocess.run(
        [str(mlflow_python), "-c", "import mlflow; mlflow.log_metric('m', 1.0)"],
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", **handshake},
        capture_output=True,
        timeout=90,
    )
    assert proc.returncode != 0  # the child's own logging during an outage is the child's
    assert time.monotonic() - started < 30


@pytest.mark.mlflow
def test_no_track_gives_the_childs_mlflow_a_throw_away_store(
    mlflow_python: Path, mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    command = 'python -c \'import mlflow; mlflow.log_metric("m", 1.0); print("logged")\''
    project = project_factory({"MLproject": f"entry_points: {{main: {{command: {json.dumps(command)}}}}}\n"})
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**on_path(mlflow_python), "TMPDIR": str(scratch), "MLFLOW_DISABLE_TELEMETRY": "true"}
    # Run from the project, as people do: the tracked run leaves ./mlruns there, which makes
    # MLflow pick (and refuse) the file store when it is given nothing.
    tracked = mlrun("run", ".", "--env-manager", "local", env=env, cwd=project, timeout=300)
    assert tracked.returncode == 0, tracked.stderr
    before = sorted(p.name for p in (project / "mlruns" / "0").iterdir())
    result = mlrun("run", ".", "--env-manager", "local", "--no-track", env=env, cwd=project, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "logged\n"
    assert sorted(p.name for p in (project / "mlruns" / "0").iterdir()) == before  # recorded nowhere
    assert not (project / "mlflow.db").exists() and list(scratch.iterdir()) == []


# kill -9 of mlrun itself, and signals to a container (items 1 and 9).


Start = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def start(popen: Popen) -> Start:
    """Starts `mlrun run` and waits for the command's "started"; `popen` stops what is left and
    closes the pipes at teardown."""

    def launch(project: Path, *args: str) -> subprocess.Popen[str]:
        proc: subprocess.Popen[str] = popen(
            [*MLRUN, "run", str(project), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MLRUN_KILL_GRACE_SECONDS": "2"},
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"
        return proc

    return launch


def _only_run(isolated: Path) -> tuple[str, RunStatus]:
    [summary] = FileStore(isolated / "mlruns").search_runs(None, 5)
    return summary.run_id, summary.status


def test_the_command_dies_with_mlrun(
    start: Start, project_factory: Factory, isolated: Path, tmp_path: Path
) -> None:
    beat = tmp_path / "heartbeat"
    command = f"echo started; while true; do date +%s%N > {beat}; sleep 0.1; done"
    project = project_factory({"MLproject": f"entry_points: {{main: {{command: '{command}'}}}}\n"})
    proc = start(project, "--env-manager", "local")
    deadline = time.monotonic() + 30
    while not beat.exists():  # "started" comes before the first beat: kill a command that beats
        assert time.monotonic() < deadline, "the command never wrote its first heartbeat"
        time.sleep(0.05)
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.5)
    last = beat.read_text()
    time.sleep(1.0)
    assert beat.read_text() == last, "the command went on after mlrun was killed"
    assert time.monotonic() - killed_at < 5


def test_the_next_command_stops_what_escaped_and_records_killed(
    start: Start, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory(
        {"MLproject": "entry_points: {main: {command: 'sleep 300 & echo started; wait'}}\n"}
    )
    proc = start(project, "--env-manager", "local")
    run_id, status = _only_run(isolated)
    assert status is RunStatus.RUNNING
    pgid_file = isolated.parent / "mlrun-home" / "jobs" / run_id / "pgid"
    pgid = int(pgid_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert group_alive(pgid)  # the background sleep escaped the parent-death signal
    listed = mlrun("runs", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"run {run_id} was left RUNNING by a killed mlrun; recorded it KILLED" in listed.stderr
    assert not group_alive(pgid)
    record = FileStore(isolated / "mlruns").get_run(run_id)
    assert record.status is RunStatus.KILLED and record.end_time_ms is not None
    assert record.tags["mlrun.error"].startswith("mlrun was killed (pid ")
    assert record.tags["mlrun.exit_code"] == "137"
    assert not pgid_file.parent.exists()  # the run's folder, and with it the owner file
    shown = mlrun("runs", "show", run_id)
    assert "KILLED" in shown.stdout and "mlrun was killed" in shown.stdout
    again = mlrun("runs", "list")
    assert "left RUNNING" not in again.stderr  # reaped once


def test_runs_cancel_stops_a_local_run_of_another_mlrun(
    start: Start, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'echo started; sleep 300'}}\n"})
    proc = start(project, "--env-manager", "local")
    run_id, _ = _only_run(isolated)
    cancelled = mlrun("runs", "cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert proc.wait(timeout=30) == 143
    proc.communicate()
    assert FileStore(isolated / "mlruns").get_run(run_id).status is RunStatus.KILLED


def test_a_damaged_owner_file_is_skipped_with_a_warning(mlrun: Mlrun, isolated: Path) -> None:
    folder = isolated.parent / "mlrun-home" / "jobs" / "0123abcd"
    folder.mkdir(parents=True)
    (folder / "owner.json").write_text("garbage{{")
    listed = mlrun("runs", "list")
    assert listed.returncode == 0, listed.stderr
    assert "skipping a damaged run owner file" in listed.stderr
    assert (folder / "owner.damaged").exists()
    assert "damaged" not in mlrun("runs", "list").stderr  # moved aside: warned once


@pytest.mark.docker
def test_a_container_left_by_a_killed_mlrun_is_removed(
    start: Start, busybox: str, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    proc = start(docker_project(project_factory, "echo started; sleep 300"))
    run_id, _ = _only_run(isolated)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    def containers() -> list[str]:
        return containers_labelled(f"mlrun.run_id={run_id}")

    assert containers(), "the container outlives a killed mlrun (dockerd is its parent)"
    started = time.monotonic()
    assert mlrun("runs", "list").returncode == 0
    assert time.monotonic() - started < 5  # the engine is left to a detached helper (issue 23)
    deadline = time.monotonic() + 60
    while containers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert containers() == []
    assert FileStore(isolated / "mlruns").get_run(run_id).status is RunStatus.KILLED


@pytest.mark.docker
def test_sigterm_stops_a_container_at_once(busybox: str, project_factory: Factory, isolated: Path) -> None:
    """An init as PID 1: `sh` there would ignore SIGTERM until the grace period ran out."""
    proc = subprocess.Popen(
        [*MLRUN, "run", str(docker_project(project_factory, "echo started; sleep 300"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLRUN_KILL_GRACE_SECONDS": "30"},
    )
    assert proc.stdout is not None and proc.stdout.readline() == "started\n"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    proc.communicate()
    assert time.monotonic() - started < 10


def test_a_yaml_alias_bomb_is_refused_at_once(mlrun: Mlrun, project_factory: Factory) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    project = project_factory({"MLproject": bomb + "entry_points: {main: {command: 'true'}}\n"})
    started = time.monotonic()
    result = mlrun("validate", str(project))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert time.monotonic() - started < 10
