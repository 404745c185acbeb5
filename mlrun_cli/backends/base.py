"""The ExecutionBackend protocol: one module per place a command can run.

Every backend takes a Job, hands back a JobRef at once (submit), and then answers status, wait,
cancel and logs for that ref. A ref is rebuilt from the run's tags, so a later process
(`mlrun runs wait`) can follow a job that an earlier one submitted.

Third-party backends register a module (or any object with these attributes) under the
entry-point group `mlrun_cli.backends`, named by the `--backend` value they serve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from mlrun_cli.tracking.base import RunStatus

EXIT_TIMEOUT = 124
"""What a run that hit its time limit exits with, as timeout(1) does."""
_SECRET = re.compile(r"TOKEN|PASSWORD|SECRET|CREDENTIAL|_KEY$", re.IGNORECASE)


def is_secret(name: str) -> bool:
    """Variables a backend must not write where others can read them (job scripts, Job specs)."""
    return _SECRET.search(name) is not None


@dataclass(frozen=True)
class Job:
    """What to run: the rendered command, where, with which environment, for which run."""

    command: str
    cwd: Path
    env_patch: Mapping[str, str | None]
    run_id: str
    run_name: str
    job_dir: Path
    """A folder of this run's own under $MLRUN_HOME (shared with the cluster) for job files."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """The --backend-config, already checked against the backend's schema."""
    image: str | None = None
    """The container image holding the project, for backends that run images."""


@dataclass(frozen=True)
class JobRef:
    backend: str
    job_id: str
    data: Mapping[str, str] = field(default_factory=dict)
    """Whatever else the backend needs to find the job again (recorded as run tags)."""

    def tags(self) -> dict[str, str]:
        prefix = f"mlrun.{self.backend}."
        return {f"{prefix}job_id": self.job_id, **{f"{prefix}{k}": v for k, v in self.data.items()}}

    @classmethod
    def from_tags(cls, backend: str, tags: Mapping[str, str]) -> JobRef | None:
        prefix = f"mlrun.{backend}."
        data = {k[len(prefix) :]: v for k, v in tags.items() if k.startswith(prefix)}
        job_id = data.pop("job_id", None)
        return cls(backend, job_id, data) if job_id else None


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


class ExecutionBackend(Protocol):
    NAME: str
    DETACHABLE: bool
    """Whether a job goes on without mlrun (`--detach`, `mlrun runs wait`)."""
    CONFIG_SCHEMA: str | None
    """The schema --backend-config is checked against (None: the backend takes no config)."""
    ENV_KINDS: frozenset[str] | None
    """The env managers it can run (None: all of them)."""

    # Optional: `preflight()` checks, before any run exists, that the backend can be used;
    # `check_config(config)` checks what a JSON schema cannot; `CODE_IN_IMAGE = True` makes
    # docker environments bake the code into the image (--build-image).

    def submit(self, job: Job) -> JobRef:
        """Hand the job over; return without waiting for it to run."""
        ...

    def status(self, ref: JobRef) -> JobState:
        """Where the job stands now."""
        ...

    def wait(self, ref: JobRef, *, console_log: Path, stdout: BinaryIO | None = None) -> JobState:
        """Follow the job to its end, streaming its output to `stdout` and into `console_log`.

        Ctrl-C (or SIGTERM) while waiting cancels the job and returns a KILLED state.
        """
        ...

    def cancel(self, ref: JobRef) -> None:
        """Stop the job; it ends KILLED."""
        ...

    def logs(self, ref: JobRef) -> bytes:
        """The job's whole output so far."""
        ...
