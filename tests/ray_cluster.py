"""Ray for the ray tier: a side venv with `mlrun-cli[ray]` (editable, this checkout) built once per
machine with uv, and one real Ray head on 127.0.0.1 started from it for the whole session.

The side venv keeps Ray's ~400 MB of packages out of the test venv (whose start-up and import
checks must not see them), and installs the `ray` extra exactly as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ray_venv_dir() -> Path:
    return Path(os.environ.get("MLRUN_TEST_RAY_VENV", REPO / ".test-cache" / "ray-venv"))


def ensure_ray_python() -> Path:
    """The side venv's python: mlrun-cli of THIS checkout with its `ray` extra."""
    venv = ray_venv_dir()
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import ray.job_submission, mlrun_cli; print(mlrun_cli.__file__)"]
    if python.exists():
        proc = subprocess.run(check, capture_output=True, text=True, check=False)
        if proc.returncode == 0 and Path(proc.stdout.strip()).is_relative_to(REPO):
            return python
    shutil.rmtree(venv, ignore_errors=True)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to build the Ray side environment: pip install -e '.[test]'")
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python), "-e", f"{REPO}[ray]"],
        check=True,
    )
    return python
