"""Run search and lifecycle over MLflow's REST API, and its runs read into RunRecords: the filter
and order keys go to the server's runs/search as they are (the server judges them: its
INVALID_PARAMETER_VALUE is exit 2 with its message), pages followed up to max_results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from mlrun_cli.errors import TrackingError
from mlrun_cli.tracking.base import RunQuery, RunRecord, RunStatus
from mlrun_cli.tracking.search.runs import refused_search

PAGE = 1000  # MLflow's servers cap one runs/search page (SEARCH_MAX_RESULTS_DEFAULT)


class RestApi(Protocol):
    """What a search needs of the REST tracker (`rest.py`): its calls, within their budget."""

    display: str

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]: ...

    def experiment_names(self) -> dict[str, str]: ...


def query(tracker: RestApi, request: RunQuery) -> list[RunRecord]:
    names = tracker.experiment_names()
    ids = list(request.experiment_ids) if request.experiment_ids is not None else list(names)
    body: dict[str, Any] = {
        "experiment_ids": ids,
        "filter": request.filter,
        "order_by": list(request.order_by),
        "run_view_type": request.view.name,
    }
    runs: list[dict[str, Any]] = []
    token = None
    while len(runs) < request.max_results:
        page = {**body, "max_results": min(PAGE, request.max_results - len(runs))}
        if token:
            page["page_token"] = token
        try:
            answer = tracker.request("POST", "runs/search", page)
        except TrackingError as error:  # the server judges the filter: a 400 (INVALID_PARAMETER_VALUE,
            if "failed (400): " not in error.message:  # or BAD_REQUEST) is the user's search
                raise
            raise refused_search(tracker.display, error.message.split("failed (400): ", 1)[1]) from None
        runs += answer.get("runs", [])
        token = answer.get("next_page_token")
        if not token:
            break
    return [run_record(tracker, run, names, full=False) for run in runs]


def set_deleted(tracker: RestApi, run_id: str, deleted: bool) -> None:
    tracker.request("POST", "runs/delete" if deleted else "runs/restore", {"run_id": run_id})


def recent(tracker: RestApi, experiment_ids: Sequence[str] | None, max_results: int) -> list[RunRecord]:
    names = tracker.experiment_names()
    body = {
        "experiment_ids": list(experiment_ids or names),
        "max_results": max_results,
        "order_by": ["attributes.start_time DESC"],
    }
    runs = tracker.request("POST", "runs/search", body).get("runs", [])
    return [run_record(tracker, run, names, full=False) for run in runs]


def by_tag(tracker: RestApi, experiment_id: str, key: str, value: str) -> list[RunRecord]:
    if '"' in value or "`" in key:
        raise TrackingError(f"cannot search {tracker.display} for the tag {key}={value!r}")
    body = {
        "experiment_ids": [experiment_id],
        "filter": f'tags.`{key}` = "{value}"',
        "max_results": 1000,
        "order_by": ["attributes.start_time DESC"],
        "run_view_type": "ACTIVE_ONLY",
    }
    runs = tracker.request("POST", "runs/search", body).get("runs", [])
    return [run_record(tracker, run, {}, full=False) for run in runs]


def run_record(
    tracker: RestApi, run: Mapping[str, Any], names: Mapping[str, str], *, full: bool
) -> RunRecord:
    """A run of the REST API as a RunRecord; `full`: with the mlrun/ artifacts listed (a request)."""
    info, data = run["info"], run.get("data", {})
    tags = {t["key"]: t.get("value", "") for t in data.get("tags", [])}
    artifacts: tuple[str, ...] = ()
    if full:
        listing = tracker.request("GET", "artifacts/list", query={"run_id": info["run_id"], "path": "mlrun"})
        artifacts = tuple(f["path"] for f in listing.get("files", []) if not f.get("is_dir"))
    return RunRecord(
        run_id=str(info["run_id"]),
        experiment_id=str(info["experiment_id"]),
        experiment_name=names.get(str(info["experiment_id"]), ""),
        run_name=str(info.get("run_name", "")),
        status=RunStatus[str(info.get("status", "RUNNING"))],
        start_time_ms=int(info.get("start_time", 0)),
        end_time_ms=int(info["end_time"]) if info.get("end_time") else None,
        artifact_uri=str(info.get("artifact_uri", "")),
        params={p["key"]: p.get("value", "") for p in data.get("params", [])},
        tags=tags,
        metrics={m["key"]: float(m["value"]) for m in data.get("metrics", [])},
        artifacts=artifacts,
        user_id=str(info.get("user_id", "")),
        lifecycle_stage=str(info.get("lifecycle_stage", "active")),
    )


def metric_history(tracker: RestApi, run_id: str, key: str) -> list[tuple[int, float]]:
    """metrics/get-history, every page: (step, value) of each value logged; an entry the server
    gives without a number is skipped."""
    history: list[tuple[int, float]] = []
    token = None
    while True:
        query = {"run_id": run_id, "metric_key": key, "max_results": str(25_000)}
        if token:
            query["page_token"] = token
        data = tracker.request("GET", "metrics/get-history", query=query)
        for metric in data.get("metrics", []):
            try:
                history.append((int(metric.get("step", 0)), float(metric["value"])))
            except (KeyError, TypeError, ValueError):
                continue
        token = data.get("next_page_token")
        if not token:
            return history
