from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.errors import SpecError, UsageError
from mlrun_cli.project.entry_points import resolve_entry_point
from mlrun_cli.project.loader import check_project, load_project
from tests.conftest import EXAMPLES

INVALID = sorted(p.name for p in (EXAMPLES / "invalid").iterdir() if p.is_dir())


@pytest.mark.parametrize("name", INVALID)
def test_invalid_examples_report_exactly_their_expected_errors(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = EXAMPLES / "invalid" / name
    monkeypatch.chdir(directory)
    project, problems = check_project(directory)
    expected = (directory / "expected_error.txt").read_text().splitlines()
    assert [str(p) for p in problems] == expected
    assert project is None or problems


def test_every_invalid_example_has_an_expected_error() -> None:
    assert len(INVALID) >= 8
    for name in INVALID:
        assert (EXAMPLES / "invalid" / name / "expected_error.txt").read_text().strip()


@pytest.mark.parametrize("filename", ["MLproject", "mlproject", "MLProject"])
def test_mlproject_is_found_case_insensitively(
    filename: str, project_factory: Callable[[dict[str, str]], Path]
) -> None:
    directory = project_factory({filename: "entry_points:\n  main:\n    command: echo hi\n"})
    project = load_project(directory)
    assert project.spec_file == directory / filename
    assert project.entry_points["main"].command == "echo hi"


def test_all_problems_are_reported_at_once_with_lines(
    project_factory: Callable[[dict[str, str]], Path],
) -> None:
    directory = project_factory(
        {
            "MLproject": (
                "nmae: x\n"
                "entry_points:\n"
                "  main:\n"
                "    parameters:\n"
                "      a: {type: int, default: x}\n"
                "    comand: echo\n"
            )
        }
    )
    with pytest.raises(SpecError) as info:
        load_project(directory)
    text = [str(p) for p in info.value.problems]
    assert any(":1: nmae: unknown key (did you mean 'name'?)" in t for t in text)
    assert any(":6: entry_points.main.comand: unknown key (did you mean 'command'?)" in t for t in text)
    assert any(":3: entry_points.main: missing required key 'command'" in t for t in text)
    # The entry point lacks its command, and its parameters are still checked (issue 24).
    assert any(":5: entry_points.main.parameters.a: invalid for type int" in t for t in text)
    assert len(text) == 4


def test_duplicate_keys_are_an_error(project_factory: Callable[[dict[str, str]], Path]) -> None:
    directory = project_factory(
        {"MLproject": ("entry_points:\n  main:\n    command: echo a\n  main:\n    command: echo b\n")}
    )
    _, problems = check_project(directory)
    assert [p.message for p in problems] == [
        "duplicate key (first defined on line 2); MLflow would silently keep only the last one "
        "and lose the other: remove or rename one"
    ]
    assert problems[0].line == 4


@pytest.mark.parametrize(
    ("files", "kind", "source"),
    [
        (
            {"MLproject": "docker_env: {image: busybox}\n", "python_env.yaml": "python: '3.11'\n"},
            "docker",
            "docker_env",
        ),
        (
            {
                "MLproject": "python_env: py.yaml\n",
                "py.yaml": "python: '3.11'\n",
                "conda.yaml": "dependencies: [python=3.11]\n",
            },
            "python",
            "python_env",
        ),
        (
            {
                "MLproject": "conda_env: env.yaml\n",
                "env.yaml": "dependencies: [python]\n",
                "python_env.yaml": "python: '3.11'\n",
            },
            "conda",
            "conda_env",
        ),
        (
            {
                "MLproject": "name: x\n",
                "python_env.yaml": "python: '3.11'\n",
                "conda.yaml": "dependencies: [python]\n",
            },
            "python",
            "python_env.yaml",
        ),
        ({"MLproject": "name: x\n", "conda.yaml": "dependencies: [python]\n"}, "conda", "conda.yaml"),
        ({"MLproject": "name: x\n"}, "none", "none"),
        ({"train.py": "print(1)\n", "conda.yaml": "dependencies: [python]\n"}, "conda", "conda.yaml"),
    ],
)
def test_environment_precedence_follows_mlflow(
    files: dict[str, str],
    kind: str,
    source: str,
    project_factory: Callable[[dict[str, str]], Path],
) -> None:
    project = load_project(project_factory(files))
    assert (project.env.kind, project.env.source) == (kind, source)


def test_parameters_short_and_long_forms() -> None:
    project = load_project(EXAMPLES / "typed_params")
    params = project.entry_points["main"].parameters
    assert params["text"].required and params["text"].type == "string"
    assert params["ratio"].default == "0.5" and not params["ratio"].required
    assert params["verbose"].default == "False"  # str() of the YAML value, as MLflow renders it
    assert params["mode"].choices == ("fast", "slow")


def test_unused_parameter_is_a_warning(project_factory: Callable[[dict[str, str]], Path]) -> None:
    directory = project_factory(
        {
            "MLproject": (
                "entry_points:\n  main:\n    parameters: {a: string, b: {default: 1}}\n"
                "    command: echo {a}\n"
            )
        }
    )
    project = load_project(directory)
    assert project.warnings == ("entry point 'main': parameter 'b' is declared but not used in its command",)


def test_format_specs_are_refused(project_factory: Callable[[dict[str, str]], Path]) -> None:
    directory = project_factory(
        {"MLproject": ("entry_points:\n  main:\n    parameters: {a: float}\n    command: echo {a:.2f}\n")}
    )
    _, problems = check_project(directory)
    assert [p.message for p in problems] == [
        "placeholder for 'a' has a conversion or format spec; only '{name}' is supported"
    ]


def test_folder_without_mlproject_runs_scripts() -> None:
    project = load_project(EXAMPLES / "no_mlproject")
    assert project.spec_file is None and project.entry_points == {}
    assert resolve_entry_point(project, "train.py").command == "python train.py"
    assert resolve_entry_point(project, "run.sh").command == "bash run.sh"
    with pytest.raises(UsageError, match=r"no such script in the project: missing\.py"):
        resolve_entry_point(project, "missing.py")
    with pytest.raises(UsageError) as no_spec:
        resolve_entry_point(project, "main")
    assert no_spec.value.message == (
        f"no MLproject here ({project.directory}), so no entry point 'main'; `-e FILE` runs a script "
        "here as MLflow does (run.sh, train.py)"
    )
    assert no_spec.value.hint == "add -e run.sh to the command"
    with pytest.raises(UsageError) as by_stem:
        resolve_entry_point(project, "train")
    assert by_stem.value.hint == "add -e train.py to the command"


def test_unknown_entry_point_suggests_a_name() -> None:
    project = load_project(EXAMPLES / "sklearn_linear")
    with pytest.raises(
        UsageError,
        match=r"unknown entry point 'mian' \(did you mean 'main'\?\); "
        r"entry points: main, noop",
    ):
        resolve_entry_point(project, "mian")


def test_python_env_file_is_checked_against_its_schema(
    project_factory: Callable[[dict[str, str]], Path],
) -> None:
    directory = project_factory(
        {"MLproject": "python_env: env.yaml\n", "env.yaml": "python: '3.11'\ndependencies: numpy\n"}
    )
    _, problems = check_project(directory)
    assert [str(p).split(": ", 1)[1] for p in problems] == [
        "dependencies: expected a list, got the string 'numpy'"
    ]
    assert problems[0].file.endswith("env.yaml") and problems[0].line == 2
