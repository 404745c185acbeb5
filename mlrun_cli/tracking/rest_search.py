"""Run search and lifecycle over MLflow's REST API: the filter and order keys go to the server's
runs/search as they are (the server judges them: its INVALID_PARAMETER_VALUE is exit 2 with its
message), pages followed up to max_results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlrun_cli.errors import TrackingError
from mlrun_cli.tracking.base import RunQuery, RunRecord
from mlrun_cli.tracking.search import refused_search

if TYPE_CHECKING:
    from mlrun_cli.tracking.rest import RestTracker

PAGE = 1000  # MLflow's servers cap one runs/search page (SEARCH_MAX_RESULTS_DEFAULT)


def query(tracker: RestTracker, request: RunQuery) -> list[RunRecord]:
    names = tracker._experiment_names()
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
            answer = tracker._request("POST", "runs/search", page)
        except TrackingError as error:  # the server judges the filter: a 400 (INVALID_PARAMETER_VALUE,
            if "failed (400): " not in error.message:  # or BAD_REQUEST) is the user's search
                raise
            raise refused_search(tracker.display, error.message.split("failed (400): ", 1)[1]) from None
        runs += answer.get("runs", [])
        token = answer.get("next_page_token")
        if not token:
            break
    return [tracker._record(run, names, full=False) for run in runs]


def set_deleted(tracker: RestTracker, run_id: str, deleted: bool) -> None:
    tracker._request("POST", "runs/delete" if deleted else "runs/restore", {"run_id": run_id})
