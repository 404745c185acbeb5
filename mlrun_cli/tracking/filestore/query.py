"""A file store's run search, answered through its run index (`index.py`) as MLflow's
`search_runs` answers it: the filter, the view (active/deleted/all), the order, max_results.

Without an order key, runs are visited newest first (start times do not change) and the search
stops at max_results matches, so the default listing checks a few runs, not all of them. With one,
every run of the experiments is checked, but only for the keys the query names. Either way the
rows returned are read from the store itself, never from the index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrun_cli.tracking.base import RunQuery, RunRecord, ViewType
from mlrun_cli.tracking.filestore.index import RunIndex
from mlrun_cli.tracking.filestore.records import DamagedRecord, read_run, warn
from mlrun_cli.tracking.search import evaluate as se
from mlrun_cli.tracking.search import grammar as sq


def query(store_root: Path, experiments: dict[str, str], request: RunQuery) -> list[RunRecord]:
    """The runs of `experiments` (id -> name) of the file store at `store_root` that `request`
    asks for."""
    clauses = sq.parse_filter(request.filter)
    orders = [sq.parse_order_by(text) for text in request.order_by]
    index = RunIndex(store_root)
    try:
        chosen = _choose(index, experiments, request, clauses, orders)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        warn(f"the run index is damaged ({type(error).__name__}: {error}); rebuilding it")
        index.reset()
        chosen = _choose(index, experiments, request, clauses, orders)
    index.save()
    return _fresh(store_root, experiments, chosen)


def _view_ok(view: ViewType, lifecycle: str) -> bool:
    if not lifecycle:
        return False  # not a run, or a damaged one
    return view is ViewType.ALL or (lifecycle == "deleted") == (view is ViewType.DELETED_ONLY)


def _getter(index: RunIndex, rel: str) -> se.Getter:
    """The run's values, each looked up (and its file checked) once, and only when asked for."""
    cache: dict[tuple[str, str], Any] = {}

    def get(kind: str, key: str) -> Any:
        if (kind, key) not in cache:
            cache[kind, key] = index.value(rel, kind, key)
        return cache[kind, key]

    return get


def _choose(index: RunIndex, experiments: dict[str, str], request: RunQuery,
            clauses: tuple[sq.Clause, ...], orders: list[sq.OrderKey]) -> list[str]:  # fmt: skip
    rels = list(index.run_dirs(sorted(experiments)))
    known = index.light["entries"]
    for rel in rels:
        if rel not in known:
            index.light_entry(rel)  # a new run: its start time places it
    for gone in set(known) - set(rels) if index.reorder else ():
        if gone.split("/", 1)[0] in experiments:
            del known[gone]  # a run folder removed (mlflow gc)
    if not orders:
        return _newest(index, experiments, request, clauses)
    found = []
    for rel in rels:
        if _view_ok(request.view, index.light_entry(rel)[2]):
            get = _getter(index, rel)
            if se.matches(get, clauses):
                found.append((rel, get))
    ordered = se.order_runs(found, lambda item: item[1], orders)
    # The runs seen here may be new or moved in time: the saved newest-first order must take
    # them in now, or the next plain listing trusts an order that lacks them.
    index.natural_order()
    return [rel for rel, _ in ordered[: request.max_results]]


def _newest(index: RunIndex, experiments: dict[str, str], request: RunQuery,
            clauses: tuple[sq.Clause, ...]) -> list[str]:  # fmt: skip
    """Newest first, stopping at max_results matches: only the runs visited are checked."""
    chosen: list[str] = []
    for _ in range(2):
        chosen = []
        for rel in index.natural_order():
            if rel.split("/", 1)[0] not in experiments:
                continue
            entry = index.light_entry(rel)
            if index.reorder:
                break  # a start time changed under us: order again, once
            if _view_ok(request.view, entry[2]) and se.matches(_getter(index, rel), clauses):
                chosen.append(rel)
                if len(chosen) >= request.max_results:
                    break
        if not index.reorder:
            break
    return chosen


def _fresh(store_root: Path, experiments: dict[str, str], rels: list[str]) -> list[RunRecord]:
    """The chosen runs, read from the store itself (what is shown is never the index's copy)."""
    records = []
    for rel in rels:
        try:
            experiment = experiments[rel.split("/", 1)[0]]
            records.append(read_run(Path(store_root, rel), experiment, full=True, artifacts=False))
        except DamagedRecord as error:
            warn(f"skipping run: {error.message}")
    return records
