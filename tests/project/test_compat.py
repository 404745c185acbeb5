"""Each class of real-world MLproject quirk: what mlrun does with it, and (marker `mlflow`) that
MLflow renders the same command where mlrun accepts it, or mishandles it where mlrun refuses it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlrun_cli.errors import SpecError
from mlrun_cli.project.loader import check_project, load_project
from tests.project.mlflow_render import mlflow_commands, mlrun_commands


@dataclass(frozen=True)
class Case:
    files: dict[str, str]
    # Accepted: the main command, and a fragment of each warning (in order).
    command: str | None = None
    warnings: tuple[str, ...] = ()
    # Refused: a fragment of each problem (in order), and what MLflow does with the file instead.
    problems: tuple[str, ...] = ()
    mlflow_does: str = ""
    params: dict[str, str] = field(default_factory=dict)


def mlproject(text: str, **extra: str) -> dict[str, str]:
    return {"MLproject": text, "t.py": "", "data.txt": "x", **extra}


ACCEPTED = {
    "type_aliases": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n"
            "      a: {type: str, default: hello}\n      b: {type: integer, default: 3}\n"
            "      c: {type: boolean, default: true}\n      d: {type: number, default: 4}\n"
            "      e: {type: double, default: 0.5}\n      f: {type: String, default: x}\n"
            "      g: {type: int, default: 010}\n"
            "    command: python t.py {a} {b} {c} {d} {e} {f} {g}\n"
        ),
        command="python t.py hello 3 True 4 0.5 x 8",
    ),
    "unknown_types_are_strings": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n"
            "      x: {type: list, default: '[1, 2]'}\n      y: {type: Path, default: data.txt}\n"
            "      z: {type: action, default: go}\n      w: {type: 3, default: 1}\n"
            "    command: echo {x} {y} {z} {w}\n"
        ),
        command="echo '[1, 2]' data.txt go 1",
        warnings=(
            ":4: entry_points.main.parameters.x.type: unknown type 'list', treated as a string, as MLflow",
            ":5: entry_points.main.parameters.y.type: type 'Path' is not 'path'",
            ":6: entry_points.main.parameters.z.type: unknown type 'action'",
            ":7: entry_points.main.parameters.w.type: unknown type 3, treated as a string",
        ),
    ),
    "keys_mlflow_ignores": Case(
        mlproject(
            "name: p\nrocket:\n  post_execution: [notify]\nsignature:\n  inputs: '[]'\n"
            "docker_env:\n  image: python:3.11-slim\n  build_context: .\n"
            "entry_points:\n  main:\n    description: trains\n    parameters:\n"
            "      a: {type: int, default: 1, help: the count}\n"
            "    command: python t.py {a}\n"
        ),
        command="python t.py 1",
        warnings=(
            ":2: rocket: unknown key, ignored, as MLflow does",
            ":4: signature: unknown key, ignored",
            ":8: docker_env.build_context: unknown key, ignored",
            ":11: entry_points.main.description: unknown key, ignored",
            ":13: entry_points.main.parameters.a.help: unknown key, ignored",
        ),
    ),
    "empty_env_key_is_unset": Case(
        mlproject("conda_env: ~\nentry_points:\n  main:\n    command: python t.py\n"),
        command="python t.py",
        warnings=(":1: conda_env: empty, so unset, as MLflow reads it",),
    ),
    "default_None_on_an_int": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n      n: {type: int, default: None}\n"
            "    command: python t.py --n {n}\n"
        ),
        command="python t.py --n None",
        warnings=(":4: entry_points.main.parameters.n: default None is not an int: the text None is passed",),
    ),
    "defaults_pass_as_written": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n"
            "      ratio: {type: float, default: 4}\n      lr: {type: float, default: 1e-3}\n"
            "      flag: {type: bool, default: yes}\n      data: {type: path, default: data.txt}\n"
            "      out: {type: uri, default: 's3://b/k'}\n      n-class: {type: int, default: 10}\n"
            "    command: python t.py {ratio} {lr} {flag} --n-class {n-class} && cat {data} {out}\n"
        ),
        command="python t.py 4 1e-3 True --n-class 10 && cat {dir}/data.txt s3://b/k",
    ),
    "given_values_pass_as_written": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n"
            "      ratio: {type: float, default: 4}\n      flag: {type: bool, default: false}\n"
            "    command: python t.py {ratio} {flag}\n"
        ),
        params={"ratio": "1e-1", "flag": "on", "extra": "a b"},
        command="python t.py 1e-1 on --extra 'a b'",
    ),
    # Issue 24: what MLflow loads with no effect from the typo or the repeat: warned, not refused.
    "conda_env_with_a_space_naming_the_file_read_anyway": Case(
        mlproject(
            "conda env: conda.yaml\nentry_points:\n  main:\n    command: python t.py\n",
            **{"conda.yaml": "dependencies: [python=3.11]\n"},
        ),
        command="python t.py",
        warnings=(
            ":1: conda env: unknown key, ignored, as MLflow does (did you mean 'conda_env'? MLflow reads "
            "conda.yaml here anyway, and so does mlrun)",
        ),
    ),
    "misspelt_description": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n      a: {type: int, default: 3, descripton: count}\n"
            "    command: python t.py {a}\n"
        ),
        command="python t.py 3",
        warnings=(
            ":4: entry_points.main.parameters.a.descripton: unknown key, ignored, as MLflow does (did you "
            "mean 'description'?",
        ),
    ),
    "duplicate_key_empty_the_first_time": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n    parameters:\n      a: {type: int, default: 3}\n"
            "    command:\n    command: python t.py {a}\n"
        ),
        command="python t.py 3",
        warnings=(
            ":4: entry_points.main.parameters: duplicate key (first on line 3, empty there): this value is "
            "used, as MLflow does",
            ":7: entry_points.main.command: duplicate key (first on line 6, empty there)",
        ),
    ),
    "a_list_or_mapping_as_a_string_default": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n"
            "      a: {type: str, default: [x, 'y z', 1, true]}\n      b: {default: {k: [1, 2]}}\n"
            "    command: python t.py {a} {b}\n"
        ),
        # {{ }}: the test formats the expected command
        command="python t.py '['\"'\"'x'\"'\"', '\"'\"'y z'\"'\"', 1, True]' '{{'\"'\"'k'\"'\"': [1, 2]}}'",
        warnings=(
            ":4: entry_points.main.parameters.a.default: a list as a string's default: MLflow passes it as "
            "one string, \"['x', 'y z', 1, True]\", and so does mlrun",
            ":5: entry_points.main.parameters.b.default: a mapping as a string's default",
        ),
    ),
}

REFUSED = {
    "missing_space_in_flow_mapping": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n      n-class: {type:int, default:10}\n"
            "    command: python t.py {n-class}\n"
        ),
        problems=(
            ":4: entry_points.main.parameters.n-class.default:10: 'default:10' is read as one key, so the "
            "default is lost (MLflow would silently ignore it): write 'default: 10' with a space",
            ":4: entry_points.main.parameters.n-class.type:int: 'type:int' is read as one key",
        ),
        mlflow_does="No value given for missing parameters: 'n-class'",
    ),
    "misspelt_default": Case(
        mlproject(
            "entry_points:\n  main:\n    parameters:\n      a: {type: int, defulat: 3}\n"
            "    command: python t.py {a}\n"
        ),
        problems=(":4: entry_points.main.parameters.a.defulat: unknown key (did you mean 'default'?)",),
        mlflow_does="No value given for missing parameters: 'a'",
    ),
    "entry_point_near_miss": Case(
        mlproject("entry_point:\n  main:\n    command: python t.py\n"),
        problems=(":1: entry_point: unknown key (did you mean 'entry_points'?)",),
        mlflow_does='"commands": {}',
    ),
    "conda_env_with_a_space": Case(
        mlproject("conda env: env.yaml\nentry_points:\n  main:\n    command: python t.py\n"),
        problems=(":1: conda env: unknown key (did you mean 'conda_env'?)",),
        mlflow_does='"main": "python t.py"',  # and runs without the environment
    ),
    "duplicate_command": Case(
        mlproject("entry_points:\n  main:\n    command: python prep.py\n    command: python t.py\n"),
        problems=(":4: entry_points.main.command: duplicate key (first defined on line 3); MLflow would",),
        mlflow_does='"main": "python t.py"',  # the first step is lost
    ),
    "undeclared_placeholder": Case(
        mlproject("entry_points:\n  main:\n    command: python t.py {alpha}\n"),
        problems=(":3: entry_points.main.command: placeholder '{alpha}' is not a declared parameter",),
        mlflow_does="KeyError",
    ),
    "requirements_as_python_env": Case(
        mlproject(
            "python_env: requirements.txt\nentry_points:\n  main:\n    command: python t.py\n",
            **{"requirements.txt": "numpy\npandas\n"},
        ),
        problems=("requirements.txt:1: not a python_env file: it holds the string 'numpy pandas'",),
        mlflow_does='"main": "python t.py"',  # and fails when it builds the environment
    ),
    "mapping_in_a_pip_list": Case(
        mlproject(
            "conda_env: conda.yaml\nentry_points:\n  main:\n    command: python t.py\n",
            **{"conda.yaml": "dependencies:\n  - python=3.11\n  - pip:\n    - mlflow\n    - numpy: 1.26\n"},
        ),
        problems=("conda.yaml:5: dependencies[1].pip[1]: a mapping inside a pip list",),
        mlflow_does='"main": "python t.py"',
    ),
    "image_with_capitals": Case(
        mlproject("docker_env:\n  image: SSAD\nentry_points:\n  main:\n    command: python t.py\n"),
        problems=(
            ":2: docker_env.image: 'SSAD' is not a valid image reference: 'SSAD' is not a valid name "
            "(repository names must be lowercase)",
        ),
        mlflow_does='"main": "python t.py"',  # and fails later with Docker's error
    ),
    "unconstructible_yaml_value": Case(
        mlproject("entry_points:\n  main:\n    command: !!int fuzz\n"),
        problems=(":3: YAML value cannot be read: invalid literal for int() with base 10: 'fuzz'",),
        mlflow_does="ValueError",
    ),
    "unconstructible_value_in_an_env_file": Case(
        mlproject(
            "python_env: py.yaml\nentry_points:\n  main:\n    command: python t.py\n",
            **{"py.yaml": 'python: !!int "3.11"\n'},
        ),
        problems=("py.yaml:1: YAML value cannot be read: invalid literal for int()",),
        mlflow_does='"main": "python t.py"',
    ),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_as_mlflow_does(name: str, project_factory: Callable[[dict[str, str]], Path]) -> None:
    case = ACCEPTED[name]
    directory = project_factory(case.files)
    commands, warnings = mlrun_commands(directory, case.params)
    assert commands["main"] == (case.command or "").format(dir=directory)
    assert len(warnings) == len(case.warnings), warnings
    for warning, fragment in zip(warnings, case.warnings, strict=True):
        assert fragment in warning


def test_an_empty_env_key_falls_back_as_mlflow_does(
    project_factory: Callable[[dict[str, str]], Path],
) -> None:
    files = ACCEPTED["empty_env_key_is_unset"].files
    assert load_project(project_factory(files)).env.kind == "none"
    with_file = load_project(project_factory({**files, "conda.yaml": "dependencies: [python]\n"}))
    assert (with_file.env.kind, with_file.env.source) == ("conda", "conda.yaml")


@pytest.mark.parametrize("name", REFUSED)
def test_refused_with_a_message_that_says_why(
    name: str, project_factory: Callable[[dict[str, str]], Path]
) -> None:
    case = REFUSED[name]
    project, problems = check_project(project_factory(case.files))
    assert project is None or problems
    assert len(problems) == len(case.problems), problems
    for problem, fragment in zip(sorted(problems, key=str), sorted(case.problems), strict=True):
        assert fragment in str(problem)


@pytest.mark.mlflow
def test_mlflow_renders_what_mlrun_renders_and_mishandles_what_mlrun_refuses(
    mlflow_python: Path, project_factory: Callable[[dict[str, str]], Path]
) -> None:
    accepted = {name: project_factory(case.files) for name, case in ACCEPTED.items()}
    refused = {name: project_factory(case.files) for name, case in REFUSED.items()}
    # One MLflow process per set of given values: importing MLflow takes seconds.
    groups: dict[str, list[Path]] = {}
    for name, directory in [*accepted.items(), *refused.items()]:
        params = ACCEPTED[name].params if name in ACCEPTED else {}
        groups.setdefault(json.dumps(params), []).append(directory)
    seen: dict[str, dict[str, object]] = {}
    for params_text, directories in groups.items():
        seen.update(mlflow_commands(mlflow_python, directories, json.loads(params_text)))
    for name, directory in accepted.items():
        ours, _ = mlrun_commands(directory, ACCEPTED[name].params)
        assert seen[str(directory)] == {"commands": ours}, name
    for name, directory in refused.items():
        with pytest.raises(SpecError):
            load_project(directory)
        assert REFUSED[name].mlflow_does in json.dumps(seen[str(directory)]), (name, seen[str(directory)])
