"""A run's job from submission to its recorded end, whichever mlrun process sees it end.

An attached `mlrun run` records the end itself. A detached one (`--detach`), or one whose mlrun
died, is settled later by `mlrun runs wait` or `mlrun runs show`: they find the job again from the
run's tags, and a lock per run makes sure only one of them records the end.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mlrun_cli.backends.base import ExecutionBackend, JobRef, JobState
from mlrun_cli.errors import EXIT_FAILURE, MlrunError, TrackingError, UsageError
from mlrun_cli.home import mlrun_home
from mlrun_cli.tracking.base import RunRecord, RunRef, RunStatus, Tracker
from mlrun_cli.tracking.outbox import Recorder

CONSOLE_LOG = "console.log"
ARTIFACT_DIR = "mlrun"
MAX_TAG_LENGTH = 8000
EXIT_CODE_TAG = "mlrun.exit_code"
BACKEND_TAG = "mlflow.project.backend"


class StillRunning(MlrunError):
    exit_code = EXIT_FAILURE


def job_dir(run_id: str) -> Path:
    """The run's own folder under $MLRUN_HOME: job scripts and output a cluster can reach."""
    return mlrun_home() / "jobs" / run_id


def now_ms() -> int:
    return int(time.time() * 1000)


def record_end(recorder: Recorder, state: JobState, console_log: Path) -> None:
    status = state.status or RunStatus.FAILED
    exit_code = state.exit_code if state.exit_code is not None else (0 if status is RunStatus.FINISHED else 1)
    tags = {EXIT_CODE_TAG: str(exit_code)}
    if status is not RunStatus.FINISHED:
        tags["mlrun.error"] = (state.reason or f"the job ended {state.state}")[:MAX_TAG_LENGTH]
    if console_log.is_file():
        recorder.log_artifact(console_log, ARTIFACT_DIR)
    recorder.log_batch({}, tags)
    recorder.end_run(status, now_ms())


def exit_code_of(record: RunRecord) -> int:
    """What `mlrun runs wait` exits with: the run's own exit code, as `mlrun run` would have."""
    raw = record.tags.get(EXIT_CODE_TAG)
    if raw is not None and raw.lstrip("-").isdigit():
        return int(raw)
    return {RunStatus.FINISHED: 0, RunStatus.KILLED: 128 + signal.SIGINT}.get(record.status, EXIT_FAILURE)


def pending_job(record: RunRecord) -> tuple[ExecutionBackend, JobRef] | None:
    """The job still to be settled for this run, if any."""
    if EXIT_CODE_TAG in record.tags:
        return None
    name = record.tags.get(BACKEND_TAG, "")
    ref = JobRef.from_tags(name, record.tags) if name else None
    if ref is None:
        return None
    from mlrun_cli.backends import get_backend

    return get_backend(name), ref


@contextmanager
def _run_lock(run_id: str) -> Iterator[None]:
    from filelock import FileLock

    path = mlrun_home() / "locks" / f"run-{run_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path):
        yield


def _settle_with(tracker: Tracker, record: RunRecord, state: JobState, output: bytes) -> RunRecord:
    scratch = Path(tempfile.mkdtemp(prefix="mlrun-settle-"))
    try:
        with _run_lock(record.run_id):
            fresh = tracker.get_run(record.run_id)
            if EXIT_CODE_TAG in fresh.tags:
                return fresh  # another mlrun settled it meanwhile
            console_log = scratch / CONSOLE_LOG
            console_log.write_bytes(output)
            recorder = Recorder(tracker, RunRef(record.run_id, record.experiment_id, record.artifact_uri))
            record_end(recorder, state, console_log)
            shutil.rmtree(job_dir(record.run_id), ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
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
    return _settle_with(tracker, record, state, backend.logs(ref)), state


def wait_and_settle(
    tracker: Tracker, record: RunRecord, *, timeout_s: float | None, stdout: BinaryIO | None
) -> RunRecord:
    """Follow the run's job to its end (printing its output), then record the end.

    Ctrl-C only stops the waiting: the job goes on, and `mlrun runs wait` can be run again.
    """
    pending = pending_job(record)
    if pending is None:
        return record
    backend, ref = pending
    sink = stdout if stdout is not None else sys.stdout.buffer
    shown = 0
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    interval = 0.1
    while True:
        state = backend.status(ref)
        output = backend.logs(ref)
        if len(output) > shown:
            sink.write(output[shown:])
            sink.flush()
            shown = len(output)
        if state.done:
            return _settle_with(tracker, record, state, output)
        if deadline is not None and time.monotonic() >= deadline:
            raise StillRunning(
                f"run {record.run_id} has not ended after {timeout_s:g} s "
                f"({ref.backend} job {ref.job_id}: {state.reason or state.state})"
            )
        time.sleep(interval)
        interval = min(interval * 1.5, 3.0)


def cancel_and_settle(tracker: Tracker, record: RunRecord, *, stdout: BinaryIO | None) -> RunRecord:
    """Cancel a detached run's job, then record how it ended (KILLED, unless it had just ended)."""
    pending = pending_job(record)
    if pending is None:
        raise UsageError(f"run {record.run_id} has no job left to cancel (it is {record.status.name})")
    backend, ref = pending
    backend.cancel(ref)
    return wait_and_settle(tracker, record, timeout_s=120, stdout=stdout)
