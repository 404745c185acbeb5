"""A project known valid loads again from $MLRUN_HOME/projects without YAML, and only while every
file it was made of is unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mlrun_cli.project import known
from mlrun_cli.project.loader import check_project, find_mlproject, load_project
from mlrun_cli.project.pipeline import check as _check_project


def _records() -> list[Path]:
    return sorted((known.mlrun_home() / "projects").glob("*.json"))


def test_a_valid_project_is_remembered_and_loaded_unchanged(example: Callable[[str], Path]) -> None:
    project_dir = example("typed_params")
    fresh = load_project(project_dir)
    assert len(_records()) == 1
    cached, _ = known.lookup(project_dir.absolute(), find_mlproject(project_dir.absolute()))
    assert cached == fresh  # every field, entry point and parameter comes back equal
    assert load_project(project_dir) == fresh


def test_the_env_file_content_is_kept_only_where_json_holds_it_exactly(tmp_path: Path) -> None:
    """The kept content must read back as the YAML did. A number used as a key (valid in a conda
    file's variables) does not survive JSON: that file is read from its YAML when the env is
    planned, and the project is still remembered."""
    (tmp_path / "MLproject").write_text("conda_env: conda.yaml\nentry_points: {main: {command: x}}\n")
    env_file = tmp_path / "conda.yaml"
    env_file.write_text("dependencies: [python=3.11, {pip: [numpy]}]\nvariables: {SEED: 1}\n")
    kept = load_project(tmp_path).env.content
    assert kept is not None
    assert json.loads(kept) == {"dependencies": ["python=3.11", {"pip": ["numpy"]}], "variables": {"SEED": 1}}
    env_file.write_text("dependencies: [python=3.11]\nvariables: {1: x}\n")
    project = load_project(tmp_path)
    assert project.env.content is None
    assert known.lookup(tmp_path, tmp_path / "MLproject")[0] == project


def test_a_record_stands_for_the_env_file_bytes_that_were_checked(tmp_path: Path) -> None:
    """The env file saved again while its project is being checked: the record pairs the kept
    content with the digest of the bytes it came from, so the next load checks the new file
    instead of building from the old content."""
    spec = tmp_path / "MLproject"
    spec.write_text("python_env: python_env.yaml\nentry_points: {main: {command: x}}\n")
    env_file = tmp_path / "python_env.yaml"
    env_file.write_text('python: "3.11"\ndependencies: [numpy]\n')
    _, spec_digest = known.lookup(tmp_path, spec)
    project, problems = _check_project(tmp_path, spec)
    assert project is not None and not problems
    env_file.write_text('python: "3.11"\ndependencies: [scipy]\n')  # saved meanwhile
    known.remember(project, spec_digest)
    assert known.lookup(tmp_path, spec)[0] is None
    assert "scipy" in (load_project(tmp_path).env.content or "")


def test_an_edited_env_file_is_checked_again(example: Callable[[str], Path]) -> None:
    project_dir = example("sklearn_linear")
    assert check_project(project_dir)[1] == []
    (project_dir / "python_env.yaml").write_text('python: "3.11"\ndependencies: {numpy: 1}\n')
    _, problems = check_project(project_dir)
    assert problems, "the edited env file must be checked, not taken from the record"


def test_an_edited_mlproject_is_checked_again(example: Callable[[str], Path]) -> None:
    project_dir = example("sklearn_linear")
    assert check_project(project_dir)[1] == []
    spec = project_dir / "MLproject"
    spec.write_text(spec.read_text().replace("command:", "comand:", 1))
    assert any("command" in str(p) for p in check_project(project_dir)[1])


def test_a_default_env_file_that_appears_changes_the_project(tmp_path: Path) -> None:
    project_dir = tmp_path / "p"
    project_dir.mkdir()
    (project_dir / "MLproject").write_text("name: p\nentry_points: {main: {command: 'true'}}\n")
    assert load_project(project_dir).env.kind == "none"
    (project_dir / "python_env.yaml").write_text('python: "3.11"\n')
    assert load_project(project_dir).env.kind == "python"


def test_a_project_with_problems_is_not_remembered(example: Callable[[str], Path]) -> None:
    project_dir = example("sklearn_linear")
    (project_dir / "python_env.yaml").unlink()
    assert check_project(project_dir)[1]
    assert _records() == []


def test_an_unreadable_record_is_ignored(example: Callable[[str], Path]) -> None:
    project_dir = example("sklearn_linear")
    fresh = load_project(project_dir)
    (record,) = _records()
    record.write_text("{not json")
    assert load_project(project_dir) == fresh
