"""Shared fixtures: an isolated working folder and environment for every test, example projects
as fixtures, a subprocess runner for the real `mlrun` command, and MLflow in a side venv."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import tiers
from tests.services.mlflow_env import ensure_mlflow_python

# Session fixtures shared by several tiers: the test images.
pytest_plugins = ["tests.services.docker_images"]
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "example_projects"
MLRUN = [sys.executable, "-m", "mlrun_cli"]
_ISOLATED_VARS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
    "MLRUN_ENV_MANAGER",
    "MLRUN_DEBUG",
    "MLRUN_HOME",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test works in its own folder, with no tracking variables inherited from the caller,
    and must leave os.environ as it found it."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in _ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLRUN_HOME", str(tmp_path / "mlrun-home"))
    before = _environ()
    yield work
    assert _environ() == before, "the test (or the code under test) changed os.environ"


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


@pytest.fixture
def example(tmp_path: Path) -> Callable[[str], Path]:
    """Copy an example project into tmp, so a test may change it freely."""

    def copy(name: str) -> Path:
        target = tmp_path / "projects" / name
        shutil.copytree(EXAMPLES / name, target)
        return target

    return copy


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_captured(argv: Sequence[str], cwd: Path, env: dict[str, str], timeout: float) -> Result:
    """Run a command to its end, its output captured as text (its exit code is the test's to check)."""
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def mlrun(isolated: Path) -> Callable[..., Result]:
    """Run the real `mlrun` command in a subprocess, in the test's working folder."""

    def call(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
    ) -> Result:
        return run_captured([*MLRUN, *args], cwd or isolated, {**os.environ, **(env or {})}, timeout)

    return call


Popen = Callable[..., "subprocess.Popen[Any]"]


# A suite started from a script's background job (`pytest &`) inherits SIGINT ignored, and so
# would every process it starts: the Ctrl-C tests would then see an mlrun that cannot be
# interrupted. A handled signal is reset to the default in a child, an ignored one is not.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def stopped_at_exit(grace_s: float = 60) -> Iterator[Popen]:
    """subprocess.Popen(argv, **kwargs) for a test that talks to a process while it runs, each in a
    session of its own. At exit everything still running is stopped: SIGTERM to every one first
    (so an mlrun cancels its cluster job), SIGKILL to each one's whole group after `grace_s` in
    all (also what a finished one left behind, a background `sleep`), and the pipes are read to
    the end and closed: a test that fails midway leaks neither a process nor an open pipe, whose
    ResourceWarning pytest would report as a failure of a later, unrelated test."""
    procs: list[subprocess.Popen[Any]] = []

    def start(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(argv, **kwargs)
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=10)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            proc.wait(timeout=10)


@pytest.fixture
def popen() -> Iterator[Popen]:
    """`stopped_at_exit` for the length of one test."""
    with stopped_at_exit() as start:
        yield start


def make_project(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


@pytest.fixture
def project_factory(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    counter = iter(range(1000))

    def make(files: dict[str, str]) -> Path:
        return make_project(tmp_path / f"project{next(counter)}", files)

    return make


@pytest.fixture(scope="session")
def mlflow_python() -> Path:
    """MLflow really installed, so tests can prove that its own client reads what mlrun writes."""
    return ensure_mlflow_python()


@pytest.fixture(scope="module")
def server(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server`, one per test module that asks for it (mark such tests mlflow)."""
    from tests.services.git_daemon import free_port
    from tests.services.mlflow_server import start_server, stop_server

    proc, url = start_server(mlflow_python, tmp_path_factory.mktemp("server"), free_port())
    yield url
    stop_server(proc)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers.mark_fast(items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    tiers.enter(item)
