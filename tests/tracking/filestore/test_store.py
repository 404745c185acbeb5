from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from mlrun_cli.errors import TrackingError
from mlrun_cli.tracking import get_tracker, resolve_tracking_uri
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore


def test_new_store_has_mlflows_default_experiment_and_trash(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "mlruns")
    store.check()
    meta = yaml.safe_load((tmp_path / "mlruns" / "0" / "meta.yaml").read_text())
    assert meta["experiment_id"] == "0" and meta["name"] == "Default"
    assert meta["lifecycle_stage"] == "active"
    assert meta["artifact_location"] == (tmp_path / "mlruns" / "0").as_uri()
    assert (tmp_path / "mlruns" / ".trash").is_dir()


def test_run_layout_matches_mlflows_file_store(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "mlruns")
    store.check()
    exp = store.resolve_experiment("demo", None)
    assert exp.experiment_id.isdigit() and len(exp.experiment_id) == 18
    run = store.create_run(
        exp.experiment_id, "r1", "alice", 1700000000000, {"mlflow.runName": "r1", "a/b": "nested"}
    )
    run_dir = tmp_path / "mlruns" / exp.experiment_id / run.run_id
    for sub in ("metrics", "params", "tags", "artifacts"):
        assert (run_dir / sub).is_dir()
    meta = yaml.safe_load((run_dir / "meta.yaml").read_text())
    assert meta == {
        "artifact_uri": (run_dir / "artifacts").as_uri(),
        "end_time": None,
        "entry_point_name": "",
        "experiment_id": exp.experiment_id,
        "lifecycle_stage": "active",
        "run_id": run.run_id,
        "run_name": "r1",
        "source_name": "",
        "source_type": 4,
        "source_version": "",
        "start_time": 1700000000000,
        "status": 1,
        "tags": [],
        "user_id": "alice",
    }
    store.log_batch(run.run_id, {"lr": "0.01"}, {"t": "v"})
    assert (run_dir / "params" / "lr").read_bytes() == b"0.01"  # no trailing newline
    assert (run_dir / "tags" / "a" / "b").read_text() == "nested"
    store.end_run(run.run_id, RunStatus.FAILED, 1700000000500)
    meta = yaml.safe_load((run_dir / "meta.yaml").read_text())
    assert (meta["status"], meta["end_time"]) == (4, 1700000000500)
    record = store.get_run(run.run_id)
    assert record.status is RunStatus.FAILED and record.params == {"lr": "0.01"}
    assert record.experiment_name == "demo"


def test_parameters_are_immutable(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.check()
    run = store.create_run("0", "r", "u", 1, {})
    store.log_batch(run.run_id, {"a": "1"}, {})
    store.log_batch(run.run_id, {"a": "1"}, {})
    with pytest.raises(TrackingError, match="already logged with a different value"):
        store.log_batch(run.run_id, {"a": "2"}, {})


def test_latest_metric_is_mlflows_max_of_step_timestamp_value(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.check()
    run = store.create_run("0", "r", "u", 1, {})
    metric = tmp_path / "0" / run.run_id / "metrics" / "loss"
    metric.write_text("100 0.9 0\n300 0.7 1\n200 0.5 1\n")
    assert store.get_run(run.run_id).metrics == {"loss": 0.7}


def test_parallel_creation_of_one_experiment_name_makes_one_experiment(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.check()
    ids: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: ids.append(FileStore(tmp_path).resolve_experiment("shared", None).experiment_id)
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1 and len(ids) == 8


def test_unknown_experiment_and_run_are_clear_errors(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.check()
    with pytest.raises(TrackingError, match="no experiment with id '42'"):
        store.resolve_experiment(None, "42")
    with pytest.raises(TrackingError, match="no run with id 'abc'"):
        store.get_run("abc")
    with pytest.raises(TrackingError, match="no run with id"):
        store.get_run("../0")


def test_unwritable_store_is_a_tracking_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrackingError, match="cannot use the tracking store"):
        FileStore(tmp_path / "file" / "mlruns").check()


def test_tracking_uri_resolution(tmp_path: Path) -> None:
    assert resolve_tracking_uri("x", {"MLFLOW_TRACKING_URI": "y"}) == "x"
    assert resolve_tracking_uri(None, {"MLFLOW_TRACKING_URI": "y"}) == "y"
    assert resolve_tracking_uri(None, {}) == str(Path.cwd() / "mlruns")
    store = get_tracker((tmp_path / "a b").as_uri())
    assert isinstance(store, FileStore) and store.root == tmp_path / "a b"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sqlite:///mlflow.db", "needs MLflow's client"),
        ("weird://x", "no tracking backend for scheme 'weird'"),
    ],
)
def test_schemes_without_a_backend_are_clear_errors(uri: str, message: str) -> None:
    with pytest.raises(TrackingError, match=message):
        get_tracker(uri)


def test_metric_history_is_every_step_and_skips_damaged_lines(tmp_path: Path) -> None:
    """What an early-stopping sweep reads (`metric_history`): (step, value) in step order; a line
    cut short or garbled is skipped, a metric never logged is an empty history."""
    from mlrun_cli.tracking.base import metric_history

    store = FileStore(tmp_path)
    store.check()
    run = store.create_run("0", "r", "u", 1, {})
    metric = tmp_path / "0" / run.run_id / "metrics" / "loss"
    metric.write_bytes(b"100 0.9 0\n300 0.5 2\n\x00\xff junk\n200 0.7 1\n400 0.4\n500 nan-ish 3\n600 0.3 4")
    assert metric_history(store, run.run_id, "loss") == [(0, 0.9), (0, 0.4), (1, 0.7), (2, 0.5), (4, 0.3)]
    assert metric_history(store, run.run_id, "accuracy") == []

    class Plugin:  # a tracker written before the hook: no history, so nothing is ever stopped
        uri = "plugin://x"

    assert metric_history(Plugin(), run.run_id, "loss") == []  # type: ignore[arg-type]
