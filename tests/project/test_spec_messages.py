"""What a newcomer hits first, said plainly: an empty folder, a tab, a misspelt top-level key
(its content still checked), an entry point named like a script without its suffix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]


def test_an_empty_folder_says_there_is_no_mlproject_and_what_would_run(mlrun: Mlrun, isolated: Path) -> None:
    empty = mlrun("run", "--no-track")
    assert empty.returncode == 2
    assert empty.stderr == (
        f"Error: no MLproject here ({isolated}), so no entry point 'main'; there is no .py or .sh "
        "file here to run with -e either\n"
    )
    nothing = mlrun("validate")  # valid only where `mlrun run` would have something to run
    assert nothing.returncode == 2
    assert nothing.stderr == ".: no MLproject here, and no .py or .sh script that -e could run\n"
    (isolated / "train.py").write_text("print('trained')\n")
    (isolated / "python_env.yaml").write_text("python: '3'\n")
    scripts = mlrun("run", "--no-track")
    assert scripts.returncode == 2
    assert scripts.stderr == (
        f"Error: no MLproject here ({isolated}), so no entry point 'main'; `-e FILE` runs a script here "
        "as MLflow does (train.py) in the environment python_env.yaml describes\n"
        "Hint: add -e train.py to the command\n"
    )
    assert "no MLproject here; `mlrun run -e train.py` runs it" in mlrun("validate").stdout


def test_a_tab_in_the_indentation_is_named_with_its_line(mlrun: Mlrun, project_factory: Factory) -> None:
    project = project_factory({"MLproject": "name: t\nentry_points:\n  main:\n\tcommand: echo hi\n"})
    checked = mlrun("validate", str(project))
    assert checked.returncode == 2
    assert checked.stderr.strip().endswith(
        "MLproject:4: tabs are not allowed for indentation in YAML: indent with spaces"
    )
    # A tab inside a value is fine.
    fine = project_factory({"MLproject": "entry_points:\n  main:\n    command: \"printf 'a\\tb'\"\n"})
    assert mlrun("validate", str(fine)).returncode == 0


def test_a_misspelt_top_level_key_still_gets_its_content_checked(
    mlrun: Mlrun, project_factory: Factory
) -> None:
    project = project_factory(
        {
            "MLproject": "name: t\nentry_point:\n  main:\n    parameters:\n"
            '      a: {type: flot, default: 1}\n    comand: "echo {a}"\n'
        }
    )
    checked = mlrun("validate", str(project))
    assert checked.returncode == 2
    assert [line.split("MLproject", 1)[1] for line in checked.stderr.splitlines()] == [
        ":2: entry_point: unknown key (did you mean 'entry_points'?)",
        ":3: entry_point.main: missing required key 'command'",
        ":5: entry_point.main.parameters.a.type: the string 'flot' is not one of: string, float, int, bool, "
        "path, uri, secret (did you mean 'float'?)",
        ":6: entry_point.main.comand: unknown key (did you mean 'command'?)",
    ]
    # Fixed where it was said, the file is valid: the key's content was checked for real.
    fixed = (project / "MLproject").read_text().replace("entry_point:", "entry_points:")
    (project / "MLproject").write_text(fixed.replace("flot", "float").replace("comand", "command"))
    assert mlrun("validate", str(project)).returncode == 0


def test_an_entry_point_named_like_a_script_suggests_the_script(
    mlrun: Mlrun, project_factory: Factory
) -> None:
    project = project_factory(
        {"MLproject": "entry_points:\n  main:\n    command: echo hi\n", "train.py": "print('trained')\n"}
    )
    wrong = mlrun("run", str(project), "-e", "train", "--no-track")
    assert wrong.returncode == 2
    assert (
        "Error: unknown entry point 'train' (did you mean -e train.py, the script?); entry points: main"
        in (wrong.stderr)
    )
    assert "did you mean" not in mlrun("run", str(project), "-e", "other", "--no-track").stderr


def test_an_entry_point_without_a_command_still_gets_its_parameters_checked(
    mlrun: Mlrun, project_factory: Factory
) -> None:
    project = project_factory(
        {
            "MLproject": "entry_points:\n  main:\n    command: echo hi\n  other:\n    parameters:\n"
            "      k: {type: float, default: abc}\n      n: {type: int, default: 2}\n"
        }
    )
    checked = mlrun("validate", str(project), "--json")
    assert checked.returncode == 2
    problems = [(p["line"], p["field"], p["message"]) for p in json.loads(checked.stdout)["problems"]]
    assert problems == [
        (4, "entry_points.other", "missing required key 'command'"),
        (6, "entry_points.other.parameters.k", "invalid for type float: 'abc' is not a number"),
    ]
