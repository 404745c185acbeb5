"""The `popen` fixture's teardown (tests/conftest.py): what a failed test leaves running is
stopped, and its pipes are closed, so nothing is left for a later test's garbage collection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import stopped_at_exit

POLITE = "import time; print('up', flush=True); time.sleep(60)"
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
    "time.sleep(60)"
)


def test_what_still_runs_is_stopped_and_its_pipes_closed() -> None:
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with stopped_at_exit(grace_s=2) as start:
        polite = start([sys.executable, "-c", POLITE], **pipes)
        stubborn = start([sys.executable, "-c", STUBBORN], **pipes)
        done = start([sys.executable, "-c", "print('done')"], **pipes)
        for proc in (polite, stubborn):
            assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        assert done.communicate(timeout=30) == ("done\n", "")  # already read: teardown copes
    assert polite.returncode == -signal.SIGTERM  # a chance to clean up first
    assert stubborn.returncode == -signal.SIGKILL  # then no choice
    assert done.returncode == 0
    for proc in (polite, stubborn, done):
        assert all(pipe is not None and pipe.closed for pipe in (proc.stdin, proc.stdout, proc.stderr))


def test_what_a_process_left_behind_is_stopped_with_it(tmp_path: Path) -> None:
    """A shell that started a background job and ended: the job is in its group, and goes too."""
    pid_file = tmp_path / "pid"
    with stopped_at_exit(grace_s=2) as start:
        shell = start(["bash", "-c", f"sleep 300 & echo $! > {pid_file}"])
        shell.wait(timeout=30)
        left = int(pid_file.read_text())
        os.kill(left, 0)  # still running, orphaned
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(left, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("the background sleep outlived the teardown")
