"""The core of `mlrun env ...`: build, locate, list and prune cached environments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlrun_cli import envs
from mlrun_cli.envs import cache
from mlrun_cli.envs.base import PreparedEnv
from mlrun_cli.errors import MlrunError, UsageError
from mlrun_cli.project.loader import load_project
from mlrun_cli.source import resolve_source


def _prepare(uri: str, env_manager: str | None, *, build: bool) -> PreparedEnv:
    source = resolve_source(uri, None, Path.cwd())
    project = load_project(source.directory)
    requested = env_manager or os.environ.get("MLRUN_ENV_MANAGER") or None
    manager = envs.choose_env_manager(project, requested)
    if manager == "local":
        raise UsageError("--env-manager local builds no environment")
    prepared: PreparedEnv = envs.get_env_manager(manager).prepare(project, build=build)
    return prepared


def build(uri: str, env_manager: str | None) -> PreparedEnv:
    return _prepare(uri, env_manager, build=True)


def path(uri: str, env_manager: str | None) -> Path:
    prepared = _prepare(uri, env_manager, build=False)
    assert prepared.path is not None
    if not prepared.description.startswith("reuse "):
        raise MlrunError(
            f"the environment is not built yet: {prepared.path}", hint=f"build it with: mlrun env build {uri}"
        )
    return prepared.path


def list_envs() -> list[dict[str, Any]]:
    return cache.list_envs()


def prune(older_than_days: float | None, everything: bool) -> list[str]:
    if older_than_days is None and not everything:
        raise UsageError("say which environments to remove: --older-than DAYS or --all")
    return cache.prune_envs(older_than_days=None if everything else older_than_days)
