"""A sweep on the real one-node Slurm cluster: ONE array job, each task recording to its own child run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.file_store import FileStore
from tests.conftest import Result

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
