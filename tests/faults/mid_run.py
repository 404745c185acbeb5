"""Real faults injected while a real `mlrun run` is under way: a tracking server stopped or hung
(the caller's), a store or $MLRUN_HOME turning read-only (`read_only`)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import MLRUN


@contextmanager
def started_run(project: Path, tracking_uri: str, cwd: Path | None = None) -> Iterator[subprocess.Popen[str]]:
    """`mlrun run PROJECT --env-manager local --tracking-uri URI` as a process, handed over once
    its command has printed "started" (the project's first line): the run is under way."""
    with subprocess.Popen(
        [*MLRUN, "run", str(project), "--env-manager", "local", "--tracking-uri", tracking_uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=os.environ.copy(),
    ) as run:
        assert run.stdout is not None and run.stdout.readline() == "started\n"
        yield run


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` read-only for everyone, root included: a read-only bind mount over itself."""
    if os.geteuid() != 0:  # every folder, so no file can be written or created anywhere in it
        folders = [path, *(p for p in path.rglob("*") if p.is_dir())]
        for folder in folders:
            folder.chmod(0o555)
        try:
            yield
        finally:
            for folder in folders:
                folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(path), str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def run_as_its_store_turns_read_only(
    project_factory: Callable[[dict[str, str]], Path], store: Path, cwd: Path | None = None
) -> tuple[int, str]:
    """A run into the file store `store` (created already) that turns read-only while the run's
    command runs (it ends with exit code 4 after 2 s): mlrun's exit code and its stderr."""
    project = project_factory(
        {"MLproject": "entry_points: {main: {command: 'echo started; sleep 2; exit 4'}}\n"}
    )
    with started_run(project, str(store), cwd=cwd) as run, read_only(store):
        _, err = run.communicate(timeout=60)
    return run.returncode, err
