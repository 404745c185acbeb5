"""`runs list --filter/--order-by` against MLflow's own `search_runs`, side by side: the same runs,
logged by MLflow's client into a file store and into a real `mlflow server`, searched by MLflow
(in its side venv) and by mlrun (the file store through its index, the server over REST)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, Result

pytestmark = pytest.mark.mlflow

LOG = """
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
exp = client.create_experiment("search")
ids = {}
for spec in json.loads(sys.argv[2]):
    tags = dict(spec["tags"])
    if "parent" in spec:
        tags["mlflow.parentRunId"] = ids[spec["parent"]]
    run = client.create_run(exp, start_time=spec["start"], tags=tags, run_name=spec["name"])
    rid = run.info.run_id
    for key, value in spec["params"].items():
        client.log_param(rid, key, value)
    for key, value in spec["metrics"].items():
        client.log_metric(rid, key, value)
    if spec.get("datasets"):
        from mlflow.entities import Dataset, DatasetInput, InputTag
        client.log_inputs(rid, [
            DatasetInput(Dataset(name, digest, "local", "s"), [InputTag("mlflow.data.context", context)])
            for name, digest, context in spec["datasets"]])
    if spec["status"] != "RUNNING":
        client.set_terminated(rid, spec["status"], end_time=spec["start"] + 500)
    if spec.get("deleted"):
        client.delete_run(rid)
    ids[spec["name"]] = rid
print(json.dumps({"experiment": exp, "ids": ids}))
"""

SEARCH = """
import json, sys
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
out = []
for text, order, view, limit in json.loads(sys.argv[3]):
    try:
        runs = client.search_runs([sys.argv[2]], filter_string=text, order_by=order,
                                  run_view_type=getattr(ViewType, view), max_results=limit)
        out.append([r.info.run_name for r in runs])
    except MlflowException:
        out.append("error")
print(json.dumps(out))
"""


def _run(name: str, start: int, status: str = "FINISHED", **kw: object) -> dict[str, object]:
    return {"name": name, "start": start, "status": status, "tags": kw.get("tags", {}),
            "params": kw.get("params", {}), "metrics": kw.get("metrics", {}), **{
                k: v for k, v in kw.items() if k in ("parent", "deleted", "datasets")}}  # fmt: skip


RUNS = [
    _run("sweep", 1_700_000_000_000, tags={"team": "vision", "mlrun.sweep": "3"}),
    _run(
        "a",
        1_700_000_001_000,
        params={"alpha": "0.1"},
        metrics={"rmse": 0.5, "acc": 0.91},
        tags={"team": "vision"},
        parent="sweep",
        datasets=[("iris", "d1", "training"), ("iris-eval", "d2", "eval")],
    ),
    _run(
        "b",
        1_700_000_002_000,
        params={"alpha": "0.2"},
        metrics={"rmse": 0.9, "val loss": 0.4},
        tags={"team": "Vivid"},
        parent="sweep",
    ),
    _run(
        "c",
        1_700_000_003_000,
        "FAILED",
        params={"alpha": "0.1"},
        metrics={"rmse": 0.7},
        tags={"team": "nlp"},
        parent="sweep",
    ),
    _run(
        "d",
        1_700_000_003_000,
        "KILLED",
        params={"alpha": "0.3", "l1": "1"},
        metrics={"acc": 0.95},
        datasets=[("wine", "d3", "training")],
    ),
    _run("e", 1_700_000_004_000, params={"alpha": "0.1"}, metrics={"rmse": 0.2}, deleted=True),
    _run("f", 1_700_000_005_000, "RUNNING", metrics={"rmse": 0.8, "val loss": 0.6}, tags={"team": "vision"}),
    _run("r1", 1_700_000_006_000, params={"alpha": "0.25"}),
]

QUERIES: list[tuple[str, list[str], str, int]] = [
    ("", [], "ACTIVE_ONLY", 100),
    ("", [], "ACTIVE_ONLY", 3),
    ("metrics.rmse < 0.8", [], "ACTIVE_ONLY", 100),
    ("metrics.rmse < 0.8 and params.alpha = '0.1'", [], "ACTIVE_ONLY", 100),
    ("metrics.rmse <= 0.8 and metrics.rmse != 0.5", ["metrics.rmse DESC"], "ACTIVE_ONLY", 100),
    ("params.alpha != '0.1'", ["params.alpha"], "ACTIVE_ONLY", 100),
    ("tags.team LIKE 'Vi%'", [], "ACTIVE_ONLY", 100),
    ("tags.team ILIKE 'vi%'", ["tags.team DESC"], "ACTIVE_ONLY", 100),
    ("attributes.status = 'FAILED'", [], "ACTIVE_ONLY", 100),
    ("status != 'FINISHED'", ["attributes.run_name"], "ALL", 100),
    ("params.l1 IS NULL and params.alpha IS NOT NULL", [], "ACTIVE_ONLY", 100),
    ("metrics.`val loss` >= 0.4", ["metrics.`val loss` ASC"], "ACTIVE_ONLY", 100),
    ("run_name LIKE '_'", ["metrics.acc DESC", "start_time ASC"], "ACTIVE_ONLY", 100),
    ("attributes.start_time > 1700000002000", [], "ACTIVE_ONLY", 100),
    ("metrics.acc > 0.9 and tags.team = 'vision'", [], "ACTIVE_ONLY", 100),
    ("", ["metrics.rmse"], "DELETED_ONLY", 100),
    ("params.alpha = '0.1'", ["metrics.rmse"], "ALL", 2),
    ("tags.`mlflow.parentRunId` LIKE '%'", ["params.alpha DESC", "metrics.rmse"], "ACTIVE_ONLY", 100),
    ("datasets.name = 'iris'", [], "ACTIVE_ONLY", 100),
    ("dataset.digest IN ('d2', 'd3') and dataset.context = 'training'", [], "ACTIVE_ONLY", 100),
    ("dataset.name LIKE 'iris%' AND", [], "ACTIVE_ONLY", 100),  # a trailing AND, as MLflow
    ("dataset.name != 'wine' metrics.acc > 0", [], "ACTIVE_ONLY", 100),  # AND left out, as MLflow
]


def _mlflow(python: Path, script: str, *args: str) -> object:
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run([str(python), "-c", script, *args], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # MLflow prints links to a server's UI first


def _logged(python: Path, uri: str) -> dict[str, object]:
    logged = _mlflow(python, LOG, uri, json.dumps(RUNS))
    assert isinstance(logged, dict)
    return logged


def _mlrun_names(mlrun: Callable[..., Result], uri: str, query: tuple[str, list[str], str, int]) -> object:
    text, order, view, limit = query
    args = ["runs", "list", "--tracking-uri", uri, "--experiment", "search", "--json"]
    args += ["--filter", text, "--max-results", str(limit), *[a for o in order for a in ("--order-by", o)]]
    args += {"ACTIVE_ONLY": [], "DELETED_ONLY": ["--deleted"], "ALL": ["--all"]}[view]
    result = mlrun(*args)
    if result.returncode == 2:
        return "error"
    assert result.returncode == 0, result.stderr
    return [run["run_name"] for run in json.loads(result.stdout)]


@pytest.mark.parametrize("store", ["file", "server"])
def test_filters_and_orders_match_mlflow_search_runs(
    store: str, mlflow_python: Path, server: str, isolated: Path, mlrun: Callable[..., Result]
) -> None:
    uri = (isolated / "mlruns").as_uri() if store == "file" else server
    logged = _logged(mlflow_python, uri)
    queries = [list(q) for q in QUERIES]
    expected = _mlflow(mlflow_python, SEARCH, uri, str(logged["experiment"]), json.dumps(queries))
    assert isinstance(expected, list)
    assert "error" not in expected  # every query is one MLflow accepts
    assert len(expected[0]) == 7 and all(expected[1:])  # every query finds something
    for query, wanted in zip(QUERIES, expected, strict=True):
        assert _mlrun_names(mlrun, uri, query) == wanted, query
    parent = str(logged["ids"]["sweep"])  # type: ignore[index]
    result = mlrun(
        "runs", "list", "--tracking-uri", uri, "--parent", parent, "--status", "finished", "--json"
    )
    assert [run["run_name"] for run in json.loads(result.stdout)] == ["b", "a"]
    a = str(logged["ids"]["a"])  # type: ignore[index]
    assert mlrun("runs", "delete", a, "--tracking-uri", uri).returncode == 0  # as `mlflow runs delete`
    assert _mlflow(mlflow_python, SEARCH, uri, str(logged["experiment"]), json.dumps([QUERIES[-1]])) == [
        _mlrun_names(mlrun, uri, QUERIES[-1])
    ]
    assert _mlrun_names(mlrun, uri, ("run_name = 'a'", [], "DELETED_ONLY", 10)) == ["a"]
    assert mlrun("runs", "restore", a, "--tracking-uri", uri).returncode == 0
    assert _mlrun_names(mlrun, uri, ("run_name = 'a'", [], "ACTIVE_ONLY", 10)) == ["a"]


def test_a_bad_filter_is_exit_2_pointing_at_the_column(mlrun: Callable[..., Result]) -> None:
    result = mlrun("runs", "list", "--filter", "metrics.rmse < 0.8 or params.alpha = '0.1'")
    assert result.returncode == 2
    assert "--filter at column 20: OR is not supported" in result.stderr
    quoted, caret = result.stderr.splitlines()[1:3]
    assert caret.index("^") == quoted.index(" or ") + 1  # the caret is under the OR
    result = mlrun("runs", "list", "--order-by", "metrics.rmse sideways")
    assert result.returncode == 2 and "--order-by at column 14: expected ASC or DESC" in result.stderr


def test_a_server_judges_its_own_filter(server: str, mlrun: Callable[..., Result]) -> None:
    """The filter goes to the server untouched: what it refuses is exit 2 in its own words (not
    mlrun's parser's), and what MLflow's file store takes but the server cannot is the server's call."""
    result = mlrun("runs", "list", "--tracking-uri", server, "--filter", "params.alpha == '0.1'")
    assert result.returncode == 2, result.stderr
    assert "refused the search" in result.stderr and "Invalid comparator '=='" in result.stderr
    assert "--filter at column" not in result.stderr  # the server's message, not mlrun's parser's
    result = mlrun("runs", "list", "--tracking-uri", server, "--filter", "run_id = ('a')")
    assert result.returncode == 2 and "refused the search" in result.stderr  # SQL cannot bind a tuple
    local = mlrun("runs", "list", "--filter", "run_id = ('a')", "--json")
    assert (
        local.returncode == 0 and json.loads(local.stdout) == []
    )  # MLflow's file store: no run equals a list


MLFLOW_CLIENT = """
import json, sys
from mlflow.tracking import MlflowClient
from mlrun_cli.errors import MlrunError
from mlrun_cli.tracking.base import RunQuery
from mlrun_cli.tracking.mlflow_client import MlflowClientTracker
client = MlflowClient(sys.argv[1])
client.log_param(client.create_run("0").info.run_id, "alpha", "0.1")
tracker = MlflowClientTracker(sys.argv[1])
out = []
for text in ["params.alpha = '0.1' and", "params.alpha == '0.1'"]:
    try:
        out.append(len(tracker.query_runs(RunQuery(filter=text))))
    except MlrunError as error:
        out.append([error.exit_code, error.message])
print(json.dumps(out))
"""


def test_mlflows_client_judges_its_own_filter(mlflow_python: Path, tmp_path: Path) -> None:
    """A store reached through MLflow's client (here SQLite; mlrun imported from this checkout)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true"}
    script = [str(mlflow_python), "-c", MLFLOW_CLIENT, f"sqlite:///{tmp_path}/mlflow.db"]
    out = subprocess.run(script, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    found, refused = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == 1
    assert refused[0] == 2 and "refused the search" in refused[1] and "'=='" in refused[1]
