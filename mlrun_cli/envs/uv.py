"""`--env-manager uv` (the default for Python projects): uv venv + uv pip, or uv sync from uv.lock."""

from __future__ import annotations

from typing import IO

from mlrun_cli.envs import cache, venvs
from mlrun_cli.envs.base import EnvOptions, EnvPlan
from mlrun_cli.envs.interpreters import Interpreter
from mlrun_cli.envs.python_spec import PythonEnvInputs
from mlrun_cli.project.model import Project
from mlrun_cli.shared.process import run_logged

NAME = "uv"
# Never download an interpreter behind the user's back. No bytecode at install: compiling the
# whole site-packages took 18-24 s of a 20 s cold build, mostly for modules a project never
# imports; the first run writes the bytecode of what it imports, or a new env links what runs
# in other envs wrote for the same files (envs/bytecode.py). uv hardlinks files from its cache
# where the cache is on the same file system (its default on Linux; UV_LINK_MODE from the user's
# shell is left as it is).
_UV_ENV: dict[str, str | None] = {
    "UV_PYTHON_DOWNLOADS": "never",
    "UV_COMPILE_BYTECODE": None,
    "VIRTUAL_ENV": None,
}


def build_env(
    interpreter: Interpreter,
    inputs: PythonEnvInputs,
    project: Project,
    env: cache.CachedEnv,
    log: IO[str],
) -> None:
    uv = venvs.uv_executable()
    run_logged(
        [uv, "venv", "--quiet", "--allow-existing", "--python", str(interpreter.path), str(env.path)],
        log=log,
        env_patch=_UV_ENV,
    )
    if inputs.uv_lock:
        # Exactly what the lock says: --frozen neither re-resolves nor updates uv.lock.
        run_logged(
            [uv, "sync", "--frozen", "--python", str(interpreter.path)],
            log=log,
            env_patch={**_UV_ENV, "UV_PROJECT_ENVIRONMENT": str(env.path)},
            cwd=project.directory,
        )
        return
    installer = [uv, "pip", "install", "--python", str(venvs.python_in(env.path))]
    steps = [lines for lines in (inputs.build_dependencies, inputs.dependencies) if lines]
    for lines in steps:
        venvs.install_requirements(installer, env, lines, project, log, _UV_ENV, inputs.pins)


def plan(project: Project, options: EnvOptions) -> EnvPlan:
    return venvs.plan(project, NAME, build_env, options.pins)
