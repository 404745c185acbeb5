"""`--env-manager virtualenv`: the virtualenv package and pip, for pip's exact behaviour."""

from __future__ import annotations

import sys
from typing import IO

from mlrun_cli.envs import cache, venvs
from mlrun_cli.envs.base import EnvOptions, EnvPlan
from mlrun_cli.envs.interpreters import Interpreter
from mlrun_cli.envs.python_spec import PythonEnvInputs
from mlrun_cli.project.model import Project
from mlrun_cli.shared.process import run_logged

NAME = "virtualenv"
_PIP_ENV: dict[str, str | None] = {
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "VIRTUAL_ENV": None,
    "PIP_REQUIRE_VIRTUALENV": None,
}


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
    # pip compiles bytecode at install by default.
    installer = [str(venvs.python_in(env.path)), "-m", "pip", "install"]
    for lines in (inputs.build_dependencies, inputs.dependencies):
        venvs.install_requirements(installer, env, lines, project, log, _PIP_ENV, inputs.pins)


def plan(project: Project, options: EnvOptions) -> EnvPlan:
    return venvs.plan(project, NAME, build_env, options.pins)
