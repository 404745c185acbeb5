"""A pod's log read incrementally: only the lines past the last one mlrun has seen.

The Kubernetes API has no byte offset into a pod's log, and the Python client has no `sinceTime`
(`sinceSeconds` alone would trust the node's clock to match ours). So each line is read with its
timestamp (`timestamps=true`, the runtime's own, nanosecond precision) and a poll asks for the
last `tailLines` lines only: the new ones follow the last line already seen, found again by its
timestamp and text. When that line is not among them, more lines are asked for (doubling), and a
log that no longer holds it (a new pod) is read whole. A poll therefore transfers about what the
pod wrote since the last one, not the whole log again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mlrun_cli.backends.base import JobRef

FEWEST = 4
"""Lines asked for at least: the last one seen and a few new ones."""

ReadLog = Callable[[int | None], bytes]
"""The pod's log with timestamps: its last N lines, or all of it (None)."""


@dataclass
class _Seen:
    pod: str
    last_line: bytes
    """The last line shown, with its timestamp: where the next read resumes."""
    shown: int
    """Bytes of output (timestamps removed) handed out so far."""
    rate: float = 0.0
    """Lines a second the log grew by at the last poll: the next asks for a quarter more."""
    read_at: float = field(default_factory=time.monotonic)


_SEEN: dict[str, _Seen] = {}
_LOCK = threading.Lock()


def lines_of(text: bytes) -> list[bytes]:
    """Lines as the runtime stamps them: ended by a newline only (a progress bar's `\\r` is
    inside a line, not the start of one)."""
    parts = text.split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def without_timestamp(line: bytes) -> bytes:
    """`2026-12-07T21:50:00.123456789Z hello\\n` -> `hello\\n` (the runtime adds one space)."""
    stamp, space, rest = line.partition(b" ")
    return rest if space and stamp[:1].isdigit() else line


def output(lines: list[bytes]) -> bytes:
    return b"".join(without_timestamp(line) for line in lines)


def new_output(ref: JobRef, pod: str, offset: int, read: ReadLog) -> bytes:
    """The output of `pod` past `offset` bytes; `read` fetches its log with timestamps."""
    with _LOCK:
        seen = _SEEN.get(ref.key)
    if seen is None or seen.pod != pod or seen.shown != offset:
        # First read (or another process's offset, or a new pod): the whole log, once.
        lines = lines_of(read(None))
        fresh = output(lines)[offset:]
        _remember(ref, pod, lines, offset + len(fresh), 0.0)
        return fresh
    elapsed = time.monotonic() - seen.read_at
    tail = max(FEWEST, math.ceil(seen.rate * elapsed * 1.25) + 2)
    while True:
        lines = lines_of(read(tail))
        found = _position(lines, seen.last_line)
        if found is not None:
            new = lines[found + 1 :]
            # The last line was shown unfinished (no newline yet): only the rest of it is new.
            rest = lines[found][len(seen.last_line) :]
            break
        if len(lines) < tail:  # the whole log, and the line is not in it: a new container
            new, rest = lines, b""
            break
        tail *= 2
    fresh = rest + output(new)
    last = new or ([lines[found]] if found is not None else [])
    _remember(ref, pod, last or [seen.last_line], seen.shown + len(fresh), len(new) / max(elapsed, 0.05))
    return fresh


def _position(lines: list[bytes], last: bytes) -> int | None:
    """Where the last line seen is now (itself, or its finished form)."""
    for n in range(len(lines) - 1, -1, -1):
        if lines[n] == last or (not last.endswith(b"\n") and lines[n].startswith(last)):
            return n
    return None


def _remember(ref: JobRef, pod: str, lines: list[bytes], shown: int, rate: float) -> None:
    with _LOCK:
        if lines:
            _SEEN[ref.key] = _Seen(pod, lines[-1], shown, rate)
        else:
            _SEEN.pop(ref.key, None)
