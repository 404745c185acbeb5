"""Who owns a running run, and what happens to runs whose owner is gone.

While `mlrun run` has a run open it keeps `$MLRUN_HOME/jobs/<run_id>/owner.json`: the mlrun
process (host, boot id, pid and start time, so a reused pid is not mistaken for it), the run's
tracking target, and what it leaves behind (scratch folder; the local backend adds the command's
process group, containers carry the run id as a label). The file goes when the run is recorded.

If mlrun is killed (`kill -9`, OOM, a closed laptop lid), the next mlrun command on this host
finds the file with its owner gone, stops what is left, and records the run KILLED with the
reason. A job that outlives mlrun by design (slurm, kubernetes) is left to run: its tags let
`mlrun runs wait/show` settle it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mlrun_cli import tags
from mlrun_cli.errors import MlrunError
from mlrun_cli.home import mlrun_home, write_atomic

OWNER_FILE = "owner.json"
PGID_FILE = "pgid"
KILLED_REASON = "mlrun was killed"


def _host() -> str:
    return os.uname().nodename  # as socket.gethostname(), without importing socket


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name ([] where /proc is missing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' where /proc is missing)."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


@dataclass(frozen=True)
class Owner:
    run_id: str
    experiment_id: str
    artifact_uri: str
    tracking_uri: str
    """Without credentials: they are read from the environment again when needed."""
    detachable: bool
    scratch: str
    host: str
    boot_id: str
    pid: int
    start_time: str

    def alive(self) -> bool:
        if self.host != _host():
            return True  # another host's run (a shared MLRUN_HOME) is not ours to judge
        if self.boot_id != _boot_id():
            return False  # this host rebooted since
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        fields = _stat(self.pid)
        if fields and fields[0] == "Z":
            return False  # killed, and not yet reaped by its parent
        return _start_time(self.pid) == self.start_time


def owner_file(run_id: str) -> Path:
    return mlrun_home() / "jobs" / run_id / OWNER_FILE


def claim(run_id: str, experiment_id: str, artifact_uri: str, tracking_uri: str, *, detachable: bool,
          scratch: Path) -> None:  # fmt: skip
    from mlrun_cli.tracking.uris import split_credentials

    owner = Owner(
        run_id, experiment_id, artifact_uri, split_credentials(tracking_uri)[0], detachable, str(scratch),
        _host(), _boot_id(), os.getpid(), _start_time(os.getpid()),
    )  # fmt: skip
    write_atomic(owner_file(run_id), json.dumps(asdict(owner)))


def release(run_id: str, *, job_owns_folder: bool = False) -> None:
    """Drop the claim. The run's folder goes with it unless a submitted job still works there:
    such a job may not have written its first file yet, so an empty folder proves nothing."""
    path = owner_file(run_id)
    path.unlink(missing_ok=True)
    if not job_owns_folder:
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def _read(path: Path) -> Owner | None:
    try:
        return Owner(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as error:
        sys.stderr.write(f"mlrun: warning: skipping a damaged run owner file {path}: {error}\n")
        with contextlib.suppress(OSError):
            path.rename(path.with_suffix(".damaged"))
        return None


def orphans() -> list[Owner]:
    """Runs on this host whose mlrun process is gone."""
    root = mlrun_home() / "jobs"
    if not root.is_dir():
        return []
    found = (_read(path) for path in root.glob(f"*/{OWNER_FILE}"))
    return [owner for owner in found if owner is not None and not owner.alive()]


def _stop_group(pgid_file: Path) -> None:
    try:
        pgid = int(pgid_file.read_text())
    except (OSError, ValueError):
        return
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
        time.sleep(0.2)


def _remove_containers(run_id: str) -> None:
    from mlrun_cli.backends.container import RUN_ID_LABEL

    with contextlib.suppress(Exception):  # no engine, no containers: nothing left to stop
        from mlrun_cli.envs.docker import client

        for container in client().containers.list(all=True, filters={"label": f"{RUN_ID_LABEL}={run_id}"}):
            container.remove(force=True)


def reap(owner: Owner) -> None:
    """Stop what a dead mlrun left of this run and record the run KILLED."""
    from mlrun_cli.tracking import get_tracker
    from mlrun_cli.tracking.base import RunRef, RunStatus
    from mlrun_cli.tracking.outbox import Recorder

    folder = owner_file(owner.run_id).parent
    if not owner.detachable:
        _stop_group(folder / PGID_FILE)
        if (folder / "container").exists():
            _remove_containers(owner.run_id)
    shutil.rmtree(owner.scratch, ignore_errors=True)
    if owner.detachable:  # the cluster job goes on; `mlrun runs wait/show` settle it
        release(owner.run_id, job_owns_folder=True)
        return
    recorder = Recorder(
        get_tracker(owner.tracking_uri), RunRef(owner.run_id, owner.experiment_id, owner.artifact_uri)
    )
    reason = f"{KILLED_REASON} (pid {owner.pid} on {owner.host}); its command was stopped"
    # 137: mlrun got SIGKILL, or died as if it had; its command was stopped with it.
    recorder.log_batch({}, {tags.ERROR: reason, tags.EXIT_CODE: str(tags.EXIT_OUT_OF_MEMORY)})
    recorder.end_run(RunStatus.KILLED, int(time.time() * 1000))
    shutil.rmtree(folder, ignore_errors=True)


def live_owner(run_id: str) -> Owner | None:
    path = owner_file(run_id)
    owner = _read(path) if path.is_file() else None
    return owner if owner is not None and owner.alive() else None


def wait_for_owner(owner: Owner, timeout_s: float | None) -> bool:
    """Until the mlrun running the run has recorded its end; False on timeout."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while owner_file(owner.run_id).is_file() and owner.alive():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop_owner(owner: Owner, timeout_s: float = 60.0) -> None:
    """Ask the mlrun running the run to stop it, as Ctrl-C would: it records the run KILLED."""
    if owner.host != _host():
        raise MlrunError(f"run {owner.run_id} is running on {owner.host}: cancel it there")
    with contextlib.suppress(ProcessLookupError):
        os.kill(owner.pid, signal.SIGTERM)
    wait_for_owner(owner, timeout_s)


def reap_orphans() -> None:
    """Called by every command that opens MLRUN_HOME or a store; costs one directory listing."""
    for owner in orphans():
        try:
            reap(owner)
        except MlrunError as error:
            sys.stderr.write(
                f"mlrun: warning: cannot close orphaned run {owner.run_id} yet: {error.message}\n"
            )
            continue
        sys.stderr.write(
            f"mlrun: run {owner.run_id} was left RUNNING by a killed mlrun; recorded it KILLED\n"
        )
