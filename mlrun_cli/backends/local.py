"""`--backend local`: the command runs under `bash -c` on this machine, in the project folder.

Nothing queues here: `submit` only takes the job, and `wait` runs it attached to mlrun, with
its output live and signals forwarded to it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
from pathlib import Path
from typing import BinaryIO

from mlrun_cli.backends.base import Job, JobRef, JobState
from mlrun_cli.errors import ExecutionError, UsageError
from mlrun_cli.execute import DEFAULT_GRACE_S, Outcome, merged_env, run_streaming
from mlrun_cli.tracking.base import RunStatus

NAME = "local"
DETACHABLE = False
CONFIG_SCHEMA = None
ENV_KINDS = None

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


def state_of(outcome: Outcome) -> JobState:
    """An attached process's outcome as a job state."""
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


def wait(ref: JobRef, *, console_log: Path, stdout: BinaryIO | None = None) -> JobState:
    if ref.job_id in _ended:
        return _ended[ref.job_id]
    job = _job(ref)
    bash = shutil.which("bash")
    if bash is None:
        raise ExecutionError("bash is not installed; the local backend runs commands with bash -c")
    _logs[ref.job_id] = console_log
    try:
        outcome = run_streaming(
            [bash, "-c", job.command],
            cwd=job.cwd,
            env=merged_env(job.env_patch),
            log_path=console_log,
            grace_s=grace_period(),
            stdout=stdout,
            on_start=lambda pid: _pids.__setitem__(ref.job_id, pid),
        )
    finally:
        _pids.pop(ref.job_id, None)
    _ended[ref.job_id] = state = state_of(outcome)
    return state


def cancel(ref: JobRef) -> None:
    pid = _pids.get(ref.job_id)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    elif ref.job_id not in _ended:
        _ended[ref.job_id] = JobState("CANCELLED", RunStatus.KILLED, 128 + signal.SIGTERM, "cancelled")


def logs(ref: JobRef) -> bytes:
    path = _logs.get(ref.job_id)
    return path.read_bytes() if path is not None and path.is_file() else b""
