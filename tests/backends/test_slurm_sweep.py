"""A sweep on the real one-node Slurm cluster: ONE array job, each task recording to its own child run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.file_store import FileStore
from tests.conftest import MLRUN, Result

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

COMMAND = (
    "echo start $(date +%s.%N) >> {marks}; echo point a={a} b={b} task=$SLURM_ARRAY_TASK_ID; "
    "sleep 1; echo end $(date +%s.%N) >> {marks}"
)
PROJECT = f"""\
name: sweep-on-slurm
entry_points:
  main:
    parameters:
      a: {{type: float, default: 1}}
      b: {{type: int, default: 1}}
    command: "{COMMAND}"
"""


def test_a_3x2_grid_is_one_array_job_with_a_child_run_per_task(
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
    slurm_env: dict[str, str],
    isolated: Path,
    tmp_path: Path,
) -> None:
    marks = tmp_path / "marks.txt"
    project = project_factory({"MLproject": PROJECT.replace("{marks}", str(marks))})
    result = mlrun(
        "run", str(project), "-b", "slurm", "--env-manager", "local", "-S", "a=0.5,1,2", "-S", "b=1,2",
        "--max-parallel", "2", "--json", env=slurm_env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    store = FileStore(isolated / "mlruns")
    children = [store.get_run(c["run_id"]) for c in out["children"]]
    assert len(children) == 6 and all(c.status.name == "FINISHED" for c in children)
    assert {c.tags["mlflow.parentRunId"] for c in children} == {out["parent_run_id"]}
    job_ids = [c.tags["mlrun.slurm.job_id"] for c in children]
    assert len({j.split("_")[0] for j in job_ids}) == 1, job_ids  # one array job
    assert sorted(int(j.split("_")[1]) for j in job_ids) == list(range(6))
    for child in children:
        console = Path(child.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
        task = child.tags["mlrun.slurm.job_id"].split("_")[1]
        text = console.read_text()
        assert f"point a={child.params['a']} b={child.params['b']} " in text and f"task={task}" in text
    events = sorted(
        (float(line.split()[1]), line.split()[0] == "start") for line in marks.read_text().splitlines()
    )
    running = peak = 0
    for _, start in events:
        running += 1 if start else -1
        peak = max(peak, running)
    assert 1 <= peak <= 2


def test_ctrl_c_cancels_the_array_job_and_every_child_ends_killed(
    project_factory: Callable[[dict[str, str]], Path],
    slurm_env: dict[str, str],
    slurm_bin: Path,
    isolated: Path,
    tmp_path: Path,
) -> None:
    """One task at a time: task 0 runs, tasks 1-3 wait in the array; Ctrl-C cancels all four."""
    marks = tmp_path / "marks.txt"
    slow = PROJECT.replace("{marks}", str(marks)).replace("sleep 1", "sleep 120")
    project = project_factory({"MLproject": slow})
    proc = subprocess.Popen(
        [*MLRUN, "run", str(project), "-b", "slurm", "--env-manager", "local", "-S", "b=1,2,3,4",
         "--max-parallel", "1", "--json"],
        cwd=isolated, env={**os.environ, **slurm_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not marks.exists() and proc.poll() is None:
        time.sleep(0.2)
    assert marks.exists(), "task 0 never started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    sweep = json.loads(out)
    store = FileStore(isolated / "mlruns")
    assert store.get_run(sweep["parent_run_id"]).status.name == "KILLED"
    children = [store.get_run(c["run_id"]) for c in sweep["children"]]
    assert len(children) == 4 and all(c.status.name == "KILLED" for c in children), err.decode()
    array = {c.tags["mlrun.slurm.job_id"].split("_")[0] for c in children}
    assert len(array) == 1, array
    queued = subprocess.run(
        [str(slurm_bin / "squeue"), "-h", "-j", array.pop()], capture_output=True, text=True
    ).stdout
    assert "R " not in queued and "PD " not in queued, queued
    assert "end" not in marks.read_text()


def test_detach_submits_the_sweep_and_runs_wait_settles_children_then_parent(
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
    slurm_env: dict[str, str],
    isolated: Path,
    tmp_path: Path,
) -> None:
    command = "echo point a={a} b={b} task=$SLURM_ARRAY_TASK_ID; sleep 2; test {b} != 3"
    project = project_factory({"MLproject": PROJECT.replace(COMMAND, command)})
    submitted = mlrun(
        "run", str(project), "-b", "slurm", "--env-manager", "local", "-S", "b=1,2,3", "--max-parallel", "2",
        "--detach", "--json", env=slurm_env, timeout=120,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    sweep = json.loads(submitted.stdout)
    parent_id = sweep["parent_run_id"]
    assert sweep["detached"] is True and sweep["status"] == "RUNNING"
    store = FileStore(isolated / "mlruns")
    assert store.get_run(parent_id).status.name == "RUNNING"
    children = [c["run_id"] for c in sweep["children"]]
    assert len(children) == 3 and all(c["status"] == "RUNNING" for c in sweep["children"])
    assert all(store.get_run(c).status.name == "RUNNING" for c in children)
    waited = mlrun("runs", "wait", parent_id, env=slurm_env, timeout=180)
    assert waited.returncode == 1, waited.stderr  # point b=3 failed
    statuses = {store.get_run(c).params["b"]: store.get_run(c).status.name for c in children}
    assert statuses == {"1": "FINISHED", "2": "FINISHED", "3": "FAILED"}, waited.stderr
    failed = next(c for c in children if store.get_run(c).params["b"] == "3")
    assert store.get_run(failed).tags["mlrun.exit_code"] == "1"
    console = Path(store.get_run(children[0]).artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
    assert "point a=1 b=1 " in console.read_text()  # settled with its log, as a single run is
    parent = store.get_run(parent_id)
    assert parent.status.name == "FAILED" and parent.tags["mlrun.exit_code"] == "1"
    again = mlrun("runs", "wait", parent_id, env=slurm_env)
    assert again.returncode == 1 and "FAILED" in again.stderr  # settled once; the same answer


def test_detached_sweep_cancelled_as_a_whole(
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
    slurm_env: dict[str, str],
    isolated: Path,
    tmp_path: Path,
) -> None:
    slow = PROJECT.replace("{marks}", str(tmp_path / "marks.txt")).replace("sleep 1", "sleep 120")
    project = project_factory({"MLproject": slow})
    submitted = mlrun(
        "run", str(project), "-b", "slurm", "--env-manager", "local", "-S", "b=1,2,3", "--max-parallel", "1",
        "--detach", "--json", "--objective", "loss", env=slurm_env, timeout=120,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    sweep = json.loads(submitted.stdout)
    cancelled = mlrun("runs", "cancel", sweep["parent_run_id"], env=slurm_env, timeout=180)
    assert cancelled.returncode == 0, cancelled.stderr
    store = FileStore(isolated / "mlruns")
    assert all(store.get_run(c["run_id"]).status.name == "KILLED" for c in sweep["children"])
    assert store.get_run(sweep["parent_run_id"]).status.name == "KILLED"


def test_a_detached_sweep_with_needed_runs_only_the_missing_point(
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
    slurm_env: dict[str, str],
    isolated: Path,
    tmp_path: Path,
) -> None:
    project = project_factory({"MLproject": PROJECT.replace("{marks}", str(tmp_path / "marks.txt"))})
    base = ("run", str(project), "-b", "slurm", "--env-manager", "local", "--json")
    first = mlrun(*base, "-S", "b=1,2", env=slurm_env, timeout=120)
    assert first.returncode == 0, first.stderr
    done = {c["point"]["b"]: c["run_id"] for c in json.loads(first.stdout)["children"]}
    submitted = mlrun(*base, "-S", "b=1,2,3", "--needed", "--detach", env=slurm_env, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    sweep = json.loads(submitted.stdout)
    assert [c["reused"] for c in sweep["children"]] == [True, True, False]
    # The reused points are kept in tags split to fit (tags.split_value), never cut off.
    left = FileStore(isolated / "mlruns").get_run(sweep["parent_run_id"]).tags
    assert left["mlrun.sweep.reused_points"] == "1"
    assert json.loads(left["mlrun.sweep.reused_points.0"]) == {"0": done["1"], "1": done["2"]}
    waited = mlrun("runs", "wait", sweep["parent_run_id"], "--json", env=slurm_env, timeout=120)
    assert waited.returncode == 0, waited.stderr
    parent = FileStore(isolated / "mlruns").get_run(sweep["parent_run_id"])
    assert parent.status.name == "FINISHED"
    assert sorted(json.loads(parent.tags["mlrun.sweep.reused"])) == sorted(done.values())
    store = FileStore(isolated / "mlruns")
    assert store.get_run(sweep["children"][2]["run_id"]).status.name == "FINISHED"
