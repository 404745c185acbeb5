"""Sweeps through the real `mlrun` command: a parent run, one child run per point, parallelism
observed from the points' own timestamps, --needed resuming, bad points, Ctrl-C."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlrun_cli.tracking.base import RunRecord, RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import MLRUN, Popen, Result
from tests.sweep_marks import max_running

Mlrun = Callable[..., Result]
ProjectFactory = Callable[[dict[str, str]], Path]

# Each point appends "start <t>" and "end <t>" lines to $MARKS, sleeps, logs the metric `loss`
# (a*b) the way MLflow's client writes a file store, and fails when asked to (b == 99).
TRAIN = """
import os, sys, time
a, b, pause = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
marks = os.environ["MARKS"]
with open(marks, "a") as f:
    f.write(f"start {time.time()} {a} {b}\\n")
time.sleep(pause)
with open(marks, "a") as f:
    f.write(f"end {time.time()} {a} {b}\\n")
store = os.environ["MLFLOW_TRACKING_URI"].removeprefix("file://")
if os.path.isdir(store):
    run = os.path.join(store, os.environ["MLFLOW_EXPERIMENT_ID"], os.environ["MLFLOW_RUN_ID"])
    os.makedirs(os.path.join(run, "metrics"), exist_ok=True)
    with open(os.path.join(run, "metrics", "loss"), "w") as f:
        f.write(f"{int(time.time() * 1000)} {a * b} 0\\n")
sys.exit(3 if b == 99 else 0)
"""
MLPROJECT = """name: sweepy
entry_points:
  main:
    parameters:
      a: {type: float, default: 1}
      b: {type: int, default: 1}
      pause: {type: float, default: 0.4}
    command: "python3 train.py {a} {b} {pause}"
"""


@pytest.fixture
def project(project_factory: ProjectFactory) -> Path:
    return project_factory({"MLproject": MLPROJECT, "train.py": TRAIN})


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    return tmp_path / "marks.txt"


@pytest.fixture
def sweep(mlrun: Mlrun, project: Path, marks: Path) -> Mlrun:
    """`mlrun run PROJECT --env-manager local ARGS`, its points marking into `marks`."""
    env = {"MARKS": str(marks)}
    return lambda *args: mlrun("run", str(project), "--env-manager", "local", *args, env=env)


def _runs(store: Path) -> list[RunRecord]:
    files = FileStore(store)
    return [files.get_run(r.run_id) for r in files.search_runs(None, 10_000)]


def _split(runs: list[RunRecord]) -> tuple[list[RunRecord], list[RunRecord]]:
    parents = [r for r in runs if "mlrun.sweep" in r.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.tags]
    return parents, children


def _delete(store: Path, run: RunRecord) -> None:
    """What `mlflow runs delete` does to a file store: the run stays, marked deleted."""
    meta_file = store / run.experiment_id / run.run_id / "meta.yaml"
    meta = yaml.safe_load(meta_file.read_text())
    meta["lifecycle_stage"] = "deleted"
    meta_file.write_text(yaml.safe_dump(meta))


SWEEP = ("-S", "a=0.5,1,2", "-S", "b=range(1,3)")


def test_grid_runs_children_under_one_parent_then_needed_resumes(
    sweep: Mlrun, isolated: Path, marks: Path
) -> None:
    store = isolated / "mlruns"
    args = (*SWEEP, "--experiment-name", "grid")
    result = sweep(*args, "--max-parallel", "2", "--objective", "loss:max", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    parents, children = _split(_runs(store))
    assert len(parents) == 1 and len(children) == 6
    parent = parents[0]
    assert out["parent_run_id"] == parent.run_id and parent.status is RunStatus.FINISHED
    assert parent.tags["mlrun.sweep"] == "6"
    assert "mlrun/sweep.json" in parent.artifacts and "mlrun/points.json" in parent.artifacts
    assert {c.tags["mlflow.parentRunId"] for c in children} == {parent.run_id}
    assert all(c.status is RunStatus.FINISHED and c.tags["mlrun.exit_code"] == "0" for c in children)
    assert all("mlrun/console.log" in c.artifacts and "mlrun.fingerprint" in c.tags for c in children)
    points = sorted((c.params["a"], c.params["b"]) for c in children)
    assert points == sorted((a, b) for a in ("0.5", "1", "2") for b in ("1", "2"))
    # Stable order: the last parameter varies fastest.
    assert [(p["point"]["a"], p["point"]["b"]) for p in out["children"]][:3] == [
        ("0.5", "1"), ("0.5", "2"), ("1", "1"),
    ]  # fmt: skip
    assert max_running(marks) == 2
    best = next(c for c in children if (c.params["a"], c.params["b"]) == ("2", "2"))
    assert parent.tags["mlrun.sweep.best_run_id"] == best.run_id
    assert out["best"]["objective"] == 4.0

    # Again with --needed: nothing runs, no child is created.
    again = sweep(*args, "--needed", "--json")
    assert again.returncode == 0, again.stderr
    parents, children_after = _split(_runs(store))
    assert len(children_after) == 6 and len(parents) == 2
    newest = max(parents, key=lambda r: r.start_time_ms)
    assert sorted(json.loads(newest.tags["mlrun.sweep.reused"])) == sorted(c.run_id for c in children)
    assert all(p["reused"] for p in json.loads(again.stdout)["children"])

    # Two children deleted: exactly those two run again.
    gone = [children[0], children[3]]
    for run in gone:
        _delete(store, run)
    third = sweep(*args, "--needed")
    assert third.returncode == 0, third.stderr
    _, children_now = _split(_runs(store))
    new = [c for c in children_now if c.run_id not in {r.run_id for r in children_after}]
    assert sorted((c.params["a"], c.params["b"]) for c in new) == sorted(
        (r.params["a"], r.params["b"]) for r in gone
    )
    assert "2 points ran, 4 reused" in third.stderr


def test_bad_point_is_exit_2_naming_it_and_nothing_is_created(
    sweep: Mlrun, isolated: Path, marks: Path
) -> None:
    # Point 0 is bad too: every bad point is reported, not only the first.
    result = sweep("-S", "a=x,1,y", "-S", "b=1,2")
    assert result.returncode == 2
    for bad in ("point 0 (a=x b=1)", "point 1 (a=x b=2)", "point 4 (a=y b=1)", "point 5 (a=y b=2)"):
        assert bad in result.stderr, result.stderr
    assert "point 2 " not in result.stderr and "point 3 " not in result.stderr
    as_json = sweep("--json", "-S", "a=x,1,y", "-S", "b=1,2")
    assert as_json.returncode == 2, as_json.stderr
    assert [d.split(" (")[0] for d in json.loads(as_json.stdout)["details"]] == [
        "point 0", "point 1", "point 4", "point 5"
    ]  # fmt: skip
    assert not marks.exists()
    assert not (isolated / "mlruns").exists() or _runs(isolated / "mlruns") == []
    for args in (["-S", "a=uniform(0,1)"], ["-S", "a=range(1)"], ["-S", "a=1", "-P", "a=2"]):
        refused = sweep(*args)
        assert refused.returncode == 2, refused.stderr


def test_dry_run_lists_the_points_and_random_is_seeded(mlrun: Mlrun, sweep: Mlrun, tmp_path: Path) -> None:
    listed = sweep(*SWEEP, "--dry-run", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["points"]) == 6
    picks = [
        json.loads(
            sweep("-S", "a=loguniform(0.001,1)", "-S", "b=1,2,3", "--random", "4", "--seed", "7",
                  "--dry-run", "--json").stdout
        )["sweep"]["points"]
        for _ in range(2)
    ]  # fmt: skip
    assert picks[0] == picks[1] and len(picks[0]) == 4
    assert all(0.001 <= float(p["a"]) <= 1 for p in picks[0])
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text("parameters:\n  a: [0.5, 1]\n  b: 'range(1,4)'\nmax_parallel: 3\n")
    from_file = sweep("--sweep-file", str(sweep_file), "--dry-run", "--json")
    assert from_file.returncode == 0, from_file.stderr
    assert len(json.loads(from_file.stdout)["points"]) == 6
    schema = mlrun("schema", "sweep")
    assert (
        schema.returncode == 0 and json.loads(schema.stdout)["title"] == "--sweep-file (mlrun schema sweep)"
    )


def test_failed_points_are_listed_and_exit_1(sweep: Mlrun, isolated: Path) -> None:
    result = sweep("-S", "b=1,99", "-P", "pause=0")
    assert result.returncode == 1, result.stderr
    assert "point 1 b=99: FAILED" in result.stderr
    parents, children = _split(_runs(isolated / "mlruns"))
    assert parents[0].status is RunStatus.FAILED
    assert sorted(c.status.name for c in children) == ["FAILED", "FINISHED"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_cancels_the_sweep_and_every_unfinished_child_is_killed(
    project: Path, isolated: Path, marks: Path, signum: int, popen: Popen
) -> None:
    """One point at a time: the first is running, three never started; all four end KILLED."""
    proc = popen(
        [*MLRUN, "run", str(project), "--env-manager", "local", "-S", "b=1,2,3,4", "-P", "pause=60",
         "--max-parallel", "1"],
        cwd=isolated, env={**os.environ, "MARKS": str(marks)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not marks.exists():
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    parents, children = _split(_runs(isolated / "mlruns"))
    assert parents[0].status is RunStatus.KILLED
    assert sorted(int(c.tags["mlrun.sweep.point"]) for c in children) == [0, 1, 2, 3], [
        (c.tags.get("mlflow.runName"), c.tags.get("mlrun.error"), c.status.name) for c in children
    ]
    assert all(c.status is RunStatus.KILLED for c in children), err
    never = [c for c in children if c.tags["mlrun.sweep.point"] != "0"]
    assert all("before this point started" in c.tags["mlrun.error"] and c.params["b"] for c in never)
    assert all(c.tags["mlflow.parentRunId"] == parents[0].run_id for c in children)
    assert len(marks.read_text().splitlines()) == 1 and "end" not in marks.read_text()


def test_detach_is_refused_for_a_backend_whose_jobs_do_not_outlive_mlrun(
    sweep: Mlrun, isolated: Path, marks: Path
) -> None:
    result = sweep(*SWEEP, "--detach")
    assert result.returncode == 2
    assert "--detach needs a backend that queues jobs" in result.stderr and "'local'" in result.stderr
    assert not marks.exists() and not (isolated / "mlruns").exists()


def test_points_are_named_by_their_values_and_the_parent_holds_the_best_point(
    sweep: Mlrun, isolated: Path
) -> None:
    """MLflow's runs table cuts a name to its first characters: each point's name starts with its
    values; the parent's row shows the best point's params and objective in its own columns."""
    result = sweep(*SWEEP, "-P", "pause=0", "--objective", "loss:max", "--run-name", "grid")
    assert result.returncode == 0, result.stderr
    parents, children = _split(_runs(isolated / "mlruns"))
    names = {c.tags["mlrun.sweep.point"]: c.run_name for c in children}
    assert names == {
        "0": "a=0.5,b=1 | grid-0", "1": "a=0.5,b=2 | grid-1", "2": "a=1,b=1 | grid-2",
        "3": "a=1,b=2 | grid-3", "4": "a=2,b=1 | grid-4", "5": "a=2,b=2 | grid-5",
    }  # fmt: skip
    assert all(c.tags["mlflow.runName"] == c.run_name for c in children)
    (parent,) = parents
    assert parent.run_name == "grid"
    assert parent.params == {"pause": "0", "a": "2", "b": "2"}  # the fixed one, then the best point's
    assert parent.metrics == {"loss": 4.0}
    assert json.loads(parent.tags["mlrun.sweep.best_params"]) == {"a": "2", "b": "2"}


def test_a_point_name_is_short_and_safe_whatever_the_values() -> None:
    from mlrun_cli.runs.sweeps.plan import point_name

    named = point_name("warm-heron-859", 0, {"alpha": "0.1", "l1": "0.5"})
    assert named == "alpha=0.1,l1=0.5 | warm-heron-859-0"
    assert point_name("s", 1, {"alpha": "0.0123456789012"}) == "alpha=0.01235 | s-1"  # a random point
    odd = point_name("s", 2, {"data": "/a/very/long/path/file.csv", "x y": "a b\nc JobState=X", "n": "é"})
    assert odd == "data=/a/very/lo..,x_y=a_b_c_JobS..,n=_ | s-2"
    many = point_name("s", 3, {f"param{i}": "1" for i in range(20)})
    assert many.startswith("param0=1,param1=1,") and many.endswith(".. | s-3") and len(many) == 40 + 6
    rng = random.Random(24)
    alphabet = "ab 0.1,\t\n=|é€-_/"
    names = [
        point_name("s", i, {"".join(rng.choices(alphabet, k=5)): "".join(rng.choices(alphabet, k=30))})
        for i in range(200)
    ]
    assert len(set(names)) == 200  # the index keeps them apart, whatever the values
    for name in names:
        label = name.rsplit(" | ", 1)[0]
        assert label.isascii() and label.isprintable() and " " not in label and len(label) <= 40


def test_summary_names_the_best_values_and_a_misspelt_objective_is_warned(sweep: Mlrun) -> None:
    """The table's objective column and the best point name the metric and the winning values;
    an objective no point logged is a warning naming what they did log (exit code unchanged)."""
    good = sweep("-S", "a=1,2", "-P", "pause=0", "--objective", "loss:max")
    assert good.returncode == 0, good.stderr
    assert "loss:max" in good.stderr.splitlines()[0]  # the table's header
    assert ": 2 points ran, 0 reused" in good.stderr
    assert "best point 1: a=2 (loss:max = 2)" in good.stderr and "Warning" not in good.stderr
    misspelt = sweep("-S", "a=1", "-P", "pause=0", "--objective", "los", "--json")
    assert misspelt.returncode == 0, misspelt.stderr
    assert ": 1 point ran" not in misspelt.stderr  # --json: no summary, the warning all the same
    warning = "no finished point logged the objective metric 'los'; they logged: loss (did you mean 'loss'?)"
    assert f"Warning: {warning}" in misspelt.stderr
    out = json.loads(misspelt.stdout)
    assert out["warnings"] == [warning] and out["best"] is None and out["exit_code"] == 0
