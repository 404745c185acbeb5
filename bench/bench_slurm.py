"""Submit-to-finish latency on Slurm: `mlrun run -b slurm` of a trivial project (tracked, output
streamed and saved) against plain `sbatch --parsable --wrap` of the same command followed by
polling `scontrol show job` every 0.1 s until the job has ended. Alternating runs, medians, ratio.

    bash .ci/slurm-up          # once: a one-node cluster; its client wrappers go first on PATH
    .venv/bin/python bench/bench_slurm.py [--runs N]

Target: mlrun adds <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import timed

SLURM_BIN = Path(os.environ.get("MLRUN_SLURM_DIR", "/tmp/mlrun-slurm")) / "bin"
COMMAND = "echo hello from slurm"
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL")


def plain_sbatch(env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    job = (
        subprocess.run(
            ["sbatch", "--parsable", f"--output={cwd}/plain-%j.out", "--wrap", COMMAND],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .split(";")[0]
    )
    while True:
        shown = subprocess.run(
            ["scontrol", "show", "job", "-o", job], env=env, capture_output=True, text=True, check=True
        ).stdout
        state = re.search(r"JobState=(\S+)", shown)
        if state and state[1] in TERMINAL:
            return time.perf_counter() - start
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not (SLURM_BIN / "sbatch").exists():
        raise SystemExit(f"no Slurm client wrappers in {SLURM_BIN}: run 'bash .ci/slurm-up' first")
    mlrun = str(Path(sys.executable).parent / "mlrun")
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-slurm-") as tmp:
        work = Path(tmp)
        (work / "proj").mkdir()
        (work / "proj" / "MLproject").write_text(
            f"name: bench\nentry_points:\n  main:\n    command: {COMMAND}\n"
        )
        env = {**os.environ, "PATH": f"{SLURM_BIN}:{os.environ['PATH']}", "MLRUN_HOME": str(work / "home")}
        argv = [
            mlrun,
            "run",
            "proj",
            "-b",
            "slurm",
            "--env-manager",
            "local",
            "--tracking-uri",
            str(work / "mlruns"),
        ]
        timed(argv, env, work)  # warm-up: imports, the experiment, the scheduler's first pass
        plain_sbatch(env, work)
        mlrun_times, plain_times = [], []
        for _ in range(args.runs):
            mlrun_times.append(timed(argv, env, work))
            plain_times.append(plain_sbatch(env, work))
    m, p = statistics.median(mlrun_times), statistics.median(plain_times)
    print(f"runs: {args.runs} each, alternating; command: {COMMAND!r}")
    print(
        f"sbatch --wrap + poll : median {p:.3f} s  (min {min(plain_times):.3f}, max {max(plain_times):.3f})"
    )
    print(
        f"mlrun run -b slurm   : median {m:.3f} s  (min {min(mlrun_times):.3f}, max {max(mlrun_times):.3f})"
    )
    print(f"mlrun adds           : {m - p:+.3f} s (target <= 1.0 s); ratio {m / p:.2f}x")


if __name__ == "__main__":
    main()
