"""Environment builds, side by side in one run, for the sklearn example's requirements
(numpy, scikit-learn, mlflow), with warm package caches for every tool:

- cold build: mlrun (uv) vs `mlflow run --env-manager virtualenv` vs plain `python -m venv` + pip;
- warm reuse: `mlrun run -e noop` with the cached env vs `--env-manager local`.

    .venv/bin/python bench/bench_envs.py [--cold-runs N] [--warm-runs N]

Targets: cold build >= 5x faster than venv+pip; warm reuse adds <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import timed
from tests.services.mlflow_env import ensure_mlflow_python

REPO = Path(__file__).resolve().parents[1]
PYTHON = ".".join(str(p) for p in sys.version_info[:3])
REQUIREMENTS = ["numpy", "scikit-learn", "mlflow"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold-runs", type=int, default=1)
    parser.add_argument("--warm-runs", type=int, default=7)
    args = parser.parse_args()
    mlflow_bin = ensure_mlflow_python().parent
    mlrun = str(Path(sys.executable).parent / "mlrun")
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-envs-") as tmp:
        work = Path(tmp)
        project = work / "project"
        shutil.copytree(REPO / "example_projects" / "sklearn_linear", project)
        # An exact version: MLflow resolves "3.11" through `pyenv install`, which downloads.
        (project / "python_env.yaml").write_text(
            f'python: "{PYTHON}"\nbuild_dependencies: [pip]\ndependencies: {REQUIREMENTS}\n'
        )
        base = {
            **os.environ,
            "MLFLOW_ALLOW_FILE_STORE": "true",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_TRACKING_URI": (work / "mlruns").as_uri(),
            "PYTHONDONTWRITEBYTECODE": "",
        }
        pyenv_bin = Path.home() / ".pyenv" / "bin"
        mlflow_env = {
            **base,
            "PATH": f"{mlflow_bin}:{pyenv_bin}:{base['PATH']}",
            "MLFLOW_ENV_ROOT": str(work / "mlflow-envs"),
        }
        mlrun_env = {**base, "MLRUN_HOME": str(work / "mlrun-home")}
        cold = {
            "mlrun (uv)": (
                [mlrun, "run", str(project), "-e", "noop"],
                mlrun_env,
                work / "mlrun-home" / "envs",
            ),
            "mlflow run --env-manager virtualenv": (
                [
                    str(mlflow_bin / "mlflow"),
                    "run",
                    str(project),
                    "-e",
                    "noop",
                    "--env-manager",
                    "virtualenv",
                ],
                mlflow_env,
                work / "mlflow-envs",
            ),
            "python -m venv + pip": (
                [
                    "bash",
                    "-c",
                    f"{sys.executable} -m venv {work}/plain && "
                    f"{work}/plain/bin/pip install -q {' '.join(REQUIREMENTS)}",
                ],
                base,
                work / "plain",
            ),
        }
        print("warming the package caches (one build each, not timed) ...", flush=True)
        for argv, env, env_dir in cold.values():
            timed(argv, env, work)
            shutil.rmtree(env_dir, ignore_errors=True)
        times: dict[str, list[float]] = {name: [] for name in cold}
        for _ in range(args.cold_runs):
            for name, (argv, env, env_dir) in cold.items():
                times[name].append(timed(argv, env, work))
                shutil.rmtree(env_dir, ignore_errors=True)
        # Warm reuse: build once more, then alternate cached-env runs with local runs.
        timed(cold["mlrun (uv)"][0], mlrun_env, work)
        warm_cmd = [mlrun, "run", str(project), "-e", "noop"]
        warm = {
            "mlrun run (cached uv env)": warm_cmd,
            "mlrun run --env-manager local": [*warm_cmd, "--env-manager", "local"],
        }
        local_env = {**mlrun_env, "PATH": f"{mlflow_bin}:{base['PATH']}"}
        for _ in range(args.warm_runs):
            for name, argv in warm.items():
                times.setdefault(name, []).append(
                    timed(argv, local_env if "local" in name else mlrun_env, work)
                )
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{'what':<40} {'median s':>9}")
    for name, value in med.items():
        print(f"{name:<40} {value:9.2f}")
    uv, pip, mlflow = (
        med["mlrun (uv)"],
        med["python -m venv + pip"],
        med["mlflow run --env-manager virtualenv"],
    )
    print(
        f"\ncold build: venv+pip / mlrun = {pip / uv:.1f}x (target >= 5x); "
        f"mlflow run / mlrun = {mlflow / uv:.1f}x"
    )
    reuse = med["mlrun run (cached uv env)"] - med["mlrun run --env-manager local"]
    print(f"warm reuse adds {reuse * 1000:.0f} ms over --env-manager local (target <= 50 ms)")


if __name__ == "__main__":
    main()
