"""`--backend local`: the command runs on this machine, in the project folder, under `bash -c`,
or in its container when the job has one (a docker_env project).

Nothing queues here: `submit` only takes the job, and `wait` runs it attached to mlrun, with
its output live and signals forwarded to it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from mlrun_cli.backends.base import Job, JobRef, JobState
from mlrun_cli.errors import ExecutionError, UsageError
from mlrun_cli.shared import tags
from mlrun_cli.shared.job_records import PGID_FILE
from mlrun_cli.shared.process import DEFAULT_GRACE_S, Outcome, kill_group_after, run_streaming
from mlrun_cli.shared.types import ContainerSpec, RunStatus

NAME = "local"

_ids = itertools.count(1)
_jobs: dict[str, Job] = {}
_pids: dict[str, int] = {}
_ended: dict[str, JobState] = {}
_logs: dict[str, Path] = {}


def grace_period() -> float:
    raw = os.environ.get("MLRUN_KILL_GRACE_SECONDS")
    try:
        return float(raw) if raw else DEFAULT_GRACE_S
    except ValueError:
        return DEFAULT_GRACE_S


def check_container(spec: ContainerSpec, config: Mapping[str, Any]) -> None:
    """Docker runs here: every field of the spec is honoured."""


def state_of(outcome: Outcome) -> JobState:
    """An attached process's (or container's) outcome as a job state."""
    if outcome.interrupted_by is not None:
        reason = f"stopped by signal {outcome.interrupted_by}"
        return JobState("KILLED", RunStatus.KILLED, outcome.exit_code, reason, outcome.interrupted_by)
    if outcome.exit_code == 0:
        return JobState("EXITED", RunStatus.FINISHED, 0)
    return JobState(
        "EXITED", RunStatus.FAILED, outcome.exit_code, f"command exited with code {outcome.exit_code}"
    )


def submit(job: Job) -> JobRef:
    job_id = f"{os.getpid()}-{next(_ids)}"
    _jobs[job_id] = job
    return JobRef(NAME, job_id)


def _job(ref: JobRef) -> Job:
    try:
        return _jobs[ref.job_id]
    except KeyError:
        raise UsageError(
            f"local job {ref.job_id} belongs to another mlrun process; local runs cannot be followed later"
        ) from None


def status(ref: JobRef) -> JobState:
    if ref.job_id in _ended:
        return _ended[ref.job_id]
    _job(ref)
    return JobState("RUNNING" if ref.job_id in _pids else "PENDING", None)


def _run_process(ref: JobRef, job: Job, console_log: Path, stdout: BinaryIO | None) -> Outcome:
    bash = shutil.which("bash")
    if bash is None:
        raise ExecutionError("bash is not installed; the local backend runs commands with bash -c")
    try:
        return run_streaming(
            [bash, "-c", job.command],
            cwd=job.cwd,
            env=job.environment(),
            log_path=console_log,
            grace_s=grace_period(),
            stdout=stdout,
            on_start=lambda pid: _started(ref, job, pid),
            die_with_parent=True,
        )
    finally:
        _pids.pop(ref.job_id, None)


def _started(ref: JobRef, job: Job, pid: int) -> None:
    _pids[ref.job_id] = pid
    # The command's process group, for whoever finds this run orphaned (mlrun_cli.app.ownership).
    with contextlib.suppress(OSError):
        job.job_dir.mkdir(parents=True, exist_ok=True)
        (job.job_dir / PGID_FILE).write_text(str(pid))


def wait(ref: JobRef, *, console_log: Path, stdout: BinaryIO | None = None) -> JobState:
    if ref.job_id in _ended:
        return _ended[ref.job_id]
    job = _job(ref)
    _logs[ref.job_id] = console_log
    if job.container is not None:
        from mlrun_cli.backends.container import run_job_in_container

        outcome = run_job_in_container(job, job.container, console_log, grace_period(), stdout)
    else:
        outcome = _run_process(ref, job, console_log, stdout)
    _ended[ref.job_id] = state = state_of(outcome)
    return state


def cancel(ref: JobRef) -> None:
    """As on SIGTERM: the process group (or container) is asked to stop, and killed after the grace
    period. Safe from another thread than the one waiting for the job."""
    job = _jobs.get(ref.job_id)
    if job is not None and job.container is not None:
        from mlrun_cli.backends.container import stop_container

        stop_container(job.run_id, grace_period())
        return
    pid = _pids.get(ref.job_id)
    if pid is not None:
        kill_group_after(pid, signal.SIGTERM, grace_period())
    elif ref.job_id not in _ended:
        _ended[ref.job_id] = JobState("CANCELLED", RunStatus.KILLED, tags.EXIT_TERMINATED, "cancelled")


def logs(ref: JobRef) -> bytes:
    path = _logs.get(ref.job_id)
    return path.read_bytes() if path is not None and path.is_file() else b""
