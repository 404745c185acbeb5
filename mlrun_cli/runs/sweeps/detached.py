"""A `--detach`ed sweep, followed later: `mlrun runs wait PARENT_ID` settles each child run as its
job ends (the same settle, and record_end, as a single detached run), then the parent: FINISHED
when every point finished, FAILED otherwise, the objective's best point logged; `mlrun runs
cancel PARENT_ID` cancels every child's job first, and the parent ends KILLED."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlrun_cli.errors import MlrunError, TrackingError, TrackingUnreachable
from mlrun_cli.runs import detached
from mlrun_cli.runs.sweeps.result import PointResult, SweepResult, settle_parent
from mlrun_cli.runs.sweeps.spec import parse_objective
from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunRecord, RunRef, RunStatus, Tracker, find_runs_by_tag
from mlrun_cli.tracking.outbox import Recorder

if TYPE_CHECKING:
    from mlrun_cli.backends.base import ExecutionBackend, JobRef


def is_detached_sweep(record: RunRecord) -> bool:
    return record.tags.get(tags.SWEEP_DETACHED) == "true"


def children(tracker: Tracker, parent: RunRecord) -> list[RunRecord]:
    """The parent's child runs, by point; of a point tried more than once, its latest attempt."""
    found = find_runs_by_tag(tracker, parent.experiment_id, tags.PARENT_RUN_ID, parent.run_id)
    latest: dict[int, RunRecord] = {}
    for child in sorted(found, key=lambda r: int(r.tags.get(tags.ATTEMPT, "1"))):
        latest[int(child.tags.get(tags.SWEEP_POINT, "-1"))] = child
    return [latest[i] for i in sorted(latest)]


def follow_sweep(
    tracker: Tracker, parent: RunRecord, *, timeout_s: float | None, cancel: bool = False
) -> RunRecord:
    """Settle every child, then the parent (once: another mlrun may have done it meanwhile)."""
    if tags.EXIT_CODE in parent.tags:
        return parent  # settled already
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    settled = []
    kids = children(tracker, parent)
    if cancel:
        _cancel_jobs(kids)
    with contextlib.ExitStack() as watching:
        _watch_all(kids, watching)
        for child in kids:
            if cancel and detached.pending_job(child) is not None:
                child = detached.wait_and_settle(tracker, child, timeout_s=120, stdout=io.BytesIO())
            elif detached.pending_job(child) is not None:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                # Each child's output is in its own console.log; here, one line per point.
                child = detached.wait_and_settle(tracker, child, timeout_s=left, stdout=io.BytesIO())
            point = child.tags.get(tags.SWEEP_POINT, "?")
            code = detached.exit_code_of(child)
            sys.stderr.write(
                f"mlrun: point {point}: {child.status.name} (run {child.run_id}, exit code {code})\n"
            )
            settled.append(child)
    with detached.run_lock(parent.run_id):
        fresh = tracker.get_run(parent.run_id)
        if tags.EXIT_CODE not in fresh.tags:
            _settle_parent(tracker, fresh, settled, cancelled=cancel)
    return tracker.get_run(parent.run_id)


def _watch_all(kids: list[RunRecord], watching: contextlib.ExitStack) -> None:
    """Every pending child's job registered with its engine's one watcher at once: one state
    query per poll answers for all of them, and each child waited on in turn is known at once."""
    from mlrun_cli.backends.watcher import watcher_for

    for child in kids:
        pending = detached.pending_job(child)
        if pending is not None:
            watching.enter_context(watcher_for(pending[0]).watch(pending[1]))


def _cancel_jobs(kids: list[RunRecord]) -> None:
    """Every point's job before any is waited for: cancelling one by one frees a slot of the
    cluster's `--max-parallel` limit, and a queued point would start in it before its turn came.
    Together (`cancel_many`): an engine holding them as one batch stops it at once."""
    jobs: dict[str, tuple[ExecutionBackend, list[JobRef]]] = {}
    for child in kids:
        pending = detached.pending_job(child)
        if pending is not None:
            jobs.setdefault(pending[0].NAME, (pending[0], []))[1].append(pending[1])
    for backend, refs in jobs.values():
        try:
            backend.cancel_many(refs)
        except MlrunError as error:  # some may have just ended; settling them tells
            sys.stderr.write(f"mlrun: warning: cannot cancel every point's job: {error.message}\n")


def _settle_parent(tracker: Tracker, parent: RunRecord, settled: list[RunRecord], *, cancelled: bool) -> None:
    # A child settled before this wait is the search's record, which may lack params (file store).
    settled = [c if c.params else tracker.get_run(c.run_id) for c in settled]
    swept = {k for c in settled for k in c.params} - set(parent.params)
    points = []
    for child in settled:
        result = PointResult(
            int(child.tags.get(tags.SWEEP_POINT, "-1")),
            {k: child.params[k] for k in sorted(swept) if k in child.params},
        )
        result.status, result.run_id = child.status, child.run_id
        result.exit_code = detached.exit_code_of(child)
        result.error = child.tags.get(tags.ERROR)
        points.append(result)
    reused_points = _reused_points(parent)
    for index, run_id in (reused_points or {}).items():
        try:
            params = tracker.get_run(run_id).params
        except TrackingUnreachable:
            raise  # the parent stays RUNNING; waiting again settles it
        except TrackingError as error:  # deleted since: it was done all the same
            sys.stderr.write(f"mlrun: warning: point {index}'s reused run {run_id}: {error.message}\n")
            params = {}
        point = {k: params[k] for k in sorted(swept) if k in params}
        points.append(PointResult(index, point, RunStatus.FINISHED, run_id, 0, reused=True))
    known = {p.index for p in points}
    missing = [i for i in range(_int(parent.tags.get(tags.SWEEP))) if i not in known]
    if missing and reused_points is None:
        sys.stderr.write(
            f"mlrun: warning: the sweep's list of reused runs ({tags.SWEEP_REUSED_POINTS}) is missing or "
            f"damaged; {len(missing)} point(s) without a run of their own are recorded as such\n"
        )
    for index in missing:  # its run was never created (the submission failed before it), or reused
        points.append(PointResult(index, {}, RunStatus.FAILED, error="no run was recorded for this point"))
    points.sort(key=lambda p: p.index)
    outcome = SweepResult(parent.run_id, parent.experiment_id, tracker.uri, points)
    outcome.created = [p.run_id for p in points if p.run_id and not p.reused]
    if cancelled:
        outcome.interrupted_by = signal.SIGTERM
    objective = parent.tags.get(tags.SWEEP_OBJECTIVE)
    recorder = Recorder(tracker, RunRef(parent.run_id, parent.experiment_id, parent.artifact_uri))
    scratch = Path(tempfile.mkdtemp(prefix="mlrun-sweep-"))
    try:
        settle_parent(parse_objective(objective) if objective else None, tracker, recorder, outcome, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _reused_points(parent: RunRecord) -> dict[int, str] | None:
    """{point index: run id} of the points `--needed` reused, or None when that list is missing or
    cannot be read (cut off by an older mlrun, a part lost): the parent is settled all the same."""
    text = tags.joined_value(parent.tags, tags.SWEEP_REUSED_POINTS)
    if text is None:
        return None
    try:
        found = json.loads(text)
        return {int(index): str(run_id) for index, run_id in found.items()}
    except (ValueError, TypeError, AttributeError):
        return None


def _int(text: str | None) -> int:
    return int(text) if text is not None and text.isdigit() else 0
