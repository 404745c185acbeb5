"""A run's job folder, `$MLRUN_HOME/jobs/<run_id>/`, and the records kept in it: the one place
their names and the end record's shape are written down.

- `owner.lock` and `owner.json`: who owns the running run (written and judged by
  `app/ownership.py`);
- `pgid`: the local backend's command's process group, for the reaper to stop;
- `container`: a mark that the run's command runs in a container (labelled with the run id), for
  the reaper to remove;
- `end.json`: the end of the run's command (status, exit code, end time), written before the end
  is sent, read by the reaper and by the outbox when an entry is damaged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mlrun_cli.shared.home import mlrun_home, write_atomic

OWNER_FILE = "owner.json"
LOCK_FILE = "owner.lock"
END_FILE = "end.json"
PGID_FILE = "pgid"
CONTAINER_FILE = "container"


def job_folder(run_id: str) -> Path:
    return mlrun_home() / "jobs" / run_id


def write_end(run_id: str, status: str, exit_code: int, end_time_ms: int) -> None:
    """The end of the run's command, kept in its job folder before anything is sent."""
    end = {"status": status, "exit_code": exit_code, "end_time_ms": end_time_ms}
    try:
        write_atomic(job_folder(run_id) / END_FILE, json.dumps(end))
    except OSError as error:  # the end is still sent; only a crash while sending would lose it
        sys.stderr.write(f"mlrun: warning: cannot keep the end of run {run_id}: {error}\n")


def read_end(folder: Path) -> dict[str, Any] | None:
    """The end.json of a job folder, when it is there and whole (else the run's end is unknown)."""
    try:
        end = json.loads((folder / END_FILE).read_text())
    except (OSError, ValueError):
        return None
    whole = isinstance(end, dict) and end.get("status") in ("FINISHED", "FAILED", "KILLED")
    whole = whole and isinstance(end.get("exit_code"), int) and isinstance(end.get("end_time_ms"), int)
    return end if whole else None
