"""Sweeps and the run cache.

1. `--needed` over a file store of 10 000 runs: the lookup alone (FileStore.search_runs_by_tag
   through mlrun_cli.runs.needed), and `mlrun run --needed` (a hit) against `mlrun run --dry-run`
   (the same planning, no lookup): the difference is what --needed adds. Target: <= 0.3 s.
2. Sweep overhead per point: `mlrun run -S n=1,...,N` (one process, --max-parallel 1) against a
   plain shell loop of N `mlrun run -P n=i`, on a no-op entry point.

    .venv/bin/python bench/bench_sweep.py [--store-runs 10000] [--points 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import timed
from mlrun_cli.runs import needed
from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore

MLPROJECT = (
    "name: bench\nentry_points:\n  main:\n    parameters: {n: {type: int, default: 0}}\n    command: 'true'\n"
)


def fill_store(root: Path, count: int) -> None:
    """`count` finished runs, each with its own fingerprint, as mlrun records them."""
    store = FileStore(root)
    store.check()
    for i in range(count):
        run = store.create_run("0", f"r{i}", "bench", 1000 + i, {tags.FINGERPRINT: f"{i:064x}"})
        store.end_run(run.run_id, RunStatus.FINISHED, 2000 + i)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store-runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    mlrun = str(Path(sys.executable).parent / "mlrun")
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-sweep-") as tmp:
        work = Path(tmp)
        project = work / "project"
        project.mkdir()
        (project / "MLproject").write_text(MLPROJECT)
        store = work / "mlruns"
        env = {**os.environ, "MLRUN_HOME": str(work / "home"), "MLFLOW_TRACKING_URI": str(store)}
        started = time.perf_counter()
        fill_store(store, args.store_runs)
        print(f"store of {args.store_runs} runs made in {time.perf_counter() - started:.1f} s")
        base = [mlrun, "run", str(project), "--env-manager", "local"]
        timed(base, env, work)  # the one run --needed will find
        lookups = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            found = needed.find_done(str(store), None, None, "f" * 64)  # a miss: the whole scan
            lookups.append(time.perf_counter() - start)
            assert found is None
        hit = [timed([*base, "--needed"], env, work) for _ in range(args.repeat)]
        plan = [timed([*base, "--dry-run"], env, work) for _ in range(args.repeat)]
        lookup = statistics.median(lookups)
        print(f"--needed lookup over {args.store_runs + 1} runs (a miss): {lookup * 1000:.0f} ms")
        hit_s, plan_s = statistics.median(hit), statistics.median(plan)
        print(f"mlrun run --needed (a hit): {hit_s:.3f} s; --dry-run: {plan_s:.3f} s")
        print(f"added by --needed: {hit_s - plan_s:+.3f} s")

        sweep_store = {**env, "MLFLOW_TRACKING_URI": str(work / "sweep-runs")}
        values = ",".join(str(i) for i in range(args.points))
        sweeps = [timed([*base, "-S", f"n={values}"], sweep_store, work) for _ in range(args.repeat)]
        loops = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            for i in range(args.points):
                timed([*base, "-P", f"n={i}"], sweep_store, work)
            loops.append(time.perf_counter() - start)
        sweep, loop = statistics.median(sweeps), statistics.median(loops)
        print(
            f"{args.points} points: sweep {sweep:.2f} s ({sweep / args.points * 1000:.0f} ms/point); "
            f"loop of single runs {loop:.2f} s ({loop / args.points * 1000:.0f} ms/point)"
        )


if __name__ == "__main__":
    main()
