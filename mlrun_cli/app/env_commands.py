"""The core of `mlrun env ...`: build, locate, list, prune and lock environments."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from mlrun_cli import envs
from mlrun_cli.app.reaper import reap_orphans
from mlrun_cli.envs import cache, leases
from mlrun_cli.envs.base import EnvOptions, EnvPlan, EnvState, PreparedEnv
from mlrun_cli.errors import MlrunError, UsageError
from mlrun_cli.project.loader import load_project
from mlrun_cli.sources import resolve_source


def _plan(uri: str, env_manager: str | None) -> EnvPlan:
    source = resolve_source(uri, None, Path.cwd())
    try:
        project = load_project(source.directory)
        requested = env_manager or os.environ.get("MLRUN_ENV_MANAGER") or None
        manager = envs.choose_env_manager(project, requested)
        planned = envs.get_env_manager(manager).plan(project, EnvOptions())
    finally:
        source.close()
    if planned.state is EnvState.NOTHING:
        raise UsageError(f"--env-manager {manager} builds no environment")
    return planned


def build(uri: str, env_manager: str | None) -> PreparedEnv:
    """Build (or reuse) the project's environment: a cached env, or an image pulled or built."""
    return _plan(uri, env_manager).build()


def path(uri: str, env_manager: str | None) -> str:
    """Where the built environment is: its folder, or the image tag of a docker_env project."""
    planned = _plan(uri, env_manager)
    if planned.state is not EnvState.CACHED:
        raise MlrunError(
            f"the environment is not built yet: {planned.location}",
            hint=f"build it with: mlrun env build {shlex.quote(uri)}"
            + (f" --env-manager {shlex.quote(env_manager)}" if env_manager else ""),
        )
    return planned.location


def key(uri: str, env_manager: str | None) -> str:
    """The content key of the project's environment, built or not: what `mlrun env list` shows and
    the cache folder is named by (a docker_env project's: its image tag)."""
    planned = _plan(uri, env_manager)
    if planned.key is None:
        raise UsageError(f"the {planned.manager} environment of {uri} has no content key")
    return planned.key


def list_envs() -> list[dict[str, Any]]:
    reap_orphans()  # a killed run's env is then no longer in use
    return cache.list_envs()


def prune(older_than_days: float | None, everything: bool) -> list[str]:
    if older_than_days is None and not everything:
        raise UsageError("say which environments to remove: --older-than DAYS or --all")
    reap_orphans()
    return leases.prune_envs(older_than_days=None if everything else older_than_days)


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

        from mlrun_cli.shared.process import run_logged

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
