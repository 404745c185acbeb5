"""MLflow's run search grammar (`search_runs`' filter_string and order_by), parsed and evaluated
here so that a file store answers as MLflow's own client does, without MLflow.

    metrics.rmse < 0.8 and params.alpha = '0.1' and tags.`mlflow.parentRunId` = 'abc'
    attributes.status IN ('FINISHED', 'FAILED') and run_name LIKE 'train%'

Conditions are joined by AND only (MLflow has no OR); keys may be quoted with backticks or double
quotes. A bad filter is a FilterError (exit 2) that points at the column where it went wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlrun_cli.errors import UsageError

_KINDS = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
}  # fmt: skip
_ALIASES = {"created": "start_time", "Created": "start_time", "run name": "run_name"}
_ALIASES.update({"Run name": "run_name", "Run Name": "run_name"})
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
STRING_ATTRIBUTES = frozenset({"run_id", "run_name", "user_id", "status", "artifact_uri"})
ORDER_ATTRIBUTES = NUMERIC_ATTRIBUTES | STRING_ATTRIBUTES | {"experiment_id", "lifecycle_stage"}
_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
_OPS = {
    "metric": _NUMERIC_OPS,
    "param": _STRING_OPS | {"IS NULL", "IS NOT NULL"},
    "tag": _STRING_OPS | {"IS NULL", "IS NOT NULL"},
    "string": _STRING_OPS | {"IN", "NOT IN"},
    "number": _NUMERIC_OPS,
}
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'[^']*'|"[^"]*")
    | (?P<bq>`[^`]*`)
    | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)


class FilterError(UsageError):
    """A filter or order-by that MLflow's grammar does not accept."""

    def __init__(self, text: str, column: int, problem: str, *, what: str = "--filter") -> None:
        super().__init__(f"{what} at column {column + 1}: {problem}\n  {text}\n  {' ' * column}^")


@dataclass(frozen=True)
class Clause:
    kind: str  # metric, param, tag, attribute
    key: str
    op: str
    value: Any = None  # float (metric, numeric attribute), str, or tuple of str (IN)


@dataclass(frozen=True)
class OrderKey:
    kind: str
    key: str
    ascending: bool = True


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int


def _tokens(text: str, what: str) -> list[Token]:
    found, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            column = len(text) - len(text[position:].lstrip())
            raise FilterError(text, column, "cannot read this", what=what)
        kind = match.lastgroup
        found.append(Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return found


def _identifier(text: str, tokens: list[Token], at: int, what: str) -> tuple[str, str, int]:
    """`metrics.rmse`, ``tags.`a b` ``, `run_name`: (kind, key, next position)."""
    if at >= len(tokens) or tokens[at].kind not in ("word", "bq", "str"):
        raise FilterError(text, _column(text, tokens, at), "expected a key like metrics.rmse", what=what)
    token = tokens[at]
    if token.kind != "word":
        return "attribute", token.text[1:-1], at + 1
    head, dot, rest = token.text.partition(".")
    if not dot:
        return "attribute", token.text, at + 1
    if head.lower() not in _KINDS and head not in _KINDS:
        raise FilterError(
            text, token.column, f"unknown key type {head!r} (metrics, params, tags or attributes)", what=what
        )
    key = rest
    if not rest and at + 1 < len(tokens) and tokens[at + 1].kind in ("bq", "str"):
        key, at = tokens[at + 1].text[1:-1], at + 1
    if not key:
        raise FilterError(text, token.column + len(token.text), "expected a key after the dot", what=what)
    return _KINDS[head.lower()], key, at + 1


def _column(text: str, tokens: list[Token], at: int) -> int:
    return tokens[at].column if at < len(tokens) else len(text.rstrip())


def _check_key(text: str, kind: str, key: str, column: int, allowed: frozenset[str], what: str) -> str:
    if kind != "attribute":
        return key
    key = _ALIASES.get(key, key)
    if key not in allowed:
        raise FilterError(
            text, column, f"unknown attribute {key!r} (one of {', '.join(sorted(allowed))})", what=what
        )
    return key


def parse_filter(text: str | None) -> tuple[Clause, ...]:
    """The filter's conditions, all of which must hold."""
    if not text or not text.strip():
        return ()
    tokens, at, clauses = _tokens(text, "--filter"), 0, []
    while True:
        start = at
        kind, key, at = _identifier(text, tokens, at, "--filter")
        key = _check_key(
            text, kind, key, tokens[start].column, NUMERIC_ATTRIBUTES | STRING_ATTRIBUTES, "--filter"
        )
        clause, at = _condition(text, tokens, at, kind, key)
        clauses.append(clause)
        if at >= len(tokens):
            return tuple(clauses)
        word = tokens[at].text.upper()
        if word == "OR":
            raise FilterError(
                text, tokens[at].column, "OR is not supported: MLflow joins conditions with AND"
            )
        if word != "AND":
            raise FilterError(text, tokens[at].column, "expected AND between conditions")
        at += 1


def _operator(tokens: list[Token], at: int) -> tuple[str, int]:
    words = [t.text.upper() for t in tokens[at : at + 3]]
    for size in (3, 2):
        if " ".join(words[:size]) in ("IS NOT NULL", "IS NULL", "NOT IN") and len(words) >= size:
            return " ".join(words[:size]), at + size
    if words and (tokens[at].kind == "op" or words[0] in ("LIKE", "ILIKE", "IN")):
        return ("!=" if words[0] == "<>" else words[0]), at + 1
    return "", at


def _condition(text: str, tokens: list[Token], at: int, kind: str, key: str) -> tuple[Clause, int]:
    op_at = at
    op, at = _operator(tokens, at)
    group = "number" if key in NUMERIC_ATTRIBUTES else "string" if kind == "attribute" else kind
    if not op:
        raise FilterError(
            text, _column(text, tokens, op_at), "expected a comparison (=, !=, <, LIKE, IN, ...)"
        )
    if op not in _OPS[group]:
        allowed = ", ".join(sorted(_OPS[group]))
        raise FilterError(text, tokens[op_at].column, f"{op} cannot compare {kind} {key!r} (use {allowed})")
    if op in ("IS NULL", "IS NOT NULL"):
        return Clause(kind, key, op), at
    if op in ("IN", "NOT IN"):
        if key != "run_id":
            raise FilterError(
                text, tokens[op_at].column, f"only run_id can be compared with {op} (as MLflow)"
            )
        return _in_list(text, tokens, at, kind, key, op)
    if at >= len(tokens):
        raise FilterError(text, len(text.rstrip()), "expected a value")
    token = tokens[at]
    if group in ("metric", "number"):
        if token.kind != "num":
            raise FilterError(text, token.column, f"expected a number to compare {kind} {key!r} with")
        number = float(token.text)
        value: Any = number if group == "metric" or not number.is_integer() else int(number)
    elif token.kind != "str":
        raise FilterError(text, token.column, f"expected a quoted string like '{token.text}'")
    else:
        value = token.text[1:-1]
    return Clause(kind, key, op, value), at + 1


def _in_list(text: str, tokens: list[Token], at: int, kind: str, key: str, op: str) -> tuple[Clause, int]:
    if at >= len(tokens) or tokens[at].text != "(":
        raise FilterError(text, _column(text, tokens, at), "expected a list like ('a', 'b')")
    values, at = [], at + 1
    while True:
        if at >= len(tokens) or tokens[at].kind != "str":
            raise FilterError(text, _column(text, tokens, at), "expected a quoted string in the list")
        values.append(tokens[at].text[1:-1])
        at += 1
        if at < len(tokens) and tokens[at].text == ",":
            at += 1
            continue
        if at < len(tokens) and tokens[at].text == ")":
            return Clause(kind, key, op, tuple(values)), at + 1
        raise FilterError(text, _column(text, tokens, at), "expected , or ) in the list")


def parse_order_by(text: str) -> OrderKey:
    """`metrics.rmse DESC`, `start_time`, ``tags.`a b` ASC``."""
    tokens = _tokens(text, "--order-by")
    kind, key, at = _identifier(text, tokens, 0, "--order-by")
    key = _check_key(text, kind, key, tokens[0].column, ORDER_ATTRIBUTES, "--order-by")
    ascending = True
    if at < len(tokens) and tokens[at].text.upper() in ("ASC", "DESC"):
        ascending, at = tokens[at].text.upper() == "ASC", at + 1
    if at < len(tokens):
        raise FilterError(text, tokens[at].column, "expected ASC or DESC, then nothing", what="--order-by")
    return OrderKey(kind, key, ascending)


# -- evaluation ---------------------------------------------------------------------------------


def _like(value: str, pattern: str, flags: int = 0) -> bool:
    regex = re.escape(pattern).replace("%", ".*").replace("_", ".")
    regex = ("" if pattern.startswith("%") else "^") + regex + ("" if pattern.endswith("%") else "$")
    return re.match(regex, value, flags | re.DOTALL) is not None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
    "LIKE": lambda a, b: _like(a, b),
    "ILIKE": lambda a, b: _like(a, b, re.IGNORECASE),
    "IN": lambda a, b: a in b,
    "NOT IN": lambda a, b: a not in b,
}

Getter = Callable[[str, str], Any]
"""(kind, key) -> the run's value, or None when it has none."""


def matches(get: Getter, clauses: Sequence[Clause]) -> bool:
    for clause in clauses:
        value = get(clause.kind, clause.key)
        if clause.op in ("IS NULL", "IS NOT NULL"):
            if (value is None) != (clause.op == "IS NULL"):
                return False
        elif value is None or not _COMPARE[clause.op](value, clause.value):
            return False
    return True


def sort_key(get: Getter, order: OrderKey) -> tuple[bool, Any]:
    """As MLflow's SearchUtils: runs without the value (or NaN) last, whichever the direction."""
    value = get(order.kind, order.key)
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if missing:
        value = (1 if order.ascending else -1) * math.inf
    return (missing, value) if order.ascending else (not missing, value)


def order_runs(items: list[Any], getter: Callable[[Any], Getter], orders: Sequence[OrderKey]) -> list[Any]:
    """Newest first, then run id; then each order key, last first (stable sorts, as MLflow)."""
    items = sorted(
        items, key=lambda i: (-(getter(i)("attribute", "start_time") or 0), getter(i)("attribute", "run_id"))
    )
    for order in reversed(orders):
        items.sort(key=lambda i: sort_key(getter(i), order), reverse=not order.ascending)
    return items
