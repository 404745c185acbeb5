"""Execution backends by name: built-ins imported when chosen, third-party ones through entry points."""

from __future__ import annotations

import contextlib
import importlib
from typing import cast

from mlrun_cli.backends.base import ExecutionBackend
from mlrun_cli.errors import UsageError

ENTRY_POINT_GROUP = "mlrun_cli.backends"
BUILTIN: dict[str, str] = {
    "local": "mlrun_cli.backends.local",
    "slurm": "mlrun_cli.backends.slurm",
    "kubernetes": "mlrun_cli.backends.kubernetes",
}
_REQUIRED = ("NAME", "submit", "status", "wait", "cancel", "logs")


def _plugins() -> dict[str, object]:
    from importlib.metadata import entry_points

    return {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    return [*BUILTIN, *sorted(set(_plugins()) - set(BUILTIN))]


def get_backend(name: str) -> ExecutionBackend:
    if name in BUILTIN:
        return cast(ExecutionBackend, importlib.import_module(BUILTIN[name]))
    entry = _plugins().get(name)
    if entry is None:
        raise UsageError(
            f"unknown backend {name!r}; available: {', '.join(available())}",
            hint=f"third-party backends register under the entry-point group '{ENTRY_POINT_GROUP}'",
        )
    try:
        backend = entry.load()  # type: ignore[attr-defined]
    except Exception as error:  # a broken plugin must not look like an mlrun crash
        raise UsageError(f"backend plugin {name!r} failed to load: {type(error).__name__}: {error}") from None
    missing = [attr for attr in _REQUIRED if not hasattr(backend, attr)]
    if missing:
        raise UsageError(f"backend plugin {name!r} lacks {', '.join(missing)}")
    for attr, default in (("DETACHABLE", False), ("CONFIG_SCHEMA", None), ("ENV_KINDS", None)):
        if not hasattr(backend, attr):
            # Optional for plugins; a module (or object) without them gets the defaults.
            with contextlib.suppress(AttributeError):
                setattr(backend, attr, default)
    return cast(ExecutionBackend, backend)
