"""The core of `mlrun env ...`: build, locate, list and prune cached environments."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from mlrun_cli import envs
from mlrun_cli.envs import cache
from mlrun_cli.envs.base import PreparedEnv
from mlrun_cli.errors import MlrunError, UsageError
from mlrun_cli.project.loader import load_project
from mlrun_cli.project.model import Project
from mlrun_cli.source import resolve_source


def _prepare(uri: str, env_manager: str | None, *, build: bool) -> PreparedEnv:
    source = resolve_source(uri, None, Path.cwd())
    try:
        return _prepare_project(load_project(source.directory), env_manager, build=build)
    finally:
        source.close()


def _prepare_project(project: Project, env_manager: str | None, *, build: bool) -> PreparedEnv:
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


def lock(uri: str) -> Path:
    """Write conda-lock.yml beside the project's conda.yaml: conda-lock with an external conda
    executable when both are there, otherwise from rattler's solve."""
    import io

    from mlrun_cli.envs import conda, conda_lock

    source = resolve_source(uri, None, Path.cwd())
    try:
        inputs = conda.read_inputs(load_project(source.directory))
    finally:
        source.close()
    exe = conda.external_executable()
    if exe is not None and _has_conda_lock():
        from rattler.platform import Platform

        from mlrun_cli.execute import run_logged

        target = inputs.file.parent / conda_lock.LOCK_NAME
        run_logged(
            [
                sys.executable,
                "-m",
                "conda_lock",
                "lock",
                "--conda",
                exe,
                "-f",
                str(inputs.file),
                "-p",
                str(Platform.current()),
                "--lockfile",
                str(target),
            ],
            log=io.StringIO(),
        )
        return target
    records = conda.rattler_solve(inputs, io.StringIO())
    return conda_lock.write_lock(inputs.file, inputs.channels, records)


def _has_conda_lock() -> bool:
    from importlib.util import find_spec

    return find_spec("conda_lock") is not None
