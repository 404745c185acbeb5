"""What the benchmarks share: timing one command."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall time of one run; a failing command stops the benchmark with its output."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def mlflow_env(mlflow_bin: Path, store: Path | None) -> dict[str, str]:
    """The environment both runners get: MLflow's venv first on PATH, a file store, no telemetry."""
    import os

    env = {
        **os.environ,
        "PATH": f"{mlflow_bin}:{os.environ['PATH']}",
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    if store is not None:
        env["MLFLOW_TRACKING_URI"] = store.as_uri()
    return env
