"""What a run could not record while its tracking store was unreachable (or, for a local store,
unwritable), kept under $MLRUN_HOME/outbox/<run_id>/ and sent later: by `mlrun runs sync`, and
in a short bounded attempt by the next run into the same store.

Damaged entries never block: they are moved aside to outbox/.quarantine/ with one warning line,
and their run still ends (outbox_damage.py).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun_cli.errors import TrackingUnreachable
from mlrun_cli.shared.home import mlrun_home, write_atomic
from mlrun_cli.shared.uri_credentials import redact_uri, store_key
from mlrun_cli.tracking.base import RunRef, RunStatus, Tracker, log_metrics
from mlrun_cli.tracking.outbox_damage import Damaged as _Damaged
from mlrun_cli.tracking.outbox_damage import op_problem as _problem
from mlrun_cli.tracking.outbox_damage import quarantine as _quarantine
from mlrun_cli.tracking.outbox_damage import read_entry as _read

# What a run spends on its own store's backlog before it starts; the rest is `mlrun runs sync`'s.
RUN_FLUSH_BUDGET_S = 0.5


def outbox_root() -> Path:
    return mlrun_home() / "outbox"


def _warn(message: str) -> None:
    sys.stderr.write(f"mlrun: warning: {message}\n")


def _folder_lock(folder: Path) -> Any:
    from filelock import FileLock

    # Never waited for: whoever holds it (the run itself, another sync) is sending these ops.
    return FileLock(str(folder / ".lock"), timeout=0)


class Recorder:
    """Records on an existing run; once the store stops answering (or a local store cannot be
    written), queues the rest on disk.

    The command is never held up by tracking: the run goes on and nothing is lost.
    """

    def __init__(self, tracker: Tracker, run: RunRef) -> None:
        self.tracker = tracker
        self.run = run
        self.folder = outbox_root() / run.run_id
        self.queued: list[dict[str, Any]] | None = None
        self._lock: Any = None
        self._lost = False

    def _try(self, call: Callable[[], None]) -> bool:
        """Run `call` unless already queueing; False when the op must be queued instead."""
        if self.queued is not None:
            return False
        try:
            call()
            return True
        except (TrackingUnreachable, OSError) as error:  # OSError: a local store gone read-only
            self.queued = []
            reason = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            _warn(
                f"{reason}; keeping what is left of run {self.run.run_id} in {self.folder} "
                "(send it with: mlrun runs sync)"
            )
            return False

    def _queue(self, op: dict[str, Any], staged: Path | None = None) -> None:
        assert self.queued is not None
        try:
            if self._lock is None:  # held until the end is queued: no sync sends a half list
                self.folder.mkdir(parents=True, exist_ok=True)
                self._lock = _folder_lock(self.folder)
                with contextlib.suppress(Exception):  # unlocked, the ops are still kept
                    self._lock.acquire()
            if staged is not None:
                files = self.folder / "files"
                files.mkdir(parents=True, exist_ok=True)
                kept = files / f"{len(list(files.iterdir()))}-{staged.name}"
                shutil.copyfile(staged, kept)
                op["file"] = str(kept)
            self.queued.append(op)
            document = {"tracking_uri": self.tracker.uri, "run_id": self.run.run_id, "ops": self.queued}
            write_atomic(self.folder / "ops.json", json.dumps(document, indent=2))
        except Exception as error:  # the outbox itself is unwritable: say so once, never fail the run
            if not self._lost:
                _warn(f"cannot keep the records of run {self.run.run_id} in {self.folder}: {error}")
            self._lost = True
        if op["op"] == "end_run" and self._lock is not None:
            self._lock.release()

    def log_batch(self, params: Mapping[str, str], tags: Mapping[str, str]) -> None:
        if not self._try(lambda: self.tracker.log_batch(self.run.run_id, params, tags)):
            self._queue({"op": "log_batch", "params": dict(params), "tags": dict(tags)})

    def log_metrics(self, metrics: Mapping[str, float], timestamp_ms: int) -> None:
        if not self._try(lambda: log_metrics(self.tracker, self.run.run_id, metrics, timestamp_ms)):
            self._queue({"op": "log_metrics", "metrics": dict(metrics), "timestamp": timestamp_ms})

    def log_artifact(self, local_path: Path, artifact_path: str) -> None:
        if not self._try(lambda: self.tracker.log_artifact(self.run.run_id, local_path, artifact_path)):
            op = {"op": "log_artifact", "name": local_path.name, "artifact_path": artifact_path}
            self._queue(op, staged=local_path)

    def end_run(self, status: RunStatus, end_time_ms: int) -> None:
        if not self._try(lambda: self.tracker.end_run(self.run.run_id, status, end_time_ms)):
            self._queue({"op": "end_run", "status": status.name, "end_time": end_time_ms})


def queue_end(uri: str, run: RunRef, tags: Mapping[str, str], status: RunStatus, end_time_ms: int) -> None:
    """A run's end, queued after what the run queued itself, without a call to its store."""
    folder = outbox_root() / run.run_id
    folder.mkdir(parents=True, exist_ok=True)
    with _folder_lock(folder).acquire(timeout=0.2):  # a sync sending it now: the next reap pass
        ops = _read(folder)["ops"] if (folder / "ops.json").is_file() else []
        ops += [{"op": "log_batch", "params": {}, "tags": dict(tags)}]
        ops += [{"op": "end_run", "status": status.name, "end_time": end_time_ms}]
        document = {"tracking_uri": uri, "run_id": run.run_id, "ops": ops}
        write_atomic(folder / "ops.json", json.dumps(document, indent=2))


@dataclass(frozen=True)
class SyncResult:
    run_id: str
    tracking_uri: str
    sent: int
    pending: int
    error: str | None = None
    skipped: int = 0  # damaged ops moved aside to the quarantine, never sent


def _apply(tracker: Tracker, run_id: str, op: Mapping[str, Any]) -> None:
    if op["op"] == "log_batch":
        tracker.log_batch(run_id, op["params"], op["tags"])
    elif op["op"] == "log_metrics":
        log_metrics(tracker, run_id, op["metrics"], int(op["timestamp"]))
    elif op["op"] == "log_artifact":
        staged = Path(op["file"]).with_name(op["name"])
        shutil.copyfile(op["file"], staged)
        tracker.log_artifact(run_id, staged, op["artifact_path"])
    else:
        tracker.end_run(run_id, RunStatus[op["status"]], int(op["end_time"]))


def pending_runs() -> list[Path]:
    root = outbox_root()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and (p / "ops.json").is_file())


def _send(folder: Path, document: dict[str, Any], tracker_uri: str, deadline: float | None) -> SyncResult:
    from mlrun_cli.tracking import get_tracker

    ops: list[Any] = document["ops"]
    run_id, uri = document["run_id"], redact_uri(document["tracking_uri"])
    sent = skipped = 0
    error = None
    try:
        tracker = get_tracker(tracker_uri)
        from mlrun_cli.tracking.rest.tracker import RestTracker

        if isinstance(tracker, RestTracker):  # no try starts after the deadline
            tracker.deadline = deadline
        while ops:
            if deadline is not None and time.monotonic() >= deadline:
                error = "no time left in this attempt"
                break
            problem = _problem(ops[0])
            if problem is None:
                _apply(tracker, run_id, ops[0])
                sent += 1
            else:
                aside = _quarantine(folder, json.dumps(ops[0], indent=2))
                _warn(f"{folder / 'ops.json'}: skipping {problem}; moved aside to {aside}")
                skipped += 1
            ops.pop(0)
            write_atomic(folder / "ops.json", json.dumps({**document, "ops": ops}, indent=2))
    except Exception as problem:
        error = getattr(problem, "message", None) or f"{type(problem).__name__}: {problem}"
    if not ops:
        shutil.rmtree(folder, ignore_errors=True)
    return SyncResult(run_id, uri, sent, len(ops), error, skipped)


def flush(target_uri: str | None = None, *, budget_s: float | None = None) -> list[SyncResult]:
    """Send queued operations, oldest first.

    `target_uri`: only the runs of that store (credentials in it are used, never stored);
    None: every run, as `mlrun runs sync` does. `budget_s`: no request outlives it, and what is
    left stays queued. A store that does not answer is not tried again in the same call.
    """
    if target_uri == "none":
        return []
    wanted = None if target_uri is None else store_key(target_uri)
    deadline = None if budget_s is None else time.monotonic() + budget_s
    down: dict[str, str] = {}
    results = []
    for folder in pending_runs():
        if wanted is not None and _store_of(folder) not in (wanted, None):
            continue  # another store's backlog: read, not locked, so it costs a run nothing
        lock = _folder_lock(folder)
        try:
            lock.acquire()
        except Exception:  # held by a running mlrun or sync, or gone meanwhile: theirs to send
            continue
        try:
            result = _flush_one(folder, target_uri, wanted, deadline, down)
        finally:
            with contextlib.suppress(OSError):
                lock.release()
        if result is not None:
            results.append(result)
    return results


def _store_of(folder: Path) -> str | None:
    """The store an entry is for; None when the entry is damaged."""
    try:
        return store_key(_read(folder)["tracking_uri"])
    except _Damaged:
        return None


def _flush_one(
    folder: Path, target_uri: str | None, wanted: str | None, deadline: float | None, down: dict[str, str]
) -> SyncResult | None:
    try:
        document = _read(folder)
    except _Damaged as problem:
        from mlrun_cli.tracking.outbox_damage import replace_damaged

        aside = _quarantine(folder)
        rebuilt, outcome = replace_damaged(folder, aside / "ops.json", str(problem))  # the run ends
        _warn(f"{folder / 'ops.json'}: {problem}; moved aside to {aside}; {outcome}")
        if rebuilt is None:
            return SyncResult(folder.name, "(unknown)", 0, 0, f"damaged, moved aside to {aside}", 1)
        document = rebuilt
    key = store_key(document["tracking_uri"])
    if wanted is not None and key != wanted:
        return None
    shown = redact_uri(document["tracking_uri"])
    if key in down:
        return SyncResult(document["run_id"], shown, 0, len(document["ops"]), down[key])
    from mlrun_cli.shared.budget import budget  # one budgeted try per run; a store that hangs is `down`

    own = time.monotonic() + budget().operation_s
    result = _send(folder, document, target_uri or document["tracking_uri"], min(deadline or own, own))
    if result.pending and result.error:
        down[key] = result.error
    return result


def flush_quietly(tracking_uri: str) -> None:
    """Before a run: its own store's backlog, in a short bounded attempt; says what it sent."""
    for result in flush(tracking_uri, budget_s=RUN_FLUSH_BUDGET_S):
        if result.sent:
            sys.stderr.write(f"mlrun: sent {result.sent} pending records of run {result.run_id}\n")
