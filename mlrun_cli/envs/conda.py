"""`--env-manager conda`: solved and installed in-process with py-rattler (no conda needed), or
by an external conda/mamba/micromamba named by MLRUN_CONDA_EXE; conda-lock.yml is honoured."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlrun_cli.envs import cache, conda_lock, venvs
from mlrun_cli.envs.base import EnvOptions, EnvPlan, EnvState, PreparedEnv
from mlrun_cli.envs.network import check_channels_answer, network_failure
from mlrun_cli.envs.progress import announce, progress
from mlrun_cli.envs.python_spec import collect_requirement_files
from mlrun_cli.errors import MlrunError, ServiceUnreachable, UsageError
from mlrun_cli.project.model import Project
from mlrun_cli.shared import tags
from mlrun_cli.shared.home import mlrun_home
from mlrun_cli.shared.process import run_logged

NAME = "conda"
DEFAULT_CHANNELS = ("conda-forge",)


@dataclass(frozen=True)
class CondaInputs:
    file: Path
    channels: tuple[str, ...]
    specs: tuple[str, ...]
    pip: tuple[str, ...]
    variables: dict[str, str] = field(default_factory=dict)
    lock: Path | None = None
    files: dict[str, str] = field(default_factory=dict)

    def key_data(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "specs": list(self.specs),
            "pip": list(self.pip),
            "variables": self.variables,
            "files": dict(sorted(self.files.items())),
        }


def _channel(value: str, base: Path) -> str:
    if value.startswith(("/", "./", "../", "~")):
        return (base / Path(value).expanduser()).resolve().as_uri()
    return value


def read_inputs(project: Project) -> CondaInputs:
    from mlrun_cli.envs.python_spec import load_env_yaml

    file = project.env.file
    if project.env.kind != "conda" or file is None:
        raise UsageError(
            "this project has no conda environment and cannot run with conda",
            hint="use --env-manager uv, virtualenv or local",
        )
    data = load_env_yaml(file, project.env.content)
    specs, pip = [], []
    for dep in data.get("dependencies") or ():
        if isinstance(dep, dict):
            pip += [str(p) for p in dep.get("pip") or ()]
        else:
            specs.append(str(dep))
    channels = tuple(_channel(str(c), file.parent) for c in data.get("channels") or DEFAULT_CHANNELS)
    files = collect_requirement_files(tuple(pip), project.directory)
    lock = file.parent / conda_lock.LOCK_NAME
    if lock.is_file():
        try:
            files[conda_lock.LOCK_NAME] = lock.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read {conda_lock.LOCK_NAME}: {err}") from None
    variables = {str(k): str(v) for k, v in (data.get("variables") or {}).items()}
    return CondaInputs(
        file, channels, tuple(specs), tuple(pip), variables, lock if lock.is_file() else None, files
    )


def external_executable() -> str | None:
    """MLRUN_CONDA_EXE: a path or command name, or 'auto' for $MAMBA_EXE, then $CONDA_EXE."""
    wanted = os.environ.get("MLRUN_CONDA_EXE")
    if not wanted:
        return None
    if wanted == "auto":
        wanted = os.environ.get("MAMBA_EXE") or os.environ.get("CONDA_EXE") or ""
        if not wanted:
            raise UsageError("MLRUN_CONDA_EXE=auto, but neither MAMBA_EXE nor CONDA_EXE is set")
    found = shutil.which(wanted)
    if found is None:
        raise UsageError(f"the conda executable {wanted!r} (from MLRUN_CONDA_EXE) was not found")
    return found


def health_check(prefix: Path) -> str | None:
    if not (prefix / "conda-meta").is_dir():
        return "it has no conda-meta folder"
    python = prefix / "bin" / "python"
    if python.is_symlink() and not python.exists():
        return f"its interpreter {python} is broken"
    return None


def activation_patch(prefix: Path, variables: dict[str, str]) -> dict[str, str | None]:
    return {
        "CONDA_PREFIX": str(prefix),
        "CONDA_DEFAULT_ENV": str(prefix),
        "VIRTUAL_ENV": None,
        "PATH": f"{prefix / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONHOME": None,
        **variables,
    }


def installed_packages(prefix: Path) -> list[dict[str, Any]]:
    meta = prefix / "conda-meta"
    records = [json.loads(p.read_text()) for p in sorted(meta.glob("*.json"))] if meta.is_dir() else []
    return sorted(records, key=lambda r: str(r.get("name")))


def rattler_solve(inputs: CondaInputs, log: IO[str]) -> list[Any]:
    import asyncio

    import rattler
    from rattler.platform import Platform

    log.write(f"# solving {', '.join(inputs.specs)} from {', '.join(inputs.channels)} with rattler\n")
    check_channels_answer(inputs.channels)  # rattler itself would wait without end on a hung one
    try:
        records: list[Any] = asyncio.run(
            rattler.solve(
                sources=list(inputs.channels),
                specs=list(inputs.specs),
                platforms=[Platform.current(), "noarch"],
            )
        )
    except Exception as error:  # rattler's errors carry the solver's explanation
        log.write(f"{error}\n")
        raise _rattler_error(f"cannot solve {inputs.file.name}", error) from None
    for record in records:
        log.write(f"  {record.name.normalized} {record.version} {record.build} {record.url}\n")
    log.write(f"Resolved {len(records)} packages\n")  # the count the progress line shows
    return records


def _install_records(records: list[Any], prefix: Path, log: IO[str]) -> None:
    import asyncio

    import rattler

    log.write(f"# installing {len(records)} conda packages with rattler\n")
    try:
        asyncio.run(
            rattler.install(
                records, target_prefix=prefix, cache_dir=mlrun_home() / "conda-pkgs", show_progress=False
            )
        )
    except Exception as error:
        log.write(f"{error}\n")
        raise _rattler_error("cannot install the conda packages", error) from None


def _rattler_error(what: str, error: Exception) -> MlrunError:
    """A channel that did not answer is ServiceUnreachable (exit 75); the rest is the solver's say."""
    from mlrun_cli.sources.git.urls import redact

    kind = ServiceUnreachable if network_failure(str(error)) else MlrunError
    return kind(f"{what}: {redact(str(error))}")


def _install_pip(inputs: CondaInputs, project: Project, env: cache.CachedEnv, log: IO[str]) -> None:
    if not inputs.pip:
        return
    python = env.path / "bin" / "python"
    if not python.exists():
        raise MlrunError(f"{inputs.file.name} has a pip: section but no python among its packages")
    installer = [venvs.uv_executable(), "pip", "install", "--python", str(python)]
    patch: dict[str, str | None] = {
        "UV_COMPILE_BYTECODE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "VIRTUAL_ENV": None,
    }
    venvs.install_requirements(installer, env, inputs.pip, project, log, patch)


def _freeze(env: cache.CachedEnv, log: IO[str]) -> None:
    lines = ["# conda packages"]
    lines += [
        f"{r.get('name')}={r.get('version')}={r.get('build')}  {r.get('url', '')}"
        for r in installed_packages(env.path)
    ]
    python = env.path / "bin" / "python"
    if python.exists():
        lines += [
            "# pip packages",
            run_logged([venvs.uv_executable(), "pip", "freeze", "--python", str(python)], log=log).rstrip(),
        ]
    env.freeze_file.write_text("\n".join(lines) + "\n")


def _build(
    inputs: CondaInputs, exe: str | None, project: Project, env: cache.CachedEnv, log: IO[str]
) -> None:
    if exe is not None:
        create = [exe, "create", "--yes"] if "micromamba" in Path(exe).name else [exe, "env", "create"]
        run_logged(
            [*create, "--prefix", str(env.path), "--file", str(inputs.file)], log=log, cwd=project.directory
        )
    else:
        if inputs.lock is not None:
            records = conda_lock.locked_records(inputs.lock, log)
        else:
            records = rattler_solve(inputs, log)
        _install_records(records, env.path, log)
        _install_pip(inputs, project, env, log)
    _freeze(env, log)


def _python_version(prefix: Path) -> str:
    for record in installed_packages(prefix):
        if record.get("name") == "python":
            return str(record.get("version"))
    return "none"


def plan(project: Project, options: EnvOptions) -> EnvPlan:
    inputs = read_inputs(project)
    exe = external_executable()
    from rattler.platform import Platform

    key = cache.content_key(
        {
            "manager": NAME,
            "inputs": inputs.key_data(),
            "executable": exe,
            "platform": str(Platform.current()),
            "index": {n: os.environ[n] for n in venvs.INDEX_VARIABLES if os.environ.get(n)},
        }
    )
    env = cache.cached_env(NAME, key)
    how = f"with {exe}" if exe else ("from conda-lock.yml" if inputs.lock else "solved with rattler")
    cached = cache.reuse_problem(env, health_check) is None

    def build(planned: EnvPlan) -> PreparedEnv:
        # Filled in by the build, read when the completion marker is written.
        metadata: dict[str, Any] = {"python": None, "project": str(project.directory)}

        def build_env(target: cache.CachedEnv, raw_log: IO[str]) -> None:
            with progress(f"building conda environment {env.name} ({how})", log=raw_log) as log:
                _build(inputs, exe, project, target, log)
            metadata["python"] = _python_version(target.path)

        cache.ensure_env(
            env, build=build_env, health_check=health_check, metadata=metadata, announce=announce
        )
        return PreparedEnv(
            NAME,
            activation_patch(env.path, inputs.variables),
            {tags.ENV_KEY: env.name, tags.ENV_PYTHON: _python_version(env.path)},
            str(env.path),
            env.path,
            {"env-build.log": env.build_log, "environment.txt": env.freeze_file},
        )

    state = EnvState.CACHED if cached else EnvState.TO_BUILD
    description = f"{'reuse' if cached else 'build'} {env.path} ({how})"
    return EnvPlan(NAME, state, env.name, str(env.path), description, builder=build)
