"""Parameter types, binding of -P values, and safe substitution into the command."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shlex
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mlrun_cli.errors import ParameterError
from mlrun_cli.project.model import EntryPoint, Parameter

EXTRA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_INT = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# MLflow's limit on a logged parameter value.
MAX_PARAM_VALUE_LENGTH = 6000


class InvalidValue(ValueError):
    """A value that does not fit its parameter type; the message says why."""


def _has_scheme(value: str) -> bool:
    # One-letter schemes are Windows drive letters (C:/data), not URIs.
    return len(urlparse(value).scheme) > 1


# Each checker returns the canonical form, used to compare with `choices`; the command and the
# tracking store get the text the user wrote (MLflow passes it through too, and a script doing
# int(sys.argv[1]) must not see a float default `4` turned into `4.0`).
def _normalize_int(raw: str, cwd: Path, project_dir: Path | None) -> str:
    if not _INT.match(raw.strip()):
        raise InvalidValue(f"{raw!r} is not an integer")
    return str(int(raw))


def _normalize_float(raw: str, cwd: Path, project_dir: Path | None) -> str:
    if not _FLOAT.match(raw.strip()):
        raise InvalidValue(f"{raw!r} is not a number")
    value = float(raw)
    if not math.isfinite(value):
        raise InvalidValue(f"{raw!r} is not a finite number")
    return repr(value)


def _normalize_bool(raw: str, cwd: Path, project_dir: Path | None) -> str:
    word = raw.strip().lower()
    if word in _TRUE:
        return "true"
    if word in _FALSE:
        return "false"
    raise InvalidValue(f"{raw!r} is not a boolean (use true/false, yes/no, on/off or 1/0)")


def _normalize_path(raw: str, cwd: Path, project_dir: Path | None) -> str:
    if not raw:
        raise InvalidValue("an empty path")
    parsed = urlparse(raw)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidValue(f"{raw!r} names a remote host; only local files are supported")
        raw = parsed.path
    elif _has_scheme(raw):
        raise InvalidValue(
            f"{raw!r} is a {parsed.scheme}:// URI; type 'path' takes a local file "
            "or folder (declare the parameter as 'uri' to pass URIs through)"
        )
    given = Path(raw).expanduser()
    path = given if given.is_absolute() else cwd / given
    # A file of the project's own (given from a git checkout, say) is found when the caller's
    # folder has no such file.
    if (
        not path.exists()
        and not given.is_absolute()
        and project_dir is not None
        and (project_dir / given).exists()
    ):
        path = project_dir / given
    if not path.exists():
        raise InvalidValue(f"no such file or directory: {path}")
    return os.path.abspath(path)


def _normalize_uri(raw: str, cwd: Path, project_dir: Path | None) -> str:
    if _has_scheme(raw):
        return raw
    looks_like_path = raw.startswith(("/", "./", "../", "~")) or raw in (".", "..")
    local = Path(raw).expanduser()
    local = local if local.is_absolute() else cwd / local
    if raw and (looks_like_path or local.exists()):
        return local.absolute().as_uri()
    raise InvalidValue(
        f"{raw!r} has no scheme; give a URI such as s3://bucket/key or "
        "file:///abs/path, or a local path starting with '/', './' or '~'"
    )


def _secret(raw: str, cwd: Path, project_dir: Path | None) -> str:
    return raw  # anything; never shown, recorded or written (see secret_env_name)


def secret_env_name(name: str) -> str:
    """The variable a secret parameter comes from, and reaches the command through."""
    return "MLRUN_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


MASK = "***"
_NORMALIZERS = {
    "string": lambda raw, cwd, project_dir: raw,
    "int": _normalize_int,
    "float": _normalize_float,
    "bool": _normalize_bool,
    "path": _normalize_path,
    "uri": _normalize_uri,
    "secret": _secret,
}
# Types whose value MLflow rewrites too: what they pass is the rewritten value.
_REWRITTEN = ("path", "uri")


def normalize(param: Parameter, raw: str, cwd: Path, project_dir: Path | None = None) -> str:
    """The value passed for `raw`, once checked; InvalidValue names what is wrong.

    That is `raw` itself, except for path (absolute) and uri (a local path as a file:// URI).
    """
    canonical: str = _NORMALIZERS[param.type](raw, cwd, project_dir)
    if param.choices is not None and canonical not in param.choices:
        raise InvalidValue(f"{raw!r} is not one of the choices: {', '.join(param.choices)}")
    return canonical if param.type in _REWRITTEN else raw


def normalize_choices(param: Parameter) -> tuple[str, ...] | None:
    if param.choices is None or param.type in _REWRITTEN:
        return param.choices
    return tuple(_NORMALIZERS[param.type](choice, Path.cwd(), None) for choice in param.choices)


def _recorded_path(value: str, project_dir: Path) -> str | None:
    """A path inside the project, relative to it: a checkout's folder differs on every run."""
    try:
        return Path(value).relative_to(project_dir.resolve()).as_posix() or "."
    except ValueError:
        try:
            return Path(value).relative_to(project_dir).as_posix() or "."
        except ValueError:
            return None


def parse_param_args(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """Split `-P name=value` arguments at the first '='; every problem is reported at once."""
    parsed: list[tuple[str, str]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(f"{pair!r}: expected NAME=VALUE")
        elif name in seen:
            problems.append(f"{name}: given more than once")
        else:
            seen.add(name)
            parsed.append((name, value))
    if problems:
        raise ParameterError(problems)
    return parsed


@dataclass(frozen=True)
class BoundParams:
    """Normalised values for declared parameters, plus undeclared ones in the order given."""

    values: Mapping[str, str]
    extras: tuple[tuple[str, str], ...]
    # What tracking records where it differs from what the command gets (a project-relative path).
    recorded: Mapping[str, str] = dataclasses.field(default_factory=dict)
    secrets: frozenset[str] = frozenset()
    """Names of `type: secret` parameters: recorded and shown as MASK, passed through the env."""

    def all_values(self) -> dict[str, str]:
        """The values as recorded to tracking (and shown): secrets masked."""
        return {**self.values, **self.recorded, **dict(self.extras), **dict.fromkeys(self.secrets, MASK)}

    def secret_env(self) -> dict[str, str]:
        """The variables that carry the secrets to the command (its text only names them)."""
        return {secret_env_name(name): self.values[name] for name in self.secrets if name in self.values}


def bind(
    entry: EntryPoint,
    given: Sequence[tuple[str, str]],
    cwd: Path,
    project_dir: Path,
    *,
    record_relative: bool = False,
    secrets: Mapping[str, str] | None = None,
) -> BoundParams:
    """Check every given value and default; raise one ParameterError listing every problem.

    Given paths are relative to the caller's `cwd`, else to `project_dir`; defaults, written by
    the project's author, are relative to `project_dir`. With `record_relative` (a temporary
    checkout), a path inside the project is recorded relative to it. A secret not given with -P
    comes from $MLRUN_SECRET_<NAME>, else from `secrets` (a --secrets-file).
    """
    provided = dict(given)
    for name, param in entry.parameters.items():
        if param.type == "secret" and name not in provided:
            variable = secret_env_name(name)
            found = os.environ.get(variable) or (secrets or {}).get(name) or (secrets or {}).get(variable)
            if found is not None:
                provided[name] = found
    problems: list[str] = []
    values: dict[str, str] = {}
    missing = []
    for name, param in entry.parameters.items():
        raw = provided.get(name, param.default)
        if raw is None:
            missing.append(name)
            continue
        is_default = name not in provided
        if is_default and param.unchecked_default:
            values[name] = raw  # MLflow passes such a default (`None`) as text; the loader warned
            continue
        try:
            values[name] = normalize(param, raw, project_dir if is_default else cwd, project_dir)
        except InvalidValue as err:
            origin = f"default {raw!r}: " if is_default else ""
            problems.append(f"{name} ({param.type}): {origin}{err}")
    extras = tuple((k, v) for k, v in given if k not in entry.parameters)
    for name, _ in extras:
        if not EXTRA_NAME.match(name):
            problems.append(f"{name}: not a valid parameter name (letters, digits, '_', '.', '-')")
    for name, value in (*values.items(), *extras):
        if "\0" in value:
            problems.append(f"{name}: value holds a NUL character, which no command line can carry")
        if len(value) > MAX_PARAM_VALUE_LENGTH:
            problems.append(
                f"{name}: value is {len(value)} characters long; tracking stores "
                f"keep at most {MAX_PARAM_VALUE_LENGTH}"
            )
    recorded: dict[str, str] = {}
    for name, param in entry.parameters.items():
        if record_relative and param.type == "path" and name in values:
            relative = _recorded_path(values[name], project_dir)
            if relative is not None:
                recorded[name] = relative
    if missing:
        problems.insert(0, f"missing required parameters: {', '.join(missing)}")
        for name in (name for name in missing if entry.parameters[name].type == "secret"):
            problems.insert(
                1,
                f"{name} (secret): give -P {name}=..., set {secret_env_name(name)}, "
                "or put it in a --secrets-file",
            )
    if problems:
        raise ParameterError(problems, entry_point=entry.name)
    hidden = frozenset(name for name, param in entry.parameters.items() if param.type == "secret")
    return BoundParams(values=values, extras=extras, recorded=recorded, secrets=hidden)


def command_fields(template: str) -> tuple[list[tuple[str, str | None, str]], str | None]:
    """(field, conversion, format_spec) of each placeholder, and the syntax error if any.

    Fields before a syntax error are still returned, so they can be checked too.
    """
    fields: list[tuple[str, str | None, str]] = []
    try:
        for _, field, spec, conversion in string.Formatter().parse(template):
            if field is not None:
                fields.append((field, conversion, spec or ""))
    except ValueError as err:
        return fields, str(err)
    return fields, None


def render_command(entry: EntryPoint, bound: BoundParams) -> str:
    """Substitute shell-quoted values; undeclared parameters follow as `--name value`."""
    pieces: list[str] = []
    for literal, field, _, _ in string.Formatter().parse(entry.command):
        pieces.append(literal)
        if field is not None and field in bound.secrets:
            # The shell expands it when the command runs: the value is in no command line,
            # job script, manifest, tag or echo, only in the child's environment.
            pieces.append(f'"${{{secret_env_name(field)}}}"')
        elif field is not None:
            pieces.append(shlex.quote(bound.values[field]))
    for name, value in bound.extras:
        pieces.append(f" --{name} {shlex.quote(value)}")
    return "".join(pieces)
