"""The public mlflow-example (issue 15's cold-env row), mlrun against `mlflow run` in the same run.

`example_projects/mlflow_example` is github.com/mlflow/mlflow-example at 0651d1c, vendored with
its licence (Apache 2.0) because this machine reaches no git host: a `conda_env` project whose
conda.yaml lists numpy, pandas, scikit-learn and, under pip, mlflow. Both runners build it as a
virtualenv with uv (`--env-manager uv`) and then train the model:

- cold: a fresh env root each round (mlrun's $MLRUN_HOME, MLflow's MLFLOW_ENV_ROOT), with uv's
  package cache warm for both, so the rows time the build and the run, not the downloads;
- warm: the second run in the same env root;
- edited: a pip requirement added to conda.yaml (a new env for both), in that same env root:
  mlrun's new env starts with the bytecode the first env's runs wrote for the files they share.

Rounds alternate the two runners, so machine noise hits both alike. The first round is a
warm-up that fills uv's cache and is not counted.

    .venv/bin/python bench/bench_example.py [--rounds N]

Target (issue 15): cold env + run <= 18 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import mlflow_env, timed
from tests.services.mlflow_env import ensure_mlflow_python

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_projects" / "mlflow_example"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds (after one warm-up)")
    args = parser.parse_args()
    mlflow_bin = ensure_mlflow_python().parent
    mlrun = str(Path(sys.executable).with_name("mlrun"))
    phases = ("cold", "warm", "edited")
    times: dict[str, list[float]] = {f"{t} {p}": [] for t in ("mlrun", "mlflow") for p in phases}
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-example-") as scratch:
        work = Path(scratch)
        project = work / "project"
        shutil.copytree(EXAMPLE, project)
        conda_yaml = project / "conda.yaml"
        original = conda_yaml.read_text()
        base = mlflow_env(mlflow_bin, work / "mlruns")
        base["PATH"] = f"{base['PATH']}:{Path(sys.executable).parent}"  # uv, for MLflow too
        for round_ in range(args.rounds + 1):
            roots = work / f"round-{round_}"
            env = {
                **base,
                "MLRUN_HOME": str(roots / "mlrun-home"),
                "MLFLOW_ENV_ROOT": str(roots / "mlflow-envs"),
            }
            argv = {
                "mlrun": [mlrun, "run", str(project), "--env-manager", "uv"],
                "mlflow": [str(mlflow_bin / "mlflow"), "run", str(project), "--env-manager", "uv"],
            }
            conda_yaml.write_text(original)
            for phase in phases:
                if phase == "edited":
                    conda_yaml.write_text(original.rstrip() + "\n    - tqdm\n")
                for tool in ("mlrun", "mlflow") if round_ % 2 == 0 else ("mlflow", "mlrun"):
                    seconds = timed(argv[tool], env, project)
                    if round_ > 0:
                        times[f"{tool} {phase}"].append(seconds)
            shutil.rmtree(roots, ignore_errors=True)
    print(f"{'mlflow-example (s), medians':<30} {'mlrun':>8} {'mlflow':>8} {'ratio':>7}  target")
    for phase, target in (("cold", "mlrun <= 18 s"), ("warm", ""), ("edited", "")):
        ours = statistics.median(times[f"mlrun {phase}"])
        theirs = statistics.median(times[f"mlflow {phase}"])
        print(f"{phase + ' env + run':<30} {ours:8.2f} {theirs:8.2f} {theirs / ours:6.1f}x  {target}")


if __name__ == "__main__":
    main()
