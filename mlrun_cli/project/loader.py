"""Find, parse, validate and convert an MLproject (and the env files it names) in stages."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun_cli.errors import Problem, SpecError, UsageError
from mlrun_cli.project import known, params
from mlrun_cli.project.durations import parse_duration
from mlrun_cli.project.envfiles import ENV_KEYS, build_env, check_env_file, default_env
from mlrun_cli.project.envfiles import display_path as display_path  # validation.py imports it here
from mlrun_cli.project.model import EntryPoint, Parameter, Project

# YAML, the schema check and the MLflow-compat pass are imported when a project is checked, not
# when a project known valid (project/known.py) is loaded again.
if TYPE_CHECKING:
    from mlrun_cli.project.yamlfile import YamlDocument

DEFAULT_ENTRY_POINT = "main"
_SHAPE = "a mapping with 'entry_points' (and optionally 'name' and an env)"


def find_mlproject(directory: Path) -> Path | None:
    """The file whose lower-cased name is exactly 'mlproject', as MLflow finds it."""
    matches = sorted(p for p in directory.iterdir() if p.name.lower() == "mlproject" and p.is_file())
    return matches[0] if matches else None


def load_project(directory: Path, *, env_file_used: bool = True) -> Project:
    """Load and fully check the project in `directory`; SpecError lists every problem. Without
    `env_file_used` (`--env-manager local`), a broken env file is a warning, as MLflow ignores it."""
    project, problems = check_project(directory)
    if project is not None and not env_file_used and project.env_problems:
        problems = [p for p in problems if p not in project.env_problems]
        unused = [f"{p}; ignored: --env-manager local does not use the file" for p in project.env_problems]
        project = dataclasses.replace(project, warnings=(*project.warnings, *unused))
    if problems or project is None:
        raise SpecError(problems)
    return project


def check_project(directory: Path) -> tuple[Project | None, list[Problem]]:
    """The project and every problem found in it (at most a screenful, then a count)."""
    directory = directory.absolute()
    if not directory.is_dir():
        raise UsageError(f"no such project folder: {directory}")
    spec_file = find_mlproject(directory)
    project, spec_digest = known.lookup(directory, spec_file)
    if project is not None:
        return project, []
    from mlrun_cli.project import compat

    project, problems = _check_project(directory, spec_file)
    if project is not None and not problems:
        known.remember(project, spec_digest)
    return project, compat.limit_problems(problems)


def _check_project(directory: Path, spec_file: Path | None) -> tuple[Project | None, list[Problem]]:
    from mlrun_cli.project import compat
    from mlrun_cli.project.schema_check import check_against_schema
    from mlrun_cli.project.yamlfile import load_yaml

    if spec_file is None:
        env, problems, warnings = check_env_file(default_env(directory))
        return Project(directory, None, None, env, {}, tuple(warnings), tuple(problems)), problems
    doc = load_yaml(spec_file, display_path(spec_file))
    problems = list(doc.problems)
    if doc.data is None and not problems:
        problems.append(Problem(doc.file, 1, "", f"the file is empty; expected {_SHAPE}"))
    if problems:
        return None, problems
    if not isinstance(doc.data, dict):
        return None, [Problem(doc.file, 1, "", f"expected {_SHAPE}")]
    doc, problems, warnings = compat.triage(doc, directory)
    schema_problems = check_against_schema(doc, "mlproject")
    schema_problems += _check_misspelt_sections(doc)
    if schema_problems or problems:
        # Still check the parts the schema accepted, so one pass reports everything.
        _check_valid_parts(directory, doc, [p.path for p in schema_problems + problems], problems)
        return None, _sorted(problems + schema_problems)
    project = _build_project(directory, spec_file, doc, problems, warnings)
    env, env_problems, env_warnings = check_env_file(project.env)
    warned = (*project.warnings, *env_warnings)
    project = dataclasses.replace(project, env=env, warnings=warned, env_problems=tuple(env_problems))
    return project, problems + env_problems


def _check_misspelt_sections(doc: YamlDocument) -> list[Problem]:
    """A misspelt top-level key (`entry_point:`) hides its content from the schema: check that
    content as if it stood under the key it resembles, so every problem shows in one pass."""
    import difflib

    from mlrun_cli.project import compat
    from mlrun_cli.project.schema_check import check_against_schema
    from mlrun_cli.project.yamlfile import YamlDocument, format_path

    data: dict[str, Any] = doc.data
    found: list[Problem] = []
    for key in [k for k in data if isinstance(k, str) and k not in compat.TOP_KEYS]:
        matches = difflib.get_close_matches(key, compat.TOP_KEYS, n=1, cutoff=0.6)
        if not matches or matches[0] in data or not isinstance(data[key], (dict, list)):
            continue
        meant = matches[0]
        lines = {(meant, *p[1:]) if p[:1] == (key,) else p: line for p, line in doc.lines.items()}
        # No text: a renamed copy must never be remembered as valid content.
        renamed = YamlDocument(doc.file, {meant: data[key]}, None, lines)
        renamed, refused, _ = compat.triage(renamed)
        for problem in [*refused, *check_against_schema(renamed, "mlproject")]:
            if problem.path[:1] == (meant,) and len(problem.path) > 1:
                path = (key, *problem.path[1:])
                field = format_path((key,)) + problem.field[len(format_path((meant,))) :]
                found.append(Problem(doc.file, problem.line, field, problem.message, path))
    return found


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.field))


def _check_valid_parts(
    directory: Path, doc: YamlDocument, broken: list[tuple[str | int, ...]], problems: list[Problem]
) -> None:
    def is_broken(prefix: tuple[str | int, ...]) -> bool:
        return any(b[: len(prefix)] == prefix or prefix[: len(b)] == b for b in broken)

    data: dict[str, Any] = doc.data
    if not any(is_broken((key,)) for key in ENV_KEYS):
        problems += check_env_file(build_env(directory, doc, problems))[1]
    entries = data.get("entry_points")
    if not isinstance(entries, dict):
        return
    for name, raw in entries.items():
        base = ("entry_points", name)
        if not isinstance(raw, dict) or any(base[: len(b)] == b for b in broken):
            continue
        raw_params = raw.get("parameters")
        if not (isinstance(raw_params, dict) or raw_params is None):
            continue
        skip = {p for p in raw_params or {} if is_broken((*base, "parameters", p))}
        if is_broken((*base, "command")):  # missing or broken: its parameters are still checked
            _build_parameters(name, raw, doc, problems, [], skip)
        else:
            _build_entry_point(name, raw, doc, problems, [], skip=skip)


def _build_parameter(name: str, raw: Any) -> Parameter:
    if isinstance(raw, str):
        return Parameter(name, raw)  # type: ignore[arg-type]
    default = raw.get("default")
    choices = raw.get("choices")
    return Parameter(
        name,
        raw.get("type", "string"),
        # MLflow renders str() of the YAML value: `4` stays `4` on a float, `true` is `True`.
        None if default is None else str(default),
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
    from mlrun_cli.project.schema_check import did_you_mean
    from mlrun_cli.project.yamlfile import format_path

    base = ("entry_points", name)
    parameters = _build_parameters(name, raw, doc, problems, warnings, skip)
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
            names = list(parameters)
            hint = did_you_mean(field, names) or (
                f" (declared: {', '.join(names)})" if names else " (no parameters are declared)"
            )
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(cpath),
                    format_path(cpath),
                    f"placeholder '{{{field}}}' is not a declared parameter{hint}; declare it, or "
                    f"write '{{{{{field}}}}}' for literal braces (MLflow would stop with KeyError "
                    "after creating the run)",
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
    timeout = raw.get("timeout")
    try:
        timeout_s = None if timeout is None else parse_duration(timeout)
    except ValueError as err:  # the schema refused it already when it has the wrong shape
        problems.append(
            Problem(doc.file, doc.line_of((*base, "timeout")), format_path((*base, "timeout")), str(err))
        )
        timeout_s = None
    retries = raw.get("retries")  # the schema checked it is a whole number >= 0
    retries = retries if isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0 else 0
    return EntryPoint(name, command, parameters, timeout_s=timeout_s, retries=retries)


def _build_parameters(
    name: str,
    raw: dict[str, Any],
    doc: YamlDocument,
    problems: list[Problem],
    warnings: list[str],
    skip: set[str] | None = None,
) -> dict[str, Parameter]:
    from mlrun_cli.project.yamlfile import format_path

    base = ("entry_points", name)
    parameters: dict[str, Parameter] = {}
    for param_name, param_raw in (raw.get("parameters") or {}).items():
        if skip and param_name in skip:  # the schema already reported it
            parameters[param_name] = Parameter(param_name)
            continue
        param = _build_parameter(param_name, param_raw)
        ppath: tuple[str | int, ...] = (*base, "parameters", param_name)
        if param.default == "None" and param.type in ("int", "float", "bool"):
            # YAML reads `None` as text (its null is `null` or `~`); MLflow passes that text.
            param = Parameter(param.name, param.type, param.default, param.choices, param.description, True)
            warnings.append(
                f"{doc.file}:{doc.line_of(ppath)}: {format_path(ppath)}: default None is not "
                f"{'an' if param.type == 'int' else 'a'} {param.type}: the text None is passed, as MLflow "
                "does (write 'default: null' or leave it out to make the parameter required)"
            )
            parameters[param_name] = param
            continue
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
    return parameters


def _build_project(
    directory: Path, spec_file: Path, doc: YamlDocument, problems: list[Problem], warnings: list[str]
) -> Project:
    from mlrun_cli.project import compat

    data: dict[str, Any] = doc.data
    env = build_env(directory, doc, problems)
    entry_points = {
        name: _build_entry_point(name, raw, doc, problems, warnings)
        for name, raw in (data.get("entry_points") or {}).items()
    }
    return Project(directory, spec_file, data.get("name"), env, entry_points, compat.limit_warnings(warnings))
