"""A run index beside the cache ($MLRUN_HOME/index), so `runs list` over a file store of 10 000 runs
reads a few files instead of every run's. The MLflow store itself is never written.

Files per store, each a marshal'd dict whose entries carry their own signature (file mtimes), so
an entry is trusted only while its files are unchanged:
- `.runs`: per run folder (meta.yaml mtime, start time, lifecycle stage, status, unsettled), each
  experiment's folder listing, and the natural order (newest first); enough for the default
  listing, --status and the deleted/active views.
- a column per key that a filter or an order key has named (`tags/team`, `metrics/rmse`; `meta`
  for the other attributes): per run folder (the file's mtime, its value). A query loads and checks
  only the columns it names, so the first filter on a key reads that one file of each run.

A query (`query.py`) checks only what its answer depends on: each experiment folder's mtime
(runs added or removed), meta.yaml of the runs it visits, the files of the keys it names. A value
read within two seconds of its file's change is read again next time (mtimes are coarser than
writes). A damaged index is rebuilt with a warning; concurrent writers each replace a file
atomically with a self-checking snapshot, so the last one wins harmlessly. Where $MLRUN_HOME cannot
be written, the index is kept in memory for the one query and never saved (one warning).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.records import (
    DamagedRecord,
    dataset_values,
    latest_metric,
    read_run,
    read_yaml,
    warn,
)
from mlrun_cli.tracking.search.runs import values_of

VERSION = 2
_SETTLE_NS = 2_000_000_000
Light = tuple[int | None, int, str, str, bool]
_NOT_A_RUN: Light = (None, 0, "", "", False)  # meta mtime, start time, lifecycle, status, unsettled
LIGHT_ATTRIBUTES = frozenset({"start_time", "status", "lifecycle_stage"})
_FOLDERS = {"tag": "tags", "param": "params", "metric": "metrics"}


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


_unsaved_warned = False


class RunIndex:
    def __init__(self, store_root: Path) -> None:
        from mlrun_cli.shared.home import HomeNotWritable, writable_dir

        self.store_root = store_root
        self.root = f"{store_root}{os.sep}"  # paths by concatenation: os.path.join is the cost here
        self.files: dict[tuple[str, str], str | None] = {}
        key = hashlib.sha256(str(store_root).encode()).hexdigest()[:24]
        self.base: Path | None = None  # None: kept in memory only (a read-only $MLRUN_HOME)
        try:
            self.base = (
                writable_dir("index") / f"{key}.v{VERSION}.py{sys.version_info[0]}{sys.version_info[1]}"
            )
        except HomeNotWritable as error:  # an index that cannot be saved only costs speed
            global _unsaved_warned
            if not _unsaved_warned:
                _unsaved_warned = True
                warn(f"{error.message}; the run index is not kept (every run is read)")
        self.light: dict[str, Any] = self._load("runs")
        self.columns: dict[str, dict[str, Any]] = {}
        self.dirty: set[str] = set()
        self.reorder = not isinstance(self.light.get("order"), list)
        self.rebuilding = False

    def reset(self) -> None:
        """Start again from nothing (a damaged index): every entry read from the store."""
        self.light, self.columns, self.rebuilding, self.reorder = self._empty("runs"), {}, True, True
        self.dirty = {"runs"}

    # -- the index files ------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        assert self.base is not None, "an index kept in memory has no files"
        suffix = "runs" if name == "runs" else "col-" + hashlib.sha256(name.encode()).hexdigest()[:16]
        return self.base.with_name(f"{self.base.name}.{suffix}")

    def _empty(self, name: str) -> dict[str, Any]:
        return {"root": str(self.store_root), "name": name, "experiments": {}, "entries": {}}

    def _load(self, name: str) -> dict[str, Any]:
        if self.base is None:
            return self._empty(name)
        path = self._path(name)
        try:
            loaded = marshal.loads(path.read_bytes())
            if (
                isinstance(loaded, dict)
                and loaded.get("root") == str(self.store_root)
                and loaded.get("name") == name
                and isinstance(loaded.get("entries"), dict)
                and isinstance(loaded.get("experiments"), dict)
            ):
                return loaded
            raise ValueError("not an index of this store")
        except FileNotFoundError:
            pass
        except (OSError, EOFError, ValueError, TypeError) as error:
            warn(f"the run index {path} is damaged ({error}); rebuilding it")
        return self._empty(name)

    def save(self) -> None:
        for name in sorted(self.dirty) if self.base is not None else ():
            blob = marshal.dumps(self.light if name == "runs" else self.columns[name])
            path = self._path(name)
            try:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
                with os.fdopen(fd, "wb") as handle:
                    handle.write(blob)
                os.replace(tmp, path)
            except OSError as error:  # an index that cannot be saved only costs speed
                warn(f"cannot save the run index {path}: {error}")
        self.dirty.clear()

    # -- runs of the store ------------------------------------------------------------------------

    def run_dirs(self, experiment_ids: list[str]) -> Iterator[str]:
        """Every folder of these experiments (runs, and folders that may yet become runs)."""
        known: dict[str, Any] = self.light["experiments"]
        for exp_id in experiment_ids:
            exp_dir = os.path.join(self.store_root, exp_id)
            mtime, stored = _mtime(exp_dir), known.get(exp_id)
            if stored is None or stored[0] != mtime or stored[1]:
                try:
                    names = sorted(e.name for e in os.scandir(exp_dir) if e.is_dir() and e.name != "tags")
                except OSError:
                    names = []
                unsettled = mtime is None or time.time_ns() - mtime < _SETTLE_NS
                if stored is None or stored[2] != names:
                    self.reorder = True
                known[exp_id] = stored = (mtime, unsettled, names)
                self.dirty.add("runs")
            yield from (f"{exp_id}/{name}" for name in stored[2])

    def light_entry(self, rel: str) -> Light:
        """The run's meta.yaml fields, read again when meta.yaml changed."""
        entries: dict[str, Light] = self.light["entries"]
        entry = entries.get(rel)
        meta = f"{self.root}{rel}/meta.yaml"
        mtime = _mtime(meta)
        if entry is not None and entry[0] == mtime and not entry[4]:
            return entry
        fresh = _NOT_A_RUN  # not a run (yet): a folder whose meta.yaml is still to be written
        if mtime is not None:
            try:
                info = read_yaml(Path(meta))
                status = info.get("status", RunStatus.RUNNING.number)
                name = RunStatus.of(status).name
                unsettled = time.time_ns() - mtime < _SETTLE_NS
                fresh = (mtime, int(info.get("start_time") or 0), str(info.get("lifecycle_stage", "active")),
                         name, unsettled)  # fmt: skip
            except (DamagedRecord, KeyError, ValueError, TypeError) as error:
                reason = error.message if isinstance(error, DamagedRecord) else f"{meta} is damaged: {error}"
                warn(f"skipping run: {reason}")  # once: read again only when meta.yaml changes
                fresh = (mtime, 0, "", "", False)
        if entry is None or entry[1] != fresh[1]:
            self.reorder = True
        entries[rel] = fresh
        self.dirty.add("runs")
        return fresh

    def natural_order(self) -> list[str]:
        """Every known run folder, newest first then by run id (as MLflow orders), kept in the
        index until a run is added or removed or a start time changes."""
        if self.reorder:
            entries: dict[str, Light] = self.light["entries"]
            keyed = sorted((-entry[1], rel.rsplit("/", 1)[-1], rel) for rel, entry in entries.items())
            self.light["order"] = [rel for _, _, rel in keyed]
            self.reorder = False
            self.dirty.add("runs")
        order: list[str] = self.light["order"]
        return order

    # -- columns: one key of every run -------------------------------------------------------------

    def _column(self, name: str) -> dict[str, Any]:
        if name not in self.columns:
            self.columns[name] = self._empty(name) if self.rebuilding else self._load(name)
        entries: dict[str, Any] = self.columns[name]["entries"]
        return entries

    def _file(self, kind: str, key: str) -> str | None:
        if (kind, key) not in self.files:
            parts = key.split("/")
            bad = any(p in ("", ".", "..") for p in parts)
            self.files[kind, key] = None if bad else f"{_FOLDERS[kind]}/{key}"
        return self.files[kind, key]

    def value(self, rel: str, kind: str, key: str) -> Any:
        """The run's tag, param, latest metric or attribute; None when it has none."""
        if kind == "attribute":
            return self._attribute(rel, key)
        if kind == "dataset":  # rare: read each time, not indexed
            return dataset_values(Path(self.root, rel), key)
        name = self._file(kind, key)
        if name is None:
            return None  # not a key MLflow can write: no file to read
        path = f"{self.root}{rel}/{name}"
        entries = self._column(name)
        mtime, stored = _mtime(path), entries.get(rel)
        if stored is not None and stored[0] == mtime:
            return stored[1]
        value: Any = None
        if mtime is not None:  # the mtime first, then the content: a change meanwhile shows next time
            try:
                if kind == "metric":
                    value = latest_metric(path)
                else:
                    with open(path, encoding="utf-8") as handle:
                        value = handle.read()
            except (OSError, ValueError) as error:
                warn(f"cannot read {path}: {error}")
        settled = mtime is None or time.time_ns() - mtime >= _SETTLE_NS
        entries[rel] = (mtime if settled else -1, value)
        self.dirty.add(name)
        return value

    def _attribute(self, rel: str, key: str) -> Any:
        light = self.light["entries"][rel]  # checked by this query already
        if key in LIGHT_ATTRIBUTES:
            return {"start_time": light[1], "lifecycle_stage": light[2], "status": light[3]}[key]
        if key in ("run_id", "experiment_id"):  # the run's folder and its experiment's, in MLflow's layout
            return rel.rsplit("/", 1)[1] if key == "run_id" else rel.split("/", 1)[0]
        entries = self._column("meta")
        stored = entries.get(rel)
        if stored is None or stored[0] != light[0] or light[4]:
            try:
                attributes = values_of(read_run(Path(self.store_root, rel), "", full=False))["attribute"]
            except DamagedRecord:
                attributes = {}
            entries[rel] = stored = (light[0], attributes)
            self.dirty.add("meta")
        return stored[1].get(key)
