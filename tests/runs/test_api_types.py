"""What the Python API returns reads the same everywhere: a run's status and a sweep point's status
are one type that equals its name, and an error's text says what is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import mlrun_cli
from mlrun_cli import RunStatus
from mlrun_cli.errors import ParameterError
from mlrun_cli.tracking.filestore.store import FileStore

Factory = Callable[[dict[str, str]], Path]
PROJECT = """
entry_points:
  main:
    parameters: {alpha: {type: float, default: 0.5}, n: {type: int, default: 1}}
    command: "test {n} != 2"
"""


def test_a_status_equals_its_name_in_runs_and_sweeps(project_factory: Factory, isolated: Path) -> None:
    project = project_factory({"MLproject": PROJECT})
    result = mlrun_cli.run(str(project), env_manager="local")
    assert isinstance(result, mlrun_cli.RunResult)
    assert result.status == "FINISHED" and result.status is RunStatus.FINISHED
    assert f"{result.status}" == str(result.status) == "FINISHED"
    swept = mlrun_cli.run(str(project), env_manager="local", sweep={"n": [1, 2]})
    assert isinstance(swept, mlrun_cli.SweepResult)
    assert [p.status for p in swept.points] == ["FINISHED", "FAILED"]
    assert [type(p.status) for p in swept.points] == [RunStatus, RunStatus] == [type(result.status)] * 2
    assert swept.status == "FAILED"
    assert json.loads(json.dumps(swept.to_dict()))["children"][1]["status"] == "FAILED"
    # MLflow's file store still gets its integers.
    meta = (isolated / "mlruns" / result.experiment_id / result.run_id / "meta.yaml").read_text()
    assert "\nstatus: 3\n" in meta
    assert FileStore(isolated / "mlruns").get_run(result.run_id).status == "FINISHED"


def test_a_parameter_errors_text_lists_the_problems(project_factory: Factory, isolated: Path) -> None:
    project = project_factory({"MLproject": PROJECT})
    with pytest.raises(ParameterError) as raised:
        mlrun_cli.run(str(project), env_manager="local", parameters={"alpha": "abc", "n": "1.5"})
    text = str(raised.value)
    assert text.startswith("invalid parameters for entry point 'main': ")
    assert "alpha" in text and "abc" in text and "n (int)" in text and "1.5" in text
