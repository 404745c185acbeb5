"""`--early-stop median|asha`: while a sweep's points run, read their metric histories from the
store and stop the ones a rule (`stopping.py`) marks as losing.

A thread of the sweep's own, beside its workers: every POLL_S it reads, through the tracker's
`metric_history` hook, the objective's history of every point that has a run and has not been
read to its end, asks the rule, and stops a losing point through the part of the sweep that runs
it (`Points`: `SweepBackend.stop_point` for worker threads, `BatchSweep.stop_point` through the
engine's watcher for a batch; the backend's cancel either way, no backend named), which ends its
run KILLED and frees its slot for the next point; retries never try a KILLED run again. Once a stopped
point's run has ended KILLED, it gets the tag `mlrun.early_stopped` (the rule, step, value,
threshold). A history that cannot be read (a damaged file, a server that did not answer) is
skipped for that tick, with one warning per point: early stopping never fails a sweep.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from mlrun_cli.runs.sweeps.jobs import SweepBackend
from mlrun_cli.runs.sweeps.result import PointResult
from mlrun_cli.runs.sweeps.stopping import (
    Decision,
    EarlyStopOptions,
    asha_decision,
    median_decision,
    rungs,
    value_at,
)
from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunStatus, Tracker, metric_history

if TYPE_CHECKING:
    from mlrun_cli.runs.sweeps.batch import BatchSweep
    from mlrun_cli.runs.sweeps.plan import SweepPlan

POLL_S = 0.5
"""How often the histories are read: a losing point runs on at most this long past its rung."""


class Points(Protocol):
    """What the stopper needs of the part of the sweep that runs the points."""

    def run_id_of(self, index: int) -> str | None:
        """The run of the point's job (its latest attempt), once it has one."""

    def stop_point(self, run_id: str, reason: str) -> None:
        """Cancel the point's job; its run to end KILLED with `reason` (unless it finished)."""

    def stopping_all(self) -> bool:
        """Whether the whole sweep is being cancelled (nothing to judge then)."""


class WorkerPoints:
    """The points run by worker threads, one job each, through the sweep's backend view."""

    def __init__(self, backend: SweepBackend, run_names: Sequence[str]) -> None:
        self.backend = backend
        self.run_names = run_names

    def run_id_of(self, index: int) -> str | None:
        return self.backend.run_ids.get(self.run_names[index])

    def stop_point(self, run_id: str, reason: str) -> None:
        self.backend.stop_point(run_id, reason)

    def stopping_all(self) -> bool:
        return self.backend.cancelled.is_set()


class BatchPoints:
    """The points of a batched sweep (runs/sweeps/batch.py), stopped through the engine's watcher."""

    def __init__(self, sweep: BatchSweep) -> None:
        self.sweep = sweep

    def run_id_of(self, index: int) -> str | None:
        return self.sweep.results[index].run_id

    def stop_point(self, run_id: str, reason: str) -> None:
        self.sweep.stop_point(run_id, reason)

    def stopping_all(self) -> bool:
        return self.sweep.signum is not None


class EarlyStopper:
    def __init__(
        self,
        options: EarlyStopOptions,
        objective: tuple[str, str],
        tracker: Tracker,
        points: Points,
        results: list[PointResult],
    ) -> None:
        self.options = options
        self.metric, self.goal = objective
        self.tracker = tracker
        self.points = points
        self.results = results
        self.histories: dict[int, list[tuple[int, float]]] = {}
        self.decisions: dict[int, Decision] = {}
        self.rung_values: dict[int, dict[int, float]] = {}
        """ASHA: rung -> {point index: its value there}, in the order the points reached it."""
        self._judged_run: dict[int, str] = {}
        """Point -> the run (attempt) its history, rungs and end are of; a retry starts afresh."""
        self._read_to_end: set[int] = set()
        self._warned: set[int] = set()
        self._objective_checked = False
        """Once a point has logged the objective, or been warned about it: no more checking."""
        self._tagged: set[int] = set()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlrun-sweep-early-stop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """After the workers: one last look (the ended points' tags), then no more."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self.tick()
        except Exception as error:  # never fatal: the sweep's own end is recorded all the same
            sys.stderr.write(f"mlrun: warning: early stopping's last look failed: {error}\n")

    @property
    def stopped(self) -> int:
        return sum(r.early_stopped is not None for r in self.results)

    def _loop(self) -> None:
        while not self._closing.wait(POLL_S):
            try:
                self.tick()
            except Exception as error:  # never fatal: the points run on as in a plain sweep
                sys.stderr.write(f"mlrun: warning: early stopping skipped a round: {error}\n")

    def tick(self) -> None:
        read: dict[int, str] = {}  # point -> run id, of the points still running
        for result in self.results:
            index = result.index
            run_id = None if result.reused else self.points.run_id_of(index)
            if run_id is not None and self._judged_run.setdefault(index, run_id) != run_id:
                self._new_attempt(index, run_id)
            if run_id is None or index in self._read_to_end or self.points.stopping_all():
                continue
            ended = result.status not in (RunStatus.SCHEDULED, RunStatus.RUNNING)  # read once more then
            history = self._read(index, run_id)
            if history is None:
                continue
            self.histories[index] = history
            if not history and not self._objective_checked:
                self._check_objective_logged(run_id)
            elif history:
                self._objective_checked = True
            if ended:
                self._read_to_end.add(index)
            else:
                read[index] = run_id
        # ASHA: every rung a point reached since the last look is recorded first, so that the
        # points that got there in the same look are judged together, not in index order.
        reached = {index: self._record_rungs(index) for index in self.histories}
        for index, run_id in read.items():
            decision = self._decide(index, reached.get(index, []))
            if decision is not None and index not in self.decisions:
                self.decisions[index] = decision
                self.points.stop_point(run_id, decision.describe(self.metric))
        self._tag_ended()

    def _new_attempt(self, index: int, run_id: str) -> None:
        """A retry of a point that failed (a stopped point is never retried): judged on its own
        history, as the attempt that runs; the failed attempt's values are forgotten."""
        self._judged_run[index] = run_id
        self._read_to_end.discard(index)
        self._warned.discard(index)
        self.histories.pop(index, None)
        for recorded in self.rung_values.values():
            recorded.pop(index, None)

    def _read(self, index: int, run_id: str) -> list[tuple[int, float]] | None:
        try:
            history = metric_history(self.tracker, run_id, self.metric)
        except Exception as error:  # a damaged record or a store that did not answer: next time
            if index not in self._warned:
                self._warned.add(index)
                message = getattr(error, "message", str(error))
                sys.stderr.write(f"mlrun: warning: cannot read {self.metric} of point {index}: {message}\n")
            return None
        return [(step, value) for step, value in history if math.isfinite(value)]

    def _check_objective_logged(self, run_id: str) -> None:
        """A point that has logged another metric up to the first rung's step but never the
        objective: a misspelt --objective, with which the rule would do nothing. Said once."""
        from mlrun_cli.runs.sweeps.result import objective_not_logged

        try:
            logged = set(self.tracker.get_run(run_id).metrics)
            others = sorted(logged - {self.metric})
            far = any(
                max((step for step, _ in metric_history(self.tracker, run_id, name)), default=-1)
                >= self.options.min_steps
                for name in others
            )
        except Exception:  # unreadable now: the next look tries again
            return
        if far and self.metric not in logged:
            self._objective_checked = True
            warning = objective_not_logged(self.metric, logged, "point so far")
            sys.stderr.write(f"mlrun: warning: early stopping: {warning}\n")

    def _record_rungs(self, index: int) -> list[int]:
        """ASHA: the rungs the point reached since the last look, its value there recorded."""
        history = self.histories[index]
        if self.options.rule != "asha" or not history:
            return []
        new = []
        for rung in rungs(self.options, history[-1][0]):
            recorded = self.rung_values.setdefault(rung, {})
            value = value_at(history, rung)
            if index not in recorded and value is not None:
                recorded[index] = value
                new.append(rung)
        return new

    def _decide(self, index: int, new_rungs: list[int]) -> Decision | None:
        history = self.histories[index]
        if self.options.rule == "median":
            others = [h for i, h in self.histories.items() if i != index]
            return median_decision(history, others, self.goal, self.options)
        for rung in new_rungs:  # each rung judged once, in the look that first saw it reached
            recorded = self.rung_values[rung]
            factor = self.options.reduction_factor
            decision = asha_decision(rung, recorded[index], list(recorded.values()), self.goal, factor)
            if decision is not None:
                return decision
        return None

    def _tag_ended(self) -> None:
        for index, decision in self.decisions.items():
            result = self.results[index]
            ended = result.status not in (RunStatus.SCHEDULED, RunStatus.RUNNING)
            if index in self._tagged or not ended or result.run_id is None:
                continue
            self._tagged.add(index)
            if result.status != RunStatus.KILLED:  # it ended on its own before the cancel
                continue
            result.early_stopped = decision.to_dict()
            try:
                marks = {tags.EARLY_STOPPED: json.dumps(result.early_stopped)}
                self.tracker.log_batch(result.run_id, {}, marks)
            except Exception as error:  # the run is KILLED all the same; its error tag says why
                sys.stderr.write(f"mlrun: warning: cannot tag point {index} as stopped early: {error}\n")


def for_sweep(plan: SweepPlan, points: Points, results: list[PointResult]) -> EarlyStopper | None:
    """The sweep's stopper, started; None without --early-stop."""
    if plan.early_stop is None or plan.objective is None:
        return None
    from mlrun_cli.tracking import get_tracker

    stopper = EarlyStopper(
        plan.early_stop, plan.objective, get_tracker(plan.base.tracking_uri), points, results
    )
    stopper.start()
    return stopper
