"""Reading and writing single records of MLflow's FileStore layout: YAML metadata, values, metric
lines; a damaged record is a DamagedRecord naming its file, never a traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from mlrun_cli.errors import TrackingError, TrackingUnreachable


def safe_key_path(base: Path, key: str) -> Path:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise TrackingError(f"invalid key for the file store: {key!r}")
    return base.joinpath(*parts)


class DamagedRecord(TrackingError):
    """A meta.yaml that cannot be read as MLflow writes it."""


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, TypeError, RecursionError) as error:
        # ValueError and TypeError: a tag whose value cannot be built (`!!int "3.11"`).
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DamagedRecord(f"{path} is damaged: {reason}") from None
    if not isinstance(data, dict):
        raise DamagedRecord(f"{path} is damaged: not a mapping")
    return data


def warn(message: str) -> None:
    sys.stderr.write(f"mlrun: warning: {message}\n")


@contextlib.contextmanager
def writing(root: Path) -> Iterator[None]:
    """A store that stops taking writes mid-run is unreachable for the run: its Recorder keeps
    the rest in the outbox instead of failing the run."""
    try:
        yield
    except OSError as error:
        raise TrackingUnreachable(f"cannot write to the tracking store at {root}: {error}") from None


def dump_yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), default_flow_style=False, sort_keys=True)


def read_values(base: Path) -> dict[str, str]:
    if not base.is_dir():
        return {}
    values = {}
    for path in sorted(base.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            values[path.relative_to(base).as_posix()] = path.read_text(encoding="utf-8")
    return values


def latest_metric(path: Path) -> float | None:
    latest: tuple[int, int, float] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 2:
            point = (int(fields[2]) if len(fields) > 2 else 0, int(fields[0]), float(fields[1]))
            latest = point if latest is None else max(latest, point)
    return None if latest is None else latest[2]
