"""`runs list` over a big file store: mlrun (cold index, warm index, a filter with an order key)
against MLflow (`mlflow runs list`, and `search_runs(max_results=20)` in a Python process), in the
same run. Target: the top 20 of 10 000 runs in <= 0.3 s.

The store is written in MLflow's FileStore format directly (as `tracking/filestore/store.py` writes
it), each run with mlrun's usual tags, a parameter and a metric: 10 000 runs in a few seconds.

    .venv/bin/python bench/bench_runs_list.py [--runs 10000] [--repeat 5] [--mlflow-repeat 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import mlflow_env, timed
from tests.services.mlflow_env import ensure_mlflow_python

TAGS = ("mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.project.entryPoint",
        "mlflow.project.backend", "mlflow.project.env", "mlrun.command", "mlrun.version",
        "mlrun.exit_code", "mlrun.env.key", "mlrun.env.python", "mlrun.fingerprint")  # fmt: skip
SEARCH = """
import sys
from mlflow.tracking import MlflowClient
runs = MlflowClient(sys.argv[1]).search_runs(["0"], max_results=20)
assert len(runs) == 20
"""


def fill(root: Path, count: int) -> None:
    exp = root / "0"
    (exp / "tags").mkdir(parents=True)
    (root / ".trash").mkdir()
    (exp / "meta.yaml").write_text(
        f"artifact_location: {exp.as_uri()}\ncreation_time: 0\nexperiment_id: '0'\n"
        "last_update_time: 0\nlifecycle_stage: active\nname: Default\n"
    )
    for i in range(count):
        run_id = uuid.uuid4().hex
        run = exp / run_id
        for sub in ("metrics", "params", "tags", "artifacts"):
            (run / sub).mkdir(parents=True)
        (run / "meta.yaml").write_text(
            f"artifact_uri: {(run / 'artifacts').as_uri()}\nend_time: {1_700_000_001_000 + i * 1000}\n"
            f"entry_point_name: ''\nexperiment_id: '0'\nlifecycle_stage: active\nrun_id: {run_id}\n"
            f"run_name: run-{i}\nsource_name: ''\nsource_type: 4\nsource_version: ''\n"
            f"start_time: {1_700_000_000_000 + i * 1000}\nstatus: 3\ntags: []\nuser_id: bench\n"
        )
        for key in TAGS:
            (run / "tags" / key).write_text(f"{key}-{i % 97}")
        (run / "tags" / "mlflow.runName").write_text(f"run-{i}")
        (run / "params" / "alpha").write_text(str(i % 10 / 10))
        (run / "metrics" / "rmse").write_text(f"1700000000000 {(i * 7919) % 1000 / 1000} 0\n")


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mlflow-repeat", type=int, default=2)
    args = parser.parse_args()
    mlflow_python = ensure_mlflow_python()
    mlrun = str(Path(sys.executable).parent / "mlrun")
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-list-") as tmp:
        work = Path(tmp)
        store, home = work / "mlruns", work / "home"
        started = time.perf_counter()
        fill(store, args.runs)
        print(f"store of {args.runs} runs written in {time.perf_counter() - started:.1f} s")
        env = {**mlflow_env(mlflow_python.parent, store), "MLRUN_HOME": str(home)}
        top = [mlrun, "runs", "list", "--max-results", "20"]
        filtered = [
            *top,
            "--filter",
            "params.alpha = '0.3' and metrics.rmse < 0.5",
            "--order-by",
            "metrics.rmse",
        ]
        cold, warm, cold_filter, warm_filter = [], [], [], []
        for _ in range(args.repeat):
            shutil.rmtree(home, ignore_errors=True)
            cold.append(timed(top, env, work))
            warm.append(timed(top, env, work))
            cold_filter.append(timed(filtered, env, work))
            warm_filter.append(timed(filtered, env, work))
        mlflow_list = [str(mlflow_python.parent / "mlflow"), "runs", "list", "--experiment-id", "0"]
        search = [str(mlflow_python), "-c", SEARCH, store.as_uri()]
        listed = [timed(mlflow_list, env, work) for _ in range(args.mlflow_repeat)]
        searched = [timed(search, env, work) for _ in range(args.mlflow_repeat)]
        print(f"mlrun runs list, top 20, cold index: {median(cold)}")
        print(f"mlrun runs list, top 20, warm index: {median(warm)}")
        print(f"mlrun runs list --filter --order-by, first, reading the named keys: {median(cold_filter)}")
        print(f"mlrun runs list --filter --order-by, warm: {median(warm_filter)}")
        print(f"mlflow runs list: {median(listed)}; search_runs(max_results=20): {median(searched)}")
        best = statistics.median(searched)
        for name, values in (("warm", warm), ("warm filter", warm_filter), ("cold", cold)):
            print(f"ratio search_runs / mlrun {name}: {best / statistics.median(values):.0f}x")


if __name__ == "__main__":
    main()
