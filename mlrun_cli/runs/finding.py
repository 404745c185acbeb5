"""Finding runs (`runs list`) and deleting or restoring them: only tracking and ownership, none of
the run machinery, so that listing stays quick."""

from __future__ import annotations

from mlrun_cli.app.reaper import reap_orphans
from mlrun_cli.errors import TrackingError
from mlrun_cli.tracking import get_tracker, resolve_tracking_uri
from mlrun_cli.tracking.base import RunQuery, RunRecord


def list_runs(
    tracking_uri: str | None, query: RunQuery, experiment_name: str | None = None
) -> list[RunRecord]:
    """Runs by MLflow's search grammar, in one experiment (by name) or in all of them."""
    from dataclasses import replace

    from mlrun_cli.tracking.search.runs import run_query

    reap_orphans()
    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    if experiment_name is not None:
        experiment = tracker.get_experiment_by_name(experiment_name)
        if experiment is None:
            raise TrackingError(f"no experiment named {experiment_name!r} in {tracker.uri}")
        query = replace(query, experiment_ids=(experiment.experiment_id,))
    return run_query(tracker, query)


def set_run_deleted(tracking_uri: str | None, run_id: str, deleted: bool) -> RunRecord:
    """`runs delete` / `runs restore`: the run's lifecycle stage, as MLflow's; the run as it is now."""
    from mlrun_cli.tracking.search.runs import set_deleted

    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    tracker.get_run(run_id)  # an unknown run is the store's clear error, not a half-done change
    set_deleted(tracker, run_id, deleted)
    return tracker.get_run(run_id)


def lineage(record: RunRecord) -> dict[str, object]:
    """Where the run stands among others, from its tags, only what it has: the fingerprint and its
    inputs (`--needed`), which attempt it is (`--retries`), its sweep or its points."""
    import json

    from mlrun_cli.shared import tags

    found: dict[str, object] = {}
    for name, key in (
        ("fingerprint", tags.FINGERPRINT),
        ("attempt", tags.ATTEMPT),
        ("retry_of", tags.RETRY_OF),
        ("sweep_parent", tags.PARENT_RUN_ID),
        ("sweep_point", tags.SWEEP_POINT),
        ("sweep_points", tags.SWEEP),
    ):
        if key in record.tags:
            found[name] = record.tags[key]
    inputs = tags.joined_value(record.tags, tags.FINGERPRINT_INPUTS)  # long ones are split
    if inputs is not None:
        try:
            found["fingerprint_inputs"] = json.loads(inputs)
        except ValueError:  # cut at the tag length limit, or written by hand: shown as it is
            found["fingerprint_inputs"] = inputs
    return found
