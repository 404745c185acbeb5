"""How sweep tests see parallelism: each point appends a `start <time>` line to one marks file
when it starts and an `end <time>` line when it ends; the peak of points running at once, read
back from those lines, is what --max-parallel promises."""

from __future__ import annotations

from pathlib import Path


def marked(command: str, marks: Path) -> str:
    """A shell command that marks its start and its end in `marks` (GNU date: sub-second times)."""
    return f"echo start $(date +%s.%N) >> {marks}; {command}; echo end $(date +%s.%N) >> {marks}"


def max_running(marks: Path) -> int:
    """The most points running at once: at equal times an end counts before a start."""
    events = []
    for line in marks.read_text().splitlines():
        kind, when, *_ = line.split()
        events.append((float(when), kind == "start"))
    running = peak = 0
    for _, start in sorted(events):
        running += 1 if start else -1
        peak = max(peak, running)
    return peak
