"""What a Ray job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) says about its run."""

from __future__ import annotations

from typing import Any

from mlrun_cli.backends.base import EXIT_TIMEOUT, JobState
from mlrun_cli.shared import tags
from mlrun_cli.shared.types import RunStatus

_EXIT_STOPPED = tags.EXIT_TERMINATED


def to_job_state(word: str, info: Any, limited: bool = False) -> JobState:
    """Ray's job status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) as a run's end."""
    message = (str(info.message or "").strip().splitlines() or [""])[0]
    if word in ("PENDING", "RUNNING"):
        return JobState(word, None, None, f"{word} ({message})" if word == "PENDING" and message else word)
    if word == "SUCCEEDED":
        return JobState(word, RunStatus.FINISHED, 0)
    if word == "STOPPED":
        return JobState(word, RunStatus.KILLED, _EXIT_STOPPED, "the job was stopped (stop_job)")
    code = info.driver_exit_code
    if code is None:  # it never ran: the runtime env or the supervisor failed
        return JobState(word, RunStatus.FAILED, 1, f"the Ray job failed: {message or 'no reason given'}")
    if code < 0:  # Popen's way of saying "killed by a signal"
        return JobState(
            word, RunStatus.FAILED, tags.exit_code_of(code), f"the command was killed by signal {-code}"
        )
    if code == EXIT_TIMEOUT and limited:
        return JobState(word, RunStatus.FAILED, code, "the job exceeded its time limit")
    return JobState(word, RunStatus.FAILED, code, f"command exited with code {code}")
