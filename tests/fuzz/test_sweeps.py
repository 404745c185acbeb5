"""Sweeps: `-S NAME=SPEC` values, `--random`/`--seed`, and `--sweep-file` YAML files (mutated from
valid ones): a spec, or a clear error (exit 2) naming the file, never a crash or a hang, and never
more points than the documented limit."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import strategies as st

from mlrun_cli.runs.sweeps import spec as sweep_spec
from tests.fuzz.harness import BILLION_LAUGHS, TEXT_VALUES, expect_clean, mutated, surface

SPECS = st.one_of(
    TEXT_VALUES,
    st.sampled_from(
        ["0.1,0.2", "a\\,b,c", "range(0,1,0.25)", "range(5)", "linspace(0,1,5)", "logspace(-3,0,4)",
         "uniform(0,1)", "loguniform(1e-4,1)", "range(0,1e9)", "linspace(0,1,1000000000)", "range(1,0,1)",
         "range(0,1,0)", "logspace(400,500,3)", "linspace(nan,1,2)", "range(", ",,", "\\", ""]
    ),
)  # fmt: skip
NAMES = st.one_of(st.sampled_from(["alpha", "l1", "x.y", "-bad", ""]), st.text(max_size=5))
ARGS = st.tuples(
    st.lists(st.tuples(NAMES, st.sampled_from(["=", ""]), SPECS).map("".join), max_size=4),
    st.one_of(st.none(), st.integers(-3, 50_000)),
    st.one_of(st.none(), st.integers(-(2**70), 2**70)),
)
FILES = mutated(
    [
        "parameters:\n  alpha: [0.1, 0.2]\n  l1: 'range(0,1,0.5)'\nmax_parallel: 2\nobjective: rmse:min\n",
        "parameters: {a: 'uniform(0,1)'}\nrandom: 5\nseed: 3\n",
        "parameters: {a: [true, false, 'x,y', 3]}\n",
    ]
)


def _check(spec: sweep_spec.SweepSpec | None) -> None:
    if spec is not None:
        assert 0 < len(spec.points) <= sweep_spec.MAX_POINTS
        assert all(isinstance(v, str) for point in spec.points for v in point.values())


@surface(
    "sweep_args", ARGS, fast=40, long=800,
    examples=[(["alpha=linspace(0,1,1000000000)"], None, None), (["a=range(0,1e300)"], None, None),
              (["a=uniform(0,1)"], None, None), (["a=uniform(0,1)"], 10**6, 2**80),
              (["a=1,2", "a=3"], None, None), (["alpha=", "l1=logspace(400,0,1)"], None, None)],
)  # fmt: skip
def check_sweep_args(case: tuple[list[str], int | None, int | None]) -> None:
    sweeps, random_points, seed = case
    result, _ = expect_clean(lambda: sweep_spec.build(sweeps, random_points=random_points, seed=seed))
    _check(result)


@surface(
    "sweep_file", FILES, fast=40, long=800,
    examples=[BILLION_LAUGHS, b"\xff\xfe", b"[]", b"\xff", b"parameters: {l1: 'range(/0,1)'}\n"],
)  # fmt: skip
def check_sweep_file(data: bytes) -> None:
    path = Path(tempfile.mkdtemp(dir=Path.cwd())) / "sweep.yaml"
    path.write_bytes(data)
    result, error = expect_clean(lambda: sweep_spec.build([], sweep_file=path))
    _check(result)
    if error is not None:  # the file is named, in the message or in each problem (with its line)
        named = "sweep.yaml" in error.message or all("sweep.yaml" in d for d in error.details())
        assert named or error.message.startswith(("a sweep needs", "swept more than once")), error.message


test_sweep_args_fast, test_sweep_args_long = check_sweep_args  # type: ignore[misc]
test_sweep_file_fast, test_sweep_file_long = check_sweep_file  # type: ignore[misc]
