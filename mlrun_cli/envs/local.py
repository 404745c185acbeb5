"""`--env-manager local`: run in the caller's own environment, building nothing."""

from __future__ import annotations

from mlrun_cli.envs.base import EnvOptions, EnvPlan, EnvState
from mlrun_cli.project.model import Project

NAME = "local"


def plan(project: Project, options: EnvOptions) -> EnvPlan:
    return EnvPlan(NAME, EnvState.NOTHING, description="the current environment (nothing is built)")
