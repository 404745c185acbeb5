"""The EnvManager protocol: one module per environment kind, all with this small interface.

`plan(project, options)` resolves everything without side effects (files read, interpreter
found, cache key hashed, image looked up) and returns an EnvPlan that says whether the env is
cached or still to be built; `EnvPlan.build()` then builds it from what was resolved, nothing
twice. Third-party managers register a module (or object) with NAME and `plan` under the
entry-point group `mlrun_cli.envs`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlrun_cli.errors import PluginError
from mlrun_cli.project.model import Project
from mlrun_cli.shared.types import ContainerSpec as ContainerSpec  # re-exported: plugins take it from here


@dataclass(frozen=True)
class EnvOptions:
    """Per-run choices that shape an environment (set from the command line)."""

    build_image: bool = False
    docker_args: tuple[str, ...] = ()
    keep_container: bool = False
    pins: tuple[str, ...] = ()
    """NAME==VERSION lines a Python env is built at, if it must be built (a rerun's recorded
    versions): installer constraints, not part of the env's key (that key's env was built at them)."""


DEFAULT_OPTIONS = EnvOptions()


class EnvState(enum.Enum):
    NOTHING = "nothing to build"
    CACHED = "cached"
    TO_BUILD = "to build"


@dataclass(frozen=True)
class PreparedEnv:
    """A built (or reused) environment: what running inside it takes."""

    manager: str
    env_patch: Mapping[str, str | None] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    location: str = ""
    """Where it is: the env's folder, or the image tag (what `mlrun env path` prints)."""
    path: Path | None = None
    artifacts: Mapping[str, Path] = field(default_factory=dict)
    """Files recorded with each run as artifacts under mlrun/, by artifact name."""
    container: ContainerSpec | None = None
    """Set when the command must run in a container rather than on the host."""


def _nothing_to_build(plan: EnvPlan) -> PreparedEnv:
    return PreparedEnv(plan.manager, container=plan.container)


@dataclass(frozen=True)
class EnvPlan:
    """An environment resolved but not built: what a dry run shows and a run builds."""

    manager: str
    state: EnvState
    key: str | None = None
    """The content key of the env (or the image tag): equal inputs, equal key."""
    location: str = ""
    description: str = ""
    warnings: tuple[str, ...] = ()
    container: ContainerSpec | None = None
    pinned: bool = False
    """A build would install exactly the EnvOptions' pins."""
    builder: Callable[[EnvPlan], PreparedEnv] = field(default=_nothing_to_build, compare=False, repr=False)

    def build(self) -> PreparedEnv:
        """Build (or reuse) the environment this plan resolved; safe under concurrent runs."""
        return self.builder(self)

    def to_dict(self) -> dict[str, object]:
        return {
            "manager": self.manager,
            "state": self.state.value,
            "key": self.key,
            "location": self.location or None,
            "image": self.container.image if self.container is not None else None,
            "description": self.description,
        }


class EnvManager(Protocol):
    NAME: str

    def plan(self, project: Project, options: EnvOptions) -> EnvPlan:
        """Resolve the environment without building anything."""
        ...


def adapt(name: str, target: object) -> EnvManager:
    if not callable(getattr(target, "plan", None)):
        raise PluginError(f"env manager plugin {name!r} lacks plan(project, options)")
    return target  # type: ignore[return-value]
