"""A quick, forgiving look at an MLproject for shell completion: entry points and parameters.

Completion runs on every <TAB>, often on a half-written file: it must answer in a few
milliseconds and never fail, so this reads the YAML and takes what is there, without the schema
check or any of the loader's rules (`mlrun validate` is where problems are reported).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PeekedParameter:
    name: str
    type: str = "string"
    choices: tuple[str, ...] = ()
    default: str | None = None


@dataclass(frozen=True)
class PeekedProject:
    entry_points: dict[str, dict[str, PeekedParameter]] = field(default_factory=dict)
    scripts: tuple[str, ...] = ()
    """.py and .sh files at the project's top, which `-e FILE` runs as MLflow does."""


def peek(directory: Path) -> PeekedProject:
    """What the project in `directory` declares; an empty answer rather than an error."""
    try:
        names = sorted(p.name for p in directory.iterdir())
    except OSError:
        return PeekedProject()
    scripts = tuple(n for n in names if n.endswith((".py", ".sh")))
    spec = next((n for n in names if n.lower() == "mlproject"), None)
    if spec is None:
        return PeekedProject({}, scripts)
    try:
        data = _load(directory / spec)
    except Exception:  # half-written YAML, unreadable file: nothing to offer but the scripts
        return PeekedProject({}, scripts)
    raw_entries = data.get("entry_points") if isinstance(data, dict) else None
    if not isinstance(raw_entries, dict):
        return PeekedProject({}, scripts)
    entries = {
        str(name): _parameters(raw.get("parameters") if isinstance(raw, dict) else None)
        for name, raw in raw_entries.items()
    }
    return PeekedProject(entries, scripts)


def _load(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when there: faster
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)  # a safe loader either way


def _parameters(raw: object) -> dict[str, PeekedParameter]:
    if not isinstance(raw, dict):
        return {}
    found: dict[str, PeekedParameter] = {}
    for name, spec in raw.items():
        if isinstance(spec, str):
            found[str(name)] = PeekedParameter(str(name), spec)
        elif isinstance(spec, dict):
            choices = spec.get("choices")
            default = spec.get("default")
            found[str(name)] = PeekedParameter(
                str(name),
                str(spec.get("type", "string")),
                tuple(_text(c) for c in choices) if isinstance(choices, list) else (),
                None if default is None else _text(default),
            )
        else:
            found[str(name)] = PeekedParameter(str(name))
    return found


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
