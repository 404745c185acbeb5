"""A sweep's points, from `-S NAME=SPEC`, `--random N --seed S` and `--sweep-file FILE.yaml`.

SPEC is a comma list (`\\,` for a literal comma), `range(start,stop[,step])`, `linspace(a,b,n)` or
`logspace(a,b,n)` (powers of ten); with `--random`, also `uniform(a,b)` and `loguniform(a,b)`.
The grid is the cartesian product in the order the parameters were given, the last one varying
fastest. Nothing here knows the entry point: binding the points is the sweep's first step.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun_cli.errors import UsageError
from mlrun_cli.project.params import MASK

MAX_POINTS = 10_000
_CALL = re.compile(r"^\s*(range|linspace|logspace|uniform|loguniform)\s*\((.*)\)\s*$", re.DOTALL)
_CONTINUOUS = ("uniform", "loguniform")


@dataclass(frozen=True)
class Dimension:
    name: str
    spec: str
    values: tuple[str, ...] = ()
    """The finite values (empty for a continuous distribution)."""
    distribution: tuple[str, float, float] | None = None
    """uniform/loguniform and its bounds: --random only."""

    def sample(self, rng: random.Random) -> str:
        if self.distribution is None:
            return rng.choice(self.values)
        kind, low, high = self.distribution
        if kind == "uniform":
            return _number(rng.uniform(low, high))
        return _number(math.exp(rng.uniform(math.log(low), math.log(high))))


@dataclass(frozen=True)
class SweepSpec:
    dimensions: tuple[Dimension, ...]
    random: int | None = None
    seed: int | None = None
    max_parallel: int | None = None
    objective: str | None = None
    points: tuple[dict[str, str], ...] = field(default=(), compare=False)
    early_stop: dict[str, Any] | None = None
    """The rule (`rule`) and its options: --early-stop and the file's `early_stop`."""

    def to_dict(self) -> dict[str, object]:
        return {
            "parameters": {d.name: d.spec for d in self.dimensions},
            "random": self.random,
            "seed": self.seed,
            "max_parallel": self.max_parallel,
            "objective": self.objective,
            "points": [dict(p) for p in self.points],
            "early_stop": self.early_stop,
        }


def _number(value: float) -> str:
    text = f"{value:.12g}"
    return "0" if text == "-0" else text


def _floats(name: str, args: str, kind: str) -> list[float]:
    try:
        numbers = [float(a) for a in args.split(",")]
    except ValueError:
        raise UsageError(f"-S {name}: {kind}({args}) takes numbers") from None
    if not all(math.isfinite(n) for n in numbers):
        raise UsageError(f"-S {name}: {kind}({args}) takes finite numbers")
    return numbers


def _range(name: str, args: str) -> tuple[str, ...]:
    parts = [a.strip() for a in args.split(",")]
    if len(parts) not in (2, 3):
        raise UsageError(f"-S {name}: range(start,stop[,step]) takes 2 or 3 numbers")
    if all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
        ints = range(*(int(p) for p in parts)) if int(parts[-1]) != 0 or len(parts) == 2 else range(0)
        if len(ints) > MAX_POINTS:
            raise UsageError(f"-S {name}: range({args}) has more than {MAX_POINTS} values")
        return tuple(str(v) for v in ints)
    start, stop, step = [*_floats(name, args, "range"), 1.0][:3]
    if step == 0 or (stop - start) / step > MAX_POINTS:
        raise UsageError(f"-S {name}: range({args}) has a zero step or too many values")
    count = max(0, math.ceil((stop - start) / step - 1e-9))
    return tuple(_number(start + i * step) for i in range(count))


def _spaced(name: str, args: str, kind: str) -> tuple[str, ...]:
    numbers = _floats(name, args, kind)
    if len(numbers) != 3 or numbers[2] != int(numbers[2]) or not 1 <= numbers[2] <= MAX_POINTS:
        raise UsageError(f"-S {name}: {kind}(a,b,n) takes two numbers and a count 1 <= n <= {MAX_POINTS}")
    low, high, count = numbers[0], numbers[1], int(numbers[2])
    steps = [low + (high - low) * i / (count - 1) if count > 1 else low for i in range(count)]
    try:
        return tuple(_number(10**s if kind == "logspace" else s) for s in steps)
    except OverflowError:
        raise UsageError(f"-S {name}: {kind}({args}) goes beyond what a float holds") from None


def split_list(text: str) -> tuple[str, ...]:
    """`a,b\\,c` -> ('a', 'b,c'); items are stripped of surrounding spaces."""
    items, current, chars = [], "", iter(text)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            current += nxt if nxt == "," else char + nxt
        elif char == ",":
            items.append(current.strip())
            current = ""
        else:
            current += char
    items.append(current.strip())
    return tuple(items)


def parse_dimension(name: str, spec: str, *, random_mode: bool) -> Dimension:
    call = _CALL.match(spec)
    if call is None:
        return Dimension(name, spec, split_list(spec))
    kind, args = call.group(1), call.group(2)
    if kind in _CONTINUOUS:
        if not random_mode:
            raise UsageError(f"-S {name}: {kind}(a,b) is allowed only with --random N")
        bounds = _floats(name, args, kind)
        if len(bounds) != 2 or bounds[0] >= bounds[1] or (kind == "loguniform" and bounds[0] <= 0):
            raise UsageError(f"-S {name}: {kind}(a,b) needs a < b" + (" and a > 0" if kind[0] == "l" else ""))
        return Dimension(name, spec, distribution=(kind, bounds[0], bounds[1]))
    values = _range(name, args) if kind == "range" else _spaced(name, args, kind)
    if not values:
        raise UsageError(f"-S {name}: {spec} has no values")
    return Dimension(name, spec, values)


def parse_sweep_args(pairs: Sequence[str]) -> list[tuple[str, str]]:
    parsed = []
    for pair in pairs:
        name, sep, spec = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-S {pair!r}: expected NAME=SPEC")
        parsed.append((name.strip(), spec))
    return parsed


def load_sweep_file(path: Path) -> dict[str, Any]:
    """The file, read with the MLproject's limits (size, aliases) and checked against
    schemas/sweep.schema.json; every problem with its line."""
    from mlrun_cli.documents.schema_check import check_against_schema
    from mlrun_cli.documents.yamlfile import load_yaml
    from mlrun_cli.errors import SpecError

    if not path.is_file():
        raise UsageError(f"--sweep-file: no such file: {path}")
    doc = load_yaml(path)
    problems = doc.problems or check_against_schema(doc, "sweep")
    if problems:
        raise SpecError(problems, subject="sweep file", hint="'mlrun schema sweep' prints what it accepts")
    result: dict[str, Any] = doc.data
    return result


def build(
    sweeps: Sequence[str],
    *,
    sweep_file: Path | None = None,
    random_points: int | None = None,
    seed: int | None = None,
    max_parallel: int | None = None,
    objective: str | None = None,
    early_stop: str | None = None,
) -> SweepSpec:
    """The spec from the command line and the file (the command line wins), with its points."""
    data = load_sweep_file(sweep_file) if sweep_file is not None else {}
    given: list[tuple[str, str]] = []
    for name, spec in (data.get("parameters") or {}).items():
        given.append((str(name), ",".join(_escape(v) for v in spec) if isinstance(spec, list) else str(spec)))
    given += parse_sweep_args(sweeps)
    names = [n for n, _ in given]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UsageError(f"swept more than once: {', '.join(duplicated)}")
    if not given:
        raise UsageError("a sweep needs at least one -S NAME=SPEC (or parameters in --sweep-file)")
    random_points = random_points if random_points is not None else data.get("random")
    seed = seed if seed is not None else data.get("seed")
    mode = random_points is not None
    from_file = {str(name) for name in (data.get("parameters") or {})} - {
        n for n, _ in parse_sweep_args(sweeps)
    }
    dims = []
    for name, text in given:
        try:
            dims.append(parse_dimension(name, text, random_mode=mode))
        except UsageError as error:
            if name not in from_file:
                raise
            raise UsageError(f"{sweep_file}: parameters.{name}: {error.message.split(': ', 1)[-1]}") from None
    spec = SweepSpec(
        tuple(dims),
        random_points,
        seed,
        max_parallel if max_parallel is not None else data.get("max_parallel"),
        objective if objective is not None else data.get("objective"),
        early_stop=_early_stop(data.get("early_stop"), early_stop),
    )
    return SweepSpec(**{**vars(spec), "points": tuple(_points(spec))})


def _early_stop(in_file: object, rule: str | None) -> dict[str, Any] | None:
    """The file's `early_stop` (a rule, or a mapping with `rule` and options); --early-stop
    names the rule, keeping the file's options."""
    given: dict[str, Any] = {}
    if isinstance(in_file, str):
        given["rule"] = in_file
    elif isinstance(in_file, dict):
        given.update(in_file)
    if rule is not None:
        given["rule"] = rule
    return given or None


def _escape(value: object) -> str:
    text = "true" if value is True else "false" if value is False else str(value)
    return text.replace(",", "\\,")


def _points(spec: SweepSpec) -> list[dict[str, str]]:
    if spec.random is not None:
        if not 1 <= spec.random <= MAX_POINTS:
            raise UsageError(f"--random takes 1 to {MAX_POINTS} points")
        rng = random.Random(spec.seed)
        return [{d.name: d.sample(rng) for d in spec.dimensions} for _ in range(spec.random)]
    total = math.prod(len(d.values) for d in spec.dimensions)
    if total > MAX_POINTS:
        raise UsageError(f"the grid has {total} points; at most {MAX_POINTS}")
    names = [d.name for d in spec.dimensions]
    combos = itertools.product(*(d.values for d in spec.dimensions))
    return [dict(zip(names, combo, strict=True)) for combo in combos]


def parse_objective(text: str) -> tuple[str, str]:
    """`METRIC[:min|max]` -> (metric, 'min'|'max'); min by default."""
    metric, _, goal = text.rpartition(":") if text.endswith((":min", ":max")) else (text, "", "min")
    if not metric:
        raise UsageError(f"--objective {text!r}: expected METRIC[:min|max]")
    if ":" in text and goal == "min" and not text.endswith(":min"):  # `rmse:up`: a typo, not a name
        raise UsageError(f"--objective {text!r}: the goal after ':' is min or max")
    return metric, goal


def describe(point: Mapping[str, str], secrets: Collection[str] = ()) -> str:
    """A point as `name=value ...`, a secret's value masked (never shown, even by mistake)."""
    return " ".join(f"{k}={MASK if k in secrets else v}" for k, v in point.items())
