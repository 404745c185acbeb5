"""Evaluating a parsed search (`grammar.py`) over runs as MLflow's SearchUtils does: which runs
match the filter, and in which order. A dataset condition holds when any of the run's dataset
inputs satisfies it (as MLflow's file store); a run without dataset inputs matches none."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from mlrun_cli.tracking.search.grammar import Clause, OrderKey


def _like(value: str, pattern: str, flags: int = 0) -> bool:
    regex = re.escape(pattern).replace("%", ".*").replace("_", ".")
    regex = ("" if pattern.startswith("%") else "^") + regex + ("" if pattern.endswith("%") else "$")
    return re.match(regex, value, flags | re.DOTALL) is not None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
    "LIKE": lambda a, b: _like(a, b),
    "ILIKE": lambda a, b: _like(a, b, re.IGNORECASE),
    "IN": lambda a, b: a in b,
    "NOT IN": lambda a, b: a not in b,
}

Getter = Callable[[str, str], Any]
"""(kind, key) -> the run's value, or None when it has none; for a dataset key, the list of the
values of its dataset inputs."""


def matches(get: Getter, clauses: Sequence[Clause]) -> bool:
    for clause in clauses:
        value = get(clause.kind, clause.key)
        if clause.kind == "dataset":
            if not any(_COMPARE[clause.op](one, clause.value) for one in value or ()):
                return False
        elif clause.op in ("IS NULL", "IS NOT NULL"):
            if (value is None) != (clause.op == "IS NULL"):
                return False
        elif value is None or not _COMPARE[clause.op](value, clause.value):
            return False
    return True


def sort_key(get: Getter, order: OrderKey) -> tuple[bool, Any]:
    """As MLflow's SearchUtils: runs without the value (or NaN) last, whichever the direction."""
    value = get(order.kind, order.key)
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if missing:
        value = (1 if order.ascending else -1) * math.inf
    return (missing, value) if order.ascending else (not missing, value)


def order_runs(items: list[Any], getter: Callable[[Any], Getter], orders: Sequence[OrderKey]) -> list[Any]:
    """Newest first, then run id; then each order key, last first (stable sorts, as MLflow)."""
    items = sorted(
        items, key=lambda i: (-(getter(i)("attribute", "start_time") or 0), getter(i)("attribute", "run_id"))
    )
    for order in reversed(orders):
        items.sort(key=lambda i: sort_key(getter(i), order), reverse=not order.ascending)
    return items
