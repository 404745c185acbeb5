"""The outbox and tracking URIs, unit by unit, on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlrun_cli.shared.uri_credentials import redact_uri, split_credentials, store_key
from mlrun_cli.tracking import outbox
from mlrun_cli.tracking.base import RunRef, RunStatus
from mlrun_cli.tracking.rest.tracker import CHILD_HTTP_DEFAULTS, RestTracker
from tests.services.git_daemon import free_port


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://alice:s3cret@host:5000/x", "http://alice:***@host:5000/x"),
        ("https://TOKEN@host", "https://***@host"),
        ("http://al%40ce:p%3Aw@host", "http://al@ce:***@host"),
        ("http://host:5000", "http://host:5000"),
        ("/abs/mlruns", "/abs/mlruns"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_redact_uri(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_split_credentials_and_store_key() -> None:
    assert split_credentials("http://u:p%2Fw@h:1/") == ("http://h:1/", "u", "p/w")
    assert store_key("http://u:p@h:1/") == store_key("http://h:1") == "http://h:1"
    assert store_key("/a/mlruns") == store_key("file:///a/mlruns") == "file:///a/mlruns"


def test_credentials_authenticate_but_are_never_queued_nor_in_the_uri(isolated: Path) -> None:
    tracker = RestTracker(f"http://alice:s3cret@127.0.0.1:{free_port()}")
    assert tracker.uri.startswith("http://127.0.0.1:") and "s3cret" not in tracker.uri
    from mlrun_cli.tracking.rest.http_client import headers

    assert headers(tracker._auth)["Authorization"] == "Basic YWxpY2U6czNjcmV0"
    env = tracker.child_env(RunRef("r" * 32, "1", ""))
    assert env["MLFLOW_TRACKING_URI"] == tracker.uri
    assert (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]) == ("alice", "s3cret")
    assert all(env[name] == value for name, value in CHILD_HTTP_DEFAULTS.items() if name not in os.environ)
    recorder = outbox.Recorder(tracker, RunRef("r" * 32, "1", ""))
    recorder.log_batch({"a": "1"}, {})  # the port is closed: queued
    recorder.end_run(RunStatus.FINISHED, 1)
    text = (outbox.outbox_root() / ("r" * 32) / "ops.json").read_text()
    assert "s3cret" not in text and json.loads(text)["tracking_uri"] == tracker.uri


def test_a_run_goes_on_when_even_the_outbox_cannot_be_written(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outbox.outbox_root().parent.mkdir(parents=True, exist_ok=True)
    outbox.outbox_root().write_text("a file where the outbox folder should be")
    recorder = outbox.Recorder(RestTracker(f"http://127.0.0.1:{free_port()}"), RunRef("s" * 32, "1", ""))
    recorder.log_batch({}, {"t": "1"})
    recorder.end_run(RunStatus.FAILED, 1)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "cannot keep the records" in line]
    assert len(warnings) == 1


def test_a_run_flushes_only_its_own_store(isolated: Path) -> None:
    from mlrun_cli.tracking.filestore.store import FileStore

    mine, other = FileStore(isolated / "mine"), FileStore(isolated / "other")
    for store in (mine, other):
        store.check()
    runs = {store.uri: store.create_run("0", "r", "u", 1, {}) for store in (mine, other)}
    for uri, run in runs.items():
        folder = outbox.outbox_root() / run.run_id
        folder.mkdir(parents=True)
        op = {"op": "end_run", "status": "FINISHED", "end_time": 2}
        (folder / "ops.json").write_text(json.dumps({"tracking_uri": uri, "run_id": run.run_id, "ops": [op]}))
    [result] = outbox.flush(str(isolated / "mine"), budget_s=1.0)
    assert (result.run_id, result.sent, result.pending) == (runs[mine.uri].run_id, 1, 0)
    assert mine.get_run(runs[mine.uri].run_id).status is RunStatus.FINISHED
    assert other.get_run(runs[other.uri].run_id).status is RunStatus.RUNNING
    assert [p.name for p in outbox.pending_runs()] == [runs[other.uri].run_id]


def test_a_queued_metric_is_sent_later(isolated: Path) -> None:
    """A sweep's parent logs its best value as a metric: kept in the outbox like the rest."""
    from mlrun_cli.tracking.filestore.store import FileStore

    store = FileStore(isolated / "mlruns")
    store.check()
    run = store.create_run("0", "r", "u", 1, {})
    recorder = outbox.Recorder(RestTracker(f"http://127.0.0.1:{free_port()}"), run)
    recorder.log_metrics({"mse": 0.25}, 2)  # the port is closed: queued
    recorder.end_run(RunStatus.FINISHED, 3)
    document = json.loads((outbox.outbox_root() / run.run_id / "ops.json").read_text())
    (outbox.outbox_root() / run.run_id / "ops.json").write_text(
        json.dumps({**document, "tracking_uri": store.uri})
    )
    [result] = outbox.flush(store.uri, budget_s=1.0)
    assert (result.sent, result.pending, result.skipped) == (2, 0, 0)
    assert store.get_run(run.run_id).metrics == {"mse": 0.25}
