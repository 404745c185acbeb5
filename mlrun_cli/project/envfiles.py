"""The environment a project declares (docker_env, python_env, conda_env) and its env file."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun_cli.errors import Problem
from mlrun_cli.project.model import DockerEnv, EnvSpec

if TYPE_CHECKING:  # both load YAML: imported where a file is checked (project/known.py)
    from mlrun_cli.project.yamlfile import YamlDocument

PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"
ENV_KEYS = ("docker_env", "python_env", "conda_env")


def display_path(path: Path) -> str:
    """A path as the user can open it: relative to the working directory when below it."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def default_env(directory: Path) -> EnvSpec:
    for filename, kind in ((PYTHON_ENV_FILE, "python"), (CONDA_ENV_FILE, "conda")):
        if (directory / filename).is_file():
            return EnvSpec(kind, directory / filename, source=filename)  # type: ignore[arg-type]
    return EnvSpec("none")


def build_env(directory: Path, doc: YamlDocument, problems: list[Problem]) -> EnvSpec:
    data: dict[str, Any] = doc.data
    declared = [key for key in ENV_KEYS if key in data]
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
        problem = image_problem(docker["image"])
        if problem:
            problems.append(
                Problem(doc.file, doc.line_of(("docker_env", "image")), "docker_env.image", problem)
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
    return default_env(directory)


def check_env_file(env: EnvSpec) -> tuple[EnvSpec, list[Problem], list[str]]:
    """The env's file checked against its schema, with the env (the file's content kept), the
    problems, and the warnings."""
    if env.file is None or not env.file.is_file():
        return env, [], []
    from mlrun_cli.project.schema_check import check_against_schema, describe_value
    from mlrun_cli.project.yamlfile import load_yaml

    doc = load_yaml(env.file, display_path(env.file))
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
    content = _as_json(doc.data)
    kept = dataclasses.replace(env, content=content, content_digest=doc.digest if content else None)
    return kept, [_pip_mapping(p) for p in problems], doc.warnings


def _as_json(data: Any) -> str | None:
    """JSON that reads back as exactly `data`, or None (a YAML date, a number key, NaN, ...)."""
    import json

    try:
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return text if json.loads(text) == data else None


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


# Docker's reference grammar; plain patterns (re caches them once used): most projects have no image.
_COMPONENT = r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$"
_DOMAIN = (
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$"
)
_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_DIGEST = r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$"


def image_problem(image: str) -> str | None:
    """Why `image` is not a Docker image reference (Docker's own grammar), or None."""
    name, _, digest = image.partition("@")
    if digest and not re.match(_DIGEST, digest):
        return f"{image!r} is not a valid image reference: bad digest {digest!r}"
    head, slash, rest = name.partition("/")
    # As Docker decides: the first part is a registry only when it looks like a host.
    has_domain = bool(slash) and ("." in head or ":" in head or head == "localhost")
    if has_domain and not re.match(_DOMAIN, head):
        return f"{image!r} is not a valid image reference: bad registry {head!r}"
    path = rest if has_domain else name
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
        if not re.match(_TAG, tag):
            return f"{image!r} is not a valid image reference: bad tag {tag!r}"
    for component in path.split("/"):
        if not re.match(_COMPONENT, component):
            why = " (repository names must be lowercase)" if component.lower() != component else ""
            return f"{image!r} is not a valid image reference: {component!r} is not a valid name{why}"
    return None
