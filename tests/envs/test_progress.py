"""Build progress says what the build is doing: the step and uv's package count, live on a
terminal, and a heartbeat line every few seconds in a CI log (here: a real, slow, local build)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path

from mlrun_cli.envs.progress import progress
from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
PY_VERSION = __import__("sys").version_info
PY = f"{PY_VERSION.major}.{PY_VERSION.minor}"
# A PEP 517 backend in the package itself (no build requirements, so no index): it takes its
# time, as a real compiled package does, then writes a minimal wheel.
SLOW_BACKEND = """
import base64, hashlib, os, time, zipfile

NAME, VERSION = "mlrun_slow", "1.0"
DIST = f"{NAME}-{VERSION}.dist-info"


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    time.sleep(float(os.environ.get("SLOW_BUILD_SECONDS", "3")))
    files = {
        f"{NAME}/__init__.py": "",
        f"{DIST}/METADATA": f"Metadata-Version: 2.1\\nName: mlrun-slow\\nVersion: {VERSION}\\n",
        f"{DIST}/WHEEL": "Wheel-Version: 1.0\\nGenerator: slow\\nRoot-Is-Purelib: true\\n"
        "Tag: py3-none-any\\n",
    }
    record = [
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(t.encode())}"
        for p, t in files.items()
    ]
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{DIST}/RECORD", "\\n".join([*record, f"{DIST}/RECORD,,"]) + "\\n")
    return name
"""
SLOW_PYPROJECT = """[build-system]
requires = []
build-backend = "slow_backend"
backend-path = ["."]

[project]
name = "mlrun-slow"
version = "1.0"
"""


def test_a_slow_build_says_what_it_does_every_few_seconds_in_a_log(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str]
) -> None:
    project = project_factory(
        {
            "MLproject": "python_env: python_env.yaml\nentry_points:\n  main:\n    command: echo hi\n",
            "python_env.yaml": f'python: "{PY}"\ndependencies:\n  - ./slowpkg\n',
            "slowpkg/pyproject.toml": SLOW_PYPROJECT,
            "slowpkg/slow_backend.py": SLOW_BACKEND,
        }
    )
    env = {**offline, "MLRUN_PROGRESS_INTERVAL": "0.5", "SLOW_BUILD_SECONDS": "3"}
    built = mlrun("env", "build", str(project), env=env)
    assert built.returncode == 0, built.stderr
    lines = built.stderr.splitlines()
    heartbeat = re.compile(
        r"mlrun: building uv environment uv-\w+ \(python [\d.]+\): (\d+)s so far( \((.*)\))?"
    )
    beats = [m for m in map(heartbeat.fullmatch, lines) if m]
    # 3 s of building alone at one line every 0.5 s; the machine's load only adds lines.
    assert len(beats) >= 4, built.stderr
    steps = [m.group(3) for m in beats if m.group(3)]
    assert any(step.startswith("uv pip install") for step in steps), built.stderr
    assert any(re.fullmatch(r"uv pip install: resolved 1 package", s) for s in steps), built.stderr
    assert "\r" not in built.stderr  # no terminal control in a log
    assert re.search(r"\): done in \d+\.\d+s$", built.stderr.strip().splitlines()[-1]), built.stderr


def test_the_terminal_line_shows_the_step_and_the_count() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    with progress("building x", terminal, log=io.StringIO()) as log:
        log.write("$ /opt/uv/bin/uv pip install --python /e/bin/python -r /e/req.txt\n")
        log.write("Resolved 37 packages in 1.20s\n")
        time.sleep(0.5)
    assert "\rmlrun: building x ... 0." in terminal.getvalue()
    assert "s  uv pip install: resolved 37 packages\x1b[K" in terminal.getvalue()


def test_in_process_steps_and_the_log_itself() -> None:
    kept = io.StringIO()
    with progress("building y", io.StringIO(), log=kept) as log:
        log.write("# solving python 3.11 with rattler\nResol")
        assert log.status() == "solving python 3.11 with rattler"
        log.write("ved 1 package\n")
        assert log.status() == "solving python 3.11 with rattler: resolved 1 package"
        log.write("$ conda env create --prefix /e --file conda.yaml\n")
        assert log.status() == "conda env create"
    assert kept.getvalue().endswith("Resolved 1 package\n$ conda env create --prefix /e --file conda.yaml\n")
