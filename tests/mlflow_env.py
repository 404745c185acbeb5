"""A Python with MLflow and scikit-learn in a side venv, built once per machine with uv, reused.

Shared by the tests (fixture `mlflow_python`) and the benchmarks in bench/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def mlflow_venv_dir() -> Path:
    return Path(os.environ.get("MLRUN_TEST_MLFLOW_VENV", REPO / ".test-cache" / "mlflow-venv"))


def ensure_mlflow_python() -> Path:
    venv = mlflow_venv_dir()
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import mlflow, sklearn, flask_wtf"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to build the MLflow side environment: pip install -e '.[test]'")
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    # Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set, importing MLflow
    # from source would take seconds on every run.
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(python),
            "mlflow[auth]",
            "scikit-learn",
            "numpy",
        ],
        check=True,
    )
    return python
