"""The Tracker protocol: what every tracking backend (file store, REST server, plugin) provides."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

# Re-exported: plugins and callers take RunStatus from here; it lives on the ground, where
# backends find it without importing a tracker.
from mlrun_cli.shared.types import RunStatus as RunStatus


class ViewType(enum.Enum):
    """Which runs a search sees, by lifecycle stage (MLflow's ViewType)."""

    ACTIVE_ONLY = "active"
    DELETED_ONLY = "deleted"
    ALL = "all"


@dataclass(frozen=True)
class RunQuery:
    """A run search in MLflow's terms: filter and order-by in its search grammar
    (`tracking/search/grammar.py`); no experiment ids: every experiment."""

    experiment_ids: tuple[str, ...] | None = None
    filter: str = ""
    order_by: tuple[str, ...] = ()
    max_results: int = 100
    view: ViewType = ViewType.ACTIVE_ONLY


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str


@dataclass(frozen=True)
class RunRef:
    """Where a new run lives: enough to log to it and to hand it to the child."""

    run_id: str
    experiment_id: str
    artifact_uri: str


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    experiment_id: str
    experiment_name: str
    run_name: str
    status: RunStatus
    start_time_ms: int
    end_time_ms: int | None
    artifact_uri: str
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    artifacts: tuple[str, ...] = ()
    user_id: str = ""
    lifecycle_stage: str = "active"

    def to_dict(self) -> dict[str, object]:
        # A record without its start time (0) has no duration, not one of 56 years.
        duration = (
            (self.end_time_ms - self.start_time_ms) / 1000
            if self.end_time_ms and self.start_time_ms
            else None
        )
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "experiment_name": self.experiment_name,
            "run_name": self.run_name,
            "status": self.status.name,
            "start_time_ms": self.start_time_ms,
            "end_time_ms": self.end_time_ms,
            "duration_s": duration,
            "artifact_uri": self.artifact_uri,
            "params": dict(self.params),
            "tags": dict(self.tags),
            "metrics": dict(self.metrics),
            "artifacts": list(self.artifacts),
            "user_id": self.user_id,
            "lifecycle_stage": self.lifecycle_stage,
        }


@runtime_checkable
class Tracker(Protocol):
    """A tracking backend, selected by the tracking URI's scheme.

    Third-party backends register a factory `(uri: str) -> Tracker` under the entry-point group
    `mlrun_cli.tracking`, named by the scheme they serve.

    Two more methods are optional, found by `tracking/search/runs.py`: `query_runs(RunQuery)` (a search
    in MLflow's grammar; without it `search_runs` is scanned and filtered here) and
    `set_deleted(run_id, deleted)` (`runs delete/restore`; without it they are refused). So are
    `log_metrics(run_id, metrics, timestamp_ms)` and `metric_history(run_id, key)`, found by
    `log_metrics` and `metric_history` below.
    """

    uri: str

    def check(self) -> None:
        """Raise TrackingError when the store cannot be used (before any run is created)."""

    def resolve_experiment(self, name: str | None, experiment_id: str | None) -> Experiment:
        """The experiment by id, or by name (created when missing), or the default one."""

    def create_run(
        self, experiment_id: str, run_name: str, user: str, start_time_ms: int, tags: Mapping[str, str]
    ) -> RunRef:
        """Create a RUNNING run with its tags."""

    def log_batch(self, run_id: str, params: Mapping[str, str], tags: Mapping[str, str]) -> None:
        """Log parameters and set tags; parameters are immutable once logged."""

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        """Store a file under the run's artifacts, in folder `artifact_path`."""

    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        """Set the terminal status, overriding whatever the child recorded."""

    def child_env(self, run: RunRef) -> dict[str, str]:
        """Variables that make the child's own `mlflow.start_run()` join this run."""

    def search_runs(self, experiment_ids: Sequence[str] | None, max_results: int) -> list[RunRecord]:
        """Runs, newest first."""

    def get_run(self, run_id: str) -> RunRecord:
        """One run with its params, tags, latest metrics and artifact list."""

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The active experiment of that name, if any."""

    def search_runs_by_tag(self, experiment_id: str, key: str, value: str) -> list[RunRecord]:
        """Optional: the experiment's active (not deleted) runs whose tag `key` is `value`, newest
        first, found cheaply (a filter on the server). A tracker without it is searched through
        `search_runs` by `find_runs_by_tag` below."""
        return _scan_by_tag(self, experiment_id, key, value)


FULL_SCAN_LIMIT = 100_000


def _scan_by_tag(tracker: Tracker, experiment_id: str, key: str, value: str) -> list[RunRecord]:
    runs = tracker.search_runs([experiment_id], FULL_SCAN_LIMIT)
    return [run for run in runs if run.tags.get(key) == value]


def log_metrics(tracker: Tracker, run_id: str, metrics: Mapping[str, float], timestamp_ms: int) -> None:
    """Log metrics (step 0) with the tracker's optional `log_metrics`; a plugin written before it
    existed logs none (what mlrun logs as a metric, a sweep's best value, is in its tags too)."""
    own = getattr(tracker, "log_metrics", None)
    if callable(own) and metrics:
        own(run_id, metrics, timestamp_ms)


def metric_history(tracker: Tracker, run_id: str, key: str) -> list[tuple[int, float]]:
    """Every value the run logged for metric `key` as (step, value), in step order (an early-stopping
    sweep reads its points' curves), with the tracker's optional `metric_history`; a tracker
    without it has none to give (its points are never stopped early)."""
    own = getattr(tracker, "metric_history", None)
    if not callable(own):
        return []
    history: list[tuple[int, float]] = own(run_id, key)
    return sorted(history, key=lambda point: point[0])


def find_runs_by_tag(tracker: Tracker, experiment_id: str, key: str, value: str) -> list[RunRecord]:
    """Runs of the experiment tagged `key=value`: the tracker's own search when it has one (a
    plugin written before it existed need not), else every run of the experiment, filtered."""
    own = getattr(tracker, "search_runs_by_tag", None)
    if callable(own):
        found: list[RunRecord] = own(experiment_id, key, value)
        return found
    return _scan_by_tag(tracker, experiment_id, key, value)
