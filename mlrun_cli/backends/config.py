"""`--backend-config`: JSON text, or a .json/.yaml file, checked against the backend's schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrun_cli.backends.base import ExecutionBackend
from mlrun_cli.errors import Problem, SpecError, UsageError

_FILE_SUFFIXES = (".json", ".yaml", ".yml")
_SUBJECT = "backend config"


def _document(raw: str, cwd: Path) -> Any:
    from mlrun_cli.documents.yamlfile import load_yaml, parse_yaml

    text = raw.strip()
    if text.startswith("{"):
        doc = parse_yaml(text, "--backend-config")
    else:
        path = (cwd / Path(text).expanduser()).absolute()
        if path.suffix.lower() not in _FILE_SUFFIXES:
            raise UsageError(
                f"--backend-config must be JSON text ({{...}}) or a .json/.yaml file, got {raw!r}"
            )
        if not path.is_file():
            raise UsageError(f"--backend-config: no such file: {path}")
        doc = load_yaml(path)
    if doc.problems:
        raise SpecError(doc.problems, hint="--backend-config holds one JSON/YAML mapping", subject=_SUBJECT)
    return doc


def load_backend_config(raw: str | None, backend: ExecutionBackend, cwd: Path) -> dict[str, Any]:
    """The config as a dict; every problem (with its line, for files) raised as one SpecError."""
    schema = backend.CONFIG_SCHEMA
    given = raw is not None and bool(raw.strip())
    if not backend.takes_config():
        if given:
            raise UsageError(f"the {backend.NAME} backend takes no --backend-config")
        return {}
    from mlrun_cli.documents.yamlfile import parse_yaml

    # No config is an empty one: a backend that needs settings says which are missing.
    doc = _document(raw, cwd) if given and raw is not None else parse_yaml("{}", "--backend-config")
    if doc.data is None:
        doc.data = {}
    if not isinstance(doc.data, dict):
        raise SpecError([Problem(doc.file, 1, "", "expected a mapping of settings")], subject=_SUBJECT)
    if schema is not None:
        from mlrun_cli.documents.schema_check import check_against_schema

        problems = check_against_schema(doc, schema)
        if problems:
            hint = f"'mlrun schema {schema}' prints what it accepts; give it with -c/--backend-config"
            raise SpecError(problems, hint=hint, subject=_SUBJECT)
    backend.check_config(doc.data)
    return dict(doc.data)
