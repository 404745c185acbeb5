"""The command each entry point renders to, by MLflow's own loader (side venv) and by mlrun's.

Shared by the compatibility tests and bench/compat_corpus.py. Each result maps an entry point
to its command, or to "ERROR: ..." when the loader or the rendering refuses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from mlrun_cli.errors import MlrunError

# One MLflow process for many projects: importing MLflow costs more than rendering.
# Each project is rendered with its folder as the working directory, where MLflow resolves
# relative path defaults (mlrun resolves them against the project folder, wherever it runs).
MLFLOW_RENDER = """
import json, os, sys, tempfile
from mlflow.projects import _project_spec
out = {}
params = json.loads(sys.argv[1])
for directory in sys.argv[2:]:
    os.chdir(directory)
    try:
        project = _project_spec.load_project(directory)
    except BaseException as err:
        out[directory] = {"load_error": f"{type(err).__name__}: {err}"}
        continue
    commands = {}
    for name in project._entry_points:
        try:
            entry = project.get_entry_point(name)
            commands[name] = entry.compute_command(params, tempfile.mkdtemp())
        except BaseException as err:
            commands[name] = f"ERROR: {type(err).__name__}: {err}"
    out[directory] = {"commands": commands}
print(json.dumps(out))
"""


def mlflow_commands(
    python: Path, directories: list[Path], params: dict[str, str] | None = None
) -> dict[str, dict[str, object]]:
    """{directory: {"commands": {entry: command}} or {"load_error": text}} as MLflow sees them."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ALLOW_FILE_STORE": "true"}
    proc = subprocess.run(
        [str(python), "-c", MLFLOW_RENDER, json.dumps(params or {}), *map(str, directories)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, dict[str, object]] = json.loads(proc.stdout.splitlines()[-1])
    return result


def mlrun_commands(directory: Path, params: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """({entry: command or "ERROR: ..."}, warnings) as mlrun renders them; a SpecError for the
    whole project is raised."""
    from mlrun_cli.project import loader
    from mlrun_cli.project.params import bind, render_command

    project = loader.load_project(directory)
    commands: dict[str, str] = {}
    for name, entry in project.entry_points.items():
        try:
            bound = bind(entry, list((params or {}).items()), directory, directory)
            commands[name] = render_command(entry, bound)
        except MlrunError as err:
            commands[name] = f"ERROR: {err.message}: {'; '.join(err.details())}"
    return commands, list(project.warnings)
