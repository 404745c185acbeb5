"""Durations as users write them: `90s`, `30m`, `2h`, `1d`, or plain seconds (`90`, `1.5`)."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float, *, allow_zero: bool = False) -> float:
    """Seconds; ValueError (with what is accepted) for anything else, or for zero unless
    `allow_zero` (a wait may be none at all; a time limit may not)."""
    match = _DURATION.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a duration (such as 90s, 30m, 2h, or seconds)")
    seconds = float(match.group(1)) * _SECONDS[match.group(2).lower()]
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{text!r}: a duration must be more than 0")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
