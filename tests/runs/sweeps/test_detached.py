"""A detached sweep's parent settled by `mlrun runs wait/cancel` when `--needed` reused many points.

A real detached sweep with 250 reused points would take minutes; the parent's record is built
here in a real file store the way `mlrun run --detach` leaves it (its reused points written by the
sweep's own code), and the real `mlrun` settles it. tests/backends/slurm/test_sweep.py runs a small
detached sweep with --needed end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlrun_cli.runs.sweeps import run as sweep
from mlrun_cli.runs.sweeps.result import PointResult, SweepResult
from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunRef, RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from mlrun_cli.tracking.outbox import Recorder
from tests.conftest import Result

Mlrun = Callable[..., Result]
POINTS = 250  # its JSON {index: run id} is ~10,000 characters, past one tag's 8,000


def _reused_runs(store: FileStore, count: int) -> dict[int, str]:
    done = {}
    for index in range(count):
        ref = store.create_run("0", f"done-{index}", "tester", 1, {})
        store.log_batch(ref.run_id, {"b": str(index)}, {tags.EXIT_CODE: "0"})
        store.end_run(ref.run_id, RunStatus.FINISHED, 2)
        done[index] = ref.run_id
    return done


def _parent(store: FileStore, count: int) -> str:
    ref = store.create_run("0", "sweep", "tester", 1, {tags.SWEEP: str(count)})
    return ref.run_id


@pytest.fixture
def store(isolated: Path) -> FileStore:
    files = FileStore(isolated / "mlruns")
    files.check()
    return files


@pytest.mark.parametrize("command", ["wait", "cancel"])
def test_a_detached_sweep_with_250_reused_points_settles_finished(
    mlrun: Mlrun, store: FileStore, isolated: Path, command: str
) -> None:
    done = _reused_runs(store, POINTS)
    parent_id = _parent(store, POINTS)
    parent = store.get_run(parent_id)
    points = [PointResult(i, {"b": str(i)}, "FINISHED", run_id, 0, reused=True) for i, run_id in done.items()]
    outcome = SweepResult(parent_id, "0", store.uri, points)
    plan: Any = SimpleNamespace(objective=None)
    sweep._leave_running(plan, Recorder(store, RunRef(parent_id, "0", parent.artifact_uri)), outcome)
    assert len(json.dumps({str(i): r for i, r in done.items()})) > tags.MAX_TAG_LENGTH
    assert all(len(v) <= tags.MAX_TAG_LENGTH for v in store.get_run(parent_id).tags.values())

    result = mlrun("runs", command, parent_id, timeout=300)
    status, code = {"wait": ("FINISHED", 0), "cancel": ("KILLED", 0)}[command]
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "warning" not in result.stderr
    settled = store.get_run(parent_id)
    assert settled.status.name == status
    artifacts = Path(settled.artifact_uri.removeprefix("file://")) / "mlrun" / "points.json"
    recorded = json.loads(artifacts.read_text())
    assert [(p["index"], p["run_id"], p["reused"]) for p in recorded] == [
        (i, done[i], True) for i in range(POINTS)
    ]


@pytest.mark.parametrize(
    "damage",
    ["cut", "part_lost", "missing", "not_a_map"],
)
def test_a_damaged_list_of_reused_points_warns_and_settles_the_parent_anyway(
    mlrun: Mlrun, store: FileStore, damage: str
) -> None:
    """What an older mlrun wrote past ~180 points (the JSON cut off at 8,000 characters), a part
    lost, no list at all: a warning, every point without a run recorded as such, the parent ended."""
    done = _reused_runs(store, POINTS)
    parent_id = _parent(store, POINTS)
    text = json.dumps({str(i): r for i, r in done.items()})
    marks = {tags.SWEEP_DETACHED: "true"}
    if damage == "cut":
        marks[tags.SWEEP_REUSED_POINTS] = text[: tags.MAX_TAG_LENGTH]
    elif damage == "part_lost":
        marks |= {
            k: v for k, v in tags.split_value(tags.SWEEP_REUSED_POINTS, text).items() if not k.endswith(".1")
        }
    elif damage == "not_a_map":
        marks[tags.SWEEP_REUSED_POINTS] = "[1, 2]"
    store.log_batch(parent_id, {}, marks)

    result = mlrun("runs", "wait", parent_id, timeout=300)
    assert result.returncode == 1, result.stderr  # the parent FAILED: its points have no run
    assert "Traceback" not in result.stderr and "JSONDecodeError" not in result.stderr
    assert (
        f"warning: the sweep's list of reused runs ({tags.SWEEP_REUSED_POINTS}) is missing" in result.stderr
    )
    assert f"{POINTS} point(s) without a run" in result.stderr
    settled = store.get_run(parent_id)
    assert settled.status.name == "FAILED"
    artifacts = Path(settled.artifact_uri.removeprefix("file://")) / "mlrun" / "points.json"
    recorded = json.loads(artifacts.read_text())
    assert len(recorded) == POINTS
    assert {p["error"] for p in recorded} == {"no run was recorded for this point"}
    again = mlrun("runs", "cancel", parent_id, timeout=120)  # settled once: nothing more to do
    assert again.returncode == 0 and "Traceback" not in again.stderr
    assert store.get_run(parent_id).status.name == "FAILED"


def test_a_settled_detached_sweeps_parent_holds_the_best_point_as_params_and_metric(
    mlrun: Mlrun, store: FileStore
) -> None:
    parent_id = _parent(store, 3)
    store.log_batch(parent_id, {"seed": "7"}, {tags.SWEEP_DETACHED: "true", tags.SWEEP_OBJECTIVE: "loss:min"})
    for index, loss in enumerate([0.5, 0.25, 0.75]):
        point_tags = {tags.PARENT_RUN_ID: parent_id, tags.SWEEP_POINT: str(index), tags.EXIT_CODE: "0"}
        child = store.create_run("0", f"b={index} | sweep-{index}", "tester", 1, point_tags)
        store.log_batch(child.run_id, {"seed": "7", "b": str(index)}, {})
        metric = Path(child.artifact_uri.removeprefix("file://")).parent / "metrics" / "loss"
        metric.write_text(f"2 {loss} 0\n")  # as the child's own MLflow writes it
        store.end_run(child.run_id, RunStatus.FINISHED, 3)
    result = mlrun("runs", "wait", parent_id, timeout=120)
    assert result.returncode == 0, result.stderr
    settled = store.get_run(parent_id)
    assert settled.status is RunStatus.FINISHED
    assert settled.params == {"seed": "7", "b": "1"} and settled.metrics == {"loss": 0.25}
    assert json.loads(settled.tags[tags.SWEEP_BEST_PARAMS]) == {"b": "1"}
