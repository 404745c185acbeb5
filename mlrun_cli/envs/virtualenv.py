"""`--env-manager virtualenv`: the virtualenv package and pip, for pip's exact behaviour."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

from mlrun_cli.envs import venvs
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


def _install(env_dir: Path, lines: tuple[str, ...], project: Project, log: IO[str]) -> None:
    if not lines:
        return
    requirements = env_dir / ".mlrun" / f"requirements-{len(list(env_dir.glob('.mlrun/req*')))}.txt"
    requirements.write_text("\n".join(absolute_requirement_lines(lines, project.directory)) + "\n")
    # pip compiles bytecode at install by default.
    run_logged(
        [str(venvs.python_in(env_dir)), "-m", "pip", "install", "-r", str(requirements)],
        log=log,
        env_patch=_PIP_ENV,
        cwd=project.directory,
    )


def build_env(
    interpreter: Interpreter, inputs: PythonEnvInputs, project: Project, env_dir: Path, log: IO[str]
) -> None:
    run_logged(
        [sys.executable, "-m", "virtualenv", "--quiet", "--python", str(interpreter.path), str(env_dir)],
        log=log,
        env_patch=_PIP_ENV,
    )
    _install(env_dir, inputs.build_dependencies, project, log)
    _install(env_dir, inputs.dependencies, project, log)


def prepare(project: Project, *, build: bool) -> PreparedEnv:
    return venvs.prepare(project, NAME, build_env, build=build)
