"""Find, parse, validate and convert an MLproject (and the env files it names) in stages."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from mlrun_cli.errors import Problem, SpecError, UsageError
from mlrun_cli.project import params
from mlrun_cli.project.model import DockerEnv, EntryPoint, EnvSpec, Parameter, Project
from mlrun_cli.project.schema_check import check_against_schema, did_you_mean
from mlrun_cli.project.yamlfile import YamlDocument, format_path, load_yaml

PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"
DEFAULT_ENTRY_POINT = "main"
_ENV_KEYS = ("docker_env", "python_env", "conda_env")


def display_path(path: Path) -> str:
    """A path as the user can open it: relative to the working directory when below it."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def find_mlproject(directory: Path) -> Path | None:
    """The file whose lower-cased name is exactly 'mlproject', as MLflow finds it."""
    matches = sorted(p for p in directory.iterdir() if p.name.lower() == "mlproject" and p.is_file())
    return matches[0] if matches else None


def load_project(directory: Path) -> Project:
    """Load and fully check the project in `directory`; SpecError lists every problem."""
    project, problems = check_project(directory)
    if problems or project is None:
        raise SpecError(problems)
    return project


def check_project(directory: Path) -> tuple[Project | None, list[Problem]]:
    directory = directory.absolute()
    if not directory.is_dir():
        raise UsageError(f"no such project folder: {directory}")
    spec_file = find_mlproject(directory)
    if spec_file is None:
        env = _default_env(directory)
        problems = _check_env_file(env)
        return Project(directory, None, None, env, {}), problems
    doc = load_yaml(spec_file, display_path(spec_file))
    problems = list(doc.problems)
    if doc.data is None and not problems:
        problems.append(
            Problem(
                doc.file,
                1,
                "",
                "the file is empty; expected a mapping with "
                "'entry_points' (and optionally 'name' and an env)",
            )
        )
    if problems:
        return None, problems
    if not isinstance(doc.data, dict):
        problems.append(
            Problem(
                doc.file, 1, "", "expected a mapping with 'entry_points' (and optionally 'name' and an env)"
            )
        )
        return None, problems
    schema_problems = check_against_schema(doc, "mlproject")
    if schema_problems:
        # Still check the parts the schema accepted, so one pass reports everything.
        _check_valid_parts(directory, doc, [p.path for p in schema_problems], problems)
        return None, _sorted(problems + schema_problems)
    project = _build_project(directory, spec_file, doc, problems)
    problems += _check_env_file(project.env)
    return project, problems


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.field))


def _check_valid_parts(
    directory: Path, doc: YamlDocument, broken: list[tuple[str | int, ...]], problems: list[Problem]
) -> None:
    def is_broken(prefix: tuple[str | int, ...]) -> bool:
        return any(b[: len(prefix)] == prefix or prefix[: len(b)] == b for b in broken)

    data: dict[str, Any] = doc.data
    if not any(is_broken((key,)) for key in _ENV_KEYS):
        problems += _check_env_file(_build_env(directory, doc, problems))
    entries = data.get("entry_points")
    if not isinstance(entries, dict):
        return
    for name, raw in entries.items():
        base = ("entry_points", name)
        if not isinstance(raw, dict) or is_broken((*base, "command")):
            continue
        raw_params = raw.get("parameters")
        skip = (
            {p for p in raw_params or {} if is_broken((*base, "parameters", p))}
            if isinstance(raw_params, dict) or raw_params is None
            else None
        )
        if skip is not None:
            _build_entry_point(name, raw, doc, problems, [], skip=skip)


def _default_env(directory: Path) -> EnvSpec:
    for filename, kind in ((PYTHON_ENV_FILE, "python"), (CONDA_ENV_FILE, "conda")):
        if (directory / filename).is_file():
            return EnvSpec(kind, directory / filename, source=filename)  # type: ignore[arg-type]
    return EnvSpec("none")


def _build_env(directory: Path, doc: YamlDocument, problems: list[Problem]) -> EnvSpec:
    data: dict[str, Any] = doc.data
    declared = [key for key in _ENV_KEYS if key in data]
    if len(declared) > 1:
        problems.append(
            Problem(
                doc.file,
                doc.line_of((declared[1],)),
                declared[1],
                f"a project can have only one environment; found {', '.join(declared)}",
            )
        )
    if "docker_env" in data:
        docker = data["docker_env"]
        environment = tuple(
            (item, None) if isinstance(item, str) else (item[0], item[1])
            for item in docker.get("environment", [])
        )
        dockerfile = docker.get("dockerfile")
        if dockerfile is not None and not (directory / dockerfile).is_file():
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(("docker_env", "dockerfile")),
                    "docker_env.dockerfile",
                    f"file not found: {display_path(directory / dockerfile)}",
                )
            )
        gpus = docker.get("gpus")
        spec = DockerEnv(
            docker["image"],
            tuple(docker.get("volumes", [])),
            environment,
            dockerfile,
            None if gpus is None else str(gpus),
        )
        return EnvSpec("docker", docker=spec, source="docker_env")
    for key, kind in (("python_env", "python"), ("conda_env", "conda")):
        if key in data:
            path = directory / data[key]
            if not path.is_file():
                problems.append(
                    Problem(doc.file, doc.line_of((key,)), key, f"file not found: {display_path(path)}")
                )
            return EnvSpec(kind, path, source=key)  # type: ignore[arg-type]
    return _default_env(directory)


def _check_env_file(env: EnvSpec) -> list[Problem]:
    if env.file is None or not env.file.is_file():
        return []
    doc = load_yaml(env.file, display_path(env.file))
    if doc.problems:
        return doc.problems
    if doc.data is None:
        return [Problem(doc.file, 1, "", "the file is empty")]
    return check_against_schema(doc, "python_env" if env.kind == "python" else "conda_env")


def _build_parameter(name: str, raw: Any) -> Parameter:
    if isinstance(raw, str):
        return Parameter(name, raw)  # type: ignore[arg-type]
    default = raw.get("default")
    choices = raw.get("choices")
    return Parameter(
        name,
        raw.get("type", "string"),
        None if default is None else _yaml_scalar_to_str(default),
        None if choices is None else tuple(_yaml_scalar_to_str(c) for c in choices),
        raw.get("description"),
    )


def _yaml_scalar_to_str(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _build_entry_point(
    name: str,
    raw: dict[str, Any],
    doc: YamlDocument,
    problems: list[Problem],
    warnings: list[str],
    skip: set[str] | None = None,
) -> EntryPoint:
    base = ("entry_points", name)
    parameters: dict[str, Parameter] = {}
    for param_name, param_raw in (raw.get("parameters") or {}).items():
        if skip and param_name in skip:  # the schema already reported it
            parameters[param_name] = Parameter(param_name)
            continue
        param = _build_parameter(param_name, param_raw)
        ppath = (*base, "parameters", param_name)
        try:
            param = Parameter(
                param.name, param.type, param.default, params.normalize_choices(param), param.description
            )
            if param.default is not None and param.type not in ("path", "uri"):
                params.normalize(param, param.default, Path.cwd())
        except params.InvalidValue as err:
            problems.append(
                Problem(
                    doc.file, doc.line_of(ppath), format_path(ppath), f"invalid for type {param.type}: {err}"
                )
            )
        parameters[param_name] = param
    command: str = raw["command"]
    cpath = (*base, "command")
    used: set[str] = set()
    fields, syntax_error = params.command_fields(command)
    if syntax_error:
        problems.append(
            Problem(
                doc.file,
                doc.line_of(cpath),
                format_path(cpath),
                f"{syntax_error}; write '{{{{' and '}}}}' for literal braces",
            )
        )
    for field, conversion, spec in fields:
        if field not in parameters:
            known = list(parameters)
            hint = did_you_mean(field, known) or (
                f" (declared: {', '.join(known)})" if known else " (no parameters are declared)"
            )
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(cpath),
                    format_path(cpath),
                    f"placeholder '{{{field}}}' is not a declared parameter{hint}",
                )
            )
        elif conversion or spec:
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(cpath),
                    format_path(cpath),
                    f"placeholder for '{field}' has a conversion or format "
                    "spec; only '{name}' is supported",
                )
            )
        used.add(field)
    for unused in sorted(set(parameters) - used):
        warnings.append(f"entry point '{name}': parameter '{unused}' is declared but not used in its command")
    return EntryPoint(name, command, parameters)


def _build_project(directory: Path, spec_file: Path, doc: YamlDocument, problems: list[Problem]) -> Project:
    data: dict[str, Any] = doc.data
    env = _build_env(directory, doc, problems)
    warnings: list[str] = []
    entry_points = {
        name: _build_entry_point(name, raw, doc, problems, warnings)
        for name, raw in (data.get("entry_points") or {}).items()
    }
    return Project(directory, spec_file, data.get("name"), env, entry_points, tuple(warnings))


def resolve_entry_point(project: Project, name: str) -> EntryPoint:
    """A declared entry point, or a script in the project run as MLflow does (.py, .sh)."""
    if name in project.entry_points:
        return project.entry_points[name]
    suffix = Path(name).suffix
    runners = {".py": "python", ".sh": "bash"}
    if suffix in runners:
        script = project.directory / name
        if not script.is_file():
            raise UsageError(f"no such script in the project: {name}")
        return EntryPoint(name, f"{runners[suffix]} {shlex.quote(name)}", is_script=True)
    declared = ", ".join(project.entry_points) or "none declared"
    hint = did_you_mean(name, project.entry_points)
    raise UsageError(
        f"unknown entry point '{name}'{hint}; entry points: {declared}",
        hint="a .py or .sh file in the project can be run directly with -e FILE",
    )
