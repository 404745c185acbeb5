"""Runs whose job outlives the mlrun process that submitted it (`--detach`, or an attached mlrun
that was killed): found again from the run's tags, followed with the shared poll loop, and
settled by `mlrun runs wait/show/cancel`. A lock per run makes sure only one process records the
end; a local run still attached to a live mlrun is waited for, or stopped, through its owner.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mlrun_cli.app import ownership
from mlrun_cli.backends.base import ExecutionBackend, JobRef, JobState, follow_job
from mlrun_cli.errors import TrackingError, UsageError
from mlrun_cli.runs.lifecycle import CONSOLE_LOG, job_dir, record_end
from mlrun_cli.shared import tags
from mlrun_cli.shared.home import writable_dir
from mlrun_cli.shared.streaming import ConsoleLog, Sink, StillRunning, masking, pump
from mlrun_cli.tracking.base import RunRecord, RunRef, RunStatus, Tracker
from mlrun_cli.tracking.outbox import Recorder


def exit_code_of(record: RunRecord) -> int:
    """What `mlrun runs wait` exits with: the run's own exit code, as `mlrun run` would have."""
    return tags.recorded_exit_code(record.tags, record.status.name)


def pending_job(record: RunRecord) -> tuple[ExecutionBackend, JobRef] | None:
    """The job still to be settled for this run, if any."""
    if tags.EXIT_CODE in record.tags:
        return None
    name = record.tags.get(tags.BACKEND, "")
    ref = JobRef.from_tags(name, record.tags) if name else None
    if ref is None:
        return None
    from mlrun_cli.backends import get_backend

    return get_backend(name), ref


@contextmanager
def run_lock(run_id: str) -> Iterator[None]:
    from filelock import FileLock

    path = writable_dir("locks") / f"run-{run_id}.lock"
    with FileLock(path):
        yield


def _settle(tracker: Tracker, record: RunRecord, state: JobState, console_log: Path) -> RunRecord:
    with run_lock(record.run_id):
        fresh = tracker.get_run(record.run_id)
        if tags.EXIT_CODE in fresh.tags:
            return fresh  # another mlrun settled it meanwhile
        recorder = Recorder(tracker, RunRef(record.run_id, record.experiment_id, record.artifact_uri))
        record_end(recorder, state, console_log)
        shutil.rmtree(job_dir(record.run_id), ignore_errors=True)
    try:
        return tracker.get_run(record.run_id)
    except TrackingError:
        return record


def settle_if_done(tracker: Tracker, record: RunRecord) -> tuple[RunRecord, JobState | None]:
    """One look at the run's job: record its end when it has ended. Returns the job's state."""
    pending = pending_job(record)
    if pending is None:
        return record, None
    backend, ref = pending
    state = backend.status(ref)
    if not state.done:
        return record, state
    with tempfile.TemporaryDirectory(prefix="mlrun-settle-") as scratch, masking(_known_secrets()):
        console_log = Path(scratch) / CONSOLE_LOG
        with ConsoleLog(console_log) as log:
            pump([backend.logs(ref)], Sink(log, None))
        return _settle(tracker, record, state, console_log), state


def _known_secrets() -> list[str]:
    """A detached job's secrets, as far as this process has them (MLRUN_SECRET_<NAME>)."""
    return [value for name, value in os.environ.items() if name.startswith("MLRUN_SECRET_")]


def wait_and_settle(
    tracker: Tracker,
    record: RunRecord,
    *,
    timeout_s: float | None,
    stdout: BinaryIO | None,
    cancel: bool = False,
) -> RunRecord:
    """Follow the run's job to its end (printing its output), then record the end.

    Ctrl-C only stops the waiting: the job goes on, and `mlrun runs wait` can be run again.
    """
    pending = pending_job(record)
    if pending is None:
        owner = ownership.live_owner(record.run_id) if record.status is RunStatus.RUNNING else None
        if owner is not None:  # a run attached to another mlrun process, on this machine
            if cancel:
                ownership.stop_owner(owner)
            elif not ownership.wait_for_owner(owner, timeout_s):
                raise StillRunning(f"run {record.run_id} has not ended after {timeout_s:g} s")
            return tracker.get_run(record.run_id)
        return record
    backend, ref = pending
    if cancel:
        backend.cancel(ref)
    with tempfile.TemporaryDirectory(prefix="mlrun-settle-") as scratch, masking(_known_secrets()):
        console_log = Path(scratch) / CONSOLE_LOG
        with ConsoleLog(console_log) as log:
            terminal = stdout if stdout is not None else sys.stdout.buffer
            sink = Sink(log, terminal)
            state = follow_job(backend, ref, sink, cancel=False, timeout_s=timeout_s, run_id=record.run_id)
        return _settle(tracker, record, state, console_log)


def cancel_and_settle(tracker: Tracker, record: RunRecord, *, stdout: BinaryIO | None) -> RunRecord:
    """Cancel a detached run's job, then record how it ended (KILLED, unless it had just ended)."""
    if pending_job(record) is None and not (
        record.status is RunStatus.RUNNING and ownership.live_owner(record.run_id) is not None
    ):
        raise UsageError(f"run {record.run_id} has no job left to cancel (it is {record.status.name})")
    return wait_and_settle(tracker, record, timeout_s=120, stdout=stdout, cancel=True)
