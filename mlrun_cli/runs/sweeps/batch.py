"""A sweep on a backend that batches (`batches_sweeps()`: Slurm's array jobs, Kubernetes' Indexed
Job): every point's run is made, the jobs go to `submit_many` together, and the engine's one watcher
(mlrun_cli.backends.watcher) follows them all. A few recorder threads write each point's end as the watcher
reports it; a failed point with retries left gets its next attempt, submitted with the others
that failed meanwhile (a new array job), tagged `mlrun.attempt`/`mlrun.retry_of` as a single run's
retries are. Threads do not grow with the points: the main thread, the watcher, RECORDERS.

Each attempt is a run of its own made with the lifecycle's parts (`start_tags`, `record_end`,
`fail_run`, the job folder and the owner file), so it is recorded as a single run is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlrun_cli.app import ownership
from mlrun_cli.backends.base import ExecutionBackend, Job, JobRef, JobState
from mlrun_cli.backends.watcher import Watch, watcher_for
from mlrun_cli.envs.base import PreparedEnv
from mlrun_cli.errors import Terminated
from mlrun_cli.project.durations import format_duration
from mlrun_cli.runs import lifecycle
from mlrun_cli.runs.plan import RunPlan
from mlrun_cli.runs.result import RunResult
from mlrun_cli.runs.sweeps.result import PointResult, Progress
from mlrun_cli.shared import tags
from mlrun_cli.shared.streaming import ConsoleLog, Sink, masking
from mlrun_cli.tracking.base import RunRef, RunStatus, Tracker
from mlrun_cli.tracking.outbox import Recorder

RECORDERS = 4
TICK_S = 0.2
CANCEL_WAIT_S = 60.0
CANCELLED = "the sweep was cancelled"


@dataclass
class Attempt:
    index: int
    number: int
    plan: RunPlan
    run: RunRef
    recorder: Recorder
    job: Job
    first_run_id: str
    started: float
    ref: JobRef | None = None
    watch: Watch | None = None
    claimed: bool = False


class BatchSweep:
    def __init__(
        self,
        point_plan: Callable[[int], RunPlan],
        env: PreparedEnv,
        tracker: Tracker,
        experiment_id: str,
        scratch: Path,
        max_parallel: int,
        results: list[PointResult],
        *,
        detach: bool,
    ) -> None:
        self.point_plan = point_plan
        self.backend: ExecutionBackend = point_plan(0).backend
        self.env = env
        self.tracker = tracker
        self.experiment_id = experiment_id
        self.scratch = scratch
        self.max_parallel = max_parallel
        self.results = results
        self.detach = detach
        self.user = lifecycle.user_name()
        self.ended: queue.SimpleQueue[tuple[Attempt, JobState] | None] = queue.SimpleQueue()
        self.out: dict[str, Attempt] = {}
        self.retry_at: list[tuple[float, int, int, str]] = []
        self.lock = threading.Lock()
        self.signum: int | None = None
        self.stopped: dict[str, str] = {}
        """Run id -> why, of the points --early-stop stopped (`stop_point`)."""

    def run(self, todo: list[int], on_progress: Callable[[Progress], None] | None) -> int | None:
        recorders = [
            threading.Thread(target=self._record_ends, name=f"mlrun-record-{n}") for n in range(RECORDERS)
        ]
        for thread in recorders:
            thread.start()
        try:
            try:
                self._submit([(index, 1, "") for index in todo], raise_refusal=True)
            except KeyboardInterrupt as interrupt:  # while the runs were made: none was submitted
                self.signum = _signum(interrupt)
                return self.signum  # the points not made yet get their KILLED run (runs/sweep.py)
            if not self.detach:
                self._follow(on_progress)
        finally:
            for _ in recorders:
                self.ended.put(None)
            for thread in recorders:
                thread.join()
        return self.signum

    def _open(self, index: int, number: int, first_run_id: str) -> Attempt:
        plan = self.point_plan(index)
        if plan.retry.retries:
            extra = {tags.ATTEMPT: str(number), **({tags.RETRY_OF: first_run_id} if first_run_id else {})}
            plan = dataclasses.replace(plan, extra_tags={**plan.extra_tags, **extra})
        start = lifecycle.start_tags(plan, self.env, self.user)
        run = self.tracker.create_run(self.experiment_id, plan.run_name, self.user, lifecycle.now_ms(), start)
        recorder = Recorder(self.tracker, run)
        first = first_run_id or run.run_id
        attempt = Attempt(index, number, plan, run, recorder, None, first, time.monotonic())  # type: ignore[arg-type]
        # RUNNING before the run id: a retry is not its failed attempt (the stopper reads the
        # run id, then the status, and judges the attempt that runs).
        self.results[index].status = RunStatus.RUNNING
        self.results[index].run_id = run.run_id
        try:
            scratch = self.scratch / run.run_id
            scratch.mkdir()
            ownership.claim(run.run_id, run.experiment_id, run.artifact_uri, self.tracker.uri,
                            detachable=plan.backend.DETACHABLE, scratch=scratch)  # fmt: skip
            recorder.log_batch(plan.bound.all_values(), {})
            lifecycle._log_provenance(recorder, plan, self.env.artifacts, scratch)
            attempt.job = lifecycle._job(plan, self.env, run, self.tracker.child_env(run))
        except BaseException as error:
            self._abandon(attempt, error)
            raise
        return attempt

    def _abandon(self, attempt: Attempt, error: BaseException) -> None:
        """An attempt whose job was never submitted: its run ends FAILED (KILLED), nothing left."""
        lifecycle.fail_run(attempt.recorder, error)
        shutil.rmtree(lifecycle.job_dir(attempt.run.run_id), ignore_errors=True)
        ownership.release(attempt.run.run_id)
        result = self.results[attempt.index]
        result.status = RunStatus.KILLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
        result.error = getattr(error, "message", str(error) or type(error).__name__)
        if attempt.plan.retry.retries:
            result.attempts.append(_attempt_dict(attempt, result.status.name, None))

    def _submit(self, wanted: list[tuple[int, int, str]], *, raise_refusal: bool) -> None:
        attempts: list[Attempt] = []
        try:
            for index, number, first in wanted:
                attempts.append(self._open(index, number, first))
            refs = self.backend.submit_many([a.job for a in attempts], self.max_parallel)
        except BaseException as error:
            for attempt in attempts:
                self._abandon(attempt, error)
            if raise_refusal or not isinstance(error, Exception):
                raise
            return
        watcher = watcher_for(self.backend)
        for attempt, ref in zip(attempts, refs, strict=True):
            attempt.ref = ref
            attempt.recorder.log_batch({}, ref.tags())
            if (attempt.job.job_dir / lifecycle.JOB_SCRIPT).is_file():
                attempt.recorder.log_artifact(
                    attempt.job.job_dir / lifecycle.JOB_SCRIPT, lifecycle.ARTIFACT_DIR
                )
            if self.detach:
                self.results[attempt.index].status = RunStatus.RUNNING
                ownership.release(attempt.run.run_id, job_owns_folder=True)
                continue
            with self.lock:
                self.out[attempt.run.run_id] = attempt
            attempt.watch = watcher.watch(ref, self._on_end(attempt))

    def _on_end(self, attempt: Attempt) -> Callable[[JobRef, JobState], None]:
        return lambda _ref, state: self.ended.put((attempt, state))

    def _follow(self, on_progress: Callable[[Progress], None] | None) -> None:
        cancel_by: float | None = None
        while True:
            try:
                with self.lock:
                    out = list(self.out.values())
                    due = [r for r in self.retry_at if r[0] <= time.monotonic()]
                    self.retry_at = [r for r in self.retry_at if r[0] > time.monotonic()]
                    waiting = bool(self.retry_at)
                if not out and not due and not waiting:
                    return
                if due and self.signum is None:
                    self._submit([(i, n, first) for _, i, n, first in due], raise_refusal=False)
                if cancel_by is not None and time.monotonic() >= cancel_by:
                    for attempt in out:  # the engine never said they ended: recorded KILLED anyway
                        self.ended.put((attempt, JobState("CANCELLED", RunStatus.KILLED)))
                if on_progress is not None:
                    done = sum(r.status not in (RunStatus.SCHEDULED, RunStatus.RUNNING) for r in self.results)
                    failed = sum(r.status in ("FAILED", "KILLED") for r in self.results)
                    on_progress(Progress(len(self.results), done, len(out), failed))
                time.sleep(TICK_S)
            except KeyboardInterrupt as interrupt:
                if self.signum is None:
                    self.signum = _signum(interrupt)
                    cancel_by = time.monotonic() + CANCEL_WAIT_S
                    with self.lock:
                        self.retry_at = []
                        out = list(self.out.values())
                    watches = [a.watch for a in out if a.watch is not None]
                    if watches:  # together: an engine holding them as one batch stops it at once
                        with contextlib.suppress(Exception):  # the sweep's end records them anyway
                            watches[0].watcher.cancel_many([w.ref for w in watches])

    def stop_point(self, run_id: str, reason: str) -> None:
        """--early-stop: cancel one point's job through the engine's watcher; it ends KILLED."""
        with self.lock:
            self.stopped[run_id] = reason
            attempt = self.out.get(run_id)
        if attempt is not None:
            self._stop(attempt)

    def _stop(self, attempt: Attempt) -> None:
        if attempt.watch is None:
            return
        try:
            attempt.watch.watcher.cancel(attempt.watch.ref)
        except Exception:  # ended meanwhile; or the engine is slow, and the sweep's end records it
            return

    def _claim(self, attempt: Attempt) -> bool:
        """Whether this end is the attempt's first (the watcher's, or a cancelled sweep's)."""
        with self.lock:
            if attempt.claimed:
                return False
            attempt.claimed = True
            return True

    def _record_ends(self) -> None:
        while (item := self.ended.get()) is not None:
            attempt, state = item
            if not self._claim(attempt):
                continue  # recorded already (the watcher, and a cancelled sweep's deadline)
            if attempt.watch is not None:
                attempt.watch.close()
            try:
                self._record_end(attempt, self._final_state(attempt, state))
            except Exception as error:  # the store failed: the run must still end
                lifecycle.fail_run(attempt.recorder, error)
                self.results[attempt.index].status = RunStatus.FAILED
            finally:  # out only now: a retry it asked for is due before the sweep can end
                with self.lock:
                    self.out.pop(attempt.run.run_id, None)

    def _final_state(self, attempt: Attempt, state: JobState) -> JobState:
        if self.signum is not None and state.status is not RunStatus.FINISHED:
            code = tags.exit_code_for_signal(self.signum)
            return JobState(state.state, RunStatus.KILLED, code, CANCELLED, self.signum)
        stopped = self.stopped.get(attempt.run.run_id)
        if stopped is not None and state.status is not RunStatus.FINISHED:  # never tried again
            return JobState(state.state, RunStatus.KILLED, tags.exit_code_for_signal(signal.SIGTERM), stopped)
        # The point's own time limit, kept inside its job (backends/deadline.py): exit 124.
        if attempt.plan.timeout_s is not None and state.exit_code == tags.EXIT_TIMEOUT:
            limit = format_duration(attempt.plan.timeout_s or 0)
            return JobState(
                lifecycle.TIMED_OUT,
                RunStatus.FAILED,
                tags.EXIT_TIMEOUT,
                f"the run exceeded its time limit ({limit})",
            )
        return state

    def _record_end(self, attempt: Attempt, state: JobState) -> None:
        console_log = self.scratch / attempt.run.run_id / lifecycle.CONSOLE_LOG
        assert attempt.ref is not None
        with masking(attempt.plan.bound.secret_env().values()), ConsoleLog(console_log) as log:
            sink = Sink(log, None)
            try:
                sink.write(attempt.plan.backend.logs(attempt.ref))
            except Exception as error:  # the record matters more than its log
                sink.write(f"mlrun: cannot read the job's output: {error}\n".encode())
            sink.finish()
        if state.state == lifecycle.TIMED_OUT and attempt.plan.timeout_s is not None:
            attempt.recorder.log_batch({}, {tags.TIMEOUT: format_duration(attempt.plan.timeout_s)})
        lifecycle.record_end(attempt.recorder, state, console_log)
        shutil.rmtree(lifecycle.job_dir(attempt.run.run_id), ignore_errors=True)
        ownership.release(attempt.run.run_id)
        status = state.status or RunStatus.FAILED
        code = state.exit_code if state.exit_code is not None else (0 if status is RunStatus.FINISHED else 1)
        result = self.results[attempt.index]
        result.run_id, result.status, result.exit_code = attempt.run.run_id, status, code
        result.error = None if status is RunStatus.FINISHED else state.reason or None
        if attempt.plan.retry.retries:
            result.attempts.append(_attempt_dict(attempt, status.name, code))
        ran = RunResult(attempt.run.run_id, attempt.run.experiment_id, status, code, 0.0, "", {}, "",
                        "", state.interrupted_by)  # fmt: skip
        policy = attempt.plan.retry
        if self.signum is None and attempt.number <= policy.retries and policy.why_not(ran) is None:
            wait = policy.delay(attempt.number)
            with self.lock:
                self.retry_at.append(
                    (time.monotonic() + wait, attempt.index, attempt.number + 1, attempt.first_run_id)
                )


def _signum(interrupt: KeyboardInterrupt) -> int:
    return interrupt.signum if isinstance(interrupt, Terminated) else signal.SIGINT


def _attempt_dict(attempt: Attempt, status: str, exit_code: int | None) -> dict[str, object]:
    return {"attempt": attempt.number, "run_id": attempt.run.run_id, "status": status, "exit_code": exit_code}
