"""The types several engines share, on the ground so that none imports another for them: a run's
status (trackers record it, backends map their jobs' states to it), a job's state as a backend
reports it, and how to run a command in a container (env managers describe it, backends honour or
refuse it). Their old homes re-export them, where plugins take them:
`mlrun_cli.tracking.base.RunStatus`, `mlrun_cli.backends.base.JobState` (and `RunStatus`,
`ContainerSpec`), `mlrun_cli.envs.base.ContainerSpec`. Exit codes live in `errors.py` and `shared/tags.py`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class RunStatus(str, enum.Enum):
    """MLflow's run statuses. Each one is also its name as a string (`RunStatus.FINISHED ==
    "FINISHED"`, as MLflow's own client gives a status), so a status compares, prints and
    serialises the same wherever the API returns one; `number` is what MLflow's file store writes."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    """Not started yet (MLflow's word; a sweep's point that never ran)."""
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    def __str__(self) -> str:
        return self.value

    @property
    def number(self) -> int:
        return _STATUS_NUMBERS[self]

    @classmethod
    def of(cls, value: object) -> RunStatus:
        """A status as a store holds it: the file store's integer (as a number or digits), or a
        name. ValueError or KeyError for anything else."""
        text = str(value)
        if text.isdigit():
            return _STATUS_BY_NUMBER[int(text)]
        return cls[text]

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


_STATUS_NUMBERS = {status: number for number, status in enumerate(RunStatus, start=1)}
_STATUS_BY_NUMBER = {number: status for status, number in _STATUS_NUMBERS.items()}


@dataclass(frozen=True)
class ContainerSpec:
    """How to run the command in a container; every field is honoured or refused by the backend."""

    image: str
    """The tag, e.g. `mlrun-code/project:0123abcd`."""
    image_id: str | None = None
    """The image's id once it exists here (built or pulled)."""
    mount_code: bool = True
    """Bind-mount the project folder (False when the code is baked in, --build-image)."""
    volumes: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    run_args: tuple[str, ...] = ()
    """The -A options as the user gave them (for backends that map or refuse them by name)."""
    run_options: Mapping[str, Any] = field(default_factory=dict)
    """The same, as Docker SDK arguments."""
    gpus: str | None = None
    keep: bool = False


@dataclass(frozen=True)
class JobState:
    state: str
    """The backend's own word for it: PENDING, COMPLETED, TIMEOUT, Succeeded, ..."""
    status: RunStatus | None
    """The run status it maps to; None while the job has not ended."""
    exit_code: int | None = None
    reason: str = ""
    interrupted_by: int | None = None
    """The signal mlrun received and acted on (by cancelling the job), if any."""

    @property
    def done(self) -> bool:
        return self.status is not None
