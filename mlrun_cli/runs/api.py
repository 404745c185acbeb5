"""The core's entry points. The CLI calls these with typed requests; nothing here imports click."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from mlrun_cli.app.reaper import reap_orphans
from mlrun_cli.errors import MlrunError, Terminated
from mlrun_cli.runs import detached, lifecycle
from mlrun_cli.runs.plan import RunPlan, RunRequest, plan_run
from mlrun_cli.runs.result import RunResult
from mlrun_cli.runs.retries import run_attempts
from mlrun_cli.tracking import get_tracker, resolve_tracking_uri
from mlrun_cli.tracking.base import RunRecord
from mlrun_cli.tracking.outbox import SyncResult, flush_quietly

if TYPE_CHECKING:
    from mlrun_cli.runs.sweeps.result import Progress, SweepResult
    from mlrun_cli.runs.sweeps.run import SweepPlan, SweepRequest

__all__ = [
    "RunPlan",
    "RunRequest",
    "RunResult",
    "cancel_run",
    "dry_run",
    "run",
    "show_run",
    "sweep",
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
    request: RunRequest,
    *,
    child_stdout: BinaryIO | None = None,
    log: BinaryIO | None = None,
    adjust: Callable[[RunPlan], RunPlan] | None = None,
) -> RunResult:
    """Plan, create the run, execute, and always record a terminal status. `adjust` sees the plan
    before anything runs (a rerun checks it against the record and adds its tag)."""
    with _signals_as_exceptions():
        plan = plan_run(request)
        echo = log or sys.stderr.buffer
        # What MLflow would silently ignore runs as MLflow runs it, but the user is told.
        echo.write("".join(f"Warning: {w}\n" for w in plan.warnings).encode())
        try:
            if adjust is not None:
                plan = adjust(plan)
            reap_orphans()  # runs a killed mlrun left RUNNING, first
            flush_quietly(plan.tracking_uri)  # this store's backlog first, in a short bounded attempt
            with _twin_lock(plan) if request.needed else contextlib.nullcontext(False) as waited:
                done = _done_already(plan, wait=True, waited=waited) if request.needed else None
                if done is not None:
                    return done
                return run_attempts(
                    plan, lambda attempt: lifecycle.execute(attempt, echo=echo, child_stdout=child_stdout)
                )
        finally:
            plan.source.close()


def sweep(request: SweepRequest, *, on_progress: Callable[[Progress], None] | None = None) -> SweepResult:
    """Plan every point (nothing created on a bad one), then run the sweep under one parent run."""
    from mlrun_cli.runs.sweeps.run import plan_sweep, run_sweep

    with _signals_as_exceptions():
        plan = plan_sweep(request)
        sys.stderr.write("".join(f"Warning: {w}\n" for w in plan.warnings))
        try:
            reap_orphans()
            flush_quietly(plan.base.tracking_uri)
            return run_sweep(plan, needed_only=request.run.needed, on_progress=on_progress)
        finally:
            plan.base.source.close()


def dry_sweep(request: SweepRequest) -> SweepPlan:
    """The sweep's points, bound and checked; nothing run or recorded."""
    from mlrun_cli.runs.sweeps.run import plan_sweep

    plan = plan_sweep(request)
    plan.base.source.close()
    return plan


def _twin_lock(plan: RunPlan) -> contextlib.AbstractContextManager[bool]:
    """--needed: an identical --needed run in flight on this host is waited for (runs/needed.py)."""
    from mlrun_cli.runs.needed import in_flight

    assert plan.fingerprint is not None
    return in_flight(plan.tracking_uri, plan.experiment_name, plan.experiment_id, plan.fingerprint.value)


def _done_already(plan: RunPlan, *, wait: bool = False, waited: bool = False) -> RunResult | None:
    """--needed: the FINISHED run with this plan's fingerprint, as this run's result; with `wait`,
    after an identical run in flight has ended."""
    from mlrun_cli.runs.needed import find_done
    from mlrun_cli.tracking.base import RunStatus

    assert plan.fingerprint is not None
    found = find_done(
        plan.tracking_uri, plan.experiment_name, plan.experiment_id, plan.fingerprint.value,
        wait=wait, waited=waited,
    )  # fmt: skip
    if found is None:
        return None
    duration = (found.end_time_ms - found.start_time_ms) / 1000 if found.end_time_ms else 0.0
    return RunResult(
        found.run_id, found.experiment_id, RunStatus.FINISHED, 0, duration, plan.command,
        plan.bound.all_values(), get_tracker(plan.tracking_uri).uri, found.run_name, reused=True,
    )  # fmt: skip


def dry_run(request: RunRequest) -> tuple[RunPlan, str | None]:
    """The plan, with any checkout made for it already removed; with --needed, the id of the
    FINISHED run a real run would reuse (None: it would run)."""
    plan = plan_run(request)
    plan.source.close()
    done = _done_already(plan) if request.needed else None
    if request.needed and done is None and plan.fingerprint is not None:
        from mlrun_cli.runs.needed import in_flight_now

        twin = in_flight_now(
            plan.tracking_uri, plan.experiment_name, plan.experiment_id, plan.fingerprint.value
        )
        if twin is not None:
            sys.stderr.write(
                f"mlrun: {twin} is in flight here: a real run would wait for it to end, and reuse it if "
                "it finishes\n"
            )
    return plan, None if done is None else done.run_id


def sync_runs() -> list[SyncResult]:
    """Send what runs kept in the outbox while their tracking store was unreachable."""
    from mlrun_cli.tracking import outbox

    return outbox.flush()


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
    from mlrun_cli.runs.sweeps import detached as sweep_detached  # a sweep's parent: only here

    reap_orphans()
    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    record = tracker.get_run(run_id)
    if sweep_detached.is_detached_sweep(record):  # the whole sweep: every child, then the parent
        record = sweep_detached.follow_sweep(tracker, record, timeout_s=timeout_s)
    else:
        record = detached.wait_and_settle(tracker, record, timeout_s=timeout_s, stdout=stdout)
    return record, detached.exit_code_of(record)


def cancel_run(tracking_uri: str | None, run_id: str) -> tuple[RunRecord, int]:
    """Cancel a detached run's job and record its end; the run and its exit code."""
    from mlrun_cli.runs.sweeps import detached as sweep_detached  # a sweep's parent: only here

    reap_orphans()
    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    record = tracker.get_run(run_id)
    if sweep_detached.is_detached_sweep(record):
        record = sweep_detached.follow_sweep(tracker, record, timeout_s=120, cancel=True)
    else:
        record = detached.cancel_and_settle(tracker, record, stdout=sys.stderr.buffer)
    return record, detached.exit_code_of(record)
