"""JSON-schema validation that reports every problem with its line and a fix where one is likely."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun_cli.documents.hints import describe_value, did_you_mean
from mlrun_cli.documents.schemas import load_schema, schema_text
from mlrun_cli.documents.yamlfile import JsonPath, YamlDocument, format_path
from mlrun_cli.errors import Problem
from mlrun_cli.shared.home import mlrun_home
from mlrun_cli.version import __version__

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

_ENV_FILE_SCHEMAS = ("python_env", "conda_env")

_JSON_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}


def check_against_schema(doc: YamlDocument, schema_name: str) -> list[Problem]:
    """Validate the whole document and return every problem, in file order.

    Content already found valid (same bytes, same schema, same mlrun) is not checked again:
    importing jsonschema costs more than the rest of `mlrun validate` together.
    """
    marker = _valid_marker(doc, schema_name)
    if marker is not None and marker.exists():
        return []
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema(schema_name))
    problems: list[Problem] = []
    for error in validator.iter_errors(doc.data):
        problems.extend(_to_problems(error, doc))
    problems.sort(key=lambda p: (p.line or 0, p.field))
    if not problems and marker is not None:
        with contextlib.suppress(OSError):  # a read-only home only costs speed
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    if schema_name in _ENV_FILE_SCHEMAS:
        return [_pip_mapping(p) for p in _dedupe(problems)]
    return _dedupe(problems)


def _valid_marker(doc: YamlDocument, schema_name: str) -> Path | None:
    if doc.text is None:
        return None
    digest = hashlib.sha256()
    for part in (__version__, schema_name, schema_text(schema_name), doc.text):
        digest.update(part.encode())
        digest.update(b"\0")
    return mlrun_home() / "validated" / digest.hexdigest()


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    unique = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            unique.append(problem)
    return unique


def _problem(doc: YamlDocument, path: JsonPath, message: str) -> Problem:
    return Problem(doc.file, doc.line_of(path), format_path(path), message, path)


def _to_problems(error: ValidationError, doc: YamlDocument) -> list[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    expected: Any = error.validator_value
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        unknown = [key for key in instance if key not in known]
        choices = f"; expected one of: {', '.join(known)}" if known else ""
        return [
            _problem(doc, (*path, key), f"unknown key{did_you_mean(str(key), known) or choices}")
            for key in unknown
        ]
    if kind == "required" and isinstance(instance, dict):
        missing = [key for key in expected if key not in instance]
        # Located at the mapping, but its path names the missing key: what else the mapping
        # holds is not broken by the absence, and is still checked (building._entry_points).
        return [
            Problem(
                doc.file, doc.line_of(path), format_path(path), f"missing required key '{key}'", (*path, key)
            )
            for key in missing
        ]
    if kind == "enum":
        options = [str(option) for option in expected]
        hint = did_you_mean(str(instance), options) if isinstance(instance, str) else ""
        return [_problem(doc, path, f"{describe_value(instance)} is not one of: {', '.join(options)}{hint}")]
    if kind == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        words = [_JSON_TYPE_WORDS.get(str(t), str(t)) for t in wanted]
        message = f"expected {' or '.join(words)}, got {describe_value(instance)}"
        if wanted == ["string"] and isinstance(instance, (int, float)) and not isinstance(instance, bool):
            message += " (quote it, e.g. '\"3.10\"': YAML reads 3.10 as the number 3.1)"
        return [_problem(doc, path, message)]
    if kind == "pattern" and isinstance(instance, str):
        return [_problem(doc, path, f"{instance!r} does not match the expected form {expected!r}")]
    if kind == "propertyNames" and isinstance(instance, dict):
        from jsonschema import Draft202012Validator

        name_schema: Any = error.validator_value
        bad = [key for key in instance if not Draft202012Validator(name_schema).is_valid(key)]
        return [
            _problem(
                doc,
                (*path, key),
                f"invalid name {key!r}: names must start with a letter "
                "or '_' and hold only letters, digits, '_' and '-'",
            )
            for key in bad
        ] or [_problem(doc, path, error.message)]
    if kind == "minLength" and instance == "":
        return [_problem(doc, path, "must not be empty")]
    if kind in ("minItems", "maxItems"):
        return [_problem(doc, path, f"has the wrong number of items: {error.message}")]
    if kind in ("oneOf", "anyOf") and schema.get("description"):
        # "not valid under any of the given schemas" says nothing; the field's own description does.
        return [
            _problem(doc, path, f"{describe_value(instance)} is not valid: expected {schema['description']}")
        ]
    return [_problem(doc, path, error.message)]


def _pip_mapping(problem: Problem) -> Problem:
    """`- numpy: 1.26` in a pip list is a mapping to YAML: say so, not only 'expected a string'."""
    in_pip_list = "pip" in problem.path or problem.path[:1] in (("dependencies",), ("build_dependencies",))
    if in_pip_list and problem.message.startswith("expected a string, got a mapping"):
        return dataclasses.replace(
            problem,
            message="a mapping inside a pip list: pip takes requirement lines such as 'numpy==1.26' "
            "('- name: version' is a mapping to YAML; write '- name==version')",
        )
    return problem
