"""Who owns a run: a killed mlrun is dead even while its parent has not reaped it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from mlrun_cli.runs import ownership


def test_an_unreaped_killed_owner_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = ownership.Owner(
        "r" * 32, "0", "file:///x", "/tmp/x", False, "/tmp/none", ownership._host(),
        ownership._boot_id(), child.pid, ownership._start_time(child.pid),
    )  # fmt: skip
    try:
        assert owner.alive()
        os.kill(child.pid, signal.SIGKILL)
        for _ in range(100):  # a zombie until waited for
            if ownership._stat(child.pid)[:1] == ["Z"]:
                break
            os.sched_yield()
        assert ownership._stat(child.pid)[:1] == ["Z"]
        assert not owner.alive()
    finally:
        child.kill()
        child.wait()


def test_an_owner_on_another_host_is_not_judged_here() -> None:
    owner = ownership.Owner("r" * 32, "0", "", "", False, "", "elsewhere.example", "", 1, "")
    assert owner.alive()
