"""`mlrun validate PATH...` as pre-commit calls it: several files, env files mapped to their project."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.conftest import EXAMPLES, Result


def test_several_paths_each_project_once(mlrun: Callable[..., Result], isolated: Path) -> None:
    shutil.copytree(EXAMPLES / "sklearn_linear", isolated / "a")
    shutil.copytree(EXAMPLES / "invalid" / "typo_key", isolated / "sub" / "b")
    done = mlrun("validate", "a/python_env.yaml", "a/MLproject", "sub/b/MLproject", "--json")
    assert done.returncode == 2
    reports = json.loads(done.stdout)
    assert [Path(r["path"]).name for r in reports] == ["a", "b"]
    assert [r["valid"] for r in reports] == [True, False]
    text = mlrun("validate", "a/python_env.yaml", "sub/b/MLproject")
    assert "a/MLproject: valid" in text.stdout
    assert "sub/b/MLproject:2: entry_point: unknown key (did you mean 'entry_points'?)" in text.stderr


def test_an_env_file_belongs_to_the_nearest_mlproject_above(
    mlrun: Callable[..., Result], isolated: Path
) -> None:
    project = isolated / "p"
    project.mkdir()
    (project / "MLproject").write_text("python_env: envs/py.yaml\nentry_points: {main: {command: 'true'}}\n")
    (project / "envs").mkdir()
    (project / "envs" / "py.yaml").write_text("python: 3.11\n")  # a number: invalid
    bad = mlrun("validate", "p/envs/py.yaml")
    assert bad.returncode == 2 and "p/envs/py.yaml:1: python" in bad.stderr
    # Without an MLproject above, the file's own folder is the project (a default env file).
    (isolated / "loose").mkdir()
    (isolated / "loose" / "conda.yaml").write_text("dependencies: [python=3.11]\n")
    assert mlrun("validate", "loose/conda.yaml").returncode == 0
    assert mlrun("validate", "nowhere/conda.yaml").returncode == 2
