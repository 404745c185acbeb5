"""A run index beside the cache ($MLRUN_HOME/index), so `runs list` over a file store of 10 000 runs
reads a few files instead of every run's. The MLflow store itself is never written.

Two files per store, each a marshal'd dict whose entries carry their own signature (file mtimes),
so an entry is trusted only while its files are unchanged:
- `.runs`: per run folder (meta.yaml mtime, start time, lifecycle stage, status, unsettled);
  enough for the default listing (newest first), --status and the deleted/active views.
- `.data`: per run folder (meta.yaml mtime, {tags/params/metrics file: mtime}, attributes, tags,
  params, latest metrics); loaded only when a filter or an order key needs them.

A query checks only what its answer depends on: each experiment folder's mtime (runs added or
removed), meta.yaml of every run it visits, and the files of the keys the filter names. With the
natural order (newest first) it stops after enough matches. An entry read within two seconds of a
change is "unsettled" and read again next time (mtimes are coarser than writes). The rows shown are
always read from the store itself. A damaged index is rebuilt with a warning; concurrent writers
each replace the file atomically with a self-checking snapshot, so the last one wins harmlessly.
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
from typing import TYPE_CHECKING, Any

from mlrun_cli.tracking import search_query as sq
from mlrun_cli.tracking.base import RunQuery, RunRecord, RunStatus, ViewType
from mlrun_cli.tracking.file_records import DamagedRecord, read_yaml, warn
from mlrun_cli.tracking.search import values_getter, values_of

if TYPE_CHECKING:
    from mlrun_cli.tracking.file_store import FileStore

VERSION = 1
_SETTLE_NS = 2_000_000_000
Light = tuple[int | None, int, str, str, bool]
_NOT_A_RUN: Light = (None, 0, "", "", False)  # meta mtime, start time, lifecycle, status, unsettled


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _files(run_dir: str) -> dict[str, int]:
    """Every tag, param and metric file of the run, by path relative to the run, with its mtime."""
    found: dict[str, int] = {}
    for kind in ("tags", "params", "metrics"):
        stack = [kind]
        while stack:
            rel = stack.pop()
            try:
                entries = list(os.scandir(os.path.join(run_dir, rel)))
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    stack.append(f"{rel}/{entry.name}")
                else:
                    found[f"{rel}/{entry.name}"] = entry.stat().st_mtime_ns
    return found


class RunIndex:
    def __init__(self, store: FileStore) -> None:
        from mlrun_cli.home import writable_dir

        self.store = store
        key = hashlib.sha256(str(store.root).encode()).hexdigest()[:24]
        base = writable_dir("index") / f"{key}.v{VERSION}.py{sys.version_info[0]}{sys.version_info[1]}"
        self.paths = {
            "runs": base.with_suffix(base.suffix + ".runs"),
            "data": base.with_suffix(base.suffix + ".data"),
        }
        self.light: dict[str, Any] = self._load("runs")
        self.data: dict[str, Any] | None = None
        self.dirty: set[str] = set()
        self.reorder = not isinstance(self.light.get("order"), list)

    # -- the index files ------------------------------------------------------------------------

    def _load(self, which: str) -> dict[str, Any]:
        path = self.paths[which]
        try:
            loaded = marshal.loads(path.read_bytes())
            if (
                isinstance(loaded, dict)
                and loaded.get("root") == str(self.store.root)
                and isinstance(loaded.get("entries"), dict)
            ):
                return loaded
            raise ValueError("not an index of this store")
        except FileNotFoundError:
            pass
        except (OSError, EOFError, ValueError, TypeError) as error:
            warn(f"the run index {path} is damaged ({error}); rebuilding it")
        return {"root": str(self.store.root), "experiments": {}, "entries": {}}

    def save(self) -> None:
        for which in self.dirty:
            blob = marshal.dumps(self.light if which == "runs" else self.data)
            path = self.paths[which]
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
            exp_dir = os.path.join(self.store.root, exp_id)
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
        meta = os.path.join(self.store.root, rel, "meta.yaml")
        mtime = _mtime(meta)
        if entry is not None and entry[0] == mtime and not entry[4]:
            return entry
        fresh = _NOT_A_RUN  # not a run (yet): a folder whose meta.yaml is still to be written
        if mtime is not None:
            try:
                info = read_yaml(Path(meta))
                status = info.get("status", RunStatus.RUNNING.value)
                name = RunStatus(int(status)).name if str(status).isdigit() else RunStatus[str(status)].name
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

    def data_entry(self, rel: str, paths: frozenset[str]) -> dict[str, Any] | None:
        """Attributes, tags, params and metrics: read again when meta.yaml or a file in `paths`
        (the keys the query names) changed."""
        if self.data is None:
            self.data = self._load("data")
        entries: dict[str, Any] = self.data["entries"]
        entry = entries.get(rel)
        run_dir = os.path.join(self.store.root, rel)
        meta_mtime = _mtime(os.path.join(run_dir, "meta.yaml"))
        if entry is not None and entry[0] == meta_mtime and not entry[2]:
            files = entry[1]
            if all(_mtime(os.path.join(run_dir, p)) == files.get(p) for p in paths):
                return dict(entry[3]) if entry[3] is not None else None
        files = _files(run_dir)  # the mtimes first: a change while reading shows as a new mtime
        try:
            record = self.store._record(Path(run_dir), "", full=True, artifacts=False)
            values: dict[str, Any] | None = values_of(record)
        except DamagedRecord as error:
            warn(f"skipping run: {error.message}")
            values = None
        now = time.time_ns()
        unsettled = any(now - m < _SETTLE_NS for m in [meta_mtime or 0, *files.values()])
        entries[rel] = (meta_mtime, files, unsettled, values)
        self.dirty.add("data")
        return values


def _paths(clauses: tuple[sq.Clause, ...], orders: list[sq.OrderKey]) -> frozenset[str]:
    folder = {"tag": "tags", "param": "params", "metric": "metrics"}
    keys = [(c.kind, c.key) for c in clauses] + [(o.kind, o.key) for o in orders]
    return frozenset(f"{folder[kind]}/{key}" for kind, key in keys if kind in folder)


_LIGHT_ATTRIBUTES = {"start_time", "status", "lifecycle_stage"}


def query(store: FileStore, experiments: dict[str, str], request: RunQuery) -> list[RunRecord]:
    """The runs of `experiments` (id -> name) that `request` asks for, as MLflow would list them."""
    clauses = sq.parse_filter(request.filter)
    orders = [sq.parse_order_by(text) for text in request.order_by]
    try:
        return _query(RunIndex(store), store, experiments, request, clauses, orders)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        warn(f"the run index is damaged ({type(error).__name__}: {error}); rebuilding it")
        index = RunIndex(store)
        index.light = {"root": str(store.root), "experiments": {}, "entries": {}}
        index.data = {"root": str(store.root), "experiments": {}, "entries": {}}
        return _query(index, store, experiments, request, clauses, orders)


def _view_ok(view: ViewType, lifecycle: str) -> bool:
    if not lifecycle:
        return False  # not a run, or a damaged one
    return view is ViewType.ALL or (lifecycle == "deleted") == (view is ViewType.DELETED_ONLY)


def _query(index: RunIndex, store: FileStore, experiments: dict[str, str], request: RunQuery,
           clauses: tuple[sq.Clause, ...], orders: list[sq.OrderKey]) -> list[RunRecord]:  # fmt: skip
    light_only = all(c.kind == "attribute" and c.key in _LIGHT_ATTRIBUTES for c in clauses) and not orders
    rels = list(index.run_dirs(sorted(experiments)))
    known = index.light["entries"]
    for rel in rels:
        if rel not in known:
            index.light_entry(rel)  # a new run: its start time places it
    for gone in set(known) - set(rels) if index.reorder else ():
        if gone.split("/", 1)[0] in experiments:
            del known[gone]  # a run folder removed (mlflow gc)
    chosen: list[str] = []
    if light_only:
        chosen = _newest(index, experiments, request, clauses)
    else:
        paths = _paths(clauses, orders)
        found = []
        for rel in rels:
            entry = index.light_entry(rel)
            if not _view_ok(request.view, entry[2]):
                continue
            values = index.data_entry(rel, paths)
            if values is not None and sq.matches(values_getter(values), clauses):
                found.append((rel, values))
        ordered = sq.order_runs(found, lambda item: values_getter(item[1]), orders)
        chosen = [rel for rel, _ in ordered[: request.max_results]]
    index.save()
    return _fresh(store, experiments, chosen)


def _newest(index: RunIndex, experiments: dict[str, str], request: RunQuery,
            clauses: tuple[sq.Clause, ...]) -> list[str]:  # fmt: skip
    """Newest first, stopping at max_results matches: only the runs visited are checked."""
    for _ in range(2):
        chosen = []
        for rel in index.natural_order():
            if rel.split("/", 1)[0] not in experiments:
                continue
            entry = index.light_entry(rel)
            if index.reorder:
                break  # a start time changed under us: order again, once
            if _view_ok(request.view, entry[2]) and sq.matches(_light_getter(entry), clauses):
                chosen.append(rel)
                if len(chosen) >= request.max_results:
                    break
        if not index.reorder:
            break
    return chosen


def _light_getter(entry: Light) -> sq.Getter:
    values = {"start_time": entry[1], "lifecycle_stage": entry[2], "status": entry[3]}
    return lambda kind, key: values.get(key)


def _fresh(store: FileStore, experiments: dict[str, str], rels: list[str]) -> list[RunRecord]:
    """The chosen runs, read from the store itself (what is shown is never the index's copy)."""
    records = []
    for rel in rels:
        try:
            run_dir = Path(store.root, rel)
            records.append(
                store._record(run_dir, experiments[rel.split("/", 1)[0]], full=True, artifacts=False)
            )
        except DamagedRecord as error:
            warn(f"skipping run: {error.message}")
    return records
