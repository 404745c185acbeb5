"""`-e FILE` runs a file in the project (README): never a script outside it, however named."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_a_script_outside_the_project_is_refused_and_not_run(
    how: str, mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    outside = tmp_path / "evil.sh"
    ran = tmp_path / "ran"
    outside.write_text(f"touch {ran}\n")
    project = project_factory({"MLproject": "entry_points:\n  main:\n    command: echo hi\n"})
    (project / "sub").mkdir()
    if how == "symlink":
        (project / "sub" / "link.sh").symlink_to(outside)
    names = {"dotdot": "../evil.sh", "absolute": str(outside), "symlink": "sub/link.sh"}
    result = mlrun("run", str(project), "-e", names[how], "--env-manager", "local")
    assert result.returncode == 2, result.stderr
    assert f"-e {names[how]}: the script is outside the project" in result.stderr
    assert "Traceback" not in result.stderr
    assert not ran.exists()
    assert not (Path(os.getcwd()) / "mlruns").exists()  # refused before any run was recorded


def test_a_script_inside_the_project_still_runs_also_through_a_symlink_inside(
    mlrun: Mlrun, project_factory: Factory
) -> None:
    project = project_factory(
        {"MLproject": "entry_points:\n  main:\n    command: echo hi\n", "tools/go.sh": "echo went\n"}
    )
    (project / "go.sh").symlink_to(project / "tools" / "go.sh")
    for name in ("tools/go.sh", "go.sh", "tools/../go.sh"):
        result = mlrun("run", str(project), "-e", name, "--env-manager", "local", "--no-track")
        assert result.returncode == 0, result.stderr
        assert "went" in result.stdout
