"""The search grammar on its own: what it reads, where it points when it cannot, and a tracker
plugin without its own search (filtered and ordered by mlrun from what `search_runs` gives)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mlrun_cli.errors import NotAvailableError
from mlrun_cli.tracking.base import RunQuery, RunRecord, RunStatus, ViewType
from mlrun_cli.tracking.search.grammar import Clause, FilterError, OrderKey, parse_filter, parse_order_by
from mlrun_cli.tracking.search.runs import run_query, set_deleted, with_conditions


def test_what_the_grammar_reads() -> None:
    assert parse_filter("metrics.`val loss` <= .5 AND tags.\"a b\" ILIKE 'x%'") == (
        Clause("metric", "val loss", "<=", 0.5),
        Clause("tag", "a b", "ILIKE", "x%"),
    )
    assert parse_filter("created >= 5 and `Run Name` != 'x' and run_id NOT IN ('a', 'b')") == (
        Clause("attribute", "start_time", ">=", 5),
        Clause("attribute", "run_name", "!=", "x"),
        Clause("attribute", "run_id", "NOT IN", ("a", "b")),
    )
    assert parse_filter("params.p is not null") == (Clause("param", "p", "IS NOT NULL"),)
    assert parse_order_by("tags.`a b` desc") == OrderKey("tag", "a b", ascending=False)
    assert with_conditions("", status="FAILED", parent="abc") == (
        "attributes.status = 'FAILED' and tags.`mlflow.parentRunId` = 'abc'"
    )


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("metrics.rmse < 'a'", 16, "expected a number"),
        ("params.alpha = 0.1", 16, "expected a quoted string"),
        ("nope.x = '1'", 1, "unknown key type 'nope'"),
        ("attributes.colour = 'red'", 1, "unknown attribute 'colour'"),
        ("metrics.rmse > 1 and params.a", 30, "expected a comparison"),
        ("METRICS.rmse > 1", 1, "unknown key type 'METRICS'"),  # as MLflow: entity types are lower case
        ("params.a == 'x'", 10, "== cannot compare param 'a'"),  # MLflow parses it, its stores refuse it
        ("status IN ('FAILED')", 8, "only run_id and datasets' keys can be compared with IN"),
        ("metrics.rmse LIKE '1'", 14, "LIKE cannot compare metric 'rmse'"),
        ("tags.t = 'open", 10, "cannot read this"),
        ("run_id IN ('a', 1)", 11, "expected a list of quoted strings"),
        ("metrics.rmse < 1 and (params.a = 'x')", 22, "parentheses are not part"),
    ],
)
def test_a_bad_filter_points_at_its_column(text: str, column: int, problem: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filter(text)
    assert raised.value.exit_code == 2
    assert raised.value.message.startswith(f"--filter at column {column}: {problem}")
    assert raised.value.message.splitlines()[2].index("^") == column + 1  # under it, after the indent


def _record(name: str, start: int, **metrics: float) -> RunRecord:
    return RunRecord(name, "0", "Default", name, RunStatus.FINISHED, start, None, "", metrics=metrics)


class ListingOnly:
    """A tracker plugin with `search_runs` only (no query_runs, no set_deleted)."""

    uri = "listing://"

    def search_runs(self, experiment_ids: Sequence[str] | None, max_results: int) -> list[RunRecord]:
        return [
            _record("a", 1, rmse=0.5),
            _record("b", 2, rmse=0.9),
            _record("c", 3),
            _record("d", 4, rmse=0.1),
        ]


def test_a_plugin_without_its_own_search_is_filtered_and_ordered_here() -> None:
    tracker = ListingOnly()
    found = run_query(tracker, RunQuery(filter="metrics.rmse < 0.8", order_by=("metrics.rmse DESC",)))  # type: ignore[arg-type]
    assert [r.run_id for r in found] == ["a", "d"]
    found = run_query(tracker, RunQuery(order_by=("metrics.rmse",), max_results=3))  # type: ignore[arg-type]
    assert [r.run_id for r in found] == ["d", "a", "b"]  # without the metric: last
    with pytest.raises(NotAvailableError):
        run_query(tracker, RunQuery(view=ViewType.DELETED_ONLY))  # type: ignore[arg-type]
    with pytest.raises(NotAvailableError):
        set_deleted(tracker, "a", True)  # type: ignore[arg-type]
