"""mlrun's search grammar against MLflow's own: every filter below is accepted or refused by both.

MLflow's verdict is `SearchUtils.parse_search_filter` and then, for each condition, the comparator
check its stores make when they evaluate it (`_does_run_match_clause` on one run that has a metric,
a param, a tag and a dataset input): `params.a == 'x'` parses, but no MLflow search takes it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.search.grammar import Clause, FilterError, parse_filter, parse_order_by

pytestmark = pytest.mark.mlflow

VERDICT = """
import json, sys
from mlflow.entities import (Dataset, DatasetInput, InputTag, Metric, Param, Run, RunData, RunInfo,
                             RunInputs, RunTag)
from mlflow.exceptions import MlflowException
from mlflow.utils.search_utils import SearchUtils
info = RunInfo("r", "0", "me", "FINISHED", 1, 2, "active", artifact_uri="x", run_name="n")
data = RunData([Metric("a", 1.0, 1, 0)], [Param("a", "x")], [RunTag("t", "x")])
inputs = RunInputs([DatasetInput(Dataset("d", "g", "local", "s"), [InputTag("mlflow.data.context", "c")])])
run = Run(info, data, inputs)
out = []
for text in json.loads(sys.stdin.read()):
    try:
        for clause in SearchUtils.parse_search_filter(text):
            SearchUtils._does_run_match_clause(run, clause)
        out.append(True)
    except MlflowException:
        out.append(False)
print(json.dumps(out))
"""

FILTERS = [
    "",
    "  ",
    "metrics.rmse < 1",
    "METRICS.rmse < 1",
    "Metrics.rmse < 1",
    "metric.rmse < 1",
    "params.a == 'x'",
    "params.a = 'x'",
    "params.a <> 'x'",
    "metrics.a == 1",
    "'it''s'",
    "params.a = 'it''s'",
    "params.a = 'it\\'s'",
    'params.a = "x"',
    "params.a = x",
    "datasets.name = 'x'",
    "dataset.digest IN ('a')",
    "dataset.context = 'train'",
    "dataset.foo = 'x'",
    "datasets.name LIKE 'x%'",
    "dataset.name NOT IN ('a', 'b')",
    "dataset.name < 'a'",
    "dataset.name = 1",
    "metrics.rmse < 1 and",
    "metrics.rmse < 1 AND",
    "and metrics.rmse < 1",
    "metrics.a < 1 and and metrics.b < 2",
    "and",
    "metrics.a < 1 or metrics.b < 2",
    "metrics.a < 1 metrics.b < 2",
    "metrics.a < 1; metrics.b < 2",
    "metrics.a < 1;",
    "metrics.a < -1",
    "metrics.a < +1",
    "metrics.a < 1e3",
    "metrics.a < .5",
    "metrics.a < 5.",
    "metrics.a < '1'",
    "metrics.a LIKE 1",
    "params.a < 'x'",
    "params.a LIKE 'x%'",
    "params.a like 'x%'",
    "params.a ilike 'x%'",
    "params.a IS NULL",
    "params.a is null",
    "params.a IS NOT NULL",
    "metrics.a IS NULL",
    "status IS NULL",
    "tags.t IS NOT NULL",
    "params.a = 1",
    "tags.`a b` = 'x'",
    "tags.\"a b\" = 'x'",
    "tags.'a b' = 'x'",
    "`tags`.a = 'x'",
    "tags.a.b = 'x'",
    "tags.mlflow.parentRunId = 'x'",
    "run_id IN ('a', 'b')",
    "run_id in ('a')",
    "run_id IN ('a',)",
    "run_id IN ()",
    "run_id IN ('a' 'b')",
    "run_id NOT IN ('a')",
    "run_id not in ('a')",
    "status IN ('FAILED')",
    "attributes.status IN ('FAILED')",
    "attributes.run_id IN ('a')",
    "attr.status = 'x'",
    "run.status = 'x'",
    "attribute.status = 'x'",
    "attributes.colour = 'x'",
    "created > 1",
    "Created > 1",
    "`Run Name` = 'x'",
    "`run name` = 'x'",
    "\"Run Name\" = 'x'",
    "start_time > 1.5",
    "start_time > '1'",
    "start_time LIKE 1",
    "run_name = 'x'",
    "run_name > 'x'",
    "lifecycle_stage = 'active'",
    "experiment_id = '0'",
    "artifact_uri = 'x'",
    "user_id = 'x'",
    "end_time < 5",
    "metrics.a<1",
    "metrics.a < 1 AND params.b='x'",
    "tags.t = 'open",
    "(metrics.a < 1)",
    "metrics.a < 1 and (params.b = 'x')",
    "params.a = 'x' -- c",
    "params.a = 'x' /* c */",
    "metrics.a != 1",
    "metrics.a >= 1 and metrics.a <= 2",
    "params.a = ''",
    "tags.t LIKE '%'",
    "params.`a` = 'x'",
    "param.a = 'x'",
    "parameter.a = 'x'",
    "parameters.a = 'x'",
    "tag.a = 'x'",
    "params.a = 'x' and",
    "metrics.a < 1 AND metrics.b",
    "metrics.a",
    "metrics.a <",
    "metrics. = 1",
    "metrics.`` < 1",
    "1 < metrics.a",
    "metrics.a = 1 = 2",
    "params.a = 'x' and params.b = \"y\"",
    "params.a = 'x'\nand params.b = 'y'",
    "params.a =\t'x'",
    "metrics.a < 0x10",
    "metrics.a < 1_000",
    "metrics.a < NaN",
    "metrics.a < inf",
    "params.a <> 'x'",
    "run_id = ('a')",
    "run_id IN ('it''s')",
    'run_id IN ("a")',
    "run_id IN (1)",
    "run_id IN 'a'",
    "params.a IN ('x')",
    "metrics.a IN ('x')",
    "params.a = `x`",
    "tags.`a.b` = 'x'",
    "`tags.x` = 'a'",
    "params.a IS  NOT  NULL",
    "metrics.a < -.5",
    "metrics.a < 1E5",
    "metrics.a < 1e+5",
    "params.a = 'x' AND",
    "params.a = 'x' AnD params.b = 'y'",
    "metrics.a =< 1",
    "metrics.a => 1",
    "metrics.a ~ 1",
]


def _accepted(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except FilterError:
        return False
    return True


def _differences(
    mlflow_python: Path, verdict: str, texts: list[str], parse: Callable[[str], object], least: int
) -> list[tuple[str, bool]]:
    """(text, MLflow's verdict) for each text where mlrun's parse decides otherwise."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run(
        [str(mlflow_python), "-c", verdict], input=json.dumps(texts), env=env, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    mlflow = json.loads(out.stdout.strip().splitlines()[-1])
    assert least < sum(mlflow) < len(texts) - least  # both kinds, many of each
    return [(text, ok) for text, ok in zip(texts, mlflow, strict=True) if _accepted(parse, text) != ok]


def test_mlrun_accepts_and_refuses_what_mlflow_does(mlflow_python: Path) -> None:
    assert _differences(mlflow_python, VERDICT, FILTERS, parse_filter, 30) == []


# MLflow's verdict on an order-by: it parses, and a store can sort a run by it (a dataset parses,
# then fails in every store's sort).
ORDER_VERDICT = """
import json, sys
from mlflow.entities import Run, RunData, RunInfo
from mlflow.exceptions import MlflowException
from mlflow.utils.search_utils import SearchUtils
run = Run(RunInfo("r", "0", "me", "FINISHED", 1, 2, "active", artifact_uri="x", run_name="n"), RunData())
out = []
for text in json.loads(sys.stdin.read()):
    try:
        SearchUtils._get_value_for_sort(run, *SearchUtils.parse_order_by_for_search_runs(text))
        out.append(True)
    except MlflowException:
        out.append(False)
print(json.dumps(out))
"""
ORDERS = [
    "metrics.rmse", "metrics.rmse ASC", "metrics.rmse DESC", "metrics.rmse desc", "params.a",
    "tags.t", "start_time", "attributes.start_time DESC", "created", "Created", "end_time",
    "run_id", "run_name", "`Run Name`", "status", "user_id", "artifact_uri", "attribute.status",
    "experiment_id", "attributes.experiment_id", "lifecycle_stage", "attributes.lifecycle_stage",
    "attributes.colour", "datasets.name", "metrics.rmse UP", "metrics.rmse ASC DESC", "",
    "metrics.`a b`", "metrics.a, metrics.b",
]  # fmt: skip


def test_order_by_is_accepted_and_refused_as_mlflow_does(mlflow_python: Path) -> None:
    assert _differences(mlflow_python, ORDER_VERDICT, ORDERS, parse_order_by, 5) == []


def test_values_are_taken_as_mlflow_takes_them() -> None:
    assert parse_filter("params.a = 'it''s' and tags.b = \"x\" and") == (
        Clause("param", "a", "=", "it''s"),  # MLflow does not unescape: neither does mlrun
        Clause("tag", "b", "=", "x"),
    )
    assert parse_filter("run_id IN ('a' 'b', 'c',) datasets.name LIKE 'ir%' dataset.digest IN ('d')") == (
        Clause("attribute", "run_id", "IN", ("ab", "c")),  # a Python tuple, as MLflow reads the list
        Clause("dataset", "name", "LIKE", "ir%"),
        Clause("dataset", "digest", "IN", ("d",)),
    )
