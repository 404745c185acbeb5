"""Side venvs for the test tiers that need big packages the test venv must not see (MLflow, Ray):
each built once per machine with uv under .test-cache, and reused while its probe passes.

A file lock beside the venv makes a second pytest session (another worktree's CI, a parallel
tier) wait for a build under way instead of deleting the half-built venv under it."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SideVenv:
    name: str
    """Its folder under .test-cache, and what an error calls it."""
    env_var: str
    """Names a venv elsewhere (CI builds one and points every session at it)."""
    requirements: Sequence[str]
    """What `uv pip install` gets."""
    probe: str
    """Python code that exits 0 only in a usable venv."""
    accepts: Callable[[str], bool] = lambda stdout: True
    """Whether the probe's output fits too (e.g. mlrun-cli installed from THIS checkout)."""

    def directory(self) -> Path:
        return Path(os.environ.get(self.env_var, REPO / ".test-cache" / self.name))

    def python(self) -> Path:
        """The venv's python, built first when it is missing or its probe fails."""
        venv = self.directory()
        python = venv / "bin" / "python"
        if self._usable(python):
            return python
        venv.parent.mkdir(parents=True, exist_ok=True)
        with (venv.parent / f"{venv.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
            if not self._usable(python):  # another session may have built it while we waited
                self._build(venv, python)
        return python

    def _usable(self, python: Path) -> bool:
        if not python.exists():
            return False
        proc = subprocess.run([str(python), "-c", self.probe], capture_output=True, text=True, check=False)
        return proc.returncode == 0 and self.accepts(proc.stdout)

    def _build(self, venv: Path, python: Path) -> None:
        shutil.rmtree(venv, ignore_errors=True)
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if uv is None:
            raise RuntimeError(f"uv is needed to build the {self.name} side venv: pip install -e '.[test]'")
        subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        # Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set, importing MLflow
        # or Ray from source would take seconds on every run.
        install = [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python)]
        subprocess.run([*install, *self.requirements], check=True)
