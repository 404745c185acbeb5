"""Who owns a run: a killed mlrun is dead even while its parent has not reaped it; liveness from
the owner's lock, whatever its files say; a dead mlrun's run settled without waiting on a server."""

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

from mlrun_cli.app import ownership
from mlrun_cli.shared.process import group_alive
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from mlrun_cli.tracking.rest.tracker import RestTracker
from tests.conftest import MLRUN, Popen, Result
from tests.faults.mid_run import run_as_its_store_turns_read_only
from tests.services.git_daemon import free_port
from tests.services.mlflow_server import start_server, stop_server


def test_an_unreaped_killed_owner_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = ownership.Owner(
        "r" * 32, "0", "file:///x", "/tmp/x", False, "/tmp/none", ownership.this_host(),
        ownership._boot_id(), child.pid, ownership._start_time(child.pid),
    )  # fmt: skip
    try:
        assert owner.alive()
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10  # a zombie until waited for (a loaded machine may take a while)
        while ownership._stat(child.pid)[:1] != ["Z"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ownership._stat(child.pid)[:1] == ["Z"]
        assert not owner.alive()
    finally:
        child.kill()
        child.wait()


def test_an_owner_on_another_host_is_not_judged_here() -> None:
    owner = ownership.Owner("r" * 32, "0", "", "", False, "", "elsewhere.example", "", 1, "")
    assert owner.alive()


# -- issue 23: liveness from the owner's lock; the reap pass never waits on a server ----------

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]


def _jobs() -> Path:
    return Path(os.environ["MLRUN_HOME"]) / "jobs"


def _start(popen: Popen, project: Path, *args: str) -> subprocess.Popen[str]:
    """`mlrun run` in the background, returned once its command has printed `started`."""
    proc: subprocess.Popen[str] = popen(
        [*MLRUN, "run", str(project), "--env-manager", "local", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    return proc


def _only_job() -> Path:
    [folder] = [p for p in _jobs().iterdir() if p.is_dir()]
    return folder


def _gated(project_factory: Factory, go: Path) -> Path:
    """A project whose command prints `started`, then exits 0 once `go` exists."""
    command = f"echo started; while [ ! -f {go} ]; do sleep 0.1; done"
    return project_factory({"MLproject": f"entry_points: {{main: {{command: '{command}'}}}}\n"})


def test_a_live_owner_holding_its_lock_is_never_reaped(
    popen: Popen, mlrun: Mlrun, project_factory: Factory, isolated: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    proc = _start(popen, _gated(project_factory, go))
    folder = _only_job()
    record = json.loads((folder / "owner.json").read_text())
    gone = subprocess.Popen(["true"])
    gone.wait()
    # Garbage, then a whole record naming a dead process: the owner's lock says it lives.
    for text in ("garbage{{", json.dumps({**record, "pid": gone.pid, "start_time": "1"})):
        (folder / "owner.json").write_text(text)
        listed = mlrun("runs", "list")
        assert listed.returncode == 0, listed.stderr
        assert "left RUNNING" not in listed.stderr and "damaged" not in listed.stderr
        assert FileStore(isolated / "mlruns").get_run(folder.name).status is RunStatus.RUNNING
        assert proc.poll() is None
    go.touch()
    assert proc.wait(timeout=60) == 0, proc.communicate()[1]
    assert FileStore(isolated / "mlruns").get_run(folder.name).status is RunStatus.FINISHED


def test_a_damaged_owner_file_after_kill_9_is_settled(
    popen: Popen, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory(
        {"MLproject": "entry_points: {main: {command: 'sleep 300 & echo started; wait'}}\n"}
    )
    proc = _start(popen, project)
    folder = _only_job()
    pgid = int((folder / "pgid").read_text())
    scratch = Path(json.loads((folder / "owner.json").read_text())["scratch"])
    assert scratch.is_dir()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert group_alive(pgid)  # the background sleep escaped the parent-death signal
    (folder / "owner.json").write_bytes(b"\x00\x00{truncated")
    started = time.monotonic()
    listed = mlrun("runs", "list")
    assert time.monotonic() - started < 5
    assert listed.returncode == 0, listed.stderr
    assert f"run {folder.name} was left RUNNING by a killed mlrun; recorded it KILLED" in listed.stderr
    assert not group_alive(pgid)
    record = FileStore(isolated / "mlruns").get_run(folder.name)
    assert record.status is RunStatus.KILLED and record.tags["mlrun.exit_code"] == "137"
    assert record.tags["mlrun.error"].startswith("mlrun was killed (pid ")
    assert "owner.json is damaged" in record.tags["mlrun.error"]
    assert not folder.exists() and not scratch.exists()


def test_the_reaper_records_the_end_the_job_folder_keeps(
    popen: Popen, mlrun: Mlrun, project_factory: Factory, isolated: Path, tmp_path: Path
) -> None:
    """What a kill -9 between end.json and the store's write leaves (too short a window to hit
    from outside with a file store): the run is recorded as its command ended, not KILLED."""
    proc = _start(popen, _gated(project_factory, tmp_path / "never"))
    folder = _only_job()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    (folder / "end.json").write_text('{"status": "FAILED", "exit_code": 3, "end_time_ms": 1700000000000}')
    precious = tmp_path / "precious"  # a record naming a folder mlrun never made: left alone
    precious.mkdir()
    record = json.loads((folder / "owner.json").read_text())
    (folder / "owner.json").write_text(json.dumps({**record, "scratch": str(precious)}))
    listed = mlrun("runs", "list")
    assert "recorded it FAILED (exit code 3)" in listed.stderr, listed.stderr
    record = FileStore(isolated / "mlruns").get_run(folder.name)
    assert record.status is RunStatus.FAILED and record.end_time_ms == 1700000000000
    assert record.tags["mlrun.exit_code"] == "3"
    assert record.tags["mlrun.error"].startswith("its command exited 3; mlrun was killed")
    assert precious.is_dir()


@pytest.mark.mlflow
def test_kill_9_while_sending_the_end_to_a_stopped_server(
    popen: Popen, mlrun: Mlrun, project_factory: Factory, mlflow_python: Path, tmp_path: Path
) -> None:
    """MLflow's default HTTP settings throughout: nothing is shortened."""
    server, url = start_server(mlflow_python, tmp_path / "server", free_port())
    try:
        go = tmp_path / "go"
        proc = _start(popen, _gated(project_factory, go), "--tracking-uri", url)
        folder = _only_job()
        os.killpg(server.pid, signal.SIGSTOP)  # the run exists; now the server hangs
        go.touch()
        deadline = time.monotonic() + 30
        while not (folder / "end.json").exists():
            assert time.monotonic() < deadline, "the command's end was never written"
            time.sleep(0.05)
        time.sleep(1.0)
        assert proc.poll() is None  # blocked sending the end
        end = json.loads((folder / "end.json").read_text())
        assert end["status"] == "FINISHED" and end["exit_code"] == 0
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        started = time.monotonic()
        listed = mlrun("runs", "list", cwd=elsewhere, timeout=60)
        assert time.monotonic() - started < 5
        assert listed.returncode == 0, listed.stderr
        assert f"run {folder.name} was left RUNNING by a killed mlrun" in listed.stderr
        assert "waits in the outbox" in listed.stderr
        assert json.loads((folder / "end.json").read_text()) == end  # kept until it is sent
    finally:
        os.killpg(server.pid, signal.SIGCONT)
    try:
        synced = mlrun("runs", "sync", timeout=300)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        record = RestTracker(url).get_run(folder.name)
        assert record.status is RunStatus.FINISHED, record
        assert record.tags["mlrun.exit_code"] == "0"
        assert record.end_time_ms == end["end_time_ms"]
        assert mlrun("runs", "list", cwd=elsewhere).returncode == 0
        assert not folder.exists()  # sent: the job folder has served
    finally:
        stop_server(server)


def test_an_end_sent_through_the_outbox_is_kept_in_the_job_folder_until_sent(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    store = isolated / "mlruns"
    FileStore(store).check()
    code, err = run_as_its_store_turns_read_only(project_factory, store)
    assert code == 4, err
    folder = _only_job()
    end = json.loads((folder / "end.json").read_text())
    assert end["status"] == "FAILED" and end["exit_code"] == 4
    assert not (folder / "owner.json").exists() and not (folder / "owner.lock").exists()
    assert mlrun("runs", "list").returncode == 0
    assert folder.exists()  # its end still waits in the outbox
    assert mlrun("runs", "sync").returncode == 0
    record = FileStore(store).get_run(folder.name)
    assert record.status is RunStatus.FAILED and record.end_time_ms == end["end_time_ms"]
    assert mlrun("runs", "list").returncode == 0
    assert not folder.exists()
