"""How a message names what the user wrote (a file, a value), and the fix it suggests when one
is likely. Light: `mlrun validate` of a project known valid names its MLproject with it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def display_path(path: Path) -> str:
    """A path as the user can open it: relative to the working directory when below it."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def describe_value(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if value is None:
        return "nothing (null)"
    return f"the string {value!r}"


def did_you_mean(word: str, options: Iterable[str]) -> str:
    import difflib  # not on the path of a project known valid

    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
