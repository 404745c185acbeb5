"""What a run could not record while its tracking store was unreachable, kept under
$MLRUN_HOME/outbox/<run_id>/ and sent later (`mlrun runs sync`, or the next command)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun_cli.atomic import write_atomic
from mlrun_cli.errors import TrackingUnreachable
from mlrun_cli.home import mlrun_home
from mlrun_cli.tracking.base import RunRef, RunStatus, Tracker


def outbox_root() -> Path:
    return mlrun_home() / "outbox"


class Recorder:
    """Records on an existing run; once the store stops answering, queues the rest on disk.

    The command is never held up by tracking: the run goes on and nothing is lost.
    """

    def __init__(self, tracker: Tracker, run: RunRef) -> None:
        self.tracker = tracker
        self.run = run
        self.folder = outbox_root() / run.run_id
        self.queued: list[dict[str, Any]] | None = None

    def _try(self, call: Callable[[], None]) -> bool:
        """Run `call` unless already queueing; False when the op must be queued instead."""
        if self.queued is not None:
            return False
        try:
            call()
            return True
        except TrackingUnreachable as error:
            self.queued = []
            sys.stderr.write(
                f"mlrun: warning: {error.message}; keeping what is left of run "
                f"{self.run.run_id} in {self.folder} (send it with: mlrun runs sync)\n"
            )
            return False

    def _queue(self, op: dict[str, Any]) -> None:
        assert self.queued is not None
        self.queued.append(op)
        document = {"tracking_uri": self.tracker.uri, "run_id": self.run.run_id, "ops": self.queued}
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / "ops.json", json.dumps(document, indent=2))

    def log_batch(self, params: Mapping[str, str], tags: Mapping[str, str]) -> None:
        if not self._try(lambda: self.tracker.log_batch(self.run.run_id, params, tags)):
            self._queue({"op": "log_batch", "params": dict(params), "tags": dict(tags)})

    def log_artifact(self, local_path: Path, artifact_path: str) -> None:
        if not self._try(lambda: self.tracker.log_artifact(self.run.run_id, local_path, artifact_path)):
            files = self.folder / "files"
            files.mkdir(parents=True, exist_ok=True)
            kept = files / f"{len(list(files.iterdir()))}-{local_path.name}"
            shutil.copyfile(local_path, kept)
            self._queue(
                {
                    "op": "log_artifact",
                    "file": str(kept),
                    "name": local_path.name,
                    "artifact_path": artifact_path,
                }
            )

    def end_run(self, status: RunStatus, end_time_ms: int) -> None:
        if not self._try(lambda: self.tracker.end_run(self.run.run_id, status, end_time_ms)):
            self._queue({"op": "end_run", "status": status.name, "end_time": end_time_ms})


@dataclass(frozen=True)
class SyncResult:
    run_id: str
    tracking_uri: str
    sent: int
    pending: int
    error: str | None = None


def _apply(tracker: Tracker, run_id: str, op: Mapping[str, Any]) -> None:
    if op["op"] == "log_batch":
        tracker.log_batch(run_id, op["params"], op["tags"])
    elif op["op"] == "log_artifact":
        staged = Path(op["file"]).with_name(op["name"])
        shutil.copyfile(op["file"], staged)
        tracker.log_artifact(run_id, staged, op["artifact_path"])
    elif op["op"] == "end_run":
        tracker.end_run(run_id, RunStatus[op["status"]], int(op["end_time"]))


def pending_runs() -> list[Path]:
    root = outbox_root()
    return sorted(p for p in root.iterdir() if (p / "ops.json").is_file()) if root.is_dir() else []


def flush() -> list[SyncResult]:
    """Send every queued operation, oldest first; stop at a store that still does not answer."""
    from mlrun_cli.tracking import get_tracker

    results = []
    for folder in pending_runs():
        document = json.loads((folder / "ops.json").read_text())
        ops: list[dict[str, Any]] = document["ops"]
        run_id, uri = document["run_id"], document["tracking_uri"]
        sent, error = 0, None
        try:
            tracker = get_tracker(uri)
            while ops:
                _apply(tracker, run_id, ops[0])
                ops.pop(0)
                sent += 1
                write_atomic(folder / "ops.json", json.dumps({**document, "ops": ops}, indent=2))
        except Exception as problem:
            error = getattr(problem, "message", str(problem))
        if not ops:
            shutil.rmtree(folder, ignore_errors=True)
        results.append(SyncResult(run_id, uri, sent, len(ops), error))
    return results
