"""An env file (python_env.yaml, conda.yaml) read once and checked against its schema; its
content is kept, so a run builds from what was checked (and a warm run reads no YAML)."""

from __future__ import annotations

import dataclasses

from mlrun_cli.documents.hints import describe_value, display_path
from mlrun_cli.errors import Problem
from mlrun_cli.project.model import EnvSpec


def check_env_file(env: EnvSpec) -> tuple[EnvSpec, list[Problem], list[str]]:
    """The env's file checked against its schema, with the env (the file's content kept), the
    problems, and the warnings."""
    if env.file is None or not env.file.is_file():
        return env, [], []
    from mlrun_cli.documents.schema_check import check_against_schema
    from mlrun_cli.documents.yamlfile import json_of, load_yaml

    name = display_path(env.file)
    doc = load_yaml(env.file, name)
    content = json_of(doc.data)
    if doc.problems:
        return env, doc.problems, doc.warnings
    if doc.data is None:
        return env, [Problem(doc.file, 1, "", "the file is empty")], []
    if env.kind == "python" and not isinstance(doc.data, dict):
        # `python_env: requirements.txt` is the usual cause: MLflow fails on it when it builds.
        message = (
            f"not a python_env file: it holds {describe_value(doc.data)}. python_env names a YAML "
            "file such as 'python: \"3.11\"' with 'dependencies: [-r requirements.txt]'"
        )
        return env, [Problem(doc.file, 1, "", message)], []
    problems = check_against_schema(doc, "python_env" if env.kind == "python" else "conda_env")
    kept = dataclasses.replace(env, content=content, content_digest=doc.digest if content else None)
    return kept, problems, doc.warnings
