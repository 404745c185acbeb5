"""Projects from git: first and second run of the same git://127.0.0.1 project at the same
version, mlrun against `mlflow run` (same no-op entry point, local env manager), medians and
ratios, and the overhead of the second mlrun run over running the same project from a folder.

    .venv/bin/python bench/bench_git.py [--runs N]

Target: the second mlrun run adds <= 0.3 s over a local run and makes no clone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import mlflow_env, timed
from tests.services.git_daemon import start_git_daemon
from tests.services.mlflow_env import ensure_mlflow_python

MLPROJECT = "name: bench\nentry_points:\n  noop:\n    command: python -c pass\n"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@b",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@b",
}


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    mlflow_bin = ensure_mlflow_python().parent
    mlrun = str(Path(sys.executable).parent / "mlrun")
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-git-") as tmp:
        work = Path(tmp)
        src = work / "src"
        (src / "sub").mkdir(parents=True)
        (src / "sub" / "MLproject").write_text(MLPROJECT)
        _git("init", "-q", "-b", "main", cwd=src)
        _git("add", "-A", cwd=src)
        _git("commit", "-q", "-m", "bench", cwd=src)
        served = work / "served"
        served.mkdir()
        _git("clone", "-q", "--bare", str(src), str(served / "proj.git"), cwd=work)
        daemon, port = start_git_daemon(served)
        uri = f"git://127.0.0.1:{port}/proj.git#sub"
        env = mlflow_env(mlflow_bin, work / "mlruns")
        home = work / "home"
        run_args = ["-e", "noop", "--env-manager", "local", "-v", "main"]
        times: dict[str, list[float]] = {}

        def record(name: str, seconds: float) -> None:
            times.setdefault(name, []).append(seconds)

        try:
            for _ in range(args.runs):
                shutil.rmtree(home, ignore_errors=True)
                run_env = {**env, "MLRUN_HOME": str(home)}
                record("mlrun, first run (clone)", timed([mlrun, "run", uri, *run_args], run_env, work))
                record("mlrun, second run", timed([mlrun, "run", uri, *run_args], run_env, work))
                record(
                    "mlrun, local folder",
                    timed(
                        [mlrun, "run", str(src / "sub"), "-e", "noop", "--env-manager", "local"],
                        run_env,
                        work,
                    ),
                )
                record(
                    "mlflow run (clones every time)",
                    timed([str(mlflow_bin / "mlflow"), "run", uri, *run_args], env, work),
                )
            clones = [p for p in (home / "git").iterdir() if (p / "HEAD").is_file()]
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'what':<34} {'median s':>9}  runs: {args.runs}")
    for name, value in med.items():
        print(f"{name:<34} {value:9.3f}")
    extra = med["mlrun, second run"] - med["mlrun, local folder"]
    print(
        f"\nsecond mlrun run over a local run: +{extra:.3f} s (target <= 0.3 s); "
        f"cached clones after all runs: {len(clones)}"
    )
    mlflow = med["mlflow run (clones every time)"]
    print(
        f"mlflow run / mlrun second run: {mlflow / med['mlrun, second run']:.1f}x; "
        f"mlflow run / mlrun first run: {mlflow / med['mlrun, first run (clone)']:.1f}x"
    )


if __name__ == "__main__":
    main()
