"""The early-stopping rules on their own: pure functions of metric histories (no store, no job)."""

from __future__ import annotations

import math

import pytest

from mlrun_cli.errors import UsageError
from mlrun_cli.runs.sweeps.stopping import (
    EarlyStopOptions,
    asha_decision,
    median_decision,
    quantile,
    rungs,
    running_average,
    value_at,
)


def curve(floor: float, rate: float, steps: int) -> list[tuple[int, float]]:
    return [(s, floor + (1 - floor) * math.exp(-rate * s)) for s in range(steps)]


MEDIAN = EarlyStopOptions("median", min_steps=3, min_points=2)


def test_median_stops_a_point_whose_best_is_worse_than_the_others_running_averages() -> None:
    others = [curve(0.1, 0.4, 10), curve(0.2, 0.4, 10), curve(0.3, 0.4, 10)]
    bad = curve(0.5, 0.05, 6)
    decision = median_decision(bad, others, "min", MEDIAN)
    assert decision is not None and decision.rule == "median" and decision.step == 5
    assert decision.value == min(v for _, v in bad)
    averages = sorted(running_average(o, 5) or 0.0 for o in others)
    assert decision.threshold == pytest.approx(averages[1])
    assert decision.value > decision.threshold


def test_median_lets_a_good_point_go_on_and_waits_for_grace_and_peers() -> None:
    others = [curve(0.3, 0.1, 10), curve(0.4, 0.1, 10)]
    assert median_decision(curve(0.1, 0.4, 6), others, "min", MEDIAN) is None
    bad = curve(0.9, 0.01, 6)
    assert median_decision(bad[:3], others, "min", MEDIAN) is None  # step 2 < min_steps
    assert median_decision(bad, others[:1], "min", MEDIAN) is None  # one peer < min_points
    short = curve(0.1, 0.1, 3)  # a peer that has not reached step 5 does not count
    assert median_decision(bad, [*others[:1], short], "min", MEDIAN) is None
    assert median_decision([], others, "min", MEDIAN) is None


def test_median_with_max_goal_stops_the_lowest() -> None:
    others = [[(s, float(s)) for s in range(8)] for _ in range(3)]
    decision = median_decision([(s, s / 10) for s in range(6)], others, "max", MEDIAN)
    assert decision is not None and decision.value == 0.5 and decision.threshold == 2.5


def test_rungs_grow_by_the_reduction_factor_and_stop_below_max_steps() -> None:
    options = EarlyStopOptions("asha", min_steps=3, reduction_factor=3)
    assert list(rungs(options, 2)) == []
    assert list(rungs(options, 26)) == [3, 9]
    assert list(rungs(options, 27)) == [3, 9, 27]
    assert list(rungs(EarlyStopOptions("asha", min_steps=3, max_steps=27), 100)) == [3, 9]
    assert list(rungs(EarlyStopOptions("asha", min_steps=1, reduction_factor=2), 8)) == [1, 2, 4, 8]


def test_asha_keeps_the_top_third_of_a_rung_and_the_first_arrivals() -> None:
    assert asha_decision(3, 0.9, [0.9], "min", 3) is None  # the first at a rung always goes on
    assert asha_decision(3, 0.5, [0.9, 0.5], "min", 3) is None
    stopped = asha_decision(3, 0.9, [0.5, 0.9], "min", 3)
    assert stopped is not None and (stopped.rule, stopped.step, stopped.value) == ("asha", 3, 0.9)
    assert stopped.threshold == pytest.approx(0.5 + 0.4 / 3)
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    kept = [v for v in values if asha_decision(9, v, values, "min", 3) is None]
    assert kept == [0.1, 0.2, 0.3]  # the top 1/3, the threshold interpolated at 0.3
    kept_max = [v for v in values if asha_decision(9, v, values, "max", 3) is None]
    assert kept_max == [0.5, 0.6, 0.7]


def test_quantile_and_value_at() -> None:
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile([1.0, 2.0], 1 / 3) == pytest.approx(4 / 3)
    assert quantile([5.0], 0.9) == 5.0
    assert value_at([(0, 1.0), (2, 0.5), (5, 0.2)], 4) == 0.5
    assert value_at([(3, 1.0)], 2) is None


def test_options_from_the_sweep_file_refuse_what_cannot_work() -> None:
    assert EarlyStopOptions.of({"rule": "asha", "min_steps": 3}).min_steps == 3
    bad_options: list[dict[str, object]] = [{"rule": "hyperband"}, {}]
    bad_options += [{"rule": "asha", "reduction_factor": 1}, {"rule": "median", "min_points": 0}]
    for bad in bad_options:
        with pytest.raises(UsageError):
            EarlyStopOptions.of(bad)
