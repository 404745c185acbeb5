"""Projects already found valid: the same files load again without YAML, schema or compat code.

Parsing the YAML and checking a project costs more than the rest of a local run together. A
project found valid is remembered in $MLRUN_HOME/projects/, keyed by mlrun's version and the
stamp of the code that checks projects, the working directory (warnings name paths relative to
it), the folder and the MLproject's bytes; the record lists every other file the check read or
looked for (the env file, the default env files, a Dockerfile), with a digest of its bytes or
None for "not a file", and is used only while they are all the same. Problems are never
remembered: a project with problems is checked afresh each time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mlrun_cli.project.model import DockerEnv, EntryPoint, EnvSpec, Parameter, Project
from mlrun_cli.shared.home import mlrun_home
from mlrun_cli.version import __version__

FORMAT = 3
_HERE = Path(__file__).resolve().parent
# The code whose change can change what a check finds, and the schemas it checks against.
_CODE = (
    "known.py",
    "loader.py",
    "pipeline.py",
    "compat.py",
    "building.py",
    "environment.py",
    "envfiles.py",
    "hints.py",
    "image_refs.py",
    "params.py",
    "durations.py",
    "model.py",
    "schema_check.py",
    "yamlfile.py",
)
_SCHEMAS = ("mlproject", "python_env", "conda_env")
_DEFAULT_ENV_FILES = ("python_env.yaml", "conda.yaml")


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except (IsADirectoryError, FileNotFoundError, NotADirectoryError):
        return None


def _code_stamp() -> str:
    stamp = [__version__]
    schema_dirs = (_HERE.parent / "schemas", _HERE.parents[1] / "schemas")  # wheel, source tree
    paths = [_HERE / name for name in _CODE]
    paths += [folder / f"{name}.schema.json" for folder in schema_dirs for name in _SCHEMAS]
    for path in paths:
        with contextlib.suppress(OSError):
            info = path.stat()
            stamp.append(f"{path.name}:{info.st_mtime_ns}:{info.st_size}")
    return "\n".join(stamp)


def _record_path(directory: Path, spec_file: Path | None) -> tuple[Path, str | None]:
    """Where this project's record would be, and the digest of the MLproject it stands for."""
    spec_digest = None if spec_file is None else _digest(spec_file)
    key = hashlib.sha256()
    for part in (str(FORMAT), _code_stamp(), os.getcwd(), str(directory), str(spec_file), str(spec_digest)):
        key.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return mlrun_home() / "projects" / f"{key.hexdigest()}.json", spec_digest


def _dependencies(project: Project) -> list[Path]:
    files = [project.directory / name for name in _DEFAULT_ENV_FILES]
    if project.env.file is not None:
        files.append(project.env.file)
    if project.env.docker is not None and project.env.docker.dockerfile is not None:
        files.append(project.directory / project.env.docker.dockerfile)
    return files


def lookup(directory: Path, spec_file: Path | None) -> tuple[Project | None, str | None]:
    """The project as it was checked before, when nothing it was made of has changed; and the
    digest of the MLproject read now, for `remember`."""
    path, spec_digest = _record_path(directory, spec_file)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if any(_digest(Path(file)) != digest for file, digest in record["files"]):
            return None, spec_digest
        return _from_dict(record["project"]), spec_digest
    except (OSError, ValueError, KeyError, TypeError):  # missing, unreadable or from elsewhere
        return None, spec_digest


def remember(project: Project, spec_digest_seen: str | None) -> None:
    """Keep a valid project, unless its MLproject changed while it was being checked."""
    from mlrun_cli.shared.home import write_atomic

    with contextlib.suppress(OSError):  # a read-only home only costs speed
        path, spec_digest = _record_path(project.directory, project.spec_file)
        if spec_digest != spec_digest_seen:
            return
        env = project.env
        # The env file's digest is that of the bytes its kept content came from.
        seen = {env.file: env.content_digest} if env.file is not None and env.content_digest else {}
        files = [
            [str(file), seen[file] if file in seen else _digest(file)] for file in _dependencies(project)
        ]
        record = json.dumps({"files": files, "project": _to_dict(project)})
        write_atomic(path, record)


def _to_dict(project: Project) -> dict[str, Any]:
    env = project.env
    docker = env.docker
    return {
        "directory": str(project.directory),
        "spec_file": None if project.spec_file is None else str(project.spec_file),
        "name": project.name,
        "env": {
            "kind": env.kind,
            "file": None if env.file is None else str(env.file),
            "source": env.source,
            "content": env.content,
            "content_digest": env.content_digest,
            "docker": None
            if docker is None
            else [docker.image, docker.volumes, docker.environment, docker.dockerfile, docker.gpus],
        },
        "entry_points": [
            [
                e.name,
                e.command,
                [_param_list(p) for p in e.parameters.values()],
                e.is_script,
                e.timeout_s,
                e.retries,
            ]
            for e in project.entry_points.values()
        ],
        "warnings": project.warnings,
    }


def _param_list(p: Parameter) -> list[Any]:
    return [p.name, p.type, p.default, p.choices, p.description, p.unchecked_default]


def _from_dict(data: dict[str, Any]) -> Project:
    env = data["env"]
    docker = env["docker"]
    docker_env = None
    if docker is not None:
        image, volumes, environment, dockerfile, gpus = docker
        docker_env = DockerEnv(image, tuple(volumes), tuple((n, v) for n, v in environment), dockerfile, gpus)
    entry_points = {}
    for name, command, parameters, is_script, timeout_s, retries in data["entry_points"]:
        params = {}
        for p_name, p_type, default, choices, description, unchecked in parameters:
            choices = None if choices is None else tuple(choices)
            params[p_name] = Parameter(p_name, p_type, default, choices, description, unchecked)
        entry_points[name] = EntryPoint(name, command, params, is_script, timeout_s, retries)
    return Project(
        Path(data["directory"]),
        None if data["spec_file"] is None else Path(data["spec_file"]),
        data["name"],
        EnvSpec(
            env["kind"],
            None if env["file"] is None else Path(env["file"]),
            docker_env,
            env["source"],
            env["content"],
            env["content_digest"],
        ),
        entry_points,
        tuple(data["warnings"]),
    )
