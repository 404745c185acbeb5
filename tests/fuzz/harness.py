"""The fuzz tier's shared parts: the two slices, the properties every input surface keeps, and the
mutation strategies.

Every surface module builds its tests with `surface(...)`: a fast slice (a few derandomized cases,
run by default) and a long slice (marker `fuzz`, seeded from MLRUN_FUZZ_SEED, its share of
MLRUN_FUZZ_EXAMPLES cases). A check passes when the code under test returns, or raises an
MlrunError whose exit code is allowed (2, or 75 where documented); anything else is a crash."""

from __future__ import annotations

import collections
import os
import random
import resource
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from mlrun_cli.errors import MlrunError, SpecError

SEED = int(os.environ.get("MLRUN_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
TOTAL = int(os.environ.get("MLRUN_FUZZ_EXAMPLES") or 10_000)
CASE_TIMEOUT_S = float(os.environ.get("MLRUN_FUZZ_CASE_TIMEOUT") or 20)
MAX_RSS_BYTES = 3 * 2**30
# Shares of the long slice, by surface (the weights add up to about TOTAL at the default).
WEIGHTS: dict[str, int] = {}
RAN: collections.Counter[str] = collections.Counter()
MARKER_NAME = "fuzz-executed-marker"

_HEALTH = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.function_scoped_fixture,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]


class Hang(Exception):
    """A case ran past CASE_TIMEOUT_S: bounded time is a property too."""


@contextmanager
def bounded(seconds: float = CASE_TIMEOUT_S) -> Iterator[None]:
    def on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"the case ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert rss < MAX_RSS_BYTES, f"memory grew to {rss} bytes"


def expect_clean(
    call: Callable[[], Any], *, files: Sequence[str] = (), allowed: tuple[int, ...] = (2,)
) -> tuple[Any, MlrunError | None]:
    """Run `call`: a result, or an MlrunError with an allowed exit code naming one of `files`."""
    try:
        with bounded():
            return call(), None
    except MlrunError as err:
        assert err.exit_code in allowed, f"exit {err.exit_code}: {err.message}"
        assert err.message.strip(), "an error without a message"
        if isinstance(err, SpecError) and files:
            check_problems(err.problems, files)
        return None, err


def check_problems(problems: Sequence[Any], files: Sequence[str]) -> None:
    """Each problem names one of the files; YAML errors also name a line."""
    names = {Path(f).name for f in files}
    for problem in problems:
        assert Path(problem.file).name in names, f"{problem} names none of {sorted(names)}"
        if problem.message.startswith(("YAML syntax error", "YAML value cannot be read")):
            assert problem.line, f"{problem} has no line"


def no_marker(*folders: Path) -> None:
    """No value executed: a `$(touch fuzz-executed-marker)` anywhere never made the file."""
    for folder in folders:
        assert not (folder / MARKER_NAME).exists(), f"a value was executed in {folder}"


def surface(
    name: str,
    strategy: st.SearchStrategy[Any],
    *,
    fast: int,
    long: int,
    examples: Sequence[Any] = (),
) -> Callable[[Callable[[Any], None]], tuple[Callable[..., None], Callable[..., None]]]:
    """(fast test, long test) of `check` over `strategy`; `examples` are past failures, kept."""
    WEIGHTS[name] = long

    def make(check: Callable[[Any], None]) -> tuple[Callable[..., None], Callable[..., None]]:
        def run(case: Any) -> None:
            RAN[name] += 1
            check(case)

        def fast_test(case: Any) -> None:
            run(case)

        def long_test(case: Any) -> None:
            run(case)

        fast_test.__name__ = long_test.__name__ = f"{name}_case"
        common = dict(deadline=None, database=None, suppress_health_check=_HEALTH, print_blob=True)
        fast_wrapped: Callable[..., None] = given(strategy)(fast_test)
        for case in examples:
            fast_wrapped = example(case)(fast_wrapped)
        fast_wrapped = settings(max_examples=fast, derandomize=True, **common)(fast_wrapped)  # type: ignore[arg-type]
        count = max(1, round(TOTAL * long / 10_000))
        long_wrapped: Callable[..., None] = seed(SEED)(given(strategy)(long_test))
        long_wrapped = settings(max_examples=count, **common)(long_wrapped)  # type: ignore[arg-type]
        return fast_wrapped, pytest.mark.fuzz(long_wrapped)

    return make


# ---- mutation strategies -------------------------------------------------------------------

TOKENS = [
    '!!int "3.11"',
    "!!int fuzz",
    "!!float x",
    "!!binary ~~",
    "!!timestamp 2024-13-99",
    "!!bool maybe",
    "!!python/object/apply:os.system ['touch fuzz-executed-marker']",
    "!!set {a}",
    "!!omap [a]",
    "&a ",
    "*a",
    "*nowhere",
    "<<: *a",
    "<<: 3",
    "{",
    "}",
    "[",
    "]",
    "- ",
    ": ",
    "\t",
    "? ",
    "---",
    "...",
    "%YAML 1.1\n",
    "%TAG ! tag:x\n",
    "|",
    ">-",
    '"',
    "'",
    "#",
    "@",
    "`",
    "\\",
    "\\u0000",
    "$(touch fuzz-executed-marker)",
    "`touch fuzz-executed-marker`",
    "; touch fuzz-executed-marker",
    "\x00",
    "\ufeff",
    "\x85",
    "\u2028",
    "~",
    "null",
    "true",
    "1e999",
    ".nan",
    "-.inf",
    "0x1F",
    "0o17",
    "{alpha}",
    "{alpha!r}",
    "{}",
    "{0}",
    "{alpha:.2f}",
    "{a.b}",
    "{a[0]}",
    "{{",
    "}}",
    "a" * 3000,
    "[" * 150,
    "- " * 120,
    "é",
    "\U0001d518",
    "\r\n",
    "\r",
    "../" * 5,
    "/etc/passwd",
    "-r ",
    "-c ",
    "--requirement=",
    "-e .",
    "python",
    "dependencies",
    "entry_points",
    "parameters",
    "command",
    "default",
    "type",
    "choices",
    "int",
    "float",
    "bool",
    "path",
    "uri",
    "string",
    "image",
    "python_env",
    "conda_env",
    "docker_env",
    "pip",
    "channels",
    "variables",
    "build_dependencies",
]

# A "billion laughs": 10**9 values once its aliases are expanded.
BILLION_LAUGHS = (
    b"a: &a [x,x,x,x,x,x,x,x,x,x]\n"
    + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n".encode() for i in range(8)
    )
    + b"entry_points: {main: {command: echo}}\n"
)

MUTATIONS = ("insert", "replace", "delete_line", "dup_line", "swap_lines", "truncate", "byte", "indent")


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[str], tokens: Sequence[str] = TOKENS) -> bytes:
    """One of `seeds`, changed by a few random edits (text tokens, lines, raw bytes)."""
    data = draw(st.sampled_from(list(seeds))).encode()
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(MUTATIONS))
        lines = data.split(b"\n")
        at = draw(st.integers(0, max(len(data), 1)))
        line = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == "insert":
            token = draw(st.one_of(st.sampled_from(list(tokens)), st.text(max_size=8)))
            data = data[:at] + token.encode("utf-8", "surrogatepass") + data[at:]
        elif op == "replace":
            token = draw(st.sampled_from(list(tokens)))
            data = data[:at] + token.encode() + data[at + draw(st.integers(1, 12)) :]
        elif op == "delete_line":
            data = b"\n".join(lines[:line] + lines[line + 1 :])
        elif op == "dup_line":
            data = b"\n".join(lines[: line + 1] + lines[line:])
        elif op == "swap_lines":
            other = draw(st.integers(0, max(len(lines) - 1, 0)))
            lines[line], lines[other] = lines[other], lines[line]
            data = b"\n".join(lines)
        elif op == "truncate":
            data = data[:at]
        elif op == "byte":
            data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
        else:
            lines[line] = b" " * draw(st.integers(0, 9)) + lines[line].lstrip()
            data = b"\n".join(lines)
    return data


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.sampled_from(TOKENS[:60]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
TEXT_VALUES = st.one_of(st.text(max_size=40), st.sampled_from(TOKENS), st.binary(max_size=20).map(
    lambda b: b.decode("latin-1")))  # fmt: skip
