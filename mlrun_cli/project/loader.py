"""Where a project is loaded: a project known valid comes back from its record
(project/known.py); any other is checked in one pass (project/pipeline.py), then remembered."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlrun_cli.errors import Problem, SpecError, UsageError
from mlrun_cli.project import known
from mlrun_cli.project.model import Project

DEFAULT_ENTRY_POINT = "main"


def find_mlproject(directory: Path) -> Path | None:
    """The file whose lower-cased name is exactly 'mlproject', as MLflow finds it."""
    matches = sorted(p for p in directory.iterdir() if p.name.lower() == "mlproject" and p.is_file())
    return matches[0] if matches else None


def load_project(directory: Path, *, env_file_used: bool = True) -> Project:
    """Load and fully check the project in `directory`; SpecError lists every problem. Without
    `env_file_used` (`--env-manager local`), a broken env file is a warning, as MLflow ignores it."""
    project, problems = check_project(directory)
    if project is not None and not env_file_used and project.env_problems:
        problems = [p for p in problems if p not in project.env_problems]
        unused = [f"{p}; ignored: --env-manager local does not use the file" for p in project.env_problems]
        project = dataclasses.replace(project, warnings=(*project.warnings, *unused))
    if problems or project is None:
        raise SpecError(problems)
    return project


def check_project(directory: Path) -> tuple[Project | None, list[Problem]]:
    """The project and every problem found in it (at most a screenful, then a count)."""
    directory = directory.absolute()
    if not directory.is_dir():
        raise UsageError(f"no such project folder: {directory}")
    spec_file = find_mlproject(directory)
    project, spec_digest = known.lookup(directory, spec_file)
    if project is not None:
        return project, []
    # YAML, the schema check and the MLflow-compat pass are imported only here: not when a
    # project known valid is loaded again.
    from mlrun_cli.project import pipeline

    project, problems = pipeline.check(directory, spec_file)
    if project is not None and not problems:
        known.remember(project, spec_digest)
    return project, problems
