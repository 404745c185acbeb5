"""Environment managers by name (built-ins, and plugins under the entry-point group
`mlrun_cli.envs`), and MLflow's rules for choosing one."""

from __future__ import annotations

from mlrun_cli.envs.base import EnvManager, adapt
from mlrun_cli.errors import UsageError
from mlrun_cli.project.model import Project
from mlrun_cli.shared.registry import Registry

ENV_MANAGERS: Registry[EnvManager] = Registry(
    "env manager",
    "mlrun_cli.envs",
    {
        "local": "mlrun_cli.envs.local",
        "virtualenv": "mlrun_cli.envs.virtualenv",
        "uv": "mlrun_cli.envs.uv",
        "conda": "mlrun_cli.envs.conda",
        "docker": "mlrun_cli.envs.docker",
    },
    adapt,
)
DEFAULT_PYTHON_MANAGER = "uv"


def choose_env_manager(project: Project, requested: str | None) -> str:
    """MLflow's table: docker_env wins; python/no env -> a virtualenv; conda_env -> conda.
    A plugin's manager is used whenever it is asked for by name."""
    kind = project.env.kind
    if requested is not None and requested not in ENV_MANAGERS.builtin:
        get_env_manager(requested)  # a plugin, or an error that lists what there is
        return requested if kind != "docker" else "docker"
    if kind == "docker":
        return "docker"
    if requested is None:
        return "conda" if kind == "conda" else DEFAULT_PYTHON_MANAGER
    if requested == "conda" and kind != "conda":
        raise UsageError(
            "this project has no conda environment and cannot run with conda",
            hint="use --env-manager uv, virtualenv or local",
        )
    if requested == "docker":
        raise UsageError("--env-manager docker needs a project with docker_env")
    return requested


def get_env_manager(name: str) -> EnvManager:
    return ENV_MANAGERS.get(name)
