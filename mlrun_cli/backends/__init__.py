"""Execution backends by name."""

from __future__ import annotations

from types import ModuleType

from mlrun_cli.backends import local
from mlrun_cli.errors import UsageError

BACKENDS: dict[str, ModuleType] = {"local": local}


def get_backend(name: str) -> ModuleType:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}") from None
