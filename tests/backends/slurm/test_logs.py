"""Following a Slurm job's output reads only its new bytes at each poll: mlrun's main thread (the
one that follows the log) runs under strace, and the reads of the job's output file are summed."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends import steady
from tests.conftest import MLRUN, run_captured

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _bytes_read(trace: str, path: str) -> int:
    """The bytes `read` returned on file descriptors opened on `path` (one thread's trace)."""
    mine: set[str] = set()
    total = 0
    for line in trace.splitlines():
        if (opened := re.match(r'openat\(AT_FDCWD, "(.*?)", .*\) = (\d+)$', line)) is not None:
            (mine.add if opened[1] == path else mine.discard)(opened[2])
        elif (read := re.match(r"read\((\d+), .*\) = (\d+)$", line)) is not None and read[1] in mine:
            total += int(read[2])
        elif (closed := re.match(r"close\((\d+)\)", line)) is not None:
            mine.discard(closed[1])
    return total


def test_a_steady_jobs_output_is_read_once_not_at_every_poll(
    project_factory: Callable[[dict[str, str]], Path], slurm_env: dict[str, str], isolated: Path
) -> None:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    project = project_factory(
        {
            "MLproject": "name: steady\nentry_points:\n  main:\n    command: bash steady.sh\n",
            "steady.sh": steady.SCRIPT,
        }
    )
    trace = isolated / "trace.txt"
    argv = [strace, "-e", "trace=openat,read,close", "-o", str(trace), *MLRUN]
    args = ["run", str(project), "-b", "slurm", "--env-manager", "local", "--json"]
    result = run_captured([*argv, *args], isolated, {**os.environ, **slurm_env}, 120)
    assert result.returncode == 0, result.stderr
    record = FileStore(isolated / "mlruns").get_run(json.loads(result.stdout)["run_id"])
    console = (Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log").read_text()
    steady.assert_incremental(_bytes_read(trace.read_text(), record.tags["mlrun.slurm.output"]), console)
