"""Environment managers by name, and MLflow's rules for choosing one."""

from __future__ import annotations

from mlrun_cli.envs import conda, docker, local, uv, virtualenv
from mlrun_cli.envs.base import EnvManager
from mlrun_cli.errors import NotAvailableError, UsageError
from mlrun_cli.project.model import Project

ENV_MANAGERS: dict[str, EnvManager] = {
    "local": local,
    "uv": uv,
    "virtualenv": virtualenv,
    "conda": conda,
    "docker": docker,
}
KNOWN = ("local", "virtualenv", "uv", "conda", "docker")
DEFAULT_PYTHON_MANAGER = "uv"


def choose_env_manager(project: Project, requested: str | None) -> str:
    """MLflow's table: docker_env wins; python/no env -> a virtualenv; conda_env -> conda."""
    kind = project.env.kind
    if kind == "docker":
        return "docker"
    if requested is None:
        return "conda" if kind == "conda" else DEFAULT_PYTHON_MANAGER
    if requested not in KNOWN:
        raise UsageError(f"unknown env manager {requested!r}; choose one of: {', '.join(KNOWN)}")
    if requested == "conda" and kind != "conda":
        raise UsageError(
            "this project has no conda environment and cannot run with conda",
            hint="use --env-manager uv, virtualenv or local",
        )
    if requested == "docker":
        raise UsageError("--env-manager docker needs a project with docker_env")
    return requested


def get_env_manager(name: str) -> EnvManager:
    try:
        return ENV_MANAGERS[name]
    except KeyError:
        raise NotAvailableError(
            f"the '{name}' environment manager is not available in this release",
            hint="run in the current environment with --env-manager local (or set MLRUN_ENV_MANAGER=local)",
        ) from None
