"""Frozen data that the loader produces and the rest of the core consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mlrun_cli.errors import Problem

EnvKind = Literal["docker", "python", "conda", "none"]
ParamTypeName = Literal["string", "float", "int", "bool", "path", "uri", "secret"]
PARAM_TYPES: tuple[ParamTypeName, ...] = ("string", "float", "int", "bool", "path", "uri", "secret")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: ParamTypeName = "string"
    default: str | None = None
    choices: tuple[str, ...] | None = None
    description: str | None = None
    # A default MLflow passes unchecked (`default: None` on an int): the loader warned about it.
    unchecked_default: bool = False

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class EntryPoint:
    name: str
    command: str
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    # A script run without a declaration (`-e train.py`): every -P becomes `--name value`.
    is_script: bool = False
    timeout_s: float | None = None
    """mlrun's `timeout:` extension, in seconds."""
    retries: int = 0
    """mlrun's `retries:` extension: how many more times a failed run is tried."""


@dataclass(frozen=True)
class DockerEnv:
    image: str
    volumes: tuple[str, ...] = ()
    # (name, None) copies the host's variable; (name, value) defines one.
    environment: tuple[tuple[str, str | None], ...] = ()
    dockerfile: str | None = None
    gpus: str | None = None


@dataclass(frozen=True)
class EnvSpec:
    kind: EnvKind
    file: Path | None = None
    docker: DockerEnv | None = None
    # Where the choice came from: "docker_env", "python_env", "conda_env", "python_env.yaml", ...
    source: str = "none"
    # The env file's content as JSON, kept from the check that read it (and with a valid project
    # in project/known.py), so a warm run does not load YAML to read it again. None: read the file.
    content: str | None = None
    # sha256 of the bytes `content` was parsed from: the record is keyed by it, not by the file
    # as it is when the record is written (it may have been saved again meanwhile).
    content_digest: str | None = None


@dataclass(frozen=True)
class Project:
    directory: Path
    spec_file: Path | None
    name: str | None
    env: EnvSpec
    entry_points: Mapping[str, EntryPoint]
    warnings: tuple[str, ...] = ()
    env_problems: tuple[Problem, ...] = ()
    """Problems inside the env file: they matter only where an environment is built from it
    (`--env-manager local` ignores the file, as MLflow does)."""

    @property
    def display_name(self) -> str:
        return self.name or self.directory.name
