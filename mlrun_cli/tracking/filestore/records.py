"""Reading and writing single records of MLflow's FileStore layout: YAML metadata, values, metric
lines; a damaged record is a DamagedRecord naming its file, never a traceback."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mlrun_cli.errors import TrackingError, TrackingUnreachable
from mlrun_cli.shared import tags as tag_keys
from mlrun_cli.tracking.base import RunRecord, RunStatus
from mlrun_cli.tracking.filestore.flat_yaml import dump as dump_flat
from mlrun_cli.tracking.filestore.flat_yaml import parse as parse_flat


def safe_key_path(base: Path, key: str) -> Path:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise TrackingError(f"invalid key for the file store: {key!r}")
    return base.joinpath(*parts)


class DamagedRecord(TrackingError):
    """A meta.yaml that cannot be read as MLflow writes it."""


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise DamagedRecord(f"{path} is damaged: {error}") from None
    flat = parse_flat(text)  # MLflow's own meta.yaml, without loading PyYAML
    return flat if flat is not None else _read_yaml(path, text)


def _read_yaml(path: Path, text: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:
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
    flat = dump_flat(dict(data))
    if flat is not None:
        return flat
    import yaml

    return yaml.safe_dump(dict(data), default_flow_style=False, sort_keys=True)


def _walk(base: str, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key, path) of every file under `base`, keys with `/` for nested folders (os.scandir: a
    run is read often, pathlib's rglob costs several times more)."""
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):  # a link to a folder could loop
            yield from _walk(entry.path, f"{prefix}{entry.name}/")
        elif entry.is_file():
            yield prefix + entry.name, entry.path


def read_values(base: Path) -> dict[str, str]:
    values = {}
    for key, path in sorted(_walk(str(base))):
        with open(path, encoding="utf-8") as handle:
            values[key] = handle.read()
    return values


def latest_metric(path: Path | str) -> float | None:
    latest: tuple[int, int, float] | None = None
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    for line in lines:
        fields = line.split()
        if len(fields) >= 2:
            point = (int(fields[2]) if len(fields) > 2 else 0, int(fields[0]), float(fields[1]))
            latest = point if latest is None else max(latest, point)
    return None if latest is None else latest[2]


def metric_history(path: Path | str) -> list[tuple[int, float]]:
    """(step, value) of every line `TIMESTAMP VALUE [STEP]` of a metric file; a damaged line (a
    write cut short, a stray byte) is skipped, and a missing file is an empty history."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    history = []
    for line in lines:
        fields = line.split()
        try:
            value = float(fields[1])
            history.append((int(fields[2]) if len(fields) > 2 else 0, value))
        except (IndexError, ValueError):
            continue
    return history


def read_run(run_dir: Path, experiment_name: str, *, full: bool, artifacts: bool = True) -> RunRecord:
    """The run in `run_dir`: meta.yaml and tags; with `full`, params, latest metrics and (with
    `artifacts`) the artifact files too."""
    try:
        return _read_run(run_dir, experiment_name, full=full, artifacts=artifacts)
    except (KeyError, ValueError, TypeError) as error:
        raise DamagedRecord(f"{run_dir / 'meta.yaml'} is damaged: {type(error).__name__}: {error}") from None


def _read_run(run_dir: Path, experiment_name: str, *, full: bool, artifacts: bool) -> RunRecord:
    meta = read_yaml(run_dir / "meta.yaml")
    tags = read_values(run_dir / "tags")
    end = meta.get("end_time")
    status = meta.get("status", RunStatus.RUNNING.number)
    metrics: dict[str, float] = {}
    files: tuple[str, ...] = ()
    if full:
        for key, path in sorted(_walk(str(run_dir / "metrics"))):
            value = latest_metric(path)
            if value is not None:
                metrics[key] = value
    if full and artifacts:
        art = run_dir / "artifacts"
        found = (
            p.relative_to(art).as_posix()
            for p in art.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        files = tuple(sorted(found))
    return RunRecord(
        run_id=str(meta["run_id"]),
        experiment_id=str(meta["experiment_id"]),
        experiment_name=experiment_name,
        run_name=str(meta.get("run_name") or tags.get(tag_keys.RUN_NAME, "")),
        status=RunStatus.of(status),
        start_time_ms=int(meta.get("start_time") or 0),
        end_time_ms=int(end) if end is not None else None,
        artifact_uri=str(meta.get("artifact_uri", "")),
        params=read_values(run_dir / "params") if full else {},
        tags=tags,
        metrics=metrics,
        artifacts=files,
        user_id=str(meta.get("user_id") or ""),
        lifecycle_stage=str(meta.get("lifecycle_stage") or "active"),
    )


def dataset_values(run_dir: Path, key: str) -> list[str]:
    """The `key` (name, digest or context) of each dataset input of the run, as MLflow's file store
    keeps them: run_dir/inputs/<id>/meta.yaml names a dataset of experiment/datasets/<id>/."""
    values = []
    try:
        inputs = sorted(os.scandir(run_dir / "inputs"), key=lambda e: e.name)
    except OSError:
        return []  # no inputs: most runs
    for entry in inputs:
        try:
            link = read_yaml(Path(entry.path) / "meta.yaml")
            if link.get("source_type") != "DATASET":
                continue
            if key == "context":
                tags = link.get("tags") or {}
                if "mlflow.data.context" in tags:
                    values.append(str(tags["mlflow.data.context"]))
                continue
            dataset = read_yaml(run_dir.parent / "datasets" / str(link.get("source_id")) / "meta.yaml")
            values.append(str(dataset.get(key)))
        except (DamagedRecord, AttributeError) as error:
            warn(f"skipping a dataset input of {run_dir}: {error}")
    return values
