"""Who owns a running run, and what happens to runs whose owner is gone.

While `mlrun run` has a run open it keeps, in the run's job folder `$MLRUN_HOME/jobs/<run_id>/`:
- `owner.lock`, locked (`flock`) by that mlrun for as long as it lives. The kernel drops the lock
  when the process dies, however it dies, so whether the owner lives never rests on what a file
  says. The file also keeps a copy of the owner record, should `owner.json` be damaged.
- `owner.json`: the mlrun process (host, boot id, pid and start time, so a reused pid is not
  mistaken for it; what decides for a claim without a lock), the run's tracking target, and what
  it leaves behind (scratch folder; the local backend adds the command's process group in `pgid`,
  containers carry the run id as a label). It goes when the run is recorded.
- `end.json` from the moment the command ended: status, exit code and end time, written before
  the end is sent, so whoever finishes the job records what the command really returned.

If mlrun is killed (`kill -9`, OOM, a closed laptop lid), the next mlrun command on this host
takes the free lock, stops what is left and settles the run (app/reaper.py's reap pass) without waiting on
any server. A job that outlives mlrun by design (slurm, kubernetes) is left to run: its tags let
`mlrun runs wait/show` settle it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mlrun_cli.errors import MlrunError
from mlrun_cli.shared.home import write_atomic
from mlrun_cli.shared.job_records import LOCK_FILE, OWNER_FILE, job_folder

KILLED_REASON = "mlrun was killed"
_held: dict[str, int] = {}  # run id -> the lock this process holds on it while it owns the run


def this_host() -> str:
    """The host a run's owner is judged on (a shared MLRUN_HOME holds other hosts' runs)."""
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


def owner_file(run_id: str) -> Path:
    return job_folder(run_id) / OWNER_FILE


def probe(folder: Path) -> tuple[bool | None, int | None]:
    """Whether a live mlrun holds the run's lock, and the lock's descriptor when this process has
    just taken it over (its owner is dead; close it when done). (None, None): no lock to judge
    by, from an older mlrun or a file system without locks: the owner record decides."""
    import fcntl

    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None, None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return True, None
    except OSError:
        os.close(fd)
        return None, None
    if os.fstat(fd).st_nlink == 0:  # released (the run recorded) between our open and our lock
        os.close(fd)
        return True, None
    return False, fd


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
        if self.host != this_host():
            return True  # another host's run (a shared MLRUN_HOME) is not ours to judge
        owned, fd = probe(job_folder(self.run_id))
        if fd is not None:
            os.close(fd)
        return owned if owned is not None else self.alive_by_record()

    def alive_by_record(self) -> bool:
        """What the record says, for a claim without a lock."""
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


def _lock(folder: Path, record: str) -> int | None:
    """Lock a new lock file holding `record`, then put it in place: nobody sees it unlocked."""
    import fcntl
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".owner.", suffix=".tmp")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, record.encode())
        os.replace(tmp, folder / LOCK_FILE)
    except OSError:  # a file system without locks: the owner record alone will decide
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        return None
    return fd


def claim(run_id: str, experiment_id: str, artifact_uri: str, tracking_uri: str, *, detachable: bool,
          scratch: Path) -> None:  # fmt: skip
    from mlrun_cli.shared.uri_credentials import split_credentials

    owner = Owner(
        run_id, experiment_id, artifact_uri, split_credentials(tracking_uri)[0], detachable, str(scratch),
        this_host(), _boot_id(), os.getpid(), _start_time(os.getpid()),
    )  # fmt: skip
    record = json.dumps(asdict(owner))
    folder = job_folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    fd = _lock(folder, record)
    if fd is not None:
        _held[run_id] = fd
    write_atomic(folder / OWNER_FILE, record)


def release(run_id: str, *, job_owns_folder: bool = False) -> None:
    """Drop the claim. The run's folder goes with it unless a submitted job still works there
    (such a job may not have written its first file yet, so an empty folder proves nothing), or
    it keeps the end of a run still to be sent from the outbox."""
    folder = job_folder(run_id)
    (folder / OWNER_FILE).unlink(missing_ok=True)
    (folder / LOCK_FILE).unlink(missing_ok=True)  # unlinked while still locked: see probe()
    fd = _held.pop(run_id, None)
    if fd is not None:
        os.close(fd)
    if not job_owns_folder:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _owner(data: Any) -> Owner:
    owner = Owner(**data)
    for field in fields(Owner):
        kind = {"pid": int, "detachable": bool}.get(field.name, str)
        if not isinstance(getattr(owner, field.name), kind):
            raise TypeError(f"{field.name} is not a {kind.__name__}")
    return owner


def read_owner(folder: Path) -> tuple[Owner | None, str | None]:
    """The owner record (owner.json, else the lock file's copy), and what was found damaged."""
    damage = None
    for name in (OWNER_FILE, LOCK_FILE):
        try:
            return _owner(json.loads((folder / name).read_text())), damage
        except FileNotFoundError:
            continue
        except (OSError, ValueError, TypeError) as error:
            damage = damage or f"{name} is damaged ({type(error).__name__}: {error})"
    return None, damage


def live_owner(run_id: str) -> Owner | None:
    owner = read_owner(job_folder(run_id))[0]
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
    if owner.host != this_host():
        raise MlrunError(f"run {owner.run_id} is running on {owner.host}: cancel it there")
    with contextlib.suppress(ProcessLookupError):
        os.kill(owner.pid, signal.SIGTERM)
    wait_for_owner(owner, timeout_s)
