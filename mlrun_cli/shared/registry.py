"""The one plugin mechanism, for env managers, backends and trackers alike.

Built-ins are named here by the module (or `module:attribute`) that provides them and imported
only when chosen; third-party ones come from an entry-point group. Whatever is loaded goes
through the kind's `adapt` function, which checks what it must have and supplies the optional
hooks' defaults without touching the plugin itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from mlrun_cli.errors import PluginError

T = TypeVar("T")


def missing_attributes(obj: object, required: tuple[str, ...]) -> list[str]:
    return [name for name in required if not hasattr(obj, name)]


class Registry(Generic[T]):
    def __init__(
        self, kind: str, group: str, builtin: Mapping[str, str], adapt: Callable[[str, object], T]
    ) -> None:
        self.kind = kind
        self.group = group
        self.builtin = dict(builtin)
        self._adapt = adapt
        self._loaded: dict[str, T] = {}

    def _entry_points(self) -> dict[str, object]:
        from importlib.metadata import entry_points

        return {entry.name: entry for entry in entry_points(group=self.group)}

    def names(self) -> list[str]:
        """Built-ins first, in their order, then plugins by name."""
        return [*self.builtin, *sorted(set(self._entry_points()) - set(self.builtin))]

    def get(self, name: str) -> T:
        if name not in self._loaded:
            self._loaded[name] = self._load(name)
        return self._loaded[name]

    def _load(self, name: str) -> T:
        if name in self.builtin:
            module, _, attribute = self.builtin[name].partition(":")
            target: object = importlib.import_module(module)
            for part in filter(None, attribute.split(".")):
                target = getattr(target, part)
            return self._adapt(name, target)
        entry = self._entry_points().get(name)
        if entry is None:
            raise PluginError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}",
                hint=f"third-party {self.kind}s register under the entry-point group '{self.group}'",
            )
        try:
            loaded = entry.load()  # type: ignore[attr-defined]
        except Exception as error:  # a broken plugin must not look like an mlrun crash
            raise PluginError(
                f"{self.kind} plugin {name!r} failed to load: {type(error).__name__}: {error}"
            ) from error
        return self._adapt(name, loaded)
