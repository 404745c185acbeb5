"""A 200-point sweep on the test Slurm cluster: `mlrun run -b slurm -S x=range(0,200)` against
`sbatch --array=0-199` of the same command plus one hand-written poll loop (one state query a
second; squeue, as the test cluster's sacct cannot list array tasks).
Measured: wall time until every point is recorded (plain: until every task has ended),
the number of Slurm calls (PATH shims in front of the client wrappers count them), and mlrun's
peak threads and resident memory (read from /proc while it runs).

    bash .ci/slurm-up          # once: a one-node cluster; its client wrappers go first on PATH
    .venv/bin/python bench/bench_sweep_cluster.py [--points 200]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SLURM_BIN = Path(os.environ.get("MLRUN_SLURM_DIR", "/tmp/mlrun-slurm")) / "bin"
COMMAND = "echo point x=$1"
TOOLS = ("sbatch", "squeue", "scontrol", "scancel", "sacct")
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL")


def shims(folder: Path) -> tuple[dict[str, str], Path]:
    folder.mkdir()
    calls = folder / "calls.log"
    for tool in TOOLS:
        shim = folder / tool
        shim.write_text(f'#!/bin/sh\necho "{tool} $1 $2" >> {calls}\nexec {SLURM_BIN / tool} "$@"\n')
        shim.chmod(0o755)
    path = f"{folder}{os.pathsep}{SLURM_BIN}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": path}, calls


def counted(calls: Path) -> collections.Counter[str]:
    lines = calls.read_text().splitlines() if calls.exists() else []
    return collections.Counter(" ".join(line.split()[:1]) for line in lines)


def _proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def run_mlrun(work: Path, points: int) -> tuple[float, collections.Counter[str], int, float]:
    env, calls = shims(work / "mlrun-shims")
    env["MLRUN_HOME"] = str(work / "home")
    (work / "proj").mkdir()
    (work / "proj" / "MLproject").write_text(
        "name: bench\nentry_points:\n  main:\n    parameters: {x: {type: int, default: 0}}\n"
        "    command: echo point x={x}\n"
    )
    argv = [sys.executable, "-m", "mlrun_cli", "run", "proj", "-b", "slurm", "--env-manager", "local",
            "--tracking-uri", str(work / "mlruns"), "-S", f"x=range(0,{points})", "--json"]  # fmt: skip
    start = time.perf_counter()
    out_file, err_file = (work / "mlrun.out").open("w+b"), (work / "mlrun.err").open("w+b")
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=out_file, stderr=err_file)  # no pipe to fill
    threads, rss_kb = 0, 0
    while proc.poll() is None:
        status = _proc_status(proc.pid)
        threads = max(threads, int(status.get("Threads", "0").strip() or 0))
        rss_kb = max(rss_kb, int(status.get("VmHWM", "0 kB").split()[0] or 0))
        time.sleep(0.05)
    wall = time.perf_counter() - start
    out, err = (work / "mlrun.out").read_bytes(), (work / "mlrun.err").read_bytes()
    out_file.close()
    err_file.close()
    if proc.returncode != 0:
        failed = [c for c in json.loads(out or b"{}").get("children", []) if c["status"] != "FINISHED"]
        raise SystemExit(f"mlrun failed ({proc.returncode}): {failed[:3]}\n{err.decode()[-2000:]}")
    return wall, counted(calls), threads, rss_kb / 1024


def run_plain(work: Path, points: int) -> tuple[float, collections.Counter[str]]:
    env, calls = shims(work / "plain-shims")
    script = work / "point.sh"
    script.write_text(f"#!/bin/sh\n{COMMAND}\n")
    start = time.perf_counter()
    array = subprocess.run(
        ["sbatch", "--parsable", f"--array=0-{points - 1}", f"--output={work}/plain-%a.out", str(script)],
        env=env, cwd=work, capture_output=True, text=True, check=True,
    ).stdout.strip().split(";")[0]  # fmt: skip
    while True:
        time.sleep(1.0)
        # The test cluster has no accounting database, and `sacct -c` (the job completion log)
        # does not list array tasks: the loop's one state query is squeue, once a second.
        argv = ["squeue", "-h", "-r", "-t", "all", "-j", array, "-o", "%T"]
        out = subprocess.run(argv, env=env, capture_output=True, text=True).stdout
        ended = sum(1 for word in out.split() if word in ENDED)
        if ended >= points:
            return time.perf_counter() - start, counted(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=200)
    args = parser.parse_args()
    if not (SLURM_BIN / "sbatch").exists():
        raise SystemExit(f"no Slurm client wrappers in {SLURM_BIN}: run 'bash .ci/slurm-up' first")
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-sweep-") as tmp:
        work = Path(tmp)
        m_wall, m_calls, threads, rss_mb = run_mlrun(work, args.points)
        p_wall, p_calls = run_plain(work, args.points)
    print(f"{args.points}-point sweep on the test Slurm cluster (command: echo)")
    widths = {"wall s": 8, "sbatch": 7, "squeue": 7, "sacct": 6, "scontrol": 9, "threads": 8, "RSS MB": 7}
    print(f"{'':32} " + " ".join(f"{name:>{width}}" for name, width in widths.items()))
    for name, wall, calls, t, r in (
        ("sbatch --array + poll loop", p_wall, p_calls, "-", "-"),
        ("mlrun run -b slurm -S", m_wall, m_calls, str(threads), f"{rss_mb:.0f}"),
    ):
        print(f"{name:32} {wall:8.1f} {calls['sbatch']:7} {calls['squeue']:7} {calls['sacct']:6} "
              f"{calls['scontrol']:9} {t:>8} {r:>7}")  # fmt: skip


if __name__ == "__main__":
    main()
