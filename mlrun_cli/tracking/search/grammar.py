"""MLflow's run search grammar (`search_runs`' filter_string and order_by), parsed here as MLflow 3
parses it (`SearchUtils.parse_search_filter`, with the comparator checks its stores make when they
evaluate), for the stores whose filter mlrun evaluates itself (`evaluate.py`).

    metrics.rmse < 0.8 and params.alpha = '0.1' and tags.`mlflow.parentRunId` = 'abc'
    attributes.status = 'FAILED' and run_name LIKE 'train%' and run_id IN ('a1', 'b2')
    datasets.name = 'iris' and dataset.context = 'training'

Conditions are joined by AND only (MLflow has no OR; as MLflow, AND may also be left out, doubled or
trailing); keys may be quoted with backticks or double quotes, and entity types are lower case. A
quoted value is taken as written (MLflow does not unescape `''` inside quotes), an IN list as a
Python tuple of strings (as MLflow reads it). A bad filter is a FilterError (exit 2) that points at
the column where it went wrong.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from mlrun_cli.errors import UsageError

_KINDS = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}  # fmt: skip
_ORDER_ALIASES = {"created": "start_time", "Created": "start_time"}
_ALIASES = {**_ORDER_ALIASES, "run name": "run_name", "Run name": "run_name", "Run Name": "run_name"}
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
STRING_ATTRIBUTES = frozenset({"run_id", "run_name", "user_id", "status", "artifact_uri"})
# What MLflow 3 orders runs by: experiment_id and lifecycle_stage are filters only.
ORDER_ATTRIBUTES = NUMERIC_ATTRIBUTES | STRING_ATTRIBUTES
DATASET_KEYS = frozenset({"name", "digest", "context"})
_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
_OPS = {
    "metric": _NUMERIC_OPS,
    "param": _STRING_OPS | {"IS NULL", "IS NOT NULL"},
    "tag": _STRING_OPS | {"IS NULL", "IS NOT NULL"},
    "string": _STRING_OPS | {"IN", "NOT IN"},
    "number": _NUMERIC_OPS,
    "dataset": _STRING_OPS | {"IN", "NOT IN"},
}
_PART = r"[^\W\d]\w*|`(?:``|[^`])*`|\"(?:\"\"|\\\"|[^\"])*\""
# The tokens of sqlparse, which MLflow parses with: its string, number and comparison forms.
_TOKEN = re.compile(
    rf"""\s*(?:
      (?P<comment>--|/\*)
    | (?P<str>'(?:''|\\'|[^'])*')
    | (?P<num>-?(?:\d+(?:\.\d*)?(?:[eE]-?\d+)?|\.\d+)(?![\w.]))
    | (?P<op>[<>=~!]+)
    | (?P<punct>[(),;])
    | (?P<ident>(?:{_PART})(?:\.(?:{_PART}|'(?:''|\\'|[^'])*')?)*)
    )""",
    re.VERBOSE,
)
_QUOTED = r'"(?:""|\\"|[^"])*"'  # a double-quoted value: sqlparse's name, MLflow's string
_KEYWORDS = frozenset({"AND", "OR", "LIKE", "ILIKE", "IN", "NOT", "IS", "NULL", "ASC", "DESC"})


class FilterError(UsageError):
    """A filter or order-by that MLflow's grammar does not accept."""

    def __init__(self, text: str, column: int, problem: str, *, what: str = "--filter") -> None:
        super().__init__(f"{what} at column {column + 1}: {problem}\n  {text}\n  {' ' * column}^")


@dataclass(frozen=True)
class Clause:
    kind: str  # metric, param, tag, attribute, dataset
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
    kind: str  # comment, str, num, op, punct, ident, word (a keyword)
    text: str
    column: int


def _tokens(text: str, what: str) -> list[Token]:
    found, position = [], 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            column = len(text) - len(text[position:].lstrip())
            raise FilterError(text, column, "cannot read this", what=what)
        kind, value = match.lastgroup, match.group(match.lastgroup)
        if kind == "comment":
            raise FilterError(text, match.start(kind), "a comment is not part of the grammar", what=what)
        if kind == "ident" and value.upper() in _KEYWORDS:
            kind, value = "word", value.upper()
        found.append(Token(kind, value, match.start(match.lastgroup)))
        position = match.end()
    return found


def _unquote(text: str, quotes: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in quotes else text


def _identifier(
    text: str, token: Token, allowed: frozenset[str], what: str, aliases: dict[str, str] = _ALIASES
) -> tuple[str, str]:
    """As MLflow's `_get_identifier`: the entity type before the first dot (exactly as written, or in
    backticks), the key after it (quotes, then backticks, taken off); no dot: an attribute."""
    head, dot, rest = token.text.partition(".")
    kind = _unquote(head, "`") if dot else "attribute"
    if kind not in _KINDS:
        raise FilterError(
            text, token.column, f"unknown key type {kind!r} (metrics, params, tags, attributes or datasets)",
            what=what,
        )  # fmt: skip
    kind = _KINDS[kind]
    key = _unquote(_unquote(rest if dot else head, "'\""), "`")
    if kind == "attribute":
        key = aliases.get(key, key)
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise FilterError(text, token.column, f"unknown attribute {key!r} (one of {known})", what=what)
    if kind == "dataset" and key not in DATASET_KEYS:
        raise FilterError(
            text, token.column, f"unknown dataset key {key!r} (name, digest or context)", what=what
        )
    return kind, key


def _column(text: str, tokens: list[Token], at: int) -> int:
    return tokens[at].column if at < len(tokens) else len(text.rstrip())


def parse_filter(text: str | None) -> tuple[Clause, ...]:
    """The filter's conditions, all of which must hold."""
    if not text:
        return ()
    if not text.strip():
        raise FilterError(text, 0, "an empty filter (leave --filter out to list every run)")
    tokens, at, clauses = _tokens(text, "--filter"), 0, []
    while at < len(tokens):
        token = tokens[at]
        if token.kind == "word" and token.text == "AND":
            at += 1
        elif token.kind == "ident":
            clause, at = _condition(text, tokens, at)
            clauses.append(clause)
        elif token.text == "OR":
            raise FilterError(text, token.column, "OR is not supported: MLflow joins conditions with AND")
        elif token.text == "(":
            raise FilterError(text, token.column, "parentheses are not part of MLflow's grammar")
        else:
            raise FilterError(text, token.column, "expected a key like metrics.rmse, or AND")
    return tuple(clauses)


def _operator(text: str, tokens: list[Token], at: int) -> tuple[str, int]:
    words = [t.text if t.kind in ("word", "op") else "" for t in tokens[at : at + 3]]
    if words[:2] == ["IS", "NULL"]:
        return "IS NULL", at + 2
    if words[:3] == ["IS", "NOT", "NULL"]:
        between = text[tokens[at + 1].column + 3 : tokens[at + 2].column]
        return ("IS NOT NULL" if between == " " else ""), at + 3  # sqlparse reads "NOT NULL" as one word
    if words[:2] == ["NOT", "IN"]:
        return "NOT IN", at + 2
    if words and (tokens[at].kind == "op" or words[0] in ("LIKE", "ILIKE", "IN")):
        return words[0], at + 1
    return "", at


def _condition(text: str, tokens: list[Token], at: int) -> tuple[Clause, int]:
    start = tokens[at]
    kind, key = _identifier(text, start, NUMERIC_ATTRIBUTES | STRING_ATTRIBUTES, "--filter")
    op_at = at + 1
    op, at = _operator(text, tokens, op_at)
    if not op:
        raise FilterError(
            text, _column(text, tokens, op_at), "expected a comparison (=, !=, <, LIKE, IN, ...)"
        )
    group = "number" if key in NUMERIC_ATTRIBUTES else "string" if kind == "attribute" else kind
    if op in ("IS NULL", "IS NOT NULL"):
        if kind not in ("param", "tag"):
            raise FilterError(text, tokens[op_at].column, f"{op} is for params and tags only (as MLflow)")
        return Clause(kind, key, op), at
    if op in ("IN", "NOT IN") and key != "run_id" and kind != "dataset":
        raise FilterError(
            text, tokens[op_at].column, f"only run_id and datasets' keys can be compared with {op}"
        )
    if op not in _OPS[group]:
        allowed = ", ".join(sorted(_OPS[group]))
        raise FilterError(text, tokens[op_at].column, f"{op} cannot compare {kind} {key!r} (use {allowed})")
    if at >= len(tokens):
        raise FilterError(text, len(text.rstrip()), "expected a value")
    value, at = _value(text, tokens, at, kind, key, group)
    if (op in ("IN", "NOT IN") and not isinstance(value, tuple)) or (
        op in ("LIKE", "ILIKE") and isinstance(value, tuple)
    ):  # (= and != take a list, as MLflow: it never equals one value)
        raise FilterError(text, tokens[op_at].column, f"{op} needs {'one value' if value else 'a list'}")
    return Clause(kind, key, op, value), at


def _value(text: str, tokens: list[Token], at: int, kind: str, key: str, group: str) -> tuple[Any, int]:
    token = tokens[at]
    if token.text == "(":
        if kind == "dataset" or key == "run_id":
            return _in_list(text, tokens, at)
        raise FilterError(text, token.column, "only run_id and datasets' keys can be compared with a list")
    if group in ("metric", "number"):
        if token.kind != "num":
            raise FilterError(text, token.column, f"expected a number to compare {kind} {key!r} with")
        exact = group == "number" and re.fullmatch(r"-?\d+", token.text)
        return (int(token.text) if exact else float(token.text)), at + 1
    if token.kind == "str" or (token.kind == "ident" and re.fullmatch(_QUOTED, token.text)):
        return token.text[1:-1], at + 1  # as written, as MLflow takes it
    raise FilterError(text, token.column, f"expected a quoted string like '{token.text}'")


def _in_list(text: str, tokens: list[Token], at: int) -> tuple[tuple[str, ...], int]:
    """As MLflow: the parenthesised text read as a Python literal, a non-empty tuple of strings."""
    end = at + 1
    while end < len(tokens) and tokens[end].text != ")":
        end += 1
    if end >= len(tokens):
        raise FilterError(text, _column(text, tokens, end), "expected ) to end the list")
    try:
        values = ast.literal_eval(text[tokens[at].column : tokens[end].column + 1])
    except (SyntaxError, ValueError):
        values = None
    values = values if isinstance(values, tuple) else (values,)
    if not values or not all(isinstance(v, str) for v in values):
        raise FilterError(text, tokens[at].column, "expected a list of quoted strings like ('a', 'b')")
    return values, end + 1


def parse_order_by(text: str) -> OrderKey:
    """`metrics.rmse DESC`, `start_time`, ``tags.`a b` ASC``."""
    tokens = _tokens(text, "--order-by")
    if not tokens or tokens[0].kind != "ident":
        raise FilterError(
            text, _column(text, tokens, 0), "expected a key like metrics.rmse", what="--order-by"
        )
    kind, key = _identifier(text, tokens[0], ORDER_ATTRIBUTES, "--order-by", _ORDER_ALIASES)
    if kind == "dataset":
        raise FilterError(text, tokens[0].column, "runs cannot be ordered by a dataset", what="--order-by")
    at, ascending = 1, True
    if at < len(tokens) and tokens[at].text in ("ASC", "DESC"):
        ascending, at = tokens[at].text == "ASC", at + 1
    if at < len(tokens):
        raise FilterError(text, tokens[at].column, "expected ASC or DESC, then nothing", what="--order-by")
    return OrderKey(kind, key, ascending)
