"""The run cache (`--needed`): a FINISHED run with the same fingerprint, in the same experiment,
in the target store, is reused instead of run again."""

from __future__ import annotations

from mlrun_cli import tags
from mlrun_cli.tracking import NO_TRACKING, get_tracker
from mlrun_cli.tracking.base import RunRecord, RunStatus, Tracker, find_runs_by_tag


def experiment_id_for(tracker: Tracker, name: str | None, experiment_id: str | None) -> str | None:
    """The experiment a run would record into, without creating it (None: it does not exist)."""
    if experiment_id is not None:
        return experiment_id
    if name is not None:
        found = tracker.get_experiment_by_name(name)
        return None if found is None else found.experiment_id
    return tracker.resolve_experiment(None, None).experiment_id


def done_run(tracker: Tracker, experiment_id: str | None, fingerprint: str) -> RunRecord | None:
    """The newest FINISHED run with this fingerprint, if any."""
    if experiment_id is None or tracker.uri == NO_TRACKING:
        return None
    runs = find_runs_by_tag(tracker, experiment_id, tags.FINGERPRINT, fingerprint)
    finished = [r for r in runs if r.status is RunStatus.FINISHED]
    return max(finished, key=lambda r: r.start_time_ms) if finished else None


def find_done(
    tracking_uri: str, experiment_name: str | None, experiment_id: str | None, fingerprint: str
) -> RunRecord | None:
    if tracking_uri == NO_TRACKING:
        return None
    tracker = get_tracker(tracking_uri)
    tracker.check()  # as the run would: a store that cannot be used is reported here
    return done_run(tracker, experiment_id_for(tracker, experiment_name, experiment_id), fingerprint)
