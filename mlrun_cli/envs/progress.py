"""Build progress: a live line with elapsed time on a terminal, plain log lines elsewhere (CI)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def announce(message: str, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    out.write(f"mlrun: {message}\n")
    out.flush()


@contextmanager
def progress(message: str, stream: TextIO | None = None) -> Iterator[None]:
    out = stream or sys.stderr
    started = time.monotonic()
    live = out.isatty()
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.2):
            out.write(f"\rmlrun: {message} ... {time.monotonic() - started:.1f}s")
            out.flush()

    ticker = threading.Thread(target=tick, daemon=True)
    if live:
        ticker.start()
    else:
        announce(f"{message} ...", out)
    outcome = "failed"
    try:
        yield
        outcome = "done"
    finally:
        stop.set()
        if live:
            ticker.join()
            out.write("\r")
        announce(f"{message}: {outcome} in {time.monotonic() - started:.1f}s", out)
