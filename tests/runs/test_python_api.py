"""`import mlrun_cli` from a plain script in a fresh venv, as a user would from a notebook: the
sklearn example runs, a 2-point sweep runs, a submitted run is waited for and another cancelled,
errors are mlrun's own exceptions, importing stays light, and a caller's code type-checks against
the shipped py.typed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO
from tests.services.mlflow_env import on_path

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]

SCRIPT = """
from __future__ import annotations

import json, sys, time
import mlrun_cli
from mlrun_cli import MlrunError, RunResult, RunStatus, SubmittedRun

light = not any(m in sys.modules for m in ("click", "docker", "mlrun_cli.cli"))
example, scratch = sys.argv[1], sys.argv[2]
result = mlrun_cli.run(example, parameters={"alpha": 0.3}, env_manager="local", experiment_name="api")
assert isinstance(result, RunResult) and result.status is RunStatus.FINISHED, result
handle = mlrun_cli.run(scratch, entry_point="slow", env_manager="local", synchronous=False)
assert isinstance(handle, SubmittedRun) and handle.run_id and handle.status() is RunStatus.RUNNING
cancelled = handle.cancel()
waited = mlrun_cli.run(scratch, entry_point="quick", env_manager="local", synchronous=False)
assert isinstance(waited, SubmittedRun)
done = waited.wait()
try:
    mlrun_cli.run(scratch, entry_point="nope", env_manager="local")
    error = None
except MlrunError as caught:
    error = (type(caught).__name__, caught.exit_code, caught.message)
swept = mlrun_cli.run(scratch, entry_point="point", sweep={"x": [1, 2]}, env_manager="local")
assert isinstance(swept, mlrun_cli.SweepResult)
report = mlrun_cli.validate(scratch)
print(json.dumps({
    "light": light, "run_id": result.run_id, "exit_code": result.exit_code, "params": result.params,
    "cancelled": [cancelled.status.name, cancelled.exit_code], "done": [done.status.name, done.exit_code],
    "error": error, "valid": report.valid,
    "sweep": [swept.exit_code, [p.status for p in swept.points], len(swept.created)],
}))
"""


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with only mlrun-cli installed (from this checkout, as pip would from PyPI)."""
    root = tmp_path_factory.mktemp("user")
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), str(REPO)], check=True, timeout=600)
    return python


def test_a_script_runs_projects_through_the_api(
    user_venv: Path, mlflow_python: Path, project_factory: Callable[[dict[str, str]], Path], tmp_path: Path
) -> None:
    scratch = project_factory(
        {
            "MLproject": "entry_points:\n  slow: {command: 'sleep 60'}\n"
            "  quick: {command: 'echo quick; exit 3'}\n"
            "  point: {parameters: {x: {type: int}}, command: 'echo x={x}'}\n",
        }
    )
    example = tmp_path / "sklearn_linear"
    shutil.copytree(EXAMPLES / "sklearn_linear", example)
    (tmp_path / "script.py").write_text(SCRIPT)
    # `python` for the example's command is MLflow's venv (numpy, scikit-learn, mlflow).
    env = {**os.environ, **on_path(mlflow_python)}
    proc = subprocess.run(
        [str(user_venv), str(tmp_path / "script.py"), str(example), str(scratch)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["light"] is True  # `import mlrun_cli` loads no click, no docker
    assert data["exit_code"] == 0 and data["params"] == {"alpha": "0.3"}
    assert data["cancelled"] == ["KILLED", 143]
    assert data["done"] == ["FAILED", 3]
    assert data["error"][0] == "ParameterError" or data["error"][1] == 2
    assert data["valid"] is True
    assert data["sweep"] == [0, ["FINISHED", "FINISHED"], 2]  # a 2-point sweep, one child run each
    assert "alpha=0.3 mse=" in proc.stdout  # the child's output, as a CLI run shows it
    assert "Traceback" not in proc.stderr


def test_a_callers_code_type_checks(user_venv: Path, tmp_path: Path) -> None:
    caller = tmp_path / "caller.py"
    caller.write_text(
        "import mlrun_cli\n"
        "result = mlrun_cli.run('.', parameters={'alpha': 1}, env_manager='local')\n"
        "if isinstance(result, mlrun_cli.RunResult):\n"
        "    code: int = result.exit_code\n"
        "report = mlrun_cli.validate('.')\n"
        "ok: bool = report.valid\n"
        "bad: str = mlrun_cli.validate('.')\n"
    )
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert mypy
    proc = subprocess.run(
        [mypy, "--strict", "--python-executable", str(user_venv), str(caller)],
        capture_output=True,
        text=True,
        check=False,
    )
    # The one deliberate mistake is found, and nothing else: the package is typed for callers.
    assert proc.returncode == 1, proc.stdout
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "caller.py:7" in errors[0], proc.stdout
