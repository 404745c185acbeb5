"""The EnvManager protocol: one module per environment kind, all with this small interface."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlrun_cli.project.model import Project


@dataclass(frozen=True)
class PreparedEnv:
    """What running inside an environment takes: variables to patch and tags to record."""

    manager: str
    env_patch: Mapping[str, str | None] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None
    warnings: tuple[str, ...] = ()
    # Files recorded with each run as artifacts under mlrun/, by artifact name.
    artifacts: Mapping[str, Path] = field(default_factory=dict)


class EnvManager(Protocol):
    NAME: str

    def prepare(self, project: Project, *, build: bool) -> PreparedEnv:
        """Make (or find in the cache) the environment; with build=False only describe it."""
        ...
