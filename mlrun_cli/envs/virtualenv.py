"""`--env-manager virtualenv`: the virtualenv package and pip, for pip's exact behaviour."""

from __future__ import annotations

import sys
from typing import IO

from mlrun_cli.envs import cache, venvs
from mlrun_cli.envs.base import PreparedEnv
from mlrun_cli.envs.interpreters import Interpreter
from mlrun_cli.envs.python_spec import PythonEnvInputs, absolute_requirement_lines
from mlrun_cli.execute import run_logged
from mlrun_cli.project.model import Project

NAME = "virtualenv"
_PIP_ENV: dict[str, str | None] = {
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "VIRTUAL_ENV": None,
    "PIP_REQUIRE_VIRTUALENV": None,
}


def _install(env: cache.CachedEnv, lines: tuple[str, ...], project: Project, log: IO[str]) -> None:
    if not lines:
        return
    requirements = env.meta_dir / f"requirements-{len(list(env.meta_dir.glob('req*')))}.txt"
    requirements.write_text("\n".join(absolute_requirement_lines(lines, project.directory)) + "\n")
    # pip compiles bytecode at install by default.
    run_logged(
        [str(venvs.python_in(env.path)), "-m", "pip", "install", "-r", str(requirements)],
        log=log,
        env_patch=_PIP_ENV,
        cwd=project.directory,
    )


def build_env(
    interpreter: Interpreter,
    inputs: PythonEnvInputs,
    project: Project,
    env: cache.CachedEnv,
    log: IO[str],
) -> None:
    run_logged(
        [sys.executable, "-m", "virtualenv", "--quiet", "--python", str(interpreter.path), str(env.path)],
        log=log,
        env_patch=_PIP_ENV,
    )
    _install(env, inputs.build_dependencies, project, log)
    _install(env, inputs.dependencies, project, log)


def prepare(project: Project, *, build: bool) -> PreparedEnv:
    return venvs.prepare(project, NAME, build_env, build=build)
