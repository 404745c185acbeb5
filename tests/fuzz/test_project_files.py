"""MLproject, python_env.yaml and conda.yaml: mutated from valid files, and generated from the
schema's shape with random values."""

from __future__ import annotations

import yaml
from hypothesis import strategies as st

from tests.fuzz.harness import BILLION_LAUGHS, VALUES, mutated, surface
from tests.fuzz.projects import CONDA_ENVS, MLPROJECTS, PYTHON_ENVS, check_project


@st.composite
def generated_mlproject(draw: st.DrawFn) -> bytes:
    params = draw(st.dictionaries(st.text(max_size=8), VALUES, max_size=3))
    entry = {"parameters": params, "command": draw(st.one_of(st.text(max_size=30), VALUES))}
    doc = {
        "name": draw(VALUES),
        "entry_points": draw(st.one_of(st.just({"main": entry}), VALUES)),
        draw(st.sampled_from(["python_env", "conda_env", "docker_env", "x"])): draw(VALUES),
    }
    return yaml.safe_dump(doc, allow_unicode=True).encode()


MLPROJECT = st.one_of(mutated(MLPROJECTS), generated_mlproject())


@surface(
    "mlproject", MLPROJECT, fast=60, long=2500,
    examples=[b'python_env: python_env.yaml\nentry_points: {main: {command: !!int fuzz}}\n',
              BILLION_LAUGHS, b"\xff\xfeM\x00L\x00", b"entry_points: [" * 200, b""],
)  # fmt: skip
def check_mlproject(text: bytes) -> None:
    check_project({"MLproject": text})


ENV_PROJECT = "entry_points: {main: {command: echo}}\n"


@surface(
    "python_env", st.one_of(mutated(PYTHON_ENVS), VALUES.map(lambda v: yaml.safe_dump(v).encode())),
    fast=30, long=1000, examples=[b'python: !!int "3.11"\n', b"- numpy\n", b"python: 3.11\n" + b"a: [" * 120],
)  # fmt: skip
def check_python_env(text: bytes) -> None:
    check_project({"MLproject": "python_env: python_env.yaml\n" + ENV_PROJECT, "python_env.yaml": text})


@surface(
    "conda_yaml", st.one_of(mutated(CONDA_ENVS), VALUES.map(lambda v: yaml.safe_dump(v).encode())),
    fast=30, long=1000,
    examples=[b"channels:\n  - c\tnda-forge\ndependencies: [python=3.11]\n",
              b"dependencies: [python>=3.10]\n", b"dependencies: [{pip: [-r missing.txt]}]\n",
              b"channels: [~/x]\ndependencies: [{pip: 3}]\n"],
)  # fmt: skip
def check_conda_yaml(text: bytes) -> None:
    check_project({"MLproject": "conda_env: conda.yaml\n" + ENV_PROJECT, "conda.yaml": text})


test_mlproject_fast, test_mlproject_long = check_mlproject  # type: ignore[misc]
test_python_env_fast, test_python_env_long = check_python_env  # type: ignore[misc]
test_conda_yaml_fast, test_conda_yaml_long = check_conda_yaml  # type: ignore[misc]
