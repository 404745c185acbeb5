"""The core's entry points. The CLI calls these with typed requests; nothing here imports click."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import BinaryIO

from mlrun_cli.errors import MlrunError, Terminated, TrackingError
from mlrun_cli.runs import detached, lifecycle
from mlrun_cli.runs.ownership import reap_orphans
from mlrun_cli.runs.plan import RunPlan, RunRequest, RunResult, plan_run
from mlrun_cli.runs.retries import run_attempts
from mlrun_cli.tracking import get_tracker, resolve_tracking_uri
from mlrun_cli.tracking.base import RunRecord
from mlrun_cli.tracking.outbox import SyncResult, flush_quietly

__all__ = [
    "RunPlan",
    "RunRequest",
    "RunResult",
    "cancel_run",
    "dry_run",
    "list_runs",
    "run",
    "show_run",
    "sync_runs",
    "wait_run",
]


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind through the run's cleanup instead of killing mlrun on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    previous = {sig: signal.signal(sig, terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    request: RunRequest, *, child_stdout: BinaryIO | None = None, log: BinaryIO | None = None
) -> RunResult:
    """Plan, create the run, execute, and always record a terminal status."""
    with _signals_as_exceptions():
        plan = plan_run(request)
        echo = log or sys.stderr.buffer
        # What MLflow would silently ignore runs as MLflow runs it, but the user is told.
        echo.write("".join(f"Warning: {w}\n" for w in plan.project.warnings).encode())
        try:
            reap_orphans()  # runs a killed mlrun left RUNNING, first
            flush_quietly(plan.tracking_uri)  # this store's backlog first, in a short bounded attempt
            return run_attempts(
                plan.retry,
                lambda extra: lifecycle.execute(plan, echo=echo, child_stdout=child_stdout, extra_tags=extra),
            )
        finally:
            plan.source.close()


def dry_run(request: RunRequest) -> RunPlan:
    """The plan, with any checkout made for it already removed."""
    plan = plan_run(request)
    plan.source.close()
    return plan


def sync_runs() -> list[SyncResult]:
    """Send what runs kept in the outbox while their tracking store was unreachable."""
    from mlrun_cli.tracking import outbox

    return outbox.flush()


def list_runs(
    tracking_uri: str | None, experiment_name: str | None, max_results: int = 100
) -> list[RunRecord]:
    reap_orphans()
    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    experiment_ids = None
    if experiment_name is not None:
        experiment = tracker.get_experiment_by_name(experiment_name)
        if experiment is None:
            raise TrackingError(f"no experiment named {experiment_name!r} in {tracker.uri}")
        experiment_ids = [experiment.experiment_id]
    return tracker.search_runs(experiment_ids, max_results)


def show_run(tracking_uri: str | None, run_id: str) -> tuple[RunRecord, str | None]:
    """The run, with its job's end recorded if the job has ended since; and the job's state."""
    reap_orphans()
    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    record = tracker.get_run(run_id)
    try:
        record, state = detached.settle_if_done(tracker, record)
    except MlrunError as error:  # the run is still worth showing when its cluster does not answer
        return record, f"unknown ({error.message})"
    return record, None if state is None else (state.state if state.done else state.reason or state.state)


def wait_run(
    tracking_uri: str | None, run_id: str, timeout_s: float | None, stdout: BinaryIO | None = None
) -> tuple[RunRecord, int]:
    """Follow a detached run's job to its end and record it; the run and its exit code."""
    reap_orphans()
    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    record = detached.wait_and_settle(tracker, tracker.get_run(run_id), timeout_s=timeout_s, stdout=stdout)
    return record, detached.exit_code_of(record)


def cancel_run(tracking_uri: str | None, run_id: str) -> tuple[RunRecord, int]:
    """Cancel a detached run's job and record its end; the run and its exit code."""
    reap_orphans()
    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    record = detached.cancel_and_settle(tracker, tracker.get_run(run_id), stdout=sys.stderr.buffer)
    return record, detached.exit_code_of(record)
