"""What a backend is handed (`Job`) and what it hands back (`JobRef`): the data of the protocol in
backends/base.py, apart from it so that the engine's watcher (backends/watcher.py), which the
protocol's default `wait` uses, needs no protocol to follow a job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun_cli.shared import tags
from mlrun_cli.shared.types import ContainerSpec


@dataclass(frozen=True)
class Job:
    """What to run: the rendered command, where, with which environment, for which run."""

    command: str
    cwd: Path
    env_patch: Mapping[str, str | None]
    """Variables to set (None: unset) on top of the submitting process's environment."""
    run_id: str
    run_name: str
    job_dir: Path
    """A folder of this run's own under $MLRUN_HOME (shared with the cluster) for job files."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """The --backend-config, already checked against the backend's schema."""
    container: ContainerSpec | None = None
    """Set when the command runs in a container: image, volumes, run options, gpus, keep."""
    timeout_s: float | None = None
    """mlrun stops the job after this long (as on SIGTERM); a cluster may also be told it."""

    @property
    def image(self) -> str | None:
        return self.container.image if self.container is not None else None

    def environment(self) -> dict[str, str]:
        """The child's whole environment: this process's, with the job's patch applied."""
        from mlrun_cli.shared.process import merged_env

        return merged_env(self.env_patch)


@dataclass(frozen=True)
class JobRef:
    backend: str
    job_id: str
    data: Mapping[str, str] = field(default_factory=dict)
    """Whatever else the backend needs to find the job again (recorded as run tags)."""

    @property
    def key(self) -> str:
        """One job, or one point of a batch (an Indexed Job's index): what the watcher follows."""
        return "\x00".join([self.job_id, *(f"{k}={v}" for k, v in sorted(self.data.items()))])

    def tags(self) -> dict[str, str]:
        prefix = tags.job_prefix(self.backend)
        return {f"{prefix}job_id": self.job_id, **{f"{prefix}{k}": v for k, v in self.data.items()}}

    @classmethod
    def from_tags(cls, backend: str, run_tags: Mapping[str, str]) -> JobRef | None:
        prefix = tags.job_prefix(backend)
        data = {k[len(prefix) :]: v for k, v in run_tags.items() if k.startswith(prefix)}
        job_id = data.pop("job_id", None)
        return cls(backend, job_id, data) if job_id else None
