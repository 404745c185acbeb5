"""The reap pass: finding runs whose mlrun died (their owner's lock is free, app/ownership.py) and
settling them, on the path of an unrelated command: it never waits on a server.

What the dead mlrun left is stopped: the command's process group (the local backend's `pgid`
file), its containers (removed by a detached helper, since the engine may be slow). The run's end
is what its job folder says (`end.json`: FINISHED or FAILED with the command's exit code), else
KILLED with exit code 137, since the command was stopped with its mlrun. A file store is written
at once; any other store gets the end through the outbox (sent by `mlrun runs sync` or the next
run into that store), and the job folder keeps `end.json` until it is sent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mlrun_cli.app import ownership
from mlrun_cli.app.ownership import Owner
from mlrun_cli.shared import tags
from mlrun_cli.shared.home import mlrun_home
from mlrun_cli.shared.job_records import (
    CONTAINER_FILE,
    END_FILE,
    LOCK_FILE,
    OWNER_FILE,
    PGID_FILE,
    read_end,
    write_end,
)

TERM_GRACE_S = 0.2  # the reap pass has ~0.5 s: what ignores SIGTERM this long is killed


def _say(message: str) -> None:
    sys.stderr.write(f"mlrun: {message}\n")


def _stop_group(pgid_file: Path) -> None:
    from mlrun_cli.shared.process import stop_group

    try:
        pgid = int(pgid_file.read_text())
    except (OSError, ValueError):
        return
    if pgid <= 1 or pgid == os.getpgrp():  # a damaged file never stops init, nor this command
        return
    stop_group(pgid, time.monotonic() + TERM_GRACE_S, poll_s=0.02)


def remove_containers(run_id: str) -> None:
    """Every container labelled with the run (the detached helper's work)."""
    from mlrun_cli.backends.container import RUN_ID_LABEL

    with contextlib.suppress(Exception):  # no engine, no containers: nothing left to stop
        from mlrun_cli.shared.docker_engine import client

        for container in client().containers.list(all=True, filters={"label": f"{RUN_ID_LABEL}={run_id}"}):
            container.remove(force=True)


def _remove_containers_detached(run_id: str) -> None:
    from mlrun_cli.shared.process import start_detached

    start_detached([sys.executable, "-m", "mlrun_cli.app.reaper", run_id], {})


def _end(folder: Path, owner: Owner, damage: str | None) -> tuple[str, int, int, dict[str, str]]:
    """(status, exit code, end time, end tags): the command's own end when the folder has it."""
    end = read_end(folder)
    if end is not None:
        code = end["exit_code"]
        end_tags = {tags.EXIT_CODE: str(code)}
        if end["status"] != "FINISHED":
            killed = f"{ownership.KILLED_REASON} (pid {owner.pid}) before recording it"
            end_tags[tags.ERROR] = f"its command exited {code}; {killed}"
        return end["status"], code, end["end_time_ms"], end_tags
    reason = f"{ownership.KILLED_REASON} (pid {owner.pid} on {owner.host}); its command was stopped"
    if damage is not None:
        reason += f"; {damage}"
    # 137: mlrun got SIGKILL, or died as if it had; its command was stopped with it.
    code = tags.EXIT_OUT_OF_MEMORY
    end_tags = {tags.ERROR: reason[: tags.MAX_TAG_LENGTH], tags.EXIT_CODE: str(code)}
    return "KILLED", code, int(time.time() * 1000), end_tags


def _record(owner: Owner, status: str, end_time_ms: int, end_tags: dict[str, str]) -> bool:
    """Record the end; True when it went to the outbox instead of the store."""
    from mlrun_cli.shared.uri_credentials import store_key
    from mlrun_cli.tracking import NO_TRACKING
    from mlrun_cli.tracking.base import RunRef, RunStatus

    if owner.tracking_uri == NO_TRACKING:
        return False
    run = RunRef(owner.run_id, owner.experiment_id, owner.artifact_uri)
    if not store_key(owner.tracking_uri).startswith("file:"):  # a server may hang: never called here
        from mlrun_cli.tracking.outbox import queue_end

        queue_end(owner.tracking_uri, run, end_tags, RunStatus[status], end_time_ms)
        return True
    from mlrun_cli.tracking import get_tracker
    from mlrun_cli.tracking.outbox import Recorder

    recorder = Recorder(get_tracker(owner.tracking_uri), run)
    recorder.log_batch({}, end_tags)
    recorder.end_run(RunStatus[status], end_time_ms)
    return recorder.queued is not None


def reap(folder: Path, owner: Owner | None, damage: str | None, *, locked: bool) -> None:
    """Stop what a dead mlrun left of this run and settle the run (held: the run's lock, when
    it has one, so no other command reaps it at the same time)."""
    from mlrun_cli.errors import MlrunError

    run_id = folder.name
    if owner is None and not locked:  # neither a lock nor a record says that its owner is gone
        _set_aside(folder, damage, locked=False)
        return
    if owner is None or not owner.detachable:
        _stop_group(folder / PGID_FILE)
        if (folder / CONTAINER_FILE).exists():
            _remove_containers_detached(run_id)
    if owner is None:
        _set_aside(folder, damage, locked=locked)
        return
    scratch = Path(owner.scratch)  # only what mlrun made (a damaged record may name any folder)
    if scratch.name.startswith("mlrun-") and scratch.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(scratch, ignore_errors=True)
    if owner.detachable:  # the cluster job goes on in its folder; `mlrun runs wait/show` settle it
        for name in (OWNER_FILE, LOCK_FILE):
            (folder / name).unlink(missing_ok=True)
        return
    status, code, end_time_ms, end_tags = _end(folder, owner, damage)
    try:
        queued = _record(owner, status, end_time_ms, end_tags)
    except Exception as error:  # an unknown store, an outbox in use or damaged: the next pass
        why = error.message if isinstance(error, MlrunError) else f"{type(error).__name__}: {error}"
        _say(f"warning: cannot close orphaned run {run_id} yet: {why}")
        return
    shutil.rmtree(folder, ignore_errors=True)
    how = f"recorded it {status}" if status == "KILLED" else f"recorded it {status} (exit code {code})"
    if queued:  # the job folder keeps the end until the outbox has sent it
        write_end(run_id, status, code, end_time_ms)
        how = f"its end ({status}, exit code {code}) waits in the outbox (send it with: mlrun runs sync)"
    _say(f"run {run_id} was left RUNNING by a killed mlrun; {how}")


def _set_aside(folder: Path, damage: str | None, *, locked: bool) -> None:
    """No record says where the run is recorded: what it left is stopped; the records are set
    aside so that they are reported once."""
    if locked and ((folder / PGID_FILE).exists() or (folder / CONTAINER_FILE).exists()):
        how = "stopped what its command left"
    else:
        how = "cannot tell whether it still runs" if not locked else "its job, if any, goes on"
    _say(f"warning: skipping a damaged run owner file in {folder}: {damage}; {how}")
    for name, aside in ((OWNER_FILE, "owner.damaged"), (LOCK_FILE, "owner.lock.damaged")):
        with contextlib.suppress(OSError):
            (folder / name).rename(folder / aside)


def drop_sent_ends(root: Path) -> None:
    """A job folder that only kept a run's end for the outbox goes once the outbox has sent it."""
    from mlrun_cli.tracking.outbox import outbox_root

    pending = outbox_root()
    for end in root.glob(f"*/{END_FILE}"):
        folder = end.parent
        if (folder / OWNER_FILE).exists() or (folder / LOCK_FILE).exists():
            continue
        if not (pending / folder.name / "ops.json").exists():
            shutil.rmtree(folder, ignore_errors=True)


def reap_orphans() -> None:
    """Called by every command that opens MLRUN_HOME or a store. It costs a directory listing and
    a lock tried per open run; a run whose owner died is settled without waiting on any server
    (`reap`)."""
    root = mlrun_home() / "jobs"
    if not root.is_dir():
        return
    claimed = {path.parent for name in (OWNER_FILE, LOCK_FILE) for path in root.glob(f"*/{name}")}
    for folder in sorted(claimed):
        owned, fd = ownership.probe(folder)
        if owned:
            continue
        try:
            owner, damage = ownership.read_owner(folder)
            if fd is None and owner is not None and owner.alive_by_record():
                continue
            if owner is not None and owner.host != ownership.this_host():
                continue  # another host's run (a shared MLRUN_HOME) is not ours to judge
            reap(folder, owner, damage, locked=fd is not None)
        finally:
            if fd is not None:
                os.close(fd)
    if any(root.glob(f"*/{END_FILE}")):
        drop_sent_ends(root)


if __name__ == "__main__":  # the detached helper: python -m mlrun_cli.app.reaper RUN_ID...
    for run_id in sys.argv[1:]:
        remove_containers(run_id)
