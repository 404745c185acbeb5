"""What the virtualenv and uv managers share: inputs, interpreter, cache key, activation."""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from mlrun_cli.envs import bytecode, cache
from mlrun_cli.envs.base import EnvPlan, EnvState, PreparedEnv
from mlrun_cli.envs.interpreters import Interpreter, find_interpreter
from mlrun_cli.envs.progress import announce, progress
from mlrun_cli.envs.python_spec import PythonEnvInputs, absolute_requirement_lines, python_env_inputs
from mlrun_cli.errors import ExecutionError
from mlrun_cli.project.model import Project
from mlrun_cli.shared import tags
from mlrun_cli.shared.process import run_captured, run_logged

# Where packages come from decides what gets installed, so these are part of the key.
INDEX_VARIABLES = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
)
Builder = Callable[[Interpreter, PythonEnvInputs, Project, cache.CachedEnv, IO[str]], None]


def uv_executable() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        import shutil

        found = shutil.which("uv")
        if found is None:
            from mlrun_cli.errors import UsageError

            raise UsageError("uv is not installed", hint="pip install uv") from None
        return found


def python_in(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def health_check(env_dir: Path, expected_version: str | None = None, *, run: bool = True) -> str | None:
    """Why the env cannot be reused, or None. With `run`, the interpreter is started too (~10 ms):
    after a build, not before every warm run."""
    python = python_in(env_dir)
    if not python.exists():  # follows the symlink: catches a removed base interpreter
        return f"its interpreter {python} is missing or broken"
    if expected_version is not None:
        found = _pyvenv_version(env_dir)
        if found is not None and not found.startswith(expected_version):
            return f"its base interpreter changed from Python {found} to {expected_version}"
    if run:
        try:
            ran = run_captured([str(python), "-I", "-S", "-c", ""], timeout=30).returncode == 0
        except (ExecutionError, UnicodeDecodeError):  # not started, no answer in time, or garbled
            ran = False
        if not ran:
            return f"its interpreter {python} does not run"
    return None


def _pyvenv_version(env_dir: Path) -> str | None:
    try:
        lines = (env_dir / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    values = {k.strip(): v.strip() for k, v in values.items()}
    return values.get("version_info") or values.get("version")


def activation_patch(env_dir: Path) -> dict[str, str | None]:
    return {
        "VIRTUAL_ENV": str(env_dir),
        "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONHOME": None,
        "CONDA_PREFIX": None,
        **bytecode.bytecode_patch(env_dir),
    }


def key_data(manager: str, inputs: PythonEnvInputs, interpreter: Interpreter) -> dict[str, object]:
    return {
        "manager": manager,
        "inputs": inputs.key_data(),
        "python": interpreter.version,
        "platform": f"{sys.platform}-{platform.machine()}",
        "index": {name: os.environ[name] for name in INDEX_VARIABLES if os.environ.get(name)},
    }


def install_requirements(
    installer: list[str],
    env: cache.CachedEnv,
    lines: tuple[str, ...],
    project: Project,
    log: IO[str],
    env_patch: dict[str, str | None],
    pins: tuple[str, ...] = (),
) -> None:
    """Install requirement lines with `installer` (uv pip or pip), from a file kept with the env;
    `pins` (NAME==VERSION) as constraints."""
    if not lines:
        return
    requirements = env.meta_dir / f"requirements-{len(list(env.meta_dir.glob('requirements-*')))}.txt"
    requirements.write_text("\n".join(absolute_requirement_lines(lines, project.directory)) + "\n")
    constraints: list[str] = []
    if pins:
        (env.meta_dir / "pins.txt").write_text("\n".join(pins) + "\n")
        constraints = ["-c", str(env.meta_dir / "pins.txt")]
    argv = [*installer, "-r", str(requirements), *constraints]
    run_logged(argv, log=log, env_patch=env_patch, cwd=project.directory)


def freeze(env: cache.CachedEnv, log: IO[str]) -> None:
    out = run_logged([uv_executable(), "pip", "freeze", "--python", str(python_in(env.path))], log=log)
    env.freeze_file.write_text(out)


def seed_bytecode(env: cache.CachedEnv, version: str, log: IO[str]) -> None:
    """Give a new env the bytecode other envs' runs wrote for the files they share with it, and
    the standard library's. It only saves time: nothing here fails a build."""
    started = time.monotonic()
    try:
        minor = ".".join(version.split(".")[:2]) + "."
        siblings = (
            path
            for path in cache.recent_envs()
            if path != env.path and (_pyvenv_version(path) or "").startswith(minor)
        )
        tag = bytecode.cache_tag(version)
        seeded = bytecode.seed_from_siblings(env.path, siblings, tag)
        stdlib = _standard_library(env.path)
        from_stdlib = 0 if stdlib is None else bytecode.seed_standard_library(env.path, stdlib, tag)
    except Exception as error:  # a damaged sibling costs speed, never the build
        log.write(f"bytecode: not shared ({type(error).__name__}: {error})\n")
        return
    log.write(
        f"bytecode: linked {seeded.linked} .pyc files from {seeded.siblings} other environment(s) "
        f"and {from_stdlib} of the standard library in {time.monotonic() - started:.2f}s\n"
    )
    if seeded.damaged:
        announce(
            f"warning: {seeded.damaged} damaged bytecode file(s) in other environments were left "
            "out of this one (`mlrun env prune` removes environments; runs rebuild them)"
        )


def _standard_library(env_dir: Path) -> Path | None:
    """Where the env's interpreter keeps its standard library, as it says itself."""
    ask = "import sysconfig; print(sysconfig.get_path('stdlib'))"
    try:
        asked = run_captured([str(python_in(env_dir)), "-I", "-S", "-c", ask], timeout=30)
    except ExecutionError:  # not started, or no answer in time
        return None
    if asked.returncode != 0:
        return None
    out = asked.stdout.strip()
    return Path(out) if out and os.path.isfile(os.path.join(out, "os.py")) else None


def plan(project: Project, manager: str, builder: Builder, pins: tuple[str, ...] = ()) -> EnvPlan:
    """Resolve inputs, interpreter and cache key once; the plan's build() uses them as they are.
    `pins`: exact versions a build installs (a uv.lock's own are exact already)."""
    inputs = dataclasses.replace(python_env_inputs(project, manager), pins=pins)
    interpreter = find_interpreter(inputs.python, uv_executable)
    env = cache.cached_env(manager, cache.content_key(key_data(manager, inputs, interpreter)))

    def healthy(env_dir: Path, *, run: bool = True) -> str | None:
        return health_check(env_dir, interpreter.version, run=run)

    cached = cache.reuse_problem(env, lambda d: healthy(d, run=False)) is None

    def build(planned: EnvPlan) -> PreparedEnv:
        for warning in inputs.warnings:
            announce(f"warning: {warning}")

        def build_env(target: cache.CachedEnv, raw_log: IO[str]) -> None:
            what = f"building {manager} environment {env.name} (python {interpreter.version})"
            with progress(what, log=raw_log) as log:
                builder(interpreter, inputs, project, target, log)
                freeze(target, log)
                seed_bytecode(target, interpreter.version, log)

        cache.ensure_env(
            env,
            build=build_env,
            health_check=healthy,
            # A warm run does not start the env's interpreter first (a process, ~10 ms): a
            # removed base interpreter or a changed version is seen without it.
            reuse_check=lambda env_dir: healthy(env_dir, run=False),
            metadata={"python": interpreter.version, "project": str(project.directory)},
            announce=announce,
        )
        return PreparedEnv(
            manager,
            activation_patch(env.path),
            {tags.ENV_KEY: env.name, tags.ENV_PYTHON: interpreter.version},
            str(env.path),
            env.path,
            {"env-build.log": env.build_log, "environment.txt": env.freeze_file},
        )

    return EnvPlan(
        manager,
        EnvState.CACHED if cached else EnvState.TO_BUILD,
        env.name,
        str(env.path),
        f"{'reuse' if cached else 'build'} {env.path} (python {interpreter.version})",
        inputs.warnings,
        pinned=bool(pins),
        builder=build,
    )
