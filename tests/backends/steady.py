"""A job that prints steadily, for the tests that count what following its log costs: every
remote backend must fetch only the new output at each poll, not the whole log again."""

from __future__ import annotations

LINES = 100
WIDTH = 500
SCRIPT = f"""\
x=0123456789; x=$x$x$x$x$x$x$x$x$x$x; x=$x$x$x$x$x$x$x$x$x$x
i=0
while [ $i -lt {LINES} ]; do
  i=$((i + 1)); echo "$i $x" | cut -c1-{WIDTH}; sleep 0.05
done
"""
"""100 lines of 500 characters, one every 0.05 s (5 s): about 50 kB."""
OUTPUT = "".join(f"{n} {'0123456789' * 100}"[:WIDTH] + "\n" for n in range(1, LINES + 1))
"""What the job prints, exactly."""
MOST = 3
"""Bytes transferred at most, in logs' sizes. Reading the whole log at every poll costs about five
(about ten polls over the 5 s, then the reads after the end); reading what is new, about two on
Kubernetes (each line's timestamp, the last line seen again, a margin of lines)."""


def assert_incremental(transferred: int, console_log: str) -> None:
    assert console_log == OUTPUT, "the console log is not the job's output, once, in order"
    assert transferred >= len(OUTPUT), f"only {transferred} bytes counted: the count misses the log"
    assert transferred <= MOST * len(OUTPUT), f"{transferred} bytes moved for a {len(OUTPUT)}-byte log"
