"""`mlrun run --strict`: what is only warned about stops the run before it exists (exit 2,
nothing recorded), as `mlrun validate --strict` does; and the Python API's `strict=True`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import mlrun_cli
from mlrun_cli.errors import MlrunError, StrictWarnings
from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]

SPEC = (
    "entry_points:\n  main:\n    parameters:\n      alpha: {type: float, default: 0.5}\n"
    '    command: "python train.py --alpha {alpha}"\n'
)
# As a script with argparse fails on an argument it does not know: after the run was created.
TRAIN = (
    "import argparse\np = argparse.ArgumentParser()\np.add_argument('--alpha')\n"
    "print('alpha', p.parse_args().alpha)\n"
)


@pytest.fixture
def project(project_factory: Factory) -> Path:
    return project_factory({"MLproject": SPEC, "train.py": TRAIN})


def test_a_misspelt_param_only_warns_then_fails_in_the_command_without_strict(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    loose = mlrun("run", str(project), "-P", "alpah=0.1", "--env-manager", "local")
    assert "-P alpah: not a parameter of entry point 'main'" in loose.stderr
    assert loose.returncode == 2 and "unrecognized arguments: --alpah" in loose.stderr
    assert (isolated / "mlruns").exists()  # a FAILED run was recorded


@pytest.mark.parametrize("extra", [[], ["--dry-run"], ["-S", "alpha=0.1,0.2"]])
def test_strict_refuses_a_misspelt_param_before_any_run(
    extra: list[str], mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    strict = mlrun("run", str(project), "-P", "alpah=0.1", "--env-manager", "local", "--strict", *extra)
    assert strict.returncode == 2, strict.stderr
    assert strict.stderr.startswith("Error: --strict: warnings are errors (1); nothing was run or recorded\n")
    assert "-P alpah: not a parameter of entry point 'main'; passed as --alpah (as MLflow does) " in (
        strict.stderr
    )
    assert "(did you mean 'alpha'?)" in strict.stderr
    assert "alpha None" not in strict.stdout + strict.stderr
    assert not (isolated / "mlruns").exists()


def test_strict_refuses_what_mlflow_silently_accepts_with_json(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory({"MLproject": "rocket: {fuel: 3}\n" + SPEC, "train.py": TRAIN})
    loose = mlrun("run", str(project), "--env-manager", "local", "--no-track")
    assert loose.returncode == 0 and "rocket: unknown key, ignored, as MLflow does" in loose.stderr
    strict = mlrun("run", str(project), "--env-manager", "local", "--strict", "--json")
    assert strict.returncode == 2
    error = json.loads(strict.stdout)
    assert error["error"] == "StrictWarnings" and error["exit_code"] == 2
    assert [d.split("MLproject")[-1] for d in error["details"]] == [
        ":1: rocket: unknown key, ignored, as MLflow does"
    ]
    assert not (isolated / "mlruns").exists()


def test_the_python_api_takes_strict(project: Path, isolated: Path) -> None:
    with pytest.raises(StrictWarnings) as raised:
        mlrun_cli.run(str(project), parameters={"alpah": 0.1}, env_manager="local", strict=True)
    assert raised.value.exit_code == 2 and "alpah" in raised.value.details()[0]
    submitted = mlrun_cli.run(
        str(project), parameters={"alpah": 0.1}, env_manager="local", strict=True, synchronous=False
    )
    assert isinstance(submitted, mlrun_cli.SubmittedRun)
    with pytest.raises(MlrunError) as later:
        submitted.wait(timeout=120)
    assert later.value.exit_code == 2 and "--strict" in later.value.message
    assert not (isolated / "mlruns").exists()


def test_a_missing_secret_says_where_it_can_come_from(mlrun: Mlrun, project_factory: Factory) -> None:
    project = project_factory(
        {
            "MLproject": "entry_points:\n  main:\n    parameters:\n      token: secret\n"
            "    command: echo {token}\n"
        }
    )
    result = mlrun("run", str(project), "--env-manager", "local", "--no-track")
    assert result.returncode == 2
    assert "missing required parameters: token" in result.stderr
    assert "token (secret): give -P token=..., set MLRUN_SECRET_TOKEN, or put it in a --secrets-file" in (
        result.stderr
    )
