"""The core's entry points. The CLI calls these with typed requests; nothing here imports click."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mlrun_cli.backends.base import Job
from mlrun_cli.backends.local import state_of
from mlrun_cli.errors import MlrunError, Terminated, TrackingError
from mlrun_cli.jobs import ARTIFACT_DIR, CONSOLE_LOG, job_dir, now_ms, record_end
from mlrun_cli.planning import RunPlan, RunRequest, plan_run
from mlrun_cli.recording import fail_run, job_cwd, log_provenance, start_tags, user_name
from mlrun_cli.tracking import get_tracker, resolve_tracking_uri
from mlrun_cli.tracking.base import RunRecord, RunRef, RunStatus
from mlrun_cli.tracking.outbox import Recorder, SyncResult, flush_quietly
from mlrun_cli.validation import ValidationReport, validate

__all__ = [
    "RunRequest",
    "RunResult",
    "ValidationReport",
    "dry_run",
    "list_runs",
    "plan_run",
    "run",
    "show_run",
    "validate",
]


@dataclass(frozen=True)
class RunResult:
    run_id: str
    experiment_id: str
    status: RunStatus
    exit_code: int
    duration_s: float
    command: str
    params: dict[str, str]
    tracking_uri: str
    run_name: str
    interrupted_by: int | None = None
    backend: str = "local"
    job_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "job_id": self.job_id,
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "status": self.status.name,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "command": self.command,
            "params": self.params,
            "run_name": self.run_name,
            "tracking_uri": self.tracking_uri,
        }


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
    flush_quietly(resolve_tracking_uri(request.tracking_uri))  # this store's backlog, bounded
    with _signals_as_exceptions():
        plan = plan_run(request)
        try:
            return _run(plan, child_stdout, log or sys.stderr.buffer)
        finally:
            plan.source.close()


def dry_run(request: RunRequest) -> RunPlan:
    """The plan, with any checkout made for it already removed."""
    plan = plan_run(request)
    plan.source.close()
    return plan


def _run(plan: RunPlan, child_stdout: BinaryIO | None, echo: BinaryIO) -> RunResult:
    from mlrun_cli import envs
    from mlrun_cli.backends import get_backend

    tracker = get_tracker(plan.tracking_uri)
    backend = get_backend(plan.backend)
    # The environment first: a failed build leaves no trace in the tracking store.
    prepared = envs.get_env_manager(plan.env_manager).prepare(
        plan.project, build=True, options=plan.env_options
    )
    in_use = envs.cache.lease(prepared.path).acquire()  # `env prune` keeps it until the end
    tracker.check()
    experiment = tracker.resolve_experiment(plan.experiment_name, plan.experiment_id)
    user = user_name()
    tags = {**start_tags(plan, user), **prepared.tags}
    run_ref = tracker.create_run(experiment.experiment_id, plan.run_name, user, now_ms(), tags)
    recorder = Recorder(tracker, run_ref)
    scratch = Path(tempfile.mkdtemp(prefix="mlrun-"))
    job_id = None
    try:
        params = plan.bound.all_values()
        recorder.log_batch(params, {})
        log_provenance(recorder, plan, prepared.artifacts, scratch)
        echo.write(
            f"mlrun: run {run_ref.run_id} ({plan.run_name}) in experiment "
            f"'{experiment.name}': {plan.command}\n".encode()
        )
        echo.flush()
        console_log = scratch / CONSOLE_LOG
        handshake = tracker.child_env(run_ref)
        started = time.monotonic()
        container_env = prepared.container.environment if prepared.container is not None else {}
        if prepared.container is not None and plan.backend == "local":
            from mlrun_cli.backends.container import run_plan_in_container

            state = state_of(
                run_plan_in_container(plan, prepared.container, handshake, console_log, child_stdout)
            )
        else:
            job = Job(
                command=plan.command,
                cwd=job_cwd(plan, run_ref.run_id),
                env_patch={
                    **container_env,
                    **prepared.env_patch,
                    **handshake,
                    "MLFLOW_EXPERIMENT_NAME": None,
                },
                run_id=run_ref.run_id,
                run_name=plan.run_name,
                job_dir=job_dir(run_ref.run_id),
                config=plan.backend_config,
                image=prepared.container.image if prepared.container is not None else None,
            )
            ref = backend.submit(job)
            if backend.DETACHABLE:  # a job that outlives mlrun must be found again from the run
                job_id = ref.job_id
                recorder.log_batch({}, ref.tags())
                if (job.job_dir / "job.sh").is_file():  # what was submitted, exactly
                    recorder.log_artifact(job.job_dir / "job.sh", ARTIFACT_DIR)
                echo.write(f"mlrun: submitted {plan.backend} job {ref.job_id}\n".encode())
                echo.flush()
            if plan.detach:
                return _result(run_ref, RunStatus.RUNNING, 0, 0.0, plan, params, tracker.uri, job_id)
            state = backend.wait(ref, console_log=console_log, stdout=child_stdout)
        record_end(recorder, state, console_log)
        # Recorded: the job folder has served. A failure before this point leaves it to the job.
        shutil.rmtree(job_dir(run_ref.run_id), ignore_errors=True)
    except BaseException as error:
        fail_run(recorder, error)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        in_use.release()
    status = state.status or RunStatus.FAILED
    exit_code = state.exit_code if state.exit_code is not None else 1
    duration = time.monotonic() - started
    return _result(
        run_ref, status, exit_code, duration, plan, params, tracker.uri, job_id, state.interrupted_by
    )


def _result(
    run_ref: RunRef,
    status: RunStatus,
    exit_code: int,
    duration_s: float,
    plan: RunPlan,
    params: dict[str, str],
    tracking_uri: str,
    job_id: str | None,
    interrupted_by: int | None = None,
) -> RunResult:
    return RunResult(
        run_ref.run_id,
        run_ref.experiment_id,
        status,
        exit_code,
        duration_s,
        plan.command,
        params,
        tracking_uri,
        plan.run_name,
        interrupted_by,
        plan.backend,
        job_id,
    )


def sync_runs() -> list[SyncResult]:
    """Send what runs kept in the outbox while their tracking store was unreachable."""
    from mlrun_cli.tracking import outbox

    return outbox.flush()


def list_runs(
    tracking_uri: str | None, experiment_name: str | None, max_results: int = 100
) -> list[RunRecord]:
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
    from mlrun_cli import jobs

    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    record = tracker.get_run(run_id)
    try:
        record, state = jobs.settle_if_done(tracker, record)
    except MlrunError as error:  # the run is still worth showing when its cluster does not answer
        return record, f"unknown ({error.message})"
    return record, None if state is None else (state.state if state.done else state.reason or state.state)


def wait_run(
    tracking_uri: str | None, run_id: str, timeout_s: float | None, stdout: BinaryIO | None = None
) -> tuple[RunRecord, int]:
    """Follow a detached run's job to its end and record it; the run and its exit code."""
    from mlrun_cli import jobs

    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    record = jobs.wait_and_settle(tracker, tracker.get_run(run_id), timeout_s=timeout_s, stdout=stdout)
    return record, jobs.exit_code_of(record)


def cancel_run(tracking_uri: str | None, run_id: str) -> tuple[RunRecord, int]:
    """Cancel a detached run's job and record its end; the run and its exit code."""
    from mlrun_cli import jobs

    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    record = jobs.cancel_and_settle(tracker, tracker.get_run(run_id), stdout=sys.stderr.buffer)
    return record, jobs.exit_code_of(record)
