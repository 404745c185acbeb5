"""A `path` parameter of a project from git: found in the caller's folder, else in the checkout;
recorded relative to the project, so runs of the same commit compare in MLflow's UI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result
from tests.sources.test_git import _commit, git

MLPROJECT = (
    "entry_points:\n  main:\n    parameters:\n"
    "      data: {type: path, default: data/default.csv}\n      other: {type: path, default: data}\n"
    "    command: cat {data}\n"
)


def test_paths_of_a_git_project(mlrun: Callable[..., Result], tmp_path: Path, isolated: Path) -> None:
    work = tmp_path / "repo"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    _commit(work, {"MLproject": MLPROJECT, "data/default.csv": "d\n", "data/other.csv": "o\n"}, "one")
    bare = tmp_path / "proj.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)  # checked out for each run
    (isolated / "mine.csv").write_text("m\n")

    def plan(*params: str) -> dict[str, object]:
        result = mlrun("run", bare.as_uri(), "--env-manager", "local", "--dry-run", "--json", *params)
        assert result.returncode == 0, result.stderr
        data: dict[str, object] = json.loads(result.stdout)
        return data

    default = plan()
    assert default["params"] == {"data": "data/default.csv", "other": "data"}
    command = str(default["command"])
    assert command.startswith("cat /") and command.endswith("/data/default.csv")
    # Not in the caller's folder: the file in the checkout, recorded relative to it.
    inside = plan("-P", "data=data/other.csv")
    assert inside["params"] == {"data": "data/other.csv", "other": "data"}
    # In the caller's folder: that file, recorded as the absolute path it is.
    mine = plan("-P", "data=mine.csv")
    assert mine["params"] == {"data": str(isolated / "mine.csv"), "other": "data"}
    assert mine["command"] == f"cat {isolated / 'mine.csv'}"
    missing = mlrun("run", bare.as_uri(), "--env-manager", "local", "--dry-run", "-P", "data=nope.csv")
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr
