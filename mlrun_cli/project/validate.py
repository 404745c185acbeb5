"""`mlrun validate`: check a project without running anything (kept off the run path's imports)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlrun_cli.errors import Problem


@dataclass(frozen=True)
class ValidationReport:
    path: Path
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, object] = field(default_factory=dict)
    strict: bool = False
    """--strict: warnings (what MLflow would silently accept) fail validation too."""

    @property
    def valid(self) -> bool:
        return not self.problems and not (self.strict and self.warnings)

    def to_dict(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "strict": self.strict,
            "path": str(self.path),
            "problems": [p.to_dict() for p in self.problems],
            "warnings": self.warnings,
            "project": self.summary,
        }


def project_folders(paths: Sequence[Path]) -> list[Path]:
    """The project folder of each path, each once, in order. A folder is one; a file (an
    MLproject, or an env file as pre-commit passes them) belongs to the nearest folder at or
    above it with an MLproject, not looking past the top of its git work tree, else to its own
    folder (a project of scripts and an env file)."""
    from mlrun_cli.errors import UsageError

    folders: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"no such project folder or file: {path}")
        folder = path if path.is_dir() else _owner(path)
        if folder not in folders:
            folders.append(folder)
    return folders


def _owner(file: Path) -> Path:
    from mlrun_cli.project.loader import find_mlproject

    for folder in (file.parent, *file.parent.parents):
        try:
            if find_mlproject(folder) is not None:
                return folder
            if (folder / ".git").exists():
                break
        except OSError:  # an unreadable folder above: stop looking there
            break
    return file.parent


def validate(path: Path, *, strict: bool = False) -> ValidationReport:
    """Check a project folder (or its MLproject file) without running anything."""
    from mlrun_cli.documents.hints import display_path
    from mlrun_cli.project.loader import check_project

    if path.is_file() and path.name.lower() != "mlproject":
        from mlrun_cli.errors import UsageError

        raise UsageError(f"{path} is not an MLproject file; give the project's folder or its MLproject")
    directory = path.parent if path.is_file() else path
    project, problems = check_project(directory)
    if project is None or problems:
        return ValidationReport(directory, problems, strict=strict)
    if (
        project.spec_file is None
        and project.env.file is None
        and not any(p.suffix in (".py", ".sh") and p.is_file() for p in directory.iterdir())
    ):  # nothing to run and nothing to check: `mlrun run` refuses it, and so does validate
        from mlrun_cli.errors import Problem

        nothing = "no MLproject here, and no .py or .sh script that -e could run"
        return ValidationReport(directory, [Problem(str(directory), None, "", nothing)], strict=strict)
    summary: dict[str, object] = {
        "name": project.name,
        "mlproject": display_path(project.spec_file) if project.spec_file else None,
        "environment": project.env.source,
        "entry_points": {
            name: {
                "command": entry.command,
                "parameters": {
                    p.name: {
                        "type": p.type,
                        "default": p.default,
                        "required": p.required,
                        "choices": p.choices,
                        "description": p.description,
                    }
                    for p in entry.parameters.values()
                },
            }
            for name, entry in project.entry_points.items()
        },
    }
    return ValidationReport(directory, [], list(project.warnings), summary, strict=strict)
