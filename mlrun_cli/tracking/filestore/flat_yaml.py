"""MLflow's meta.yaml files, read and written without YAML when they are as MLflow writes them: one
`key: value` line per field, plain or single-quoted scalars. A store's listing reads thousands of them, and
PyYAML (its import and its parser) would cost more than everything else together. Anything this
reader is not certain of (a list item, a double-quoted or multi-line string, a word YAML 1.1 turns
into a bool or a date) returns None, and the caller parses the text as YAML; the writer likewise
returns None for a value it has no certain form for (a float, a nested mapping), and the caller
dumps that one with PyYAML. Every run writes meta.yaml twice: PyYAML's import alone would cost a
local run a sixth of its time."""

from __future__ import annotations

import re
from typing import Any

_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_PLAIN = re.compile(r"[A-Za-z/][A-Za-z0-9_./:+-]*")
# A run id: hex with a letter in it, which no YAML 1.1 resolver takes (ints need all digits, floats
# a dot, binary ints "0b" and then only 0 and 1).
_HEX = re.compile(r"(?!0b)[0-9a-f]*[a-f][0-9a-f]*")
# Plain words PyYAML reads as something else than a string (YAML 1.1 booleans and nulls).
_SPECIAL = frozenset(
    [f"{word}" for base in ("yes", "no", "true", "false", "on", "off", "null")
     for word in (base, base.capitalize(), base.upper())]
)  # fmt: skip
_CONSTANTS: dict[str, Any] = {"null": None, "true": True, "false": False, "[]": [], "{}": {}}


def _scalar(text: str) -> tuple[bool, Any]:
    if text in _CONSTANTS:
        value = _CONSTANTS[text]
        return True, (
            list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value
        )
    if _INT.fullmatch(text):
        return True, int(text)
    if len(text) >= 2 and text[0] == text[-1] == "'" and "'" not in text[1:-1].replace("''", ""):
        return True, text[1:-1].replace("''", "'")
    if (_PLAIN.fullmatch(text) and text not in _SPECIAL and not text.endswith(":")) or _HEX.fullmatch(text):
        return True, text
    return False, None


def parse(text: str) -> dict[str, Any] | None:
    """The mapping, or None when the text is anything but MLflow's flat form."""
    data: dict[str, Any] = {}
    for line in text.splitlines():
        # Only spaces are YAML's to strip: a tab is an error to PyYAML, and other Unicode spaces
        # (a no-break space) are part of a plain scalar.
        match = _LINE.fullmatch(line.rstrip(" "))
        if match is None or match.group(1) in data or "\t" in line:
            return None
        value = match.group(2)
        if value is None or value == "":
            data[match.group(1)] = None
            continue
        known, parsed = _scalar(value.strip(" "))
        if not known:
            return None
        data[match.group(1)] = parsed
    return data or None


def _dumped(value: Any) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, dict)) and not value:
        return "[]" if isinstance(value, list) else "{}"
    if isinstance(value, str) and value.isprintable():
        return "'" + value.replace("'", "''") + "'"  # single-quoted: always a string, no escapes
    return None


def dump(data: dict[str, Any]) -> str | None:
    """The mapping as flat YAML (keys sorted, as PyYAML's safe_dump), or None when a key or a
    value needs more than this form."""
    lines = []
    for key in sorted(data):
        text = _dumped(data[key])
        plain_key = isinstance(key, str) and key not in _SPECIAL and _LINE.fullmatch(f"{key}:") is not None
        if text is None or not plain_key:
            return None
        lines.append(f"{key}: {text}\n")
    return "".join(lines)
