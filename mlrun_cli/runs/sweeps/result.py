"""What a sweep made: each point's run and status, the best point, the parent's end record."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from mlrun_cli.runs import lifecycle
from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunStatus, Tracker
from mlrun_cli.tracking.outbox import Recorder


@dataclass
class PointResult:
    index: int
    point: dict[str, str]
    status: RunStatus = RunStatus.SCHEDULED
    """FINISHED, FAILED, KILLED; SCHEDULED for a point that never started."""
    run_id: str | None = None
    exit_code: int | None = None
    reused: bool = False
    error: str | None = None
    objective: float | None = None
    attempts: list[dict[str, object]] = field(default_factory=list)
    """With --retries: each attempt's number, run id, status and exit code."""
    early_stopped: dict[str, object] | None = None
    """--early-stop: the rule, step, value and threshold that stopped it (its run ended KILLED)."""

    @property
    def settled(self) -> bool:
        """Finished, or stopped early as asked: not a failure of the sweep."""
        return self.status == RunStatus.FINISHED or self.early_stopped is not None

    def __post_init__(self) -> None:
        self.status = RunStatus(self.status)  # given as its name ("FINISHED"): the one type still

    def to_dict(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "status": self.status.name}


@dataclass
class SweepResult:
    parent_run_id: str
    experiment_id: str
    tracking_uri: str
    points: list[PointResult]
    status: RunStatus = RunStatus.RUNNING
    interrupted_by: int | None = None
    best: PointResult | None = None
    objective: str | None = None
    created: list[str] = field(default_factory=list)
    detached: bool = False
    """Submitted and left running (`--detach`): `mlrun runs wait` settles it."""
    early_stop: dict[str, object] | None = None
    """--early-stop: the rule and its options."""
    warnings: list[str] = field(default_factory=list)
    """What the user should know of a sweep that ran (an objective no point logged)."""

    @property
    def stopped_early(self) -> int:
        return sum(p.early_stopped is not None for p in self.points)

    @property
    def exit_code(self) -> int:
        if self.interrupted_by is not None:
            return tags.exit_code_for_signal(self.interrupted_by)
        if self.detached:
            return 1 if any(p.status in ("FAILED", "KILLED") for p in self.points) else 0
        return 0 if all(p.settled for p in self.points) else 1

    def to_dict(self) -> dict[str, object]:
        return {
            "parent_run_id": self.parent_run_id,
            "experiment_id": self.experiment_id,
            "tracking_uri": self.tracking_uri,
            "status": self.status.name,
            "detached": self.detached,
            "exit_code": self.exit_code,
            "objective": self.objective,
            "best": self.best.to_dict() if self.best is not None else None,
            "early_stop": self.early_stop,
            "stopped_early": self.stopped_early,
            "children": [p.to_dict() for p in self.points],
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    running: int
    failed: int


def objective_not_logged(metric: str, logged: set[str], who: str) -> str:
    """The warning for an objective no point logged: what they did log, the likely one named."""
    from mlrun_cli.documents.hints import did_you_mean

    if not logged:
        return f"no {who} logged the objective metric '{metric}' (they logged no metric)"
    names, hint = ", ".join(sorted(logged)), did_you_mean(metric, logged)
    return f"no {who} logged the objective metric '{metric}'; they logged: {names}{hint}"


def settle_parent(
    objective: tuple[str, str] | None,
    tracker: Tracker,
    recorder: Recorder,
    outcome: SweepResult,
    scratch: Path,
) -> None:
    """The best point by the objective, which runs were reused, and the parent's end."""
    if objective is not None:
        metric, goal = objective
        outcome.objective = f"{metric}:{goal}"
        logged: set[str] = set()  # what the finished points logged, to name a misspelt objective
        finished_any = False
        for result in outcome.points:
            if result.status == "FINISHED" and result.run_id:
                finished_any = True
                with contextlib.suppress(Exception):  # a run that logged no metric has no value
                    metrics = tracker.get_run(result.run_id).metrics
                    logged |= set(metrics)
                    result.objective = metrics.get(metric)
        scored = [r for r in outcome.points if r.objective is not None]
        if scored:
            pick = min if goal == "min" else max
            outcome.best = pick(scored, key=lambda r: r.objective or 0.0)
        elif finished_any:
            outcome.warnings.append(objective_not_logged(metric, logged, "finished point"))
    reused = json.dumps([r.run_id for r in outcome.points if r.reused])
    end_tags = {tags.SWEEP_REUSED: reused[: tags.MAX_TAG_LENGTH]}
    best_params: dict[str, str] = {}
    if outcome.best is not None and objective is not None:
        end_tags |= {
            tags.SWEEP_OBJECTIVE: outcome.objective or "",
            tags.SWEEP_BEST_RUN: outcome.best.run_id or "",
            tags.SWEEP_BEST_VALUE: repr(outcome.best.objective),
            tags.SWEEP_BEST_PARAMS: json.dumps(outcome.best.point)[: tags.MAX_TAG_LENGTH],
        }
        # Also as the parent's own params and metric: its row in MLflow's runs table then shows
        # the best point in the columns that show the children's.
        best_params = dict(outcome.best.point)
        if outcome.best.objective is not None and math.isfinite(outcome.best.objective):
            recorder.log_metrics({objective[0]: outcome.best.objective}, lifecycle.now_ms())
    (scratch / "points.json").write_text(json.dumps([r.to_dict() for r in outcome.points], indent=2))
    recorder.log_artifact(scratch / "points.json", lifecycle.ARTIFACT_DIR)
    finished = all(r.settled for r in outcome.points)
    if outcome.early_stop is not None:
        end_tags[tags.SWEEP_EARLY_STOP] = json.dumps({**outcome.early_stop, "stopped": outcome.stopped_early})
    if outcome.interrupted_by is not None:
        outcome.status = RunStatus.KILLED
        end_tags[tags.ERROR] = f"cancelled by signal {outcome.interrupted_by}"
    else:
        outcome.status = RunStatus.FINISHED if finished else RunStatus.FAILED
    end_tags[tags.EXIT_CODE] = str(outcome.exit_code)
    recorder.log_batch(best_params, end_tags)
    recorder.end_run(outcome.status, lifecycle.now_ms())
