"""House rules that a reviewer would check: lint, types, import layers, one test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is part of the test extra"
    return found


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [_tool("ruff"), "check", str(REPO)], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    proc = subprocess.run([_tool("mypy")], capture_output=True, text=True, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_imports_keep_the_layers() -> None:
    """The contracts in pyproject.toml ([tool.importlinter]): the layers of ARCHITECTURE.md, and
    engines that never import each other."""
    proc = subprocess.run(
        [_tool("lint-imports"), "--no-cache"], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_runs_the_readme_test_command() -> None:
    command = next(
        line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.startswith("python3 -m venv")
    )
    assert f"```sh\n{command}\n```" in (REPO / "README.md").read_text()
