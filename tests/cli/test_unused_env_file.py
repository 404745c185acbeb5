"""A broken env file that the run does not use: `--env-manager local` builds nothing from it (as
`mlflow run --env-manager local` ignores a conda.yaml that is not a mapping), so it is a warning
there, an error under --strict, and still an error wherever an environment is built from it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]

BROKEN = {
    "conda_list": ("conda.yaml", "- python=3.11\n- numpy\n", "conda.yaml:1: expected a mapping, got a list"),
    "python_env_names_requirements": (
        "python_env.yaml",
        "numpy\n",
        "python_env.yaml:1: not a python_env file: it holds the string 'numpy'",
    ),
}


@pytest.mark.parametrize("name", BROKEN)
def test_a_broken_env_file_warns_with_local_and_is_refused_elsewhere(
    name: str, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    env_file, text, problem = BROKEN[name]
    project = project_factory(
        {"MLproject": "entry_points:\n  main:\n    command: echo ran\n", env_file: text}
    )
    local = mlrun("run", str(project), "--env-manager", "local", "--json")
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["status"] == "FINISHED"
    warning = next(line for line in local.stderr.splitlines() if problem in line)
    assert warning.startswith("Warning: /")
    assert warning.endswith("; ignored: --env-manager local does not use the file")
    strict = mlrun("run", str(project), "--env-manager", "local", "--strict", "--tracking-uri", "strict-runs")
    assert strict.returncode == 2 and problem in strict.stderr
    assert not (isolated / "strict-runs").exists()
    built = mlrun("run", str(project), "--dry-run")  # the default manager builds from the file
    assert (
        built.returncode == 2
        and "Error: invalid project: 1 problem\n" in built.stderr
        and problem in built.stderr
    )
    checked = mlrun("validate", str(project))
    assert checked.returncode == 2 and problem in checked.stderr


def test_a_sweep_with_local_reports_its_bad_points_not_the_unused_env_file(
    mlrun: Mlrun, project_factory: Factory
) -> None:
    spec = "entry_points:\n  main:\n    parameters:\n      n: {type: int, default: 1}\n"
    spec += "    command: echo {n}\n"
    project = project_factory({"MLproject": spec, "conda.yaml": "- python\n"})
    swept = mlrun("run", str(project), "--no-track", "--env-manager", "local", "-S", "n=a,2,b")
    assert swept.returncode == 2
    assert "point 0 (n=a): n (int): 'a' is not an integer\n  point 2 (n=b)" in swept.stderr
