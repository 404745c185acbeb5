"""What a Python environment must contain, read from python_env.yaml, conda.yaml or uv.lock."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun_cli.errors import UsageError
from mlrun_cli.project.model import Project

_CONDA_BUILD_TOOLS = ("pip", "setuptools", "wheel")
_CONDA_DEP = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(==|=|>=|<=|>|<|!=)?\s*([^\s]*)\s*$")
_FILE_OPTION = re.compile(r"^(--requirement|--constraint|-r|-c)\s*=?\s*(\S.*)$")
_EDITABLE = re.compile(r"^(-e|--editable)\s*=?\s*(\S.*)$")


@dataclass(frozen=True)
class PythonEnvInputs:
    """Everything that decides a Python environment's content, normalised for the cache key."""

    python: str | None
    build_dependencies: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    # Referenced requirement/constraint/lock files by path relative to the project: their text.
    files: dict[str, str] = field(default_factory=dict)
    uv_lock: bool = False
    warnings: tuple[str, ...] = ()
    pins: tuple[str, ...] = ()
    """EnvOptions.pins: constraints of the install, not of the key (key_data leaves them out)."""

    def key_data(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "build_dependencies": list(self.build_dependencies),
            "dependencies": list(self.dependencies),
            "files": dict(sorted(self.files.items())),
            "uv_lock": self.uv_lock,
        }


def load_env_yaml(path: Path, content: str | None = None) -> dict[str, Any]:
    """The content the project check kept, else the file read with the validator's own loader
    (libyaml and PyYAML's pure loader disagree on tabs)."""
    if content is not None:
        import json

        data = json.loads(content)
        return data if isinstance(data, dict) else {}
    from mlrun_cli.documents.yamlfile import load_yaml
    from mlrun_cli.errors import SpecError

    doc = load_yaml(path, path.name)
    if doc.problems:
        raise SpecError(doc.problems, subject="environment file")
    return doc.data if isinstance(doc.data, dict) else {}


def _split_file_option(line: str) -> tuple[str, str] | None:
    match = _FILE_OPTION.match(line.strip())
    return (match.group(1), match.group(2).strip()) if match else None


def _collect_files(
    lines: tuple[str, ...], base: Path, project_dir: Path, files: dict[str, str], seen: set[Path]
) -> None:
    for line in lines:
        option = _split_file_option(line)
        if option is None:
            continue
        if "\0" in option[1]:
            raise UsageError(f"requirements file name with a NUL character (from {line.strip()!r})")
        path = (base / option[1]).resolve()
        if path in seen:
            continue
        seen.add(path)
        if not path.is_file():
            raise UsageError(f"requirements file not found: {option[1]} (from '{line.strip()}')")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            message = f"cannot read requirements file {option[1]} (from '{line.strip()}'): {err}"
            raise UsageError(message) from None
        try:
            name = path.relative_to(project_dir.resolve()).as_posix()
        except ValueError:
            name = str(path)
        files[name] = text
        nested = tuple(ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))
        _collect_files(nested, path.parent, project_dir, files, seen)


def collect_requirement_files(lines: tuple[str, ...], project_dir: Path) -> dict[str, str]:
    """The text of every -r/-c file the lines reference, recursively, so editing one changes the key."""
    files: dict[str, str] = {}
    _collect_files(lines, project_dir, project_dir, files, set())
    return files


def _from_python_env(path: Path, project_dir: Path, content: str | None) -> PythonEnvInputs:
    data = load_env_yaml(path, content)
    build = tuple(str(d) for d in data.get("build_dependencies") or ())
    deps = tuple(str(d) for d in data.get("dependencies") or ())
    files = collect_requirement_files(build + deps, project_dir)
    python = data.get("python")
    return PythonEnvInputs(str(python) if python is not None else None, build, deps, files)


def _from_conda_yaml(path: Path, project_dir: Path, content: str | None) -> PythonEnvInputs:
    """MLflow's conversion: the python pin, pip/setuptools/wheel, and the pip: list; the rest is dropped."""
    data = load_env_yaml(path, content)
    python: str | None = None
    build: list[str] = []
    deps: list[str] = []
    dropped: list[str] = []
    for dep in data.get("dependencies") or ():
        if isinstance(dep, dict):
            deps += [str(d) for d in dep.get("pip") or ()]
            continue
        match = _CONDA_DEP.match(str(dep))
        name, op, version = match.groups() if match else (str(dep), None, "")
        if name == "python":
            if op not in (None, "=", "=="):
                raise UsageError(
                    f"{path.name}: pin python with '=' or '==' to run it with a Python "
                    f"environment manager, not '{dep}'"
                )
            python = version.rstrip(".*") or None
        elif name in _CONDA_BUILD_TOOLS:
            build.append(f"{name}=={version}" if op in ("=", "==") and version else name)
        else:
            dropped.append(str(dep))
    warnings: tuple[str, ...] = ()
    if dropped:
        warnings = (
            f"{path.name}: these conda packages are not installed by a Python environment "
            f"manager: {', '.join(dropped)} (use --env-manager conda to get them)",
        )
    files = collect_requirement_files(tuple(deps), project_dir)
    return PythonEnvInputs(python, tuple(build), tuple(deps), files, warnings=warnings)


def _from_uv_lock(project_dir: Path) -> PythonEnvInputs:
    files = {name: (project_dir / name).read_text(encoding="utf-8") for name in ("pyproject.toml", "uv.lock")}
    python_file = project_dir / ".python-version"
    python = python_file.read_text().strip() if python_file.is_file() else None
    return PythonEnvInputs(python, files=files, uv_lock=True)


def python_env_inputs(project: Project, manager: str) -> PythonEnvInputs:
    """The inputs for a virtualenv/uv environment of `project`, as MLflow would read them."""
    env = project.env
    if env.kind == "python" and env.file is not None:
        return _from_python_env(env.file, project.directory, env.content)
    if env.kind == "conda" and env.file is not None:
        return _from_conda_yaml(env.file, project.directory, env.content)
    directory = project.directory
    if (directory / "uv.lock").is_file() and (directory / "pyproject.toml").is_file():
        if manager == "uv":
            return _from_uv_lock(directory)
        return PythonEnvInputs(
            None, warnings=("uv.lock is only honoured with --env-manager uv; building an empty environment",)
        )
    return PythonEnvInputs(None)


def absolute_requirement_lines(lines: tuple[str, ...], project_dir: Path) -> list[str]:
    """Requirement lines with file and folder references made absolute (relative to the project)."""
    result = []
    for line in lines:
        stripped = line.strip()
        option = _split_file_option(stripped)
        editable = _EDITABLE.match(stripped)
        if option is not None:
            result.append(f"{option[0]} {(project_dir / option[1]).resolve()}")
        elif editable is not None and editable.group(2).startswith("."):
            result.append(f"-e {(project_dir / editable.group(2)).resolve()}")
        elif stripped.startswith("."):
            result.append(str((project_dir / stripped).resolve()))
        else:
            result.append(stripped)
    return result
