"""A sweep on the real one-node Slurm cluster: ONE array job, each task recording to its own child run."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends.cancelling import assert_sweep_killed, ctrl_c
from tests.conftest import MLRUN, Popen, Result
from tests.sweep_marks import marked, max_running

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

Run = Callable[..., Result]
ON_SLURM = ("-b", "slurm", "--env-manager", "local")
POINT = "echo point a={a} b={b} task=$SLURM_ARRAY_TASK_ID"
MLPROJECT = """\
name: sweep-on-slurm
entry_points:
  main:
    parameters:
      a: {{type: float, default: 1}}
      b: {{type: int, default: 1}}
    command: "{command}"
"""


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    return tmp_path / "marks.txt"


@pytest.fixture
def sweep_project(project_factory: Callable[[dict[str, str]], Path]) -> Callable[[str], Path]:
    """The sweep's project, each point running the given shell command."""
    return lambda command: project_factory({"MLproject": MLPROJECT.format(command=command)})


@pytest.fixture
def on_slurm(mlrun: Run, slurm_env: dict[str, str]) -> Run:
    """`mlrun ARGS` with Slurm's clients on PATH."""
    return lambda *args, timeout=120: mlrun(*args, env=slurm_env, timeout=timeout)


@pytest.fixture
def store(isolated: Path) -> FileStore:
    return FileStore(isolated / "mlruns")


def test_a_3x2_grid_is_one_array_job_with_a_child_run_per_task(
    on_slurm: Run, sweep_project: Callable[[str], Path], store: FileStore, marks: Path
) -> None:
    project = sweep_project(marked(f"{POINT}; sleep 1", marks))
    result = on_slurm(
        "run", str(project), *ON_SLURM, "-S", "a=0.5,1,2", "-S", "b=1,2", "--max-parallel", "2", "--json",
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
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
    assert 1 <= max_running(marks) <= 2


def test_ctrl_c_cancels_the_array_job_and_every_child_ends_killed(
    sweep_project: Callable[[str], Path],
    slurm_env: dict[str, str],
    slurm_bin: Path,
    isolated: Path,
    store: FileStore,
    marks: Path,
    popen: Popen,
) -> None:
    """One task at a time: task 0 runs, tasks 1-3 wait in the array; Ctrl-C cancels all four."""
    project = sweep_project(marked(f"{POINT}; sleep 120", marks))
    proc = popen(
        [*MLRUN, "run", str(project), *ON_SLURM, "-S", "b=1,2,3,4", "--max-parallel", "1", "--json"],
        cwd=isolated, env={**os.environ, **slurm_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not marks.exists() and proc.poll() is None:
        time.sleep(0.2)
    assert marks.exists(), "task 0 never started"
    out, _ = ctrl_c(proc, timeout=120)
    children = assert_sweep_killed(store, json.loads(out), points=4)
    array = {c.tags["mlrun.slurm.job_id"].split("_")[0] for c in children}
    assert len(array) == 1, array
    queued = subprocess.run(
        [str(slurm_bin / "squeue"), "-h", "-j", array.pop()], capture_output=True, text=True
    ).stdout
    assert "R " not in queued and "PD " not in queued, queued
    assert "end" not in marks.read_text()


def test_detach_submits_the_sweep_and_runs_wait_settles_children_then_parent(
    on_slurm: Run, sweep_project: Callable[[str], Path], store: FileStore
) -> None:
    project = sweep_project(f"{POINT}; sleep 2; test {{b}} != 3")
    submitted = on_slurm(
        "run", str(project), *ON_SLURM, "-S", "b=1,2,3", "--max-parallel", "2", "--detach", "--json"
    )
    assert submitted.returncode == 0, submitted.stderr
    sweep = json.loads(submitted.stdout)
    parent_id = sweep["parent_run_id"]
    assert sweep["detached"] is True and sweep["status"] == "RUNNING"
    assert store.get_run(parent_id).status.name == "RUNNING"
    children = [c["run_id"] for c in sweep["children"]]
    assert len(children) == 3 and all(c["status"] == "RUNNING" for c in sweep["children"])
    assert all(store.get_run(c).status.name == "RUNNING" for c in children)
    waited = on_slurm("runs", "wait", parent_id, timeout=180)
    assert waited.returncode == 1, waited.stderr  # point b=3 failed
    statuses = {store.get_run(c).params["b"]: store.get_run(c).status.name for c in children}
    assert statuses == {"1": "FINISHED", "2": "FINISHED", "3": "FAILED"}, waited.stderr
    failed = next(c for c in children if store.get_run(c).params["b"] == "3")
    assert store.get_run(failed).tags["mlrun.exit_code"] == "1"
    console = Path(store.get_run(children[0]).artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
    assert "point a=1 b=1 " in console.read_text()  # settled with its log, as a single run is
    parent = store.get_run(parent_id)
    assert parent.status.name == "FAILED" and parent.tags["mlrun.exit_code"] == "1"
    again = on_slurm("runs", "wait", parent_id)
    assert again.returncode == 1 and "FAILED" in again.stderr  # settled once; the same answer


def test_detached_sweep_cancelled_as_a_whole(
    on_slurm: Run, sweep_project: Callable[[str], Path], store: FileStore, marks: Path
) -> None:
    project = sweep_project(marked(f"{POINT}; sleep 120", marks))
    submitted = on_slurm(
        "run", str(project), *ON_SLURM, "-S", "b=1,2,3", "--max-parallel", "1", "--detach", "--json",
        "--objective", "loss",
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    cancelled = on_slurm("runs", "cancel", json.loads(submitted.stdout)["parent_run_id"], timeout=180)
    assert cancelled.returncode == 0, cancelled.stderr
    assert_sweep_killed(store, json.loads(submitted.stdout), points=3)


def test_a_detached_sweep_with_needed_runs_only_the_missing_point(
    on_slurm: Run, sweep_project: Callable[[str], Path], store: FileStore, marks: Path
) -> None:
    base = ("run", str(sweep_project(marked(f"{POINT}; sleep 1", marks))), *ON_SLURM, "--json")
    first = on_slurm(*base, "-S", "b=1,2")
    assert first.returncode == 0, first.stderr
    done = {c["point"]["b"]: c["run_id"] for c in json.loads(first.stdout)["children"]}
    submitted = on_slurm(*base, "-S", "b=1,2,3", "--needed", "--detach")
    assert submitted.returncode == 0, submitted.stderr
    sweep = json.loads(submitted.stdout)
    assert [c["reused"] for c in sweep["children"]] == [True, True, False]
    # The reused points are kept in tags split to fit (tags.split_value), never cut off.
    left = store.get_run(sweep["parent_run_id"]).tags
    assert left["mlrun.sweep.reused_points"] == "1"
    assert json.loads(left["mlrun.sweep.reused_points.0"]) == {"0": done["1"], "1": done["2"]}
    waited = on_slurm("runs", "wait", sweep["parent_run_id"], "--json")
    assert waited.returncode == 0, waited.stderr
    parent = store.get_run(sweep["parent_run_id"])
    assert parent.status.name == "FINISHED"
    assert sorted(json.loads(parent.tags["mlrun.sweep.reused"])) == sorted(done.values())
    assert store.get_run(sweep["children"][2]["run_id"]).status.name == "FINISHED"
