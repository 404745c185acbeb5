"""The EnvManager protocol: one module per environment kind, all with this small interface."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlrun_cli.project.model import Project


@dataclass(frozen=True)
class EnvOptions:
    """Per-run choices that shape an environment (set from the command line)."""

    build_image: bool = False
    docker_args: tuple[str, ...] = ()
    keep_container: bool = False


DEFAULT_OPTIONS = EnvOptions()


@dataclass(frozen=True)
class ContainerSpec:
    """How to run the command in a container: the image and what `docker run` gets."""

    image: str
    image_id: str
    mount_code: bool
    volumes: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    run_options: Mapping[str, object] = field(default_factory=dict)
    keep_container: bool = False


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
    # Set when the command must run in a container rather than on the host.
    container: ContainerSpec | None = None


class EnvManager(Protocol):
    NAME: str

    def prepare(self, project: Project, *, build: bool, options: EnvOptions = DEFAULT_OPTIONS) -> PreparedEnv:
        """Make (or find in the cache) the environment; with build=False only describe it."""
        ...
