"""What a run (or one attempt of it) came to, as the CLI's --json and the Python API give it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mlrun_cli.tracking.base import RunStatus


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
    attempt: int = 1
    attempts: tuple[RunResult, ...] = ()
    """With --retries: every attempt, this (the last) one included."""
    max_attempts: int = 1
    """How many attempts the retry policy allowed (1 + --retries)."""
    reused: bool = False
    """--needed found this run done already: nothing ran."""

    def to_dict(self) -> dict[str, object]:
        data = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("interrupted_by", "attempts")}
        data.update(status=self.status.name, duration_s=round(self.duration_s, 3))
        if self.attempts:
            data["attempts"] = [a.to_dict() for a in self.attempts]
        return data
