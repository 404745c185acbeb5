"""`--early-stop asha` on the real one-node Slurm cluster: the points are one array job, and the
losing ones are cancelled there (`scancel` of their array task) while the best runs to its end."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends import asha_curves
from tests.backends.conftest import scontrol_state
from tests.conftest import Result

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_a_4_point_asha_sweep_on_slurm_cancels_the_losing_array_tasks(
    mlrun: Callable[..., Result],
    slurm_env: dict[str, str],
    slurm_bin: Path,
    example: Callable[[str], Path],
    isolated: Path,
    tmp_path: Path,
) -> None:
    (tmp_path / "sweep.yaml").write_text(json.dumps(asha_curves.SWEEP))
    args = ("-b", "slurm", "--env-manager", "local", "--sweep-file", str(tmp_path / "sweep.yaml"))
    result = mlrun("run", str(example("curves")), *args, *asha_curves.ARGS, env=slurm_env, timeout=300)
    assert result.returncode == 0, result.stderr
    children, stopped = asha_curves.check_outcome(json.loads(result.stdout), FileStore(isolated / "mlruns"))
    job_ids = [c.tags["mlrun.slurm.job_id"] for c in children.values()]
    assert len({j.split("_")[0] for j in job_ids}) == 1, job_ids  # one array job
    for run in stopped.values():
        assert scontrol_state(slurm_bin, run.tags["mlrun.slurm.job_id"]) == "CANCELLED"
    queued = subprocess.run(
        [str(slurm_bin / "squeue"), "-h", "-j", job_ids[0].split("_")[0]], capture_output=True, text=True
    )
    assert queued.stdout.strip() == ""  # nothing of the sweep left on the cluster


def test_with_retries_the_retried_attempt_is_judged_and_a_stopped_one_never_retried(
    mlrun: Callable[..., Result],
    slurm_env: dict[str, str],
    example: Callable[[str], Path],
    isolated: Path,
    tmp_path: Path,
) -> None:
    """Every point's first attempt fails at once (a new array job then holds the retries): the
    early-stop loop judges the attempt that runs, not the failed one, and stops the losing
    retries, which are never tried a third time."""
    project = example("curves")
    tried = tmp_path / "tried"
    tried.mkdir()
    mlproject = (project / "MLproject").read_text()
    first_fails = f"mkdir {tried}/{{rate}}-{{floor}} 2>/dev/null && exit 1; python3 train.py"
    (project / "MLproject").write_text(mlproject.replace("python3 train.py", first_fails))
    (tmp_path / "sweep.yaml").write_text(json.dumps(asha_curves.SWEEP))
    args = ("-b", "slurm", "--env-manager", "local", "--sweep-file", str(tmp_path / "sweep.yaml"))
    result = mlrun(
        "run", str(project), *args, "--max-parallel", "4", "--retries", "2", "-P", "pause=0.3", "--json",
        env=slurm_env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    store = FileStore(isolated / "mlruns")
    for point in out["children"]:
        assert point["attempts"][0]["status"] == "FAILED", point
    stopped = [p for p in out["children"] if p["early_stopped"]]
    assert stopped and out["stopped_early"] == len(stopped)
    for point in stopped:
        assert [a["status"] for a in point["attempts"]] == ["FAILED", "KILLED"]  # never a third
        run = store.get_run(point["run_id"])
        assert run.tags["mlrun.attempt"] == "2" and "mlrun.early_stopped" in run.tags
        assert 0 < len(store.metric_history(run.run_id, "loss")) < 27
    best = next(p for p in out["children"] if p["index"] == 0)
    assert [a["status"] for a in best["attempts"]] == ["FAILED", "FINISHED"]
    assert len(store.metric_history(best["run_id"], "loss")) == 27
