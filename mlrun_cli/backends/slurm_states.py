"""Reading a Slurm job's state: scontrol while slurmctld remembers the job, then sacct (from the
accounting database, else from the job completion log), mapped to run statuses and exit codes."""

from __future__ import annotations

import re
from collections.abc import Sequence

from mlrun_cli.backends.base import EXIT_TIMEOUT, JobState
from mlrun_cli.errors import ExecutionError, InfrastructureError, MlrunError
from mlrun_cli.shared import tags
from mlrun_cli.shared.process import run_captured
from mlrun_cli.shared.types import RunStatus

EXIT_OUT_OF_MEMORY = tags.EXIT_OUT_OF_MEMORY
EXIT_CANCELLED = tags.EXIT_TERMINATED

# Terminal states, with the status and the reason recorded; anything else (PENDING, RUNNING,
# CONFIGURING, COMPLETING, SUSPENDED, REQUEUED, ...) is still on its way.
_TERMINAL: dict[str, tuple[RunStatus, str]] = {
    "COMPLETED": (RunStatus.FINISHED, ""),
    "FAILED": (RunStatus.FAILED, "the job failed"),
    "CANCELLED": (RunStatus.KILLED, "the job was cancelled (scancel)"),
    "TIMEOUT": (RunStatus.FAILED, "the job exceeded its time limit (TIMEOUT)"),
    "OUT_OF_MEMORY": (RunStatus.FAILED, "the job ran out of memory (OUT_OF_MEMORY)"),
    "NODE_FAIL": (RunStatus.FAILED, "the job's node failed (NODE_FAIL)"),
    "BOOT_FAIL": (RunStatus.FAILED, "the job's node failed to boot (BOOT_FAIL)"),
    "DEADLINE": (RunStatus.FAILED, "the job missed its deadline (DEADLINE)"),
    "PREEMPTED": (RunStatus.FAILED, "the job was preempted (PREEMPTED)"),
}
_FIELD = re.compile(r"(?:^|\s)(JobId|JobState|ExitCode|Reason|ArrayTaskId)=(\S+)")


def _exit_code(raw: str) -> tuple[int, int]:
    """Slurm's 'CODE:SIGNAL' pair."""
    code, _, sig = raw.partition(":")
    try:
        return int(code), int(sig or 0)
    except ValueError:
        return 0, 0


def to_job_state(raw_state: str, raw_exit: str, reason: str = "") -> JobState:
    """Slurm's state and exit code as a run status and the exit code mlrun reports."""
    word = raw_state.split()[0].rstrip("+") if raw_state.strip() else "UNKNOWN"
    if word not in _TERMINAL:
        detail = f" ({reason})" if reason and reason not in ("None", "(null)") else ""
        return JobState(word, None, None, f"{word}{detail}")
    status, why = _TERMINAL[word]
    code, sig = _exit_code(raw_exit)
    if word == "COMPLETED":
        return JobState(word, status, 0)
    if word == "TIMEOUT":
        exit_code = EXIT_TIMEOUT
    elif word == "OUT_OF_MEMORY":
        exit_code = EXIT_OUT_OF_MEMORY
    elif word == "CANCELLED":
        exit_code = tags.exit_code_for_signal(sig) if sig else EXIT_CANCELLED
    else:
        exit_code = code or (tags.exit_code_for_signal(sig) if sig else 1)
    if word == "FAILED":
        why = f"command exited with code {code}" if code else f"the job was killed by signal {sig}"
    return JobState(word, status, exit_code, why)


def _from_scontrol(job_id: str) -> JobState | None:
    proc = run_captured(["scontrol", "show", "job", "-o", job_id])
    if proc.returncode != 0:
        said = (proc.stderr + proc.stdout).lower()
        if "invalid job id" in said:
            return None  # slurmctld forgot it (MinJobAge): ask sacct
        if "_" in job_id and "not found" in said:
            return _array_remainder(job_id)
        raise InfrastructureError(
            f"scontrol show job {job_id} failed: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    fields = dict(_FIELD.findall(proc.stdout))
    if "JobState" not in fields:
        raise ExecutionError(f"cannot read the state of Slurm job {job_id}: {proc.stdout.strip()[:200]}")
    return to_job_state(fields["JobState"], fields.get("ExitCode", "0:0"), fields.get("Reason", ""))


def _array_remainder(job_id: str) -> JobState | None:
    """An array task with no record of its own: it never left the array's pending remainder
    (a task waiting behind `%P`, cancelled with the rest). The remainder's state is its state."""
    array, _, task = job_id.partition("_")
    proc = run_captured(["scontrol", "show", "job", "-o", array])
    if proc.returncode != 0:
        return None
    records = [dict(_FIELD.findall(line)) for line in proc.stdout.splitlines()]
    records = [r for r in records if "JobState" in r]
    own = [r for r in records if r.get("ArrayTaskId") == task]
    # Else the array's own record (JobId = the array's id), which holds the remainder: listed as
    # a range ('1-3%1') while pending; once cancelled, Slurm folds the tasks it never split
    # off into it.
    meta = [r for r in records if r.get("JobId") == array]
    for fields in own or meta:
        return to_job_state(fields["JobState"], fields.get("ExitCode", "0:0"), fields.get("Reason", ""))
    return None


def _from_sacct(job_id: str) -> JobState | None:
    # The accounting database first (-X: the job, not its steps); clusters without one still
    # have the job completion log (-c).
    for extra in (["-X"], ["-c"]):
        proc = run_captured(["sacct", *extra, "-n", "-P", "-o", "JobID,State,ExitCode", "-j", job_id])
        if proc.returncode != 0:
            continue
        for line in proc.stdout.splitlines():
            parts = line.split("|")
            if len(parts) >= 3 and parts[0] == job_id:
                return to_job_state(parts[1], parts[2])
    return None


def query(job_id: str) -> JobState:
    state = _from_scontrol(job_id) or _from_sacct(job_id)
    if state is None:
        raise ExecutionError(f"Slurm no longer knows job {job_id} (not in scontrol, nor in sacct)")
    return state


def _from_wait_status(raw: str) -> str:
    """squeue's exit_code is the wait status (code << 8 | signal): as sacct's 'CODE:SIGNAL'."""
    try:
        value = int(raw)
    except ValueError:
        return "0:0"
    return f"{(value >> 8) & 0xFF}:{value & 0x7F}"


def query_many(job_ids: Sequence[str]) -> dict[str, JobState | MlrunError]:
    """Every job's state with ONE squeue call (array tasks listed one a line, ended jobs while
    slurmctld remembers them); sacct, then scontrol, only for a job squeue no longer knows."""
    arrays = sorted({job_id.split("_", 1)[0] for job_id in job_ids})
    proc = run_captured(
        [
            "squeue",
            "-h",
            "-r",
            "--states=all",
            "-j",
            ",".join(arrays),
            "-O",
            "JobArrayID:|,State:|,exit_code:|,Reason:",
        ]
    )
    said = (proc.stderr or proc.stdout).strip()
    if proc.returncode != 0 and "invalid job id" not in said.lower():
        raise InfrastructureError(f"squeue failed: {said or f'exit code {proc.returncode}'}")
    states: dict[str, JobState | MlrunError] = {}
    if proc.returncode == 0:
        for line in proc.stdout.splitlines():
            parts = [part.strip() for part in line.split("|")]
            if len(parts) >= 4 and parts[0]:
                states[parts[0]] = to_job_state(parts[1], _from_wait_status(parts[2]), parts[3])
    wanted = {job_id: states[job_id] for job_id in job_ids if job_id in states}
    for job_id in job_ids:
        if job_id not in wanted:  # forgotten by slurmctld (MinJobAge): the accounting, job by job
            try:
                wanted[job_id] = query(job_id)
            except MlrunError as error:
                wanted[job_id] = error
    return wanted
