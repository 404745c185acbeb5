"""Execution backends by name."""

from __future__ import annotations

from mlrun_cli.backends import local
from mlrun_cli.backends.base import ExecutionBackend
from mlrun_cli.errors import UsageError

BACKENDS: dict[str, ExecutionBackend] = {"local": local}


def get_backend(name: str) -> ExecutionBackend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}") from None
