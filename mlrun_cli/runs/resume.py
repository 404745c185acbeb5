"""`--run-id`: record into a run that exists already (as `mlflow run --run-id`), not a new one.

The run was created by someone else (an orchestrator's `create_run`, a parent's
`mlflow.start_run()`) and is waiting for the project to fill it. Everything is checked while
planning, before the env is built: the run exists, has not ended (a FINISHED run stays as it
was recorded), no live mlrun runs it already, it is in the experiment asked for, and no
parameter would change (MLflow's parameters are immutable once logged).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports REFUSED at start-up: no tracking or error code until it is used
    from mlrun_cli.tracking.base import RunRecord, RunRef, Tracker

LEAVE_OUT = "leave out --run-id to record a new run"
# `mlflow run`'s (and mlflow.projects.run's) options that mlrun has no use for, with what to do instead.
REFUSED = {
    "--storage-dir": "mlrun downloads no 'path' parameters, so it has no storage dir: a 'path' "
    "parameter takes a local file or folder (download it first, e.g. 'mlflow artifacts download "
    "-u URI -d DIR'), and a 'uri' parameter passes the URI on to the command",
    "--docker-auth": "mlrun uses this machine's Docker credentials: run 'docker login REGISTRY' once "
    "(kept in ~/.docker/config.json)",
}


def run_to_continue(
    run_id: str,
    tracking_uri: str,
    experiment_name: str | None,
    experiment_id: str | None,
    values: Mapping[str, str],
) -> RunRecord:
    """The run `--run-id` names, checked; UsageError (exit 2) says why it cannot be continued."""
    from mlrun_cli.app.ownership import live_owner
    from mlrun_cli.errors import UsageError
    from mlrun_cli.tracking import NO_TRACKING, get_tracker

    if tracking_uri == NO_TRACKING:
        raise UsageError("--run-id records into a run of a tracking store; not with --no-track")
    record = get_tracker(tracking_uri).get_run(run_id)
    if record.status.is_terminal:
        raise UsageError(
            f"run {run_id} is {record.status.name}: only a run that has not ended can be continued",
            hint=LEAVE_OUT,
        )
    owner = live_owner(run_id)
    if owner is not None:
        raise UsageError(f"run {run_id} is being run by another mlrun (pid {owner.pid})", hint=LEAVE_OUT)
    if experiment_id is not None and experiment_id != record.experiment_id:
        raise UsageError(f"run {run_id} is in experiment {record.experiment_id}, not {experiment_id}")
    if experiment_name is not None and experiment_name != record.experiment_name:
        raise UsageError(f"run {run_id} is in experiment '{record.experiment_name}', not '{experiment_name}'")
    changed = sorted(k for k, v in values.items() if k in record.params and record.params[k] != v)
    if changed:
        shown = ", ".join(f"{k}={record.params[k]!r} (now {values[k]!r})" for k in changed)
        raise UsageError(f"run {run_id} has recorded {shown}; a logged parameter cannot change")
    return record


def continue_run(tracker: Tracker, record: RunRecord, tags: Mapping[str, str]) -> RunRef:
    """The run, looked at again (it may have ended since planning), with this run's tags set."""
    from mlrun_cli.errors import UsageError
    from mlrun_cli.tracking.base import RunRef

    again = tracker.get_run(record.run_id)
    if again.status.is_terminal:
        raise UsageError(f"run {record.run_id} ended ({again.status.name}) before mlrun could start it")
    tracker.log_batch(record.run_id, {}, tags)
    return RunRef(record.run_id, record.experiment_id, record.artifact_uri)
