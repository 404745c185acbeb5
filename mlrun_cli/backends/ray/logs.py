"""A Ray job's log followed as a stream: each byte crosses the network once.

Ray's Job API has no offset into a log: `get_job_logs` answers with the whole of it. Its tail
(`tail_job_logs`, a WebSocket) sends the log from its start and then each new chunk, and closes
once the job has ended and its log is read to the end. mlrun opens one tail per job it follows,
on one event loop thread for the whole process (not a thread per job), keeps what came in, and
each poll hands out what is new. A tail that breaks is opened again, skipping what already came;
a job that ended while its tail did not finish is read whole, once.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from mlrun_cli.backends.base import JobRef

_FILTER_LIMIT = 64 * 1024
"""Characters after the banner within which Ray's own line is looked for (it comes first)."""


def banner(submission_id: str) -> str:
    return f"mlrun: ray job {submission_id} starts"


def _cut(text: str, submission_id: str) -> tuple[bytes, bool]:
    """The command's output in `text`, and whether Ray's line about the entrypoint was cut out."""
    start = text.find(banner(submission_id) + "\n")
    if start < 0:
        return b"", False  # the command has not started
    # Not anchored: Ray's line may land after a partial line of the command's.
    ray_line = re.compile(rf"Running entrypoint for job {re.escape(submission_id)}: bash [^\n]*\n")
    body, cut = ray_line.subn("", text[start + len(banner(submission_id)) + 1 :], count=1)
    return body.encode(), cut == 1


def command_output(text: str, submission_id: str) -> bytes:
    return _cut(text, submission_id)[0]


@dataclass
class _Tail:
    submission_id: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    raw: str = ""
    """The log so far, while Ray's line may still come; then only what is in `out`."""
    out: bytearray = field(default_factory=bytearray)
    base: int = 0
    """The output offset `out` starts at (what every poll has taken is dropped)."""
    passing: bool = False
    """Ray's line is cut out: new chunks are output as they come."""
    received: int = 0
    """Characters of log received, over every stream opened."""
    stream: Future[None] | None = None
    closed: bool = False
    """The stream closed without an error: Ray does so once the job's log is read to its end
    (or when the dashboard stops, which a status that still says running tells apart)."""
    idle: int = 0
    """Polls since the stream closed while the job was not known to have ended."""
    ended: bool = False
    """The job ended and its output is all in: `out` holds the rest of it."""

    def feed(self, chunk: str) -> None:
        with self.lock:
            self.received += len(chunk)
            if self.passing:
                self.out += chunk.encode()
                return
            self.raw += chunk
            body, cut = _cut(self.raw, self.submission_id)
            self.out = bytearray(body)
            if cut or len(body) > _FILTER_LIMIT:
                self.passing, self.raw = True, ""

    def take(self, offset: int) -> bytes | None:
        """The output past `offset`; None when it is no longer held."""
        with self.lock:
            if offset < self.base:
                return None
            if self.passing:  # what was taken is not needed again
                del self.out[: min(offset - self.base, len(self.out))]
                self.base = max(self.base, offset)
                return bytes(self.out)
            return bytes(self.out[offset:])


_TAILS: dict[str, _Tail] = {}
_ENDED: set[str] = set()
_LOCK = threading.Lock()
_LOOP: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    with _LOCK:
        if _LOOP is None:
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, name="ray: log tails", daemon=True).start()
        return _LOOP


async def _follow(client: Any, tail: _Tail) -> None:
    skip = tail.received  # a stream opened again starts from the log's beginning
    async for chunk in client.tail_job_logs(tail.submission_id):
        if skip:
            dropped = min(skip, len(chunk))
            chunk, skip = chunk[dropped:], skip - dropped
        if chunk:
            tail.feed(chunk)
    tail.closed = True


def job_ended(ref: JobRef) -> None:
    """The job's status said it ended: its next read waits for its tail to finish."""
    with _LOCK:
        _ENDED.add(ref.key)


def new_output(ref: JobRef, offset: int, client: Any, whole: Callable[[], str], wait_s: float) -> bytes:
    """The output past `offset` (bytes); `whole` reads the entire log (the fallback)."""
    with _LOCK:
        tail = _TAILS.setdefault(ref.key, _Tail(ref.job_id))
        ended = ref.key in _ENDED
    stream = tail.stream
    if stream is not None and stream.done() and tail.closed and not ended:
        tail.idle += 1  # the job's end is usually known at the next poll or two
    if stream is None or (stream.done() and not tail.ended and (not tail.closed or tail.idle > 2)):
        tail.closed, tail.idle = False, 0
        stream = tail.stream = asyncio.run_coroutine_threadsafe(_follow(client, tail), _loop())
    if ended and not tail.ended:
        try:
            stream.result(timeout=wait_s)
            tail.ended = True
        except (FutureTimeout, Exception):  # a broken or silent tail: the log, whole, once
            stream.cancel()
            text = whole()
            tail.ended, tail.passing, tail.raw = True, True, ""
            with tail.lock:
                tail.out, tail.base = bytearray(command_output(text, ref.job_id)), 0
    taken = tail.take(offset)
    if taken is None:  # an offset before what is held: read whole
        return command_output(whole(), ref.job_id)[offset:]
    return taken
