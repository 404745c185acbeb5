"""A project not known valid, checked in one pass: read the MLproject once, take what MLflow
takes (project/compat.py), check the whole document against the schema, then build the model
and its env file (project/building.py). Each stage calls down; none calls back."""

from __future__ import annotations

from pathlib import Path

from mlrun_cli.documents.hints import display_path
from mlrun_cli.documents.schema_check import check_against_schema
from mlrun_cli.documents.yamlfile import YamlDocument, load_yaml
from mlrun_cli.errors import Problem
from mlrun_cli.project import building, compat
from mlrun_cli.project.model import Project

_SHAPE = "a mapping with 'entry_points' (and optionally 'name' and an env)"


def check(directory: Path, spec_file: Path | None) -> tuple[Project | None, list[Problem]]:
    """The project and every problem found in its files (at most a screenful, then a count)."""
    doc: YamlDocument | None = None  # none: a project of scripts, and its env file
    problems: list[Problem] = []
    warnings: list[str] = []
    refused: list[Problem] = []
    if spec_file is not None:
        name = display_path(spec_file)
        doc = load_yaml(spec_file, name)
        problems = list(doc.problems)
        if doc.data is None and not problems:
            problems.append(Problem(doc.file, 1, "", f"the file is empty; expected {_SHAPE}"))
        elif not problems and not isinstance(doc.data, dict):
            problems.append(Problem(doc.file, 1, "", f"expected {_SHAPE}"))
        if problems:
            return None, building.limit_problems(problems)
        doc, problems, warnings = compat.triage(doc, directory)
        sections = compat.misspelt_sections(doc)
        refused = check_against_schema(doc, "mlproject")
        in_sections = [check_against_schema(section.doc, "mlproject") for section in sections]
        for section, schema_problems in zip(sections, in_sections, strict=True):
            # What the schema says of the content, told at the key the author wrote.
            for problem in [*section.refused, *schema_problems]:
                if problem.path[:1] == (section.meant,) and len(problem.path) > 1:
                    path = (section.key, *problem.path[1:])
                    field = section.key + problem.field[len(section.meant) :]
                    refused.append(Problem(doc.file, problem.line, field, problem.message, path))
    return building.build(directory, spec_file, doc, problems, warnings, refused)
