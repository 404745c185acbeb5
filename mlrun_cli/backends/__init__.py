"""Execution backends by name: built-ins imported when chosen, third-party ones through the
entry-point group `mlrun_cli.backends`, all through the one registry and adapter."""

from __future__ import annotations

from mlrun_cli.backends.base import ExecutionBackend, adapt
from mlrun_cli.errors import PluginError
from mlrun_cli.shared.registry import Registry

BACKENDS: Registry[ExecutionBackend] = Registry(
    "backend",
    "mlrun_cli.backends",
    {
        "local": "mlrun_cli.backends.local",
        "slurm": "mlrun_cli.backends.slurm",
        "kubernetes": "mlrun_cli.backends.kubernetes.backend",
        "ray": "mlrun_cli.backends.ray.backend",
    },
    adapt,
)


def get_backend(name: str) -> ExecutionBackend:
    return BACKENDS.get(name)


def available() -> list[str]:
    return BACKENDS.names()


def detachable() -> list[str]:
    """The backends whose jobs outlive mlrun (their DETACHABLE flag), so `--detach` can leave
    them; a plugin that fails to load is not one of them."""
    names = []
    for name in available():
        try:
            if get_backend(name).DETACHABLE:
                names.append(name)
        except PluginError:
            continue
    return names
