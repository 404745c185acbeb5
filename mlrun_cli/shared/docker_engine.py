"""The Docker engine, as the docker env manager (building images) and the backends that run
containers (docker, kubernetes: pushing images) and the reaper (stopping a dead mlrun's container)
all reach it: one connection per process, and the errors it raises. The Docker SDK is imported
only when a client is asked for."""

from __future__ import annotations

import functools
import os
from typing import Any

from mlrun_cli.errors import InfrastructureError, UsageError

CODE_DIR = "/mlflow/projects/code"
"""Where a project's code is, in its container (mounted, or copied into the image)."""


class DockerError(UsageError):
    """An image cannot be had, or a build failed."""


class DockerEngineUnreachable(InfrastructureError):
    """No Docker engine answers: nothing is wrong with the project."""


@functools.cache
def client() -> Any:
    """One engine connection per process (planning, building and running share it)."""
    import docker

    engine = None
    try:
        engine = docker.from_env()
        engine.ping()
    except Exception as error:  # the SDK raises several kinds for "no engine"
        if engine is not None:
            engine.close()
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (the default)"
        raise DockerEngineUnreachable(
            f"no Docker engine reachable at {where}: {error}",
            hint="start Docker, or set DOCKER_HOST to a running engine "
            "(e.g. unix:///run/user/1000/docker.sock)",
        ) from error
    return engine
