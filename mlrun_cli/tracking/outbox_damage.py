"""What an outbox entry must hold (read_entry, op_problem), and what becomes of one that is
damaged: moved aside (quarantine), and its run ended all the same (replace_damaged).

An entry that cannot be read is moved aside (outbox/.quarantine/), and in its place goes the end
of its run, rebuilt so that the run never stays RUNNING on its server: from the job folder, where
`mlrun run` writes the command's end before sending it (`jobs/<run_id>/end.json`: status, exit
code, end time), else FAILED with `mlrun.error` naming the damage. The store is the one the entry
names (read from its text as far as it goes), else the one the job folder's owner.json names.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from mlrun_cli.shared import tags
from mlrun_cli.shared.home import write_atomic
from mlrun_cli.shared.job_records import OWNER_FILE, job_folder, read_end
from mlrun_cli.tracking.base import RunStatus

QUARANTINE = ".quarantine"
_URI = re.compile(r'"tracking_uri"\s*:\s*"([^"\\]+)"')
_FIELDS: dict[str, dict[str, type]] = {
    "log_batch": {"params": dict, "tags": dict},
    "log_metrics": {"metrics": dict, "timestamp": int},
    "log_artifact": {"file": str, "name": str, "artifact_path": str},
    "end_run": {"status": str, "end_time": int},
}


class Damaged(Exception):
    """An outbox entry that cannot be sent as it is."""


def read_entry(folder: Path) -> dict[str, Any]:
    try:
        document = json.loads((folder / "ops.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise Damaged(f"not readable JSON ({error})") from None
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("run_id"), str)
        or not isinstance(document.get("tracking_uri"), str)
        or not isinstance(document.get("ops"), list)
    ):
        raise Damaged("not an outbox record (run_id, tracking_uri and ops are needed)")
    return document


def op_problem(op: Any) -> str | None:
    """Why this queued op cannot be sent, if it cannot."""
    if not isinstance(op, dict):
        return "an entry that is not an object"
    fields = _FIELDS.get(str(op.get("op")))
    if fields is None:
        return f"unknown op {op.get('op')!r}"
    for name, kind in fields.items():
        if not isinstance(op.get(name), kind):
            return f"op {op['op']} without a valid {name!r}"
    if op["op"] == "end_run" and op["status"] not in RunStatus.__members__:
        return f"unknown status {op['status']!r}"
    if op["op"] == "log_artifact" and not Path(op["file"]).is_file():
        return f"its staged file {op['file']} is missing"
    return None


def quarantine(folder: Path, what: str | None = None) -> Path:
    """Move the whole entry (or write one op, `what`) aside, where nothing reads it again."""
    target = folder.parent / QUARANTINE / f"{folder.name}-{time.time_ns()}"  # beside the entries
    target.parent.mkdir(parents=True, exist_ok=True)
    if what is None:
        shutil.move(str(folder), str(target))
    else:
        write_atomic(target.with_suffix(".json"), what)
        target = target.with_suffix(".json")
    return target


def _json(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _store(damaged: Path, run_id: str) -> str | None:
    try:
        found = _URI.search(damaged.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        found = None
    if found:
        return found.group(1)
    uri = _json(job_folder(run_id) / OWNER_FILE).get("tracking_uri")
    return uri if isinstance(uri, str) and uri else None


def _recorded_end(run_id: str) -> tuple[str, int, int] | None:
    end = read_end(job_folder(run_id))
    return None if end is None else (str(end["status"]), end["exit_code"], end["end_time_ms"])


def replace_damaged(folder: Path, damaged: Path, problem: str) -> tuple[dict[str, Any] | None, str]:
    """Write in `folder` an entry that ends its run, for the entry whose ops.json was `damaged`
    (already moved aside); None when no store can be told for it. And what happens to the run."""
    run_id = folder.name
    uri = _store(damaged, run_id)
    if uri is None:
        return None, f"run {run_id} may stay RUNNING: nothing says where it is recorded"
    try:  # when the entry was last written: as near to the run's end as anything says
        fallback_time_ms = damaged.stat().st_mtime_ns // 1_000_000
    except OSError:
        fallback_time_ms = time.time_ns() // 1_000_000
    recorded = _recorded_end(run_id)
    why = f"its outbox entry was damaged ({problem}); what it held was not sent"
    if recorded is not None:
        status, code, when = recorded
        ended = f"the run ended {status} (exit code {code}); {why}"
        end_tags = {tags.EXIT_CODE: str(code), tags.ERROR: ended}
        if status == RunStatus.FINISHED.name:
            end_tags.pop(tags.ERROR)  # the run itself went well: only its extra records are lost
    else:
        status, when = RunStatus.FAILED.name, fallback_time_ms
        end_tags = {tags.ERROR: f"{why}, nor is its real end known"}
    end_tags = {key: value[: tags.MAX_TAG_LENGTH] for key, value in end_tags.items()}
    ops = [
        {"op": "log_batch", "params": {}, "tags": end_tags},
        {"op": "end_run", "status": status, "end_time": when},
    ]
    document = {"tracking_uri": uri, "run_id": run_id, "ops": ops}
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "ops.json", json.dumps(document, indent=2))
    source = "the end its job folder recorded" if recorded is not None else "FAILED (its real end is unknown)"
    return document, f"run {run_id} is ended with {source}"
