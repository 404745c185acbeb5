"""The model built from an MLproject the schema has seen: entry points, parameters and the env.

The last stage of the one pass (project/pipeline.py): whatever the schema refused is left out,
what it accepted is still built and checked (so one pass reports everything), and the env file
is read and checked last (project/environment.py). The report is at most a screenful.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun_cli.documents.hints import did_you_mean
from mlrun_cli.documents.yamlfile import format_path
from mlrun_cli.errors import Problem
from mlrun_cli.project import params
from mlrun_cli.project.durations import parse_duration
from mlrun_cli.project.environment import ENV_KEYS, project_env
from mlrun_cli.project.model import EntryPoint, EnvSpec, Parameter, Project

if TYPE_CHECKING:
    from mlrun_cli.documents.yamlfile import YamlDocument

JsonPath = tuple[str | int, ...]
MAX_PROBLEMS = 50


def build(
    directory: Path,
    spec_file: Path | None,
    doc: YamlDocument | None,
    problems: list[Problem],
    warnings: list[str],
    refused: list[Problem],
) -> tuple[Project | None, list[Problem]]:
    """The project and every problem. `doc` is None without an MLproject (the project is its env
    file and its scripts); `problems` are found before the schema, `refused` by it: with either,
    no project, but the parts they leave alone are still checked."""
    broken = [p.path for p in refused + problems]
    entry_problems: list[Problem] = []
    entry_points = {} if doc is None else _entry_points(doc, broken, entry_problems, warnings)
    env: EnvSpec = EnvSpec("none")
    env_warnings: list[str] = []
    declared: list[Problem] = []
    in_file: list[Problem] = []
    if not any(_is_broken((key,), broken) for key in ENV_KEYS):  # else the schema said it all
        env, declared, in_file, env_warnings = project_env(directory, doc)
    if doc is None:
        project = Project(directory, None, None, env, {}, tuple(env_warnings), tuple(in_file))
        return project, limit_problems(in_file)
    if broken:
        report = problems + declared + in_file + entry_problems + refused
        return None, limit_problems(sorted(report, key=lambda p: (p.file, p.line or 0, p.field)))
    data: dict[str, Any] = doc.data
    warned = (*limit_warnings(warnings), *env_warnings)
    project = Project(directory, spec_file, data.get("name"), env, entry_points, warned, tuple(in_file))
    return project, limit_problems(declared + entry_problems + in_file)


def _is_broken(prefix: JsonPath, broken: list[JsonPath]) -> bool:
    return any(b[: len(prefix)] == prefix or prefix[: len(b)] == b for b in broken)


def _entry_points(
    doc: YamlDocument, broken: list[JsonPath], problems: list[Problem], warnings: list[str]
) -> dict[str, EntryPoint]:
    """Every entry point; where the schema refused something, only the parts it accepted are
    checked (their warnings are not kept: there is no project to carry them)."""
    entries = doc.data.get("entry_points")
    if not broken:
        return {
            name: _build_entry_point(name, raw, doc, problems, warnings)
            for name, raw in (entries or {}).items()
        }
    if not isinstance(entries, dict):
        return {}
    for name, raw in entries.items():
        base = ("entry_points", name)
        if not isinstance(raw, dict) or any(base[: len(b)] == b for b in broken):
            continue
        raw_params = raw.get("parameters")
        if not (isinstance(raw_params, dict) or raw_params is None):
            continue
        skip = {p for p in raw_params or {} if _is_broken((*base, "parameters", p), broken)}
        if _is_broken((*base, "command"), broken):  # missing or broken: its parameters are still checked
            _build_parameters(name, raw, doc, problems, [], skip)
        else:
            _build_entry_point(name, raw, doc, problems, [], skip=skip)
    return {}


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


def limit_problems(problems: list[Problem]) -> list[Problem]:
    """At most MAX_PROBLEMS, then one line saying how many more: a file with a million unknown
    keys must not print a million lines."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    last = problems[MAX_PROBLEMS]
    return [
        *problems[:MAX_PROBLEMS],
        Problem(last.file, None, "", f"... and {rest} more problems; fix these first"),
    ]


def limit_warnings(warnings: list[str]) -> tuple[str, ...]:
    if len(warnings) <= MAX_PROBLEMS:
        return tuple(warnings)
    return (*warnings[:MAX_PROBLEMS], f"... and {len(warnings) - MAX_PROBLEMS} more warnings")
