"""`--early-stop asha|median` through the real `mlrun` command on the synthetic curves of
example_projects/curves (each point logs `loss` at 27 steps, 0.2 s apart, into the file store as
MLflow's client writes it): losing points are cancelled through the local backend, recorded
KILLED with `mlrun.early_stopped`, never retried; damaged or missing histories are skipped."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.base import RunRecord, RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result

Mlrun = Callable[..., Result]
STEPS = 27
# Nine points in no order of merit: the best (rate 0.4, floor 0.1) is the fifth to start.
GRID = {"rate": [0.15, 0.4, 0.05], "floor": [0.3, 0.1, 0.5]}


def _sweep_file(tmp_path: Path, rule: str, parameters: object = GRID, **options: object) -> Path:
    path = tmp_path / f"{rule}.yaml"
    sweep = {"parameters": parameters, "objective": "loss:min", "early_stop": {"rule": rule, **options}}
    path.write_text(json.dumps(sweep) + "\n")
    return path


def _children(store: Path, *, full: bool = True) -> list[RunRecord]:
    files = FileStore(store)
    runs = files.search_runs(None, 10_000)  # meta.yaml and tags: a damaged metric file reads too
    runs = [files.get_run(r.run_id) for r in runs] if full else runs
    return [r for r in runs if "mlflow.parentRunId" in r.tags]


def _steps(store: Path, run: RunRecord) -> int:
    return len(FileStore(store).metric_history(run.run_id, "loss"))


def _final_loss(rate: float, floor: float) -> float:
    return floor + (1 - floor) * math.exp(-rate * (STEPS - 1))


def _check_stopped_points(store: Path, out: dict, children: list[RunRecord]) -> list[RunRecord]:  # type: ignore[type-arg]
    """Every child ended (none RUNNING); the stopped ones KILLED, tagged, listed as such."""
    assert all(c.status.is_terminal for c in children)
    stopped = [c for c in children if "mlrun.early_stopped" in c.tags]
    assert stopped and all(c.status is RunStatus.KILLED for c in stopped)
    for run in stopped:
        why = json.loads(run.tags["mlrun.early_stopped"])
        assert set(why) == {"rule", "step", "value", "threshold"} and why["value"] > why["threshold"]
        assert run.tags["mlrun.error"].startswith(f"stopped early by the {why['rule']} rule at step")
        assert _steps(store, run) < STEPS
    assert all(c.status is RunStatus.FINISHED for c in children if c not in stopped)
    listed = {p["run_id"] for p in out["children"] if p["early_stopped"]}
    assert listed == {c.run_id for c in stopped} and out["stopped_early"] == len(stopped)
    return stopped


def test_asha_runs_at_most_half_the_grid_and_the_best_point_to_its_end(
    mlrun: Mlrun, example: Callable[[str], Path], isolated: Path, tmp_path: Path
) -> None:
    store = isolated / "mlruns"
    rules = _sweep_file(tmp_path, "asha", min_steps=3, reduction_factor=3)
    args = ("--sweep-file", str(rules), "--max-parallel", "3", "--retries", "1", "-P", "pause=0.2")
    result = mlrun("run", str(example("curves")), "--env-manager", "local", *args, "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "FINISHED" and out["early_stop"]["rule"] == "asha"
    children = _children(store)
    assert len(children) == 9  # a stopped point is never tried again, --retries or not
    stopped = _check_stopped_points(store, out, children)
    total = sum(_steps(store, c) for c in children)
    assert total <= 9 * STEPS / 2, f"{total} steps of {9 * STEPS}"
    best = min(children, key=lambda c: _final_loss(float(c.params["rate"]), float(c.params["floor"])))
    assert best.status is RunStatus.FINISHED and _steps(store, best) == STEPS
    assert out["best"]["run_id"] == best.run_id
    parent = FileStore(store).get_run(out["parent_run_id"])
    assert json.loads(parent.tags["mlrun.sweep.early_stop"])["stopped"] == len(stopped)
    assert parent.tags["mlrun.sweep.best_run_id"] == best.run_id
    points = Path(parent.artifact_uri.removeprefix("file://")) / "mlrun" / "points.json"
    assert sum(p["early_stopped"] is not None for p in json.loads(points.read_text())) == len(stopped)


def test_median_stops_the_worst_and_keeps_the_best(
    mlrun: Mlrun, example: Callable[[str], Path], isolated: Path, tmp_path: Path
) -> None:
    store = isolated / "mlruns"
    rules = _sweep_file(tmp_path, "asha", min_steps=3)  # --early-stop names the rule, the file's options stay
    args = ("--sweep-file", str(rules), "--early-stop", "median", "--max-parallel", "3", "-P", "pause=0.2")
    result = mlrun("run", str(example("curves")), "--env-manager", "local", *args, "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["early_stop"] == {"rule": "median", "min_steps": 3, "reduction_factor": 3.0, "min_points": 3,
                                 "max_steps": None}  # fmt: skip
    children = _children(store)
    stopped = _check_stopped_points(store, out, children)
    assert all(json.loads(c.tags["mlrun.early_stopped"])["rule"] == "median" for c in stopped)
    slowest = [c for c in children if c.params["rate"] == "0.05"]  # the worst three, every step
    assert any(c in stopped for c in slowest)
    best = next(c for c in children if (c.params["rate"], c.params["floor"]) == ("0.4", "0.1"))
    assert best.status is RunStatus.FINISHED and _steps(store, best) == STEPS


# One point logs damaged lines among good ones, one logs nothing, one's metric file is a folder
# (unreadable); two log a plain curve. None of it may fail the sweep.
DAMAGED = """
import math, os, sys, time
kind = sys.argv[1]
store = os.environ["MLFLOW_TRACKING_URI"].removeprefix("file://")
run = os.path.join(store, os.environ["MLFLOW_EXPERIMENT_ID"], os.environ["MLFLOW_RUN_ID"])
path = os.path.join(run, "metrics", "loss")
os.makedirs(path if kind == "folder" else os.path.dirname(path), exist_ok=True)
for step in range(12):
    if kind in ("good", "worse", "damaged"):
        with open(path, "a") as out:
            loss = (2.0 if kind == "worse" else 0.0) + math.exp(-0.2 * step)
            out.write(f"{int(time.time() * 1000)} {loss!r} {step}\\n")
            if kind == "damaged":
                out.write("\\x00\\x7f garbage\\n12 nan-ish 3\\n1 2\\n")
    time.sleep(0.2)
"""


def test_damaged_or_missing_histories_are_skipped_never_fatal(
    mlrun: Mlrun, project_factory: Callable[[dict[str, str]], Path], isolated: Path, tmp_path: Path
) -> None:
    mlproject = "entry_points:\n  main:\n    parameters: {kind: string}\n    command: python3 train.py {kind}"
    project = project_factory({"MLproject": mlproject, "train.py": DAMAGED})
    kinds = {"kind": ["good", "damaged", "none", "folder", "worse"]}
    rules = _sweep_file(tmp_path, "asha", kinds, min_steps=2, reduction_factor=2)
    args = ("--sweep-file", str(rules), "--max-parallel", "5")
    result = mlrun("run", str(project), "--env-manager", "local", *args, "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "mlrun: warning: cannot read loss of point 3" in result.stderr  # the folder, once
    assert result.stderr.count("cannot read loss") == 1
    out = json.loads(result.stdout)
    by_kind = {p["point"]["kind"]: p for p in out["children"]}
    assert {k: p["status"] for k, p in by_kind.items() if k != "worse"} == dict.fromkeys(
        ("good", "damaged", "none", "folder"), "FINISHED"
    )
    assert by_kind["worse"]["status"] == "KILLED" and by_kind["worse"]["early_stopped"]["rule"] == "asha"
    assert all(c.status.is_terminal for c in _children(isolated / "mlruns", full=False))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-S", "rate=0.1,0.2", "--early-stop", "asha"), "give --objective METRIC:min|max"),
        (("--early-stop", "median"), "--early-stop: only for a sweep"),
        (("-S", "rate=0.1,0.2", "--early-stop", "asha", "--objective", "loss", "-b", "slurm", "--detach"),
         "not with --detach"),
    ],
)  # fmt: skip
def test_early_stop_refuses_what_cannot_work(
    mlrun: Mlrun, example: Callable[[str], Path], args: tuple[str, ...], message: str
) -> None:
    result = mlrun("run", str(example("curves")), "--env-manager", "local", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_bad_rule_in_the_sweep_file_is_exit_2(
    mlrun: Mlrun, example: Callable[[str], Path], tmp_path: Path
) -> None:
    rules = tmp_path / "sweep.yaml"
    rules.write_text("parameters: {rate: [0.1, 0.2]}\nobjective: loss\nearly_stop: {rule: hyperband}\n")
    result = mlrun("run", str(example("curves")), "--env-manager", "local", "--sweep-file", str(rules))
    assert result.returncode == 2 and "early_stop" in result.stderr, result.stderr


API = """
import json, sys
import mlrun_cli
swept = mlrun_cli.run(
    sys.argv[1], parameters={"pause": 0.2}, sweep={"rate": [0.4, 0.05], "floor": [0.1, 0.5]},
    env_manager="local", max_parallel=2, objective="loss:min", early_stop="asha",
)
print(json.dumps([swept.exit_code, swept.stopped_early, swept.best.point, [p.status for p in swept.points]]))
"""


def test_the_python_api_takes_early_stop(example: Callable[[str], Path], isolated: Path) -> None:
    argv = [sys.executable, "-c", API, str(example("curves"))]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=isolated, timeout=300)
    assert proc.returncode == 0, proc.stderr
    exit_code, stopped, best, statuses = json.loads(proc.stdout.splitlines()[-1])
    assert exit_code == 0 and stopped >= 1 and best == {"rate": "0.4", "floor": "0.1"}
    assert statuses.count("KILLED") == stopped and statuses.count("FINISHED") == 4 - stopped


def test_a_misspelt_objective_is_warned_while_the_points_run(
    mlrun: Mlrun, example: Callable[[str], Path]
) -> None:
    """`--objective los` of points that log `loss`: said once while they run, then at the end."""
    args = ("-S", "rate=0.4,0.05", "-P", "steps=6", "-P", "pause=0.2", "--objective", "los")
    result = mlrun("run", str(example("curves")), "--env-manager", "local", *args, "--early-stop", "asha")
    assert result.returncode == 0, result.stderr
    running = "mlrun: warning: early stopping: no point so far logged the objective metric 'los'"
    assert result.stderr.count(running) == 1, result.stderr
    assert "they logged: loss (did you mean 'loss'?)" in result.stderr
    assert "Warning: no finished point logged the objective metric 'los'" in result.stderr
