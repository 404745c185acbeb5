"""Docker: the same project twice with --build-image, mlrun against `mlflow run --build-image`
(same base image), and mlrun's overhead over a bare `docker run` of the same image.

    .venv/bin/python bench/bench_docker.py [--runs N]

Needs a running Docker engine and busybox (as .ci/run sets up). Target: the second mlrun run
builds nothing and adds <= 0.5 s over `docker run`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import mlflow_env, timed
from tests.services.mlflow_env import ensure_mlflow_python

BASE = "mlrun-bench/busybox:1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    mlflow_bin = ensure_mlflow_python().parent
    mlrun = str(Path(sys.executable).parent / "mlrun")
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-docker-") as tmp:
        work = Path(tmp)
        context = work / "base"
        context.mkdir()
        shutil.copy(shutil.which("busybox") or "/bin/busybox", context / "busybox")
        (context / "Dockerfile").write_text(
            'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        )
        subprocess.run(["docker", "build", "-q", "-t", BASE, str(context)], check=True, capture_output=True)
        project = work / "project"
        project.mkdir()
        (project / "MLproject").write_text(
            f"name: bench\ndocker_env:\n  image: {BASE}\nentry_points:\n  main:\n    command: echo hi\n"
        )
        env = mlflow_env(mlflow_bin, work / "mlruns")
        commands = {
            "docker run (bare)": ["docker", "run", "--rm", BASE, "sh", "-c", "echo hi"],
            "mlrun run --build-image": [mlrun, "run", str(project), "--build-image"],
            "mlflow run --build-image": [str(mlflow_bin / "mlflow"), "run", str(project), "--build-image"],
        }
        times: dict[str, list[float]] = {}
        for name, argv in commands.items():  # first runs: build what needs building
            times.setdefault(f"{name}, first", []).append(timed(argv, env, work))
        for _ in range(args.runs):
            for name, argv in commands.items():
                times.setdefault(name, []).append(timed(argv, env, work))
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'what':<36} {'median s':>9}  runs: {args.runs}")
    for name, value in med.items():
        print(f"{name:<36} {value:9.3f}")
    extra = med["mlrun run --build-image"] - med["docker run (bare)"]
    print(f"\nmlrun (image reused) over a bare docker run: +{extra:.3f} s (target <= 0.5 s)")
    print(f"mlflow run / mlrun: {med['mlflow run --build-image'] / med['mlrun run --build-image']:.1f}x")


if __name__ == "__main__":
    main()
