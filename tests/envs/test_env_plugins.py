"""A third-party env manager, installed as a real package under the entry-point group
`mlrun_cli.envs`: chosen by name, planned in a dry run, built when the run starts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.envs.conftest import install_plugin

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]

# An "environment" that is a variable: enough to see plan and build kept apart.
PLUGIN = """
from mlrun_cli.envs.base import EnvPlan, EnvState, PreparedEnv

NAME = "stamp"

def plan(project, options):
    def build(planned):
        return PreparedEnv(NAME, {"STAMP": "built-by-plugin"}, {"mlrun.env.key": "stamp-1"}, "stamp")
    return EnvPlan(NAME, EnvState.TO_BUILD, "stamp-1", "stamp", "stamped on build", builder=build)
"""
BROKEN = "raise ImportError('half installed')\n"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("env-plugin")
    return install_plugin(
        root,
        "mlrun-stamp",
        "mlrun_stamp",
        PLUGIN,
        "[mlrun_cli.envs]\nstamp = mlrun_stamp\n",
    )


def test_plugin_env_manager_is_planned_then_built(
    mlrun: Mlrun, project_factory: Factory, plugin_path: str
) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'echo stamp=$STAMP'}}\n"})
    env = {"PYTHONPATH": plugin_path}
    planned = mlrun("run", str(project), "--env-manager", "stamp", "--dry-run", "--json", env=env)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["env"]["state"] == "to build"
    ran = mlrun("run", str(project), "--env-manager", "stamp", env=env)
    assert ran.returncode == 0, ran.stderr
    assert "stamp=built-by-plugin" in ran.stdout


def test_a_broken_plugin_is_a_clear_error(mlrun: Mlrun, project_factory: Factory, tmp_path: Path) -> None:
    path = install_plugin(
        tmp_path, "mlrun-broken", "mlrun_broken", BROKEN, "[mlrun_cli.envs]\nbroken = mlrun_broken\n"
    )
    project = project_factory({"MLproject": "entry_points: {main: {command: 'true'}}\n"})
    result = mlrun("run", str(project), "--env-manager", "broken", env={"PYTHONPATH": path})
    assert result.returncode == 2
    assert "env manager plugin 'broken' failed to load: ImportError: half installed" in result.stderr
    assert "Traceback" not in result.stderr
