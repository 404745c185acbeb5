"""What `-e NAME` runs: a declared entry point, or a script in the project run as MLflow runs it;
and, for a name that is neither, an error that says what there is."""

from __future__ import annotations

import shlex
from pathlib import Path

from mlrun_cli.errors import UsageError
from mlrun_cli.project.model import EntryPoint, Project


def resolve_entry_point(project: Project, name: str) -> EntryPoint:
    """A declared entry point, or a script in the project run as MLflow does (.py, .sh)."""
    if name in project.entry_points:
        return project.entry_points[name]
    suffix = Path(name).suffix
    runners = {".py": "python", ".sh": "bash"}
    if suffix in runners:
        script = project.directory / name
        if not script.is_file():
            raise UsageError(f"no such script in the project: {name}")
        _refuse_outside(project.directory, script, name)
        return EntryPoint(name, f"{runners[suffix]} {shlex.quote(name)}", is_script=True)
    scripts = sorted(p.name for p in project.directory.iterdir() if p.suffix in runners and p.is_file())
    named = next((f"{name}{s}" for s in runners if f"{name}{s}" in scripts), None)
    if project.spec_file is None:
        # MLflow without an MLproject: no entry points, only the scripts -e names.
        instead = (
            f"`-e FILE` runs a script here as MLflow does ({', '.join(scripts[:5])}"
            f"{', ...' if len(scripts) > 5 else ''})"
            + (f" in the environment {project.env.source} describes" if project.env.file else "")
            if scripts
            else "there is no .py or .sh file here to run with -e either"
        )
        message = f"no MLproject here ({project.directory}), so no entry point '{name}'; {instead}"
        raise UsageError(message, hint=f"add -e {named or scripts[0]} to the command" if scripts else None)
    from mlrun_cli.documents.hints import did_you_mean

    declared = ", ".join(project.entry_points) or "none declared"
    hint = f" (did you mean -e {named}, the script?)" if named else did_you_mean(name, project.entry_points)
    raise UsageError(
        f"unknown entry point '{name}'{hint}; entry points: {declared}",
        hint="a .py or .sh file in the project can be run directly with -e FILE",
    )


def _refuse_outside(directory: Path, script: Path, name: str) -> None:
    """`-e` runs a file in the project: not `../x.sh`, an absolute path elsewhere, or a symlink
    that leads out (each would run code the project does not hold)."""
    root = directory.resolve()
    target = script.resolve()
    if not target.is_relative_to(root):
        raise UsageError(
            f"-e {name}: the script is outside the project ({target} is not under {root}); "
            "-e runs a file in the project",
            hint="copy the script into the project, or run it from a project that holds it",
        )
