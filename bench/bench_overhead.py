"""Runner overhead: `mlrun run` against `mlflow run --env-manager local` on a no-op entry point.

Both record to a local file store; runs alternate so machine noise hits both alike. Also times
`mlrun --help` and `mlrun validate`. Prints medians and ratios.

    .venv/bin/python bench/bench_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import mlflow_env, timed
from tests.services.mlflow_env import ensure_mlflow_python

MLPROJECT = "name: bench\nentry_points:\n  noop:\n    command: python -c pass\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    mlflow_bin = ensure_mlflow_python().parent
    mlrun = str(Path(sys.executable).parent / "mlrun")
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-") as tmp:
        work = Path(tmp)
        project = work / "project"
        project.mkdir()
        (project / "MLproject").write_text(MLPROJECT)
        # `python` on PATH is the MLflow venv's for both runners, so the command costs the same.
        env = mlflow_env(mlflow_bin, None)
        commands = {
            "bare command": ["bash", "-c", "python -c pass"],
            "mlrun run": [
                mlrun,
                "run",
                str(project),
                "-e",
                "noop",
                "--env-manager",
                "local",
                "--tracking-uri",
                str(work / "mlruns-mlrun"),
            ],
            "mlflow run": [
                str(mlflow_bin / "mlflow"),
                "run",
                str(project),
                "-e",
                "noop",
                "--env-manager",
                "local",
            ],
            "mlrun --help": [mlrun, "--help"],
            "mlrun validate": [mlrun, "validate", str(project)],
        }
        mlflow_store_env = {**env, "MLFLOW_TRACKING_URI": (work / "mlruns-mlflow").as_uri()}
        for name, argv in commands.items():  # warm-up: file caches, first store creation
            timed(argv, mlflow_store_env if name == "mlflow run" else env, work)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(timed(argv, mlflow_store_env if name == "mlflow run" else env, work))
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'command':<16} {'median s':>9}  runs: {args.runs}, alternating")
    for name, value in med.items():
        print(f"{name:<16} {value:9.3f}")
    mlrun_overhead = med["mlrun run"] - med["bare command"]
    mlflow_overhead = med["mlflow run"] - med["bare command"]
    print(f"\nmlrun overhead over the bare command:  {mlrun_overhead:.3f} s (target <= 0.3 s)")
    print(f"mlflow overhead over the bare command: {mlflow_overhead:.3f} s")
    print(f"overhead ratio mlflow/mlrun: {mlflow_overhead / mlrun_overhead:.1f}x (target >= 7x)")
    print(f"wall ratio mlflow run/mlrun run: {med['mlflow run'] / med['mlrun run']:.1f}x")


if __name__ == "__main__":
    main()
