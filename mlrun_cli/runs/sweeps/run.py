"""A sweep: one parent run, and one child run per point, each made by the same lifecycle as a
single run (mlrun_cli.runs.lifecycle.execute).

Planning (mlrun_cli.runs.sweeps.plan) binds and checks every point before anything exists.
Running builds the env once, creates the parent, skips the points `--needed` finds done, and runs
the rest from at most `--max-parallel` worker threads. A worker thread runs its point to the end,
blocking on it, so the local backend's parent-death signal (armed per *thread* by
mlrun_cli.shared.process) stays armed as long as the child lives. Ctrl-C (or SIGTERM) in the main thread
cancels every job still out; they end KILLED (mlrun_cli.runs.sweeps.jobs), and each point not
started yet gets its child run, recorded KILLED at once, so that every point of a cancelled sweep
has its record. With --detach the points' runs are left RUNNING under a RUNNING parent, for
mlrun_cli.runs.sweeps.detached to settle.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mlrun_cli.app import ownership
from mlrun_cli.envs.base import EnvPlan, PreparedEnv
from mlrun_cli.errors import Terminated
from mlrun_cli.runs import lifecycle, needed
from mlrun_cli.runs.plan import RunPlan
from mlrun_cli.runs.retries import run_attempts
from mlrun_cli.runs.sweeps.jobs import SweepBackend
from mlrun_cli.runs.sweeps.plan import SweepPlan, SweepRequest, plan_sweep
from mlrun_cli.runs.sweeps.result import PointResult, Progress, SweepResult, settle_parent
from mlrun_cli.shared import tags
from mlrun_cli.shared.home import writable_dir
from mlrun_cli.tracking import get_tracker
from mlrun_cli.tracking.base import RunRef, RunStatus, Tracker
from mlrun_cli.tracking.outbox import Recorder

__all__ = ["SweepPlan", "SweepRequest", "plan_sweep", "run_sweep"]
NEVER_STARTED = "the sweep was cancelled before this point started"
RECANCEL_S = 2.0
MAX_WORKERS = 16
"""Worker threads of a sweep on an engine that takes one job at a time, whatever --max-parallel."""


def run_sweep(
    plan: SweepPlan, *, needed_only: bool, on_progress: Callable[[Progress], None] | None = None
) -> SweepResult:
    """Run every point not done yet; the parent ends FINISHED when all finished (KILLED on Ctrl-C)."""
    base = plan.base
    tracker = get_tracker(base.tracking_uri)
    writable_dir("jobs")  # a read-only or full $MLRUN_HOME: exit 75 before the store is touched
    tracker.check()
    results = [PointResult(i, {d.name: p.bound.all_values()[d.name] for d in plan.spec.dimensions})
               for i, p in enumerate(plan.points)]  # fmt: skip
    if needed_only:
        experiment_id = needed.experiment_id_for(tracker, base.experiment_name, base.experiment_id)
        for result, point in zip(results, plan.points, strict=True):
            fingerprint = point.fingerprint.value if point.fingerprint else ""
            done = needed.done_run(tracker, experiment_id, fingerprint) if fingerprint else None
            if done is not None:
                result.status, result.run_id, result.exit_code = RunStatus.FINISHED, done.run_id, 0
                result.reused = True
    prepared = base.env.build()  # once, for every point; a failed build creates no run
    experiment = tracker.resolve_experiment(base.experiment_name, base.experiment_id)
    user = lifecycle.user_name()
    parent_tags = {**lifecycle.start_tags(base, prepared, user), tags.SWEEP: str(len(plan.points))}
    for key in (tags.FINGERPRINT, tags.FINGERPRINT_INPUTS, tags.COMMAND):
        parent_tags.pop(key, None)
    start = lifecycle.now_ms()
    parent = tracker.create_run(experiment.experiment_id, base.run_name, user, start, parent_tags)
    outcome = SweepResult(parent.run_id, parent.experiment_id, tracker.uri, results)
    outcome.early_stop = plan.early_stop.to_dict() if plan.early_stop is not None else None
    recorder = Recorder(tracker, parent)
    scratch = Path(tempfile.mkdtemp(prefix="mlrun-sweep-"))
    try:
        ownership.claim(parent.run_id, parent.experiment_id, parent.artifact_uri, tracker.uri,
                        detachable=False, scratch=scratch)  # fmt: skip
        swept = {d.name for d in plan.spec.dimensions}
        recorder.log_batch({k: v for k, v in base.bound.all_values().items() if k not in swept}, {})
        (scratch / "sweep.json").write_text(json.dumps(plan.spec.to_dict(), indent=2))
        recorder.log_artifact(scratch / "sweep.json", lifecycle.ARTIFACT_DIR)
        env_plan = dataclasses.replace(base.env, builder=lambda _plan: prepared)
        if base.backend.batches_sweeps():
            outcome.interrupted_by = _run_batched(
                plan, parent, prepared, tracker, scratch, results, on_progress
            )
        else:
            outcome.interrupted_by = _run_points(plan, parent, env_plan, results, on_progress)
        if outcome.interrupted_by is not None:
            _record_never_started(plan, parent, tracker, prepared, results, outcome.interrupted_by)
        outcome.created = [r.run_id for r in results if r.run_id and not r.reused]
        if plan.detach and outcome.interrupted_by is None:
            _leave_running(plan, recorder, outcome)
        else:
            settle_parent(plan.objective, tracker, recorder, outcome, scratch)
    except BaseException as error:
        lifecycle.fail_run(recorder, error)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        ownership.release(parent.run_id)
    return outcome


def _leave_running(plan: SweepPlan, recorder: Recorder, outcome: SweepResult) -> None:
    """--detach: the points' jobs are submitted and their runs RUNNING; the parent stays RUNNING
    until `mlrun runs wait/cancel` (runs/sweeps/detached.py) settles its children, then it."""
    outcome.detached = True
    reused = {str(r.index): r.run_id for r in outcome.points if r.reused}
    marks = {tags.SWEEP_DETACHED: "true", **tags.split_value(tags.SWEEP_REUSED_POINTS, json.dumps(reused))}
    if plan.objective is not None:
        marks[tags.SWEEP_OBJECTIVE] = ":".join(plan.objective)
    recorder.log_batch({}, marks)


def _point_plan(plan: SweepPlan, index: int, parent: RunRef, **changes: object) -> RunPlan:
    extra = {tags.PARENT_RUN_ID: parent.run_id, tags.SWEEP_POINT: str(index)}
    return dataclasses.replace(plan.points[index], extra_tags=extra, **changes)  # type: ignore[arg-type]


def _record_never_started(
    plan: SweepPlan,
    parent: RunRef,
    tracker: Tracker,
    prepared: PreparedEnv,
    results: list[PointResult],
    signum: int,
) -> None:
    """The points the cancelled sweep never started: each gets its child run, KILLED, so the
    record says of every point what became of it."""
    user = lifecycle.user_name()
    for result in results:
        if result.status is not RunStatus.SCHEDULED:
            continue
        point = _point_plan(plan, result.index, parent)
        run = tracker.create_run(
            parent.experiment_id, point.run_name, user, lifecycle.now_ms(),
            lifecycle.start_tags(point, prepared, user),
        )  # fmt: skip
        code = tags.exit_code_for_signal(signum)
        recorder = Recorder(tracker, run)
        recorder.log_batch(point.bound.all_values(), {tags.EXIT_CODE: str(code), tags.ERROR: NEVER_STARTED})
        recorder.end_run(RunStatus.KILLED, lifecycle.now_ms())
        result.status, result.run_id, result.exit_code = RunStatus.KILLED, run.run_id, code
        result.error = NEVER_STARTED


def _run_points(
    plan: SweepPlan,
    parent: RunRef,
    env_plan: EnvPlan,
    results: list[PointResult],
    on_progress: Callable[[Progress], None] | None,
) -> int | None:
    """The points not done yet, from worker threads; the signal that stopped them, if any."""
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for result in results:
        if not result.reused:
            todo.put(result.index)
    # Engines that take one job at a time (local, Ray, plugins): at most max_parallel workers,
    # each submitting and following one job (its state from the engine's one watcher).
    backend = SweepBackend(plan.base.backend)
    threads = max(1, min(plan.max_parallel, todo.qsize(), MAX_WORKERS))
    running: set[int] = set()
    devnull = open(os.devnull, "wb")  # noqa: SIM115 - shared by the workers, closed below

    def work() -> None:
        while not backend.cancelled.is_set():
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            point = _point_plan(plan, index, parent, backend=backend, env=env_plan)
            running.add(index)
            result = results[index]
            try:
                # Retries apply per point: each attempt its own child run, linked to the first.
                ran = run_attempts(
                    point, lambda attempt: lifecycle.execute(attempt, echo=io.BytesIO(), child_stdout=devnull)
                )
                result.run_id, result.status, result.exit_code = ran.run_id, ran.status, ran.exit_code
                result.attempts = [
                    {
                        "attempt": a.attempt,
                        "run_id": a.run_id,
                        "status": a.status,
                        "exit_code": a.exit_code,
                    }
                    for a in ran.attempts
                ]
            except BaseException as error:  # the lifecycle has ended the run FAILED (KILLED) already
                killed = isinstance(error, KeyboardInterrupt)
                result.status = RunStatus.KILLED if killed else RunStatus.FAILED
                result.error = getattr(error, "message", str(error) or type(error).__name__)
                result.run_id = backend.run_ids.get(point.run_name)
            finally:
                running.discard(index)

    # Each worker says itself when it is done: a KeyboardInterrupt inside Thread.join() can leave
    # is_alive() False for a thread that still runs (CPython 3.11), and the sweep would end early.
    ended = [threading.Event() for _ in range(threads)]

    def worker(n: int) -> None:
        try:
            work()
        finally:
            ended[n].set()

    signum = None
    from mlrun_cli.runs.sweeps import early_stop as sweep_early_stop

    names = [point.run_name for point in plan.points]
    stopper = sweep_early_stop.for_sweep(plan, sweep_early_stop.WorkerPoints(backend, names), results)
    try:
        for n in range(threads):
            threading.Thread(target=worker, args=(n,), name=f"mlrun-sweep-{n}").start()
        signum = _wait_for(ended, backend, results, running, on_progress)
    finally:
        devnull.close()
        if stopper is not None:
            stopper.close()
    return signum


def _run_batched(
    plan: SweepPlan,
    parent: RunRef,
    prepared: PreparedEnv,
    tracker: Tracker,
    scratch: Path,
    results: list[PointResult],
    on_progress: Callable[[Progress], None] | None,
) -> int | None:
    """The points on an engine that holds them itself (runs/sweeps/batch.py); the signal, if any."""
    from mlrun_cli.runs.sweeps import early_stop as sweep_early_stop
    from mlrun_cli.runs.sweeps.batch import BatchSweep

    sweep = BatchSweep(
        lambda index: _point_plan(plan, index, parent), prepared, tracker, parent.experiment_id,
        scratch, plan.max_parallel, results, detach=plan.detach,
    )  # fmt: skip
    stopper = sweep_early_stop.for_sweep(plan, sweep_early_stop.BatchPoints(sweep), results)
    try:
        return sweep.run([r.index for r in results if not r.reused], on_progress)
    finally:
        if stopper is not None:
            stopper.close()


def _wait_for(
    ended: list[threading.Event],
    backend: SweepBackend,
    results: list[PointResult],
    running: set[int],
    on_progress: Callable[[Progress], None] | None,
) -> int | None:
    signum: int | None = None
    again = 0.0
    while not all(e.is_set() for e in ended):
        try:
            for event in ended:
                if not event.is_set():
                    event.wait(timeout=0.2)
                    break
            if signum is not None and time.monotonic() >= again:
                backend.cancel_all(signum)  # again: a job may have been starting
                again = time.monotonic() + RECANCEL_S
            if on_progress is not None:
                done = sum(r.status is not RunStatus.SCHEDULED for r in results)
                failed = sum(r.status in ("FAILED", "KILLED") and not r.settled for r in results)
                on_progress(Progress(len(results), done, len(running), failed))
        except Terminated as error:  # first: a Terminated is a KeyboardInterrupt too
            signum = error.signum
            backend.cancel_all(signum)
        except KeyboardInterrupt:
            signum = signal.SIGINT
            backend.cancel_all(signum)
    return signum
