"""The early-stopping rules of a sweep, as pure functions of the points' metric histories.

A history is what a point logged for the objective's metric, as (step, value) pairs in step order.
Two rules, as Google Vizier and Ray Tune describe them:

- **median**: a point that has reached step s (s >= min_steps) is stopped when its best value so far
  is worse than the median of the running averages (the mean of the values logged up to s) of the
  other points that reached s too, once at least `min_points` of them have.
- **asha** (asynchronous successive halving): rungs at min_steps * reduction_factor^k (below
  max_steps when given). A point reaching a rung is compared, once, with the values every point
  had at that rung so far (itself included): it goes on only if it is in their top
  1/reduction_factor (the threshold is that quantile, interpolated as numpy's default does); no
  waiting for a whole bracket, so the first points to reach a rung always go on.

Nothing here reads a store or stops a job: `early_stop.py` does, with these answers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass

from mlrun_cli.errors import UsageError

RULES = ("median", "asha")
History = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class EarlyStopOptions:
    rule: str
    min_steps: int = 1
    """No point is stopped before this step; ASHA's first rung."""
    reduction_factor: float = 3.0
    """ASHA: rungs grow by it, and the top 1/reduction_factor of a rung go on."""
    min_points: int = 3
    """median: how many other points must have reached the step before any is stopped."""
    max_steps: int | None = None
    """ASHA: no rung at or beyond it (a point that gets there has run to its end anyway)."""

    @classmethod
    def of(cls, given: Mapping[str, object]) -> EarlyStopOptions:
        """From the sweep file's `early_stop` mapping (the schema checked its types) and
        --early-stop; exit 2 for a rule or a value that cannot work."""
        rule = str(given.get("rule") or "")
        if rule not in RULES:
            raise UsageError(f"--early-stop: the rule is {' or '.join(RULES)}, not {rule!r}")
        options = cls(rule, **{k: v for k, v in given.items() if k != "rule"})  # type: ignore[arg-type]
        if options.min_steps < 1 or options.min_points < 1:
            raise UsageError("early_stop: min_steps and min_points are at least 1")
        if not options.reduction_factor > 1:
            raise UsageError("early_stop: reduction_factor must be more than 1")
        return options

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """Why a point is stopped: at `step`, its `value` was worse than `threshold`."""

    rule: str
    step: int
    value: float
    threshold: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self, metric: str) -> str:
        return (
            f"stopped early by the {self.rule} rule at step {self.step}: "
            f"{metric} {self.value:g} is worse than {self.threshold:g}"
        )


def worse(value: float, than: float, goal: str) -> bool:
    return value > than if goal == "min" else value < than


def up_to(history: History, step: int) -> list[float]:
    return [value for at, value in history if at <= step]


def running_average(history: History, step: int) -> float | None:
    values = up_to(history, step)
    return sum(values) / len(values) if values else None


def median_decision(
    history: History, others: Sequence[History], goal: str, options: EarlyStopOptions
) -> Decision | None:
    """The median stopping rule at the point's latest step; None: it goes on."""
    if not history:
        return None
    step = history[-1][0]
    if step < options.min_steps:
        return None
    peers = [running_average(other, step) for other in others if other and other[-1][0] >= step]
    averages = [a for a in peers if a is not None]
    if len(averages) < options.min_points:
        return None
    median = statistics.median(averages)
    values = up_to(history, step)
    best = min(values) if goal == "min" else max(values)
    return Decision("median", step, best, median) if worse(best, median, goal) else None


def rungs(options: EarlyStopOptions, last_step: int) -> Iterator[int]:
    """ASHA's rungs a point that logged up to `last_step` has reached, in order."""
    for k in range(64):
        rung = round(options.min_steps * options.reduction_factor**k)
        if rung > last_step or (options.max_steps is not None and rung >= options.max_steps):
            return
        yield rung


def value_at(history: History, step: int) -> float | None:
    """The value last logged at or before `step`."""
    values = up_to(history, step)
    return values[-1] if values else None


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1), interpolated linearly between the sorted values (numpy's default)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def asha_decision(
    rung: int, value: float, recorded: Sequence[float], goal: str, reduction_factor: float
) -> Decision | None:
    """A point's value at a rung against every value recorded at that rung so far (its own
    included): stopped when outside the top 1/reduction_factor."""
    if not recorded:
        return None
    keep = 1.0 / reduction_factor
    threshold = quantile(recorded, keep if goal == "min" else 1.0 - keep)
    return Decision("asha", rung, value, threshold) if worse(value, threshold, goal) else None
