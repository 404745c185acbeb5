"""Find an installed Python that matches a requested version; never a silent mismatch."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlrun_cli.errors import ExecutionError, UsageError
from mlrun_cli.shared.process import run_captured

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: str  # X.Y.Z


def _parse(version: str) -> tuple[int, ...] | None:
    match = _VERSION.match(version)
    return tuple(int(p) for p in match.groups()) if match else None


def matches(version: str, request: str) -> bool:
    """'3.11' matches 3.11.x; '3.11.7' matches only itself; '3' matches any 3.x.y."""
    return version == request or version.startswith(request + ".")


def _current() -> Interpreter:
    base = getattr(sys, "_base_executable", None) or sys.executable
    return Interpreter(Path(base), ".".join(str(p) for p in sys.version_info[:3]))


def _pyenv() -> list[Interpreter]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = []
    if root.is_dir():
        for folder in root.iterdir():
            python = folder / "bin" / "python"
            if _parse(folder.name) and python.exists():
                found.append(Interpreter(python, folder.name))
    return found


def _uv_installed(uv: str) -> list[Interpreter]:
    argv = [uv, "python", "list", "--only-installed", "--output-format", "json"]
    try:
        listed = run_captured(argv, timeout=30, env_patch={"UV_PYTHON_DOWNLOADS": "never"})
    except ExecutionError:  # not found, not started, or no answer in time
        return []
    if listed.returncode != 0:
        return []
    out = listed.stdout
    found = []
    for item in json.loads(out or "[]"):
        path, version = item.get("path"), item.get("version")
        if path and version and _parse(version) and "shims" not in path:
            found.append(Interpreter(Path(path), version))
    return found


def find_interpreter(request: str | None, uv: Callable[[], str] | None = None) -> Interpreter:
    """The current Python when nothing is requested; else the newest installed match.

    Looks at the running interpreter, pyenv's versions folder, and what uv finds installed
    (downloads are never attempted).
    """
    current = _current()
    if request is None or matches(current.version, request):
        return current
    candidates = _pyenv()
    best = _best(candidates, request)
    if best is None and uv is not None:
        candidates += _uv_installed(uv())
        best = _best(candidates, request)
    if best is not None:
        return best
    versions = sorted({c.version for c in [current, *candidates]}, key=lambda v: _parse(v) or ())
    raise UsageError(
        f"no installed Python matches {request!r}; found: {', '.join(versions)}",
        hint="install it (e.g. 'pyenv install " + request + "') or change the "
        "python version in the project's env file",
    )


def _best(candidates: list[Interpreter], request: str) -> Interpreter | None:
    fitting = [c for c in candidates if matches(c.version, request)]
    return max(fitting, key=lambda c: _parse(c.version) or ()) if fitting else None
