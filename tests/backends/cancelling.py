"""What the cancelling tests of every cluster backend check alike: Ctrl-C on an attached
`mlrun run` ends it with 130 and records the run KILLED; `mlrun runs cancel` ends a detached run
KILLED; a cancelled sweep leaves its parent and every child KILLED. Whether the cluster's own
job is gone is each backend's question (scontrol, Ray's job list, the Kubernetes API), asked in
its tests."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

from mlrun_cli.tracking.base import RunRecord, RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result


def ctrl_c(proc: subprocess.Popen[str], timeout: float, after_line: str | None = None) -> tuple[str, str]:
    """SIGINT to a running `mlrun run` (started with text pipes), once it has printed
    `after_line` when one is given; mlrun must cancel what it started and exit 130."""
    if after_line is not None:
        assert proc.stdout is not None
        assert proc.stdout.readline() == after_line  # the job runs, and its output streams
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 130, err
    return out, err


def assert_killed_by_ctrl_c(record: RunRecord) -> None:
    assert record.status is RunStatus.KILLED, record.tags.get("mlrun.error")
    assert record.tags["mlrun.error"] == "cancelled by mlrun on signal 2"


def assert_cancelled(cancelled: Result, record: RunRecord) -> None:
    """`mlrun runs cancel` of a run whose command was running: the command got SIGTERM (143),
    and the run (`record`, read after the cancel) is recorded KILLED."""
    assert cancelled.returncode == 0, cancelled.stderr
    assert "KILLED (exit code 143)" in cancelled.stderr, cancelled.stderr
    assert record.status is RunStatus.KILLED, record.tags.get("mlrun.error")


def assert_sweep_killed(store: FileStore, sweep: dict[str, Any], points: int) -> list[RunRecord]:
    """A cancelled sweep (its `--json` summary): every child and the parent ended KILLED."""
    children = [store.get_run(c["run_id"]) for c in sweep["children"]]
    assert len(children) == points, children
    assert all(c.status is RunStatus.KILLED for c in children), [
        (c.status.name, c.tags.get("mlrun.error")) for c in children
    ]
    assert store.get_run(sweep["parent_run_id"]).status is RunStatus.KILLED
    return children
