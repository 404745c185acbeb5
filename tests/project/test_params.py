from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlrun_cli.errors import ParameterError
from mlrun_cli.project.model import EntryPoint, Parameter
from mlrun_cli.project.params import (
    BoundParams,
    InvalidValue,
    bind,
    normalize,
    parse_param_args,
    render_command,
)


@pytest.mark.parametrize(
    ("ptype", "raw", "expected"),
    [
        ("int", "7", "7"),
        ("int", "+007", "+007"),
        ("int", "-3", "-3"),
        ("float", "0.3", "0.3"),
        ("float", "1e-3", "1e-3"),
        ("float", "3", "3"),
        ("float", ".5", ".5"),
        ("bool", "yes", "yes"),
        ("bool", "FALSE", "FALSE"),
        ("bool", "1", "1"),
        ("string", "  spaced ", "  spaced "),
        ("string", "", ""),
        ("uri", "s3://bucket/key", "s3://bucket/key"),
        ("uri", "file:///x", "file:///x"),
    ],
)
def test_values_are_checked_and_passed_as_written(
    ptype: str, raw: str, expected: str, tmp_path: Path
) -> None:
    assert normalize(Parameter("p", ptype), raw, tmp_path) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ptype", "raw", "message"),
    [
        ("int", "1.5", "'1.5' is not an integer"),
        ("int", "1_000", "'1_000' is not an integer"),
        ("float", "abc", "'abc' is not a number"),
        ("float", "nan", "'nan' is not a number"),
        ("float", "1e999", "'1e999' is not a finite number"),
        ("bool", "maybe", "'maybe' is not a boolean"),
        ("uri", "bucket/key", "'bucket/key' has no scheme"),
        ("path", "s3://b/k", "'s3://b/k' is a s3:// URI; type 'path' takes a local file"),
    ],
)
def test_bad_values_are_rejected(ptype: str, raw: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match=message.replace("(", r"\(")):
        normalize(Parameter("p", ptype), raw, tmp_path)  # type: ignore[arg-type]


def test_paths_become_absolute_relative_to_the_callers_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1")
    param = Parameter("p", "path")
    assert normalize(param, "data/x.csv", tmp_path) == str(tmp_path / "data" / "x.csv")
    assert normalize(param, "data/../data/x.csv", tmp_path) == str(tmp_path / "data" / "x.csv")
    assert normalize(param, (tmp_path / "data").as_uri(), Path("/")) == str(tmp_path / "data")
    with pytest.raises(InvalidValue, match=f"no such file or directory: {tmp_path}/nope"):
        normalize(param, "nope", tmp_path)


def test_local_paths_given_for_a_uri_become_file_uris(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    param = Parameter("p", "uri")
    assert normalize(param, "model", tmp_path) == (tmp_path / "model").as_uri()
    assert normalize(param, "./out/new", tmp_path) == (tmp_path / "out" / "new").as_uri()


def test_choices_are_compared_after_normalisation(tmp_path: Path) -> None:
    param = Parameter("n", "int", choices=("1", "2"))
    assert normalize(param, "+2", tmp_path) == "+2"  # accepted as 2, passed as written
    with pytest.raises(InvalidValue, match="'3' is not one of the choices: 1, 2"):
        normalize(param, "3", tmp_path)


def test_param_args_split_at_the_first_equals_sign() -> None:
    assert parse_param_args(["a=1", "b=x=y", "c="]) == [("a", "1"), ("b", "x=y"), ("c", "")]


def test_bad_param_args_are_reported_together() -> None:
    with pytest.raises(ParameterError) as info:
        parse_param_args(["a=1", "novalue", "a=2", "=x"])
    assert info.value.problems == [
        "'novalue': expected NAME=VALUE",
        "a: given more than once",
        "'=x': expected NAME=VALUE",
    ]


ENTRY = EntryPoint(
    "main",
    "python train.py {alpha} {n} | cat",
    {
        "alpha": Parameter("alpha", "float"),
        "n": Parameter("n", "int", default="3"),
        "name": Parameter("name", "string", default="x"),
        "mode": Parameter("mode", "string", default="a", choices=("a", "b")),
    },
)


def test_bind_reports_every_problem_naming_parameter_and_type(tmp_path: Path) -> None:
    with pytest.raises(ParameterError) as info:
        bind(ENTRY, [("n", "1.5"), ("mode", "c"), ("bad name", "1")], tmp_path, tmp_path)
    assert info.value.problems == [
        "missing required parameters: alpha",
        "n (int): '1.5' is not an integer",
        "mode (string): 'c' is not one of the choices: a, b",
        "bad name: not a valid parameter name (letters, digits, '_', '.', '-')",
    ]


def test_bind_keeps_undeclared_parameters_in_order(tmp_path: Path) -> None:
    bound = bind(ENTRY, [("zeta", "1"), ("alpha", "0.1"), ("beta", "b c")], tmp_path, tmp_path)
    assert bound.values == {"alpha": "0.1", "n": "3", "name": "x", "mode": "a"}
    assert bound.extras == (("zeta", "1"), ("beta", "b c"))
    assert render_command(ENTRY, bound) == "python train.py 0.1 3 | cat --zeta 1 --beta 'b c'"


def test_path_defaults_are_relative_to_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "data.txt").write_text("x")
    entry = EntryPoint("main", "cat {data}", {"data": Parameter("data", "path", "data.txt")})
    bound = bind(entry, [], tmp_path / "elsewhere", project)
    assert bound.values["data"] == str(project / "data.txt")


@pytest.mark.parametrize(
    "value",
    [
        "x; touch {marker}",
        "$(touch {marker})",
        "`touch {marker}`",
        "a' ; touch {marker}; echo '",
        "\n touch {marker}",
    ],
)
def test_values_can_never_execute(value: str, tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    entry = EntryPoint("main", "echo {v}", {"v": Parameter("v")})
    payload = value.format(marker=marker)
    bound = BoundParams({"v": payload}, (("extra", payload),))
    out = subprocess.run(
        ["bash", "-c", render_command(entry, bound)], capture_output=True, text=True, check=True
    ).stdout
    assert not marker.exists()
    assert out == f"{payload} --extra {payload}\n"


def test_literal_braces_survive_rendering() -> None:
    entry = EntryPoint("main", "echo '{{x}}' {v}", {"v": Parameter("v")})
    assert render_command(entry, BoundParams({"v": "1"}, ())) == "echo '{x}' 1"


def test_given_paths_fall_back_to_the_project_and_are_recorded_relative_to_a_checkout(
    tmp_path: Path,
) -> None:
    project, caller = tmp_path / "checkout", tmp_path / "caller"
    (project / "data").mkdir(parents=True)
    caller.mkdir()
    (project / "data" / "in.csv").write_text("1")
    (caller / "mine.csv").write_text("2")
    entry = EntryPoint(
        "main",
        "cat {a} {b} {c}",
        {
            "a": Parameter("a", "path"),
            "b": Parameter("b", "path"),
            "c": Parameter("c", "path", default="data"),
        },
    )
    given = [("a", "data/in.csv"), ("b", "mine.csv")]
    bound = bind(entry, given, caller, project, record_relative=True)
    # The command gets absolute paths: the caller's file where it exists, else the project's.
    assert bound.values == {
        "a": str(project / "data" / "in.csv"),
        "b": str(caller / "mine.csv"),
        "c": str(project / "data"),
    }
    # Tracking gets what compares across runs: paths inside the checkout relative to it.
    assert bound.all_values() == {"a": "data/in.csv", "b": str(caller / "mine.csv"), "c": "data"}
    # A local project (no temporary checkout) records absolute paths, as before.
    local = bind(entry, given, caller, project)
    assert local.all_values() == local.values
    (caller / "data").mkdir()
    (caller / "data" / "in.csv").write_text("3")
    assert bind(entry, given, caller, project).values["a"] == str(caller / "data" / "in.csv")


def test_a_default_mlflow_passes_unchecked_is_passed_as_text(tmp_path: Path) -> None:
    entry = EntryPoint("main", "echo {n}", {"n": Parameter("n", "int", "None", unchecked_default=True)})
    assert bind(entry, [], tmp_path, tmp_path).values == {"n": "None"}
    with pytest.raises(ParameterError) as info:
        bind(entry, [("n", "None")], tmp_path, tmp_path)  # a value the user gives is checked
    assert info.value.problems == ["n (int): 'None' is not an integer"]
