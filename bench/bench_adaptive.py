"""Early-stopping sweeps against the grid, on known loss curves.

example_projects/curves: each point logs `loss = floor + (1 - floor) * exp(-rate * step)` at every
step, `--pause` seconds apart (written as MLflow's client writes a file store; with MLflow on PATH,
by `mlflow.log_metric(..., step=)` itself). The same 9-point grid (rate x floor, listed in no order
of merit) runs three times, --max-parallel 3, in the local backend: in full, with
`--early-stop asha` (min_steps 3, reduction_factor 3) and with `--early-stop median` (min_steps 3).
For each: the steps the points ran (read back from the store), the wall time, how many points were
stopped, and whether the best point is the grid's.

    .venv/bin/python bench/bench_adaptive.py [--steps 27] [--pause 0.2] [--parallel 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlrun_cli.tracking.filestore.store import FileStore

REPO = Path(__file__).resolve().parents[1]
GRID = {"rate": [0.15, 0.4, 0.05], "floor": [0.3, 0.1, 0.5]}
RULES: dict[str, dict[str, object] | None] = {
    "grid": None,
    "asha": {"rule": "asha", "min_steps": 3, "reduction_factor": 3},
    "median": {"rule": "median", "min_steps": 3},
}


@dataclass
class Row:
    steps: int
    wall: float
    stopped: int
    best: dict[str, str]
    running: int


def run(name: str, rule: dict[str, object] | None, work: Path, args: argparse.Namespace) -> Row:
    store = work / f"store-{name}"
    sweep = {"parameters": GRID, "objective": "loss:min", **({"early_stop": rule} if rule else {})}
    (work / f"{name}.yaml").write_text(json.dumps(sweep))
    argv = [
        str(Path(sys.executable).parent / "mlrun"), "run", str(REPO / "example_projects" / "curves"),
        "--env-manager", "local", "--sweep-file", str(work / f"{name}.yaml"), "--max-parallel",
        str(args.parallel), "-P", f"steps={args.steps}", "-P", f"pause={args.pause}", "--json",
    ]  # fmt: skip
    env = {**os.environ, "MLRUN_HOME": str(work / "home"), "MLFLOW_TRACKING_URI": str(store)}
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    files = FileStore(store)
    steps = sum(len(files.metric_history(str(p["run_id"]), "loss")) for p in out["children"])
    left_running = sum(r.status.name == "RUNNING" for r in files.search_runs(None, 1000))
    return Row(steps, wall, out.get("stopped_early", 0), out["best"]["point"], left_running)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--steps", type=int, default=27)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--parallel", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-adaptive-") as tmp:
        rows = {name: run(name, rule, Path(tmp), args) for name, rule in RULES.items()}
    grid = rows["grid"]
    print(f"9 points x {args.steps} steps, {args.pause:g} s a step, {args.parallel} at once (local backend)")
    header = ("sweep", "steps", "of grid", "wall s", "stopped", "left RUNNING")
    print("{:<8} {:>6} {:>8} {:>7} {:>8} {:>13}  best point".format(*header))
    for name, row in rows.items():
        same = "same as grid" if row.best == grid.best else "DIFFERENT from grid"
        best = " ".join(f"{k}={v}" for k, v in row.best.items())
        print(
            f"{name:<8} {row.steps:>6} {row.steps / grid.steps:>8.0%} {row.wall:>7.1f} {row.stopped:>8} "
            f"{row.running:>13}  {best} ({same})"
        )


if __name__ == "__main__":
    main()
