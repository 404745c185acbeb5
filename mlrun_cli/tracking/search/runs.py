"""Searching runs and changing their lifecycle stage through any tracker: the tracker's own way when
it has one (the file store's index, the server's runs/search), else a scan of `search_runs`."""

from __future__ import annotations

from typing import Any

from mlrun_cli.errors import NotAvailableError, UsageError
from mlrun_cli.tracking.base import FULL_SCAN_LIMIT, RunQuery, RunRecord, Tracker, ViewType
from mlrun_cli.tracking.search import evaluate as se
from mlrun_cli.tracking.search import grammar as sq


def run_query(tracker: Tracker, query: RunQuery) -> list[RunRecord]:
    """The runs `query` asks for. Where mlrun evaluates the filter itself (the file store, a plugin
    with only `search_runs`), mlrun's parser judges it (exit 2, pointing at the column); a server or
    MLflow's client gets it untouched and judges it itself (its refusal is exit 2 too), so whatever
    that MLflow accepts works."""
    own = getattr(tracker, "query_runs", None)
    if callable(own):
        found: list[RunRecord] = own(query)
        return found
    return scan_query(tracker, query)


def scan_query(tracker: Tracker, query: RunQuery) -> list[RunRecord]:
    """Every run `search_runs` gives, filtered and ordered here (a plugin without its own search)."""
    clauses = sq.parse_filter(query.filter)
    orders = [sq.parse_order_by(text) for text in query.order_by]
    if query.view is not ViewType.ACTIVE_ONLY:
        raise NotAvailableError(f"{tracker.uri} can list only active runs")
    ids = list(query.experiment_ids) if query.experiment_ids is not None else None
    runs = [r for r in tracker.search_runs(ids, FULL_SCAN_LIMIT) if se.matches(getter(r), clauses)]
    return se.order_runs(runs, getter, orders)[: query.max_results]


def values_of(record: RunRecord) -> dict[str, dict[str, Any]]:
    """What a filter or order key can name: attributes, tags, params and metrics."""
    attributes = {
        "run_id": record.run_id, "run_name": record.run_name, "user_id": record.user_id,
        "status": record.status.name, "start_time": record.start_time_ms, "end_time": record.end_time_ms,
        "artifact_uri": record.artifact_uri, "experiment_id": record.experiment_id,
        "lifecycle_stage": record.lifecycle_stage,
    }  # fmt: skip
    return {
        "attribute": attributes,
        "tag": dict(record.tags),
        "param": dict(record.params),
        "metric": dict(record.metrics),
        "dataset": {},
    }  # fmt: skip (a record has no dataset inputs)


def getter(record: RunRecord) -> se.Getter:
    return values_getter(values_of(record))


def values_getter(values: dict[str, dict[str, Any]]) -> se.Getter:
    return lambda kind, key: values[kind].get(key)


def refused_search(where: str, message: str) -> UsageError:
    """A server's (or MLflow client's) refusal of a search (INVALID_PARAMETER_VALUE, a 400): the
    user's filter or order key, so exit 2 with the server's own words."""
    return UsageError(f"{where} refused the search: {message}", hint="see MLflow's search syntax")


def set_deleted(tracker: Tracker, run_id: str, deleted: bool) -> None:
    """Mark the run deleted, or active again (MLflow's `runs delete` / `runs restore`)."""
    own = getattr(tracker, "set_deleted", None)
    if not callable(own):
        raise NotAvailableError(f"{tracker.uri} cannot delete or restore runs")
    own(run_id, deleted)


def with_conditions(text: str, *, status: str | None = None, parent: str | None = None) -> str:
    """The filter with `--status` and `--parent` (a sweep's points) added as conditions of its own."""
    parts = [text.strip()] if text and text.strip() else []
    for key, value in (("attributes.status", status), ("tags.`mlflow.parentRunId`", parent)):
        if value is not None:
            if "'" in value:
                raise sq.FilterError(value, value.index("'"), "a quote cannot be part of it", what=key)
            parts.append(f"{key} = '{value}'")
    return " and ".join(parts)
