"""`--env-manager local`: run in the caller's own environment, building nothing."""

from __future__ import annotations

from mlrun_cli.envs.base import PreparedEnv
from mlrun_cli.project.model import Project

NAME = "local"


def prepare(project: Project, *, build: bool) -> PreparedEnv:
    return PreparedEnv(NAME, description="the current environment (nothing is built)")
