"""Which environment a project declares (docker_env, python_env, conda_env), or the env file
MLflow finds beside an MLproject that declares none; the env file itself is checked last
(project/envfiles.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun_cli.documents.hints import display_path
from mlrun_cli.errors import Problem
from mlrun_cli.project.envfiles import check_env_file
from mlrun_cli.project.image_refs import image_problem
from mlrun_cli.project.model import DockerEnv, EnvSpec

if TYPE_CHECKING:
    from mlrun_cli.documents.yamlfile import YamlDocument

PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"
ENV_KEYS = ("docker_env", "python_env", "conda_env")


def project_env(
    directory: Path, doc: YamlDocument | None
) -> tuple[EnvSpec, list[Problem], list[Problem], list[str]]:
    """The env the MLproject `doc` declares (without one, the default env file beside it), with
    its file read and checked: the env (the file's content kept), the problems in the MLproject's
    env keys, the problems in the env file, and the env file's warnings."""
    default = default_env(directory)
    declared: list[Problem] = []
    env = default if doc is None else build_env(directory, doc, declared, default)
    env, in_file, warnings = check_env_file(env)
    return env, declared, in_file, warnings


def default_env(directory: Path) -> EnvSpec:
    for filename, kind in ((PYTHON_ENV_FILE, "python"), (CONDA_ENV_FILE, "conda")):
        if (directory / filename).is_file():
            return EnvSpec(kind, directory / filename, source=filename)  # type: ignore[arg-type]
    return EnvSpec("none")


def build_env(directory: Path, doc: YamlDocument, problems: list[Problem], default: EnvSpec) -> EnvSpec:
    """The env `doc` declares, or `default` when it declares none."""
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
    return default
