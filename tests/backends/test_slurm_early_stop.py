"""`--early-stop asha` on the real one-node Slurm cluster: the points are one array job, and the
losing ones are cancelled there (`scancel` of their array task) while the best runs to its end."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends.conftest import scontrol_state
from tests.conftest import Result

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SWEEP = """parameters:
  rate: [0.4, 0.05]
  floor: [0.1, 0.5]
objective: loss:min
early_stop: {rule: asha, min_steps: 3, reduction_factor: 2}
"""


def test_a_4_point_asha_sweep_on_slurm_cancels_the_losing_array_tasks(
    mlrun: Callable[..., Result],
    slurm_env: dict[str, str],
    slurm_bin: Path,
    example: Callable[[str], Path],
    isolated: Path,
    tmp_path: Path,
) -> None:
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    args = ("-b", "slurm", "--env-manager", "local", "--sweep-file", str(tmp_path / "sweep.yaml"))
    result = mlrun(
        "run", str(example("curves")), *args, "--max-parallel", "4", "-P", "pause=0.3", "--json",
        env=slurm_env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    store = FileStore(isolated / "mlruns")
    children = {p["index"]: store.get_run(p["run_id"]) for p in out["children"]}
    job_ids = [c.tags["mlrun.slurm.job_id"] for c in children.values()]
    assert len({j.split("_")[0] for j in job_ids}) == 1, job_ids  # one array job
    assert all(c.status.is_terminal for c in children.values())
    best = children[0]  # rate 0.4, floor 0.1: the best from its first step
    assert best.status.name == "FINISHED" and len(store.metric_history(best.run_id, "loss")) == 27
    stopped = [c for c in children.values() if "mlrun.early_stopped" in c.tags]
    assert stopped and out["stopped_early"] == len(stopped)
    for run in stopped:
        assert run.status.name == "KILLED" and len(store.metric_history(run.run_id, "loss")) < 27
        assert json.loads(run.tags["mlrun.early_stopped"])["rule"] == "asha"
        assert scontrol_state(slurm_bin, run.tags["mlrun.slurm.job_id"]) == "CANCELLED"
    queued = subprocess.run(
        [str(slurm_bin / "squeue"), "-h", "-j", job_ids[0].split("_")[0]], capture_output=True, text=True
    )
    assert queued.stdout.strip() == ""  # nothing of the sweep left on the cluster
