"""`--env-manager local`: run in the caller's own environment, building nothing."""

from __future__ import annotations

from mlrun_cli.envs.base import DEFAULT_OPTIONS, EnvOptions, PreparedEnv
from mlrun_cli.project.model import Project

NAME = "local"


def prepare(project: Project, *, build: bool, options: EnvOptions = DEFAULT_OPTIONS) -> PreparedEnv:
    return PreparedEnv(NAME, description="the current environment (nothing is built)")
