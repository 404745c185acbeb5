"""What MLflow's loader accepts that mlrun's schema does not: accept it, warn, or refuse it.

MLflow never validates an MLproject: unknown keys are ignored and unknown parameter types pass
values through as strings. Before the schema check, this pass decides for each such thing
whether mlrun accepts it as MLflow does (type aliases, `conda_env: ~`), accepts it with a warning
(a vendor's key, an unknown type), or leaves it for the schema to refuse because MLflow would
mishandle it (a near miss of a known key: the value the author wrote would be silently lost).
"""

from __future__ import annotations

import copy
import datetime
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun_cli.documents.yamlfile import JsonPath, YamlDocument, format_path
from mlrun_cli.errors import Problem
from mlrun_cli.project.environment import ENV_KEYS, default_env
from mlrun_cli.project.model import PARAM_TYPES

TOP_KEYS = ("name", "python_env", "conda_env", "docker_env", "entry_points", "databricks_spark_job")
DOCKER_KEYS = ("image", "volumes", "environment", "dockerfile", "gpus")
ENTRY_KEYS = ("command", "parameters", "timeout", "retries")
PARAM_KEYS = ("type", "default", "choices", "description")
# Spellings of a type that mean the same thing; compared case-insensitively. `path` and `uri`
# are not here: MLflow rewrites only the exact lower-case words, so `Path` is a plain string.
TYPE_ALIASES = {
    "string": "string",
    "str": "string",
    "text": "string",
    "int": "int",
    "integer": "int",
    "long": "int",
    "float": "float",
    "number": "float",
    "double": "float",
    "bool": "bool",
    "boolean": "bool",
}
_GLUED = re.compile(r"^\s*(type|default|choices|description)\s*([:=]|\s)\s*(.*)$", re.DOTALL)
MAX_UNKNOWN_KEYS = 200


def _near_miss(key: str, known: tuple[str, ...]) -> str | None:
    """The known key that `key` looks like a typo of, if any."""
    folded = re.sub(r"[\s\-]+", "_", key.strip().lower())
    for candidate in (folded, folded.rstrip("s"), f"{folded}s"):
        if candidate in known:
            return candidate
    matches = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return matches[0] if matches else None


class _Triage:
    def __init__(self, doc: YamlDocument, directory: Path | None) -> None:
        self.doc = doc
        self.directory = directory
        self.doc_depends_on_files = False
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def where(self, path: JsonPath) -> str:
        line = self.doc.line_of(path)
        return (
            f"{self.doc.file}:{line}: {format_path(path)}"
            if line
            else f"{self.doc.file}: {format_path(path)}"
        )

    def warn(self, path: JsonPath, message: str) -> None:
        self.warnings.append(f"{self.where(path)}: {message}")

    def refuse(self, path: JsonPath, message: str) -> None:
        self.problems.append(Problem(self.doc.file, self.doc.line_of(path), format_path(path), message, path))

    def unknown_keys(self, mapping: dict[Any, Any], known: tuple[str, ...], base: JsonPath) -> None:
        """Drop keys MLflow ignores too, with a warning; near misses stay for the schema to refuse."""
        unknown = [key for key in mapping if key not in known]
        if len(unknown) > MAX_UNKNOWN_KEYS:
            # Not a spec with a vendor's section but something else: looking for near misses
            # among them all would cost seconds.
            for key in unknown:
                del mapping[key]
            self.refuse(
                base, f"{len(unknown)} unknown keys (at most {MAX_UNKNOWN_KEYS} are looked at); refused"
            )
            return
        for key in unknown:
            meant = _near_miss(key, known) if isinstance(key, str) else None
            if meant is not None:
                why = self.harmless_typo(mapping, key, meant, base)
                if why is None:
                    continue  # the author's value would be lost: the schema refuses it
                del mapping[key]
                self.warn(
                    (*base, key), f"unknown key, ignored, as MLflow does (did you mean '{meant}'? {why})"
                )
            elif isinstance(key, str):
                del mapping[key]
                self.warn((*base, key), "unknown key, ignored, as MLflow does")

    def harmless_typo(self, mapping: dict[Any, Any], key: str, meant: str, base: JsonPath) -> str | None:
        """Why ignoring a near miss as MLflow does changes nothing, or None when it loses what the
        author wrote (a default, the entry points, an env file MLflow would not find)."""
        if meant == "description" and base[-2:-1] == ("parameters",):
            return "a description is only shown by mlrun's help; MLflow ignores it"
        value = mapping[key]
        if base or meant not in ("conda_env", "python_env") or not isinstance(value, str):
            return None
        if self.directory is None or any(env in mapping for env in ENV_KEYS):
            return None
        fallback = default_env(self.directory)
        if fallback.file is None or fallback.file != self.directory / value:
            return None
        # What the schema then sees depends on a file beside the text: not to be remembered as
        # valid by the text alone (schema_check's marker).
        self.doc_depends_on_files = True
        return f"MLflow reads {value} here anyway, and so does mlrun"

    def parameter(self, raw: Any, path: JsonPath) -> Any:
        if isinstance(raw, str):
            return self.param_type(raw, path)
        if not isinstance(raw, dict):
            return raw
        for key in list(raw):
            glued = _GLUED.match(key) if isinstance(key, str) and key not in PARAM_KEYS else None
            if glued is None:
                continue
            field, value = glued.group(1), glued.group(3).strip() or str(raw[key])
            self.refuse(
                (*path, key),
                f"'{key}' is read as one key, so the {field} is lost (MLflow would silently ignore it): "
                f"write '{field}: {value}' with a space after the colon",
            )
            del raw[key]
        self.unknown_keys(raw, PARAM_KEYS, path)
        declared = raw.get("type")
        if isinstance(declared, str):
            raw["type"] = self.param_type(declared, (*path, "type"))
        elif "type" in raw and not isinstance(declared, (dict, list)):
            # `type: 3` or `type: null`: MLflow compares it with "path" and "uri" only.
            self.warn((*path, "type"), f"unknown type {declared!r}, treated as a string, as MLflow does")
            raw["type"] = "string"
        default = raw.get("default")
        if isinstance(default, (datetime.date, datetime.datetime)):
            raw["default"] = str(default)  # MLflow passes str() of whatever YAML made of it
        elif isinstance(default, (list, dict)) and raw.get("type", "string") == "string":
            raw["default"] = str(default)  # the same str(), so the same text reaches the command
            kind = "a list" if isinstance(default, list) else "a mapping"
            self.warn(
                (*path, "default"),
                f"{kind} as a string's default: MLflow passes it as one string, {raw['default']!r}, "
                "and so does mlrun (quote it to say so)",
            )
        return raw

    def param_type(self, declared: str, path: JsonPath) -> str:
        if declared in PARAM_TYPES:
            return declared
        alias = TYPE_ALIASES.get(declared.strip().lower())
        if alias is not None:
            return alias
        if declared.strip().lower() in ("path", "uri"):
            self.warn(
                path,
                f"type '{declared}' is not '{declared.lower()}': MLflow passes the value as a "
                "string, and so does mlrun",
            )
            return "string"
        if difflib.get_close_matches(declared, PARAM_TYPES, n=1, cutoff=0.75):
            return declared  # a misspelt type: the schema refuses it with a suggestion
        self.warn(path, f"unknown type '{declared}', treated as a string, as MLflow does")
        return "string"


def triage(doc: YamlDocument, directory: Path | None = None) -> tuple[YamlDocument, list[Problem], list[str]]:
    """A copy of `doc` with what MLflow ignores removed and type aliases resolved, plus the
    problems (refusals with a better message than the schema's) and the warnings."""
    data = copy.deepcopy(doc.data)
    out = YamlDocument(doc.file, data, doc.text, doc.lines, [])
    if not isinstance(data, dict):
        return out, [], []
    work = _Triage(doc, directory)
    work.warnings += doc.warnings  # the reader's (a duplicate key that was empty first)
    for key in (*ENV_KEYS, "name"):
        if key in data and data[key] is None:
            del data[key]
            if key != "name":
                work.warn((key,), "empty, so unset, as MLflow reads it")
    work.unknown_keys(data, TOP_KEYS, ())
    docker = data.get("docker_env")
    if isinstance(docker, dict):
        work.unknown_keys(docker, DOCKER_KEYS, ("docker_env",))
    entries = data.get("entry_points")
    if isinstance(entries, dict):
        for name, entry in entries.items():
            base: JsonPath = ("entry_points", name)
            if not isinstance(entry, dict):
                continue
            work.unknown_keys(entry, ENTRY_KEYS, base)
            parameters = entry.get("parameters")
            if isinstance(parameters, dict):
                for pname in list(parameters):
                    parameters[pname] = work.parameter(parameters[pname], (*base, "parameters", pname))
    if work.doc_depends_on_files:
        out.text = None
    # Sorted by file order, so a report with many reads like the file.
    work.warnings.sort(key=lambda w: _line_key(w, doc.file))
    return out, work.problems, work.warnings


def _line_key(warning: str, file: str) -> int:
    rest = warning[len(file) + 1 :]
    head = rest.split(":", 1)[0]
    return int(head) if head.isdigit() else 0


@dataclass(frozen=True)
class MisspeltSection:
    """A top-level key that resembles a known one (`entry_point:`) hides its content from the
    schema: `doc` holds that content under the key it resembles, triaged, so the schema checks it
    too and every problem shows in one pass; `refused` is what the triage refused in it."""

    key: str
    meant: str
    doc: YamlDocument
    refused: list[Problem]


def misspelt_sections(doc: YamlDocument) -> list[MisspeltSection]:
    """The misspelt top-level sections of a triaged document, in file order."""
    data: dict[str, Any] = doc.data
    found: list[MisspeltSection] = []
    for key in [k for k in data if isinstance(k, str) and k not in TOP_KEYS]:
        matches = difflib.get_close_matches(key, TOP_KEYS, n=1, cutoff=0.6)
        if not matches or matches[0] in data or not isinstance(data[key], (dict, list)):
            continue
        meant = matches[0]
        lines = {(meant, *p[1:]) if p[:1] == (key,) else p: line for p, line in doc.lines.items()}
        # No text: a renamed copy must never be remembered as valid content.
        renamed, refused, _ = triage(YamlDocument(doc.file, {meant: data[key]}, None, lines))
        found.append(MisspeltSection(key, meant, renamed, refused))
    return found
