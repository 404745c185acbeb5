"""kill -9 of mlrun itself: the command dies with it, and nothing stays RUNNING for long.

The child is armed with a parent-death signal, so a command bash runs itself dies at once; what
escaped (a background grandchild, a container, the scratch folder) is stopped by the next mlrun
command, which records the run KILLED with the reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.file_store import FileStore
from tests.conftest import MLRUN, Result
from tests.docker_images import docker_project

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]


def _start(project: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*MLRUN, "run", str(project), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLRUN_KILL_GRACE_SECONDS": "2"},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    return proc


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _only_run(isolated: Path) -> tuple[str, RunStatus]:
    [summary] = FileStore(isolated / "mlruns").search_runs(None, 5)
    return summary.run_id, summary.status


def test_the_command_dies_with_mlrun(project_factory: Factory, isolated: Path, tmp_path: Path) -> None:
    beat = tmp_path / "heartbeat"
    command = f"echo started; while true; do date +%s%N > {beat}; sleep 0.1; done"
    project = project_factory({"MLproject": f"entry_points: {{main: {{command: '{command}'}}}}\n"})
    proc = _start(project, "--env-manager", "local")
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.5)
    last = beat.read_text()
    time.sleep(1.0)
    assert beat.read_text() == last, "the command went on after mlrun was killed"
    assert time.monotonic() - killed_at < 5
    for pipe in (proc.stdout, proc.stderr):
        assert pipe is not None
        pipe.close()


def test_the_next_command_stops_what_escaped_and_records_killed(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory(
        {"MLproject": "entry_points: {main: {command: 'sleep 300 & echo started; wait'}}\n"}
    )
    proc = _start(project, "--env-manager", "local")
    run_id, status = _only_run(isolated)
    assert status is RunStatus.RUNNING
    pgid_file = isolated.parent / "mlrun-home" / "jobs" / run_id / "pgid"
    pgid = int(pgid_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert _group_alive(pgid)  # the background sleep escaped the parent-death signal
    listed = mlrun("runs", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"run {run_id} was left RUNNING by a killed mlrun; recorded it KILLED" in listed.stderr
    assert not _group_alive(pgid)
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
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'echo started; sleep 300'}}\n"})
    proc = _start(project, "--env-manager", "local")
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
    busybox: str, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    proc = _start(docker_project(project_factory, "echo started; sleep 300"))
    run_id, _ = _only_run(isolated)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    def containers() -> list[str]:
        return subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=mlrun.run_id={run_id}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    assert containers(), "the container outlives a killed mlrun (dockerd is its parent)"
    assert mlrun("runs", "list").returncode == 0
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
