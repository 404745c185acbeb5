"""Build progress: a live line on a terminal, a heartbeat line every few seconds elsewhere (CI),
each saying which step runs and the latest package count the installer reported.

The steps are read from the build log as they are written to it: a build step run by
`process.run_logged` starts with `$ COMMAND`, a step done in-process writes `# WHAT`, and uv's
summary lines ("Resolved 37 packages in 2.1s") give the count.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TextIO

HEARTBEAT_ENV = "MLRUN_PROGRESS_INTERVAL"
DEFAULT_HEARTBEAT_S = 5.0
TERMINAL_TICK_S = 0.2
_COUNT = re.compile(
    r"^\s*(Resolved|Prepared|Downloaded|Built|Installed|Uninstalled|Audited) (\d+) packages?\b"
)


def announce(message: str, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    out.write(f"mlrun: {message}\n")
    out.flush()


def _step_name(command: str) -> str:
    """`/x/bin/uv pip install --python P -r f` -> `uv pip install`: the program and its verbs."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words:
        return command
    verbs = [w for w in words[1:3] if not w.startswith("-") and "/" not in w]
    name = [Path(words[0]).name]
    for verb in verbs:
        if words.index(verb) != len(name):
            break
        name.append(verb)
    return " ".join(name)


class BuildLog(io.StringIO):
    """The build log (when there is one) as the steps write to it, watched for the current step."""

    def __init__(self, target: IO[str] | None) -> None:
        super().__init__()
        self._target = target
        self._lock = threading.Lock()
        self._partial = ""
        self.step = ""
        self.detail = ""

    def write(self, text: str) -> int:
        with self._lock:  # a step's stdout and stderr are written from two threads
            if self._target is not None:
                self._target.write(text)
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            for line in lines:
                self._observe(line)
        return len(text)

    def flush(self) -> None:
        if self._target is not None:
            self._target.flush()

    def _observe(self, line: str) -> None:
        if line.startswith("$ "):
            self.step, self.detail = _step_name(line[2:]), ""
        elif line.startswith("# "):
            self.step, self.detail = line[2:].strip()[:80], ""
        elif (count := _COUNT.match(line)) is not None:
            number = int(count.group(2))
            self.detail = f"{count.group(1).lower()} {number} package{'s' if number != 1 else ''}"

    def status(self) -> str:
        with self._lock:
            return f"{self.step}: {self.detail}" if self.step and self.detail else self.step or self.detail


def heartbeat_interval() -> float:
    try:
        return max(0.05, float(os.environ.get(HEARTBEAT_ENV, DEFAULT_HEARTBEAT_S)))
    except ValueError:
        return DEFAULT_HEARTBEAT_S


@contextmanager
def progress(message: str, stream: TextIO | None = None, *, log: IO[str] | None = None) -> Iterator[BuildLog]:
    """Report `message` while the block runs; write the steps' output to the yielded log."""
    out = stream or sys.stderr
    started = time.monotonic()
    live = out.isatty()
    stop = threading.Event()
    watched = BuildLog(log)

    def tick() -> None:
        interval = TERMINAL_TICK_S if live else heartbeat_interval()
        while not stop.wait(interval):
            elapsed = time.monotonic() - started
            status = watched.status()
            if live:
                out.write(f"\rmlrun: {message} ... {elapsed:.1f}s{f'  {status}' if status else ''}\x1b[K")
            else:
                out.write(f"mlrun: {message}: {elapsed:.0f}s so far{f' ({status})' if status else ''}\n")
            out.flush()

    ticker = threading.Thread(target=tick, daemon=True)
    if not live:
        announce(f"{message} ...", out)
    ticker.start()
    outcome = "failed"
    try:
        yield watched
        outcome = "done"
    finally:
        stop.set()
        ticker.join()
        if live:
            out.write("\r\x1b[K")
        announce(f"{message}: {outcome} in {time.monotonic() - started:.1f}s", out)
