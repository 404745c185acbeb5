"""Input a user hands us can cost only bounded time and memory, and is refused with exit 2 and a
one-line reason, never exit 3 (crash-safety and fuzz issues)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from mlrun_cli.cli import cli
from mlrun_cli.documents.yamlfile import MAX_FILE_BYTES

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def _validate(directory: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", str(directory), *options])
    return result.exit_code, result.output


def test_an_alias_bomb_is_refused_at_once(project_factory: Callable[[dict[str, str]], Path]) -> None:
    start = time.process_time()  # CPU seconds of this process: what a bomb would cost, whatever else runs
    code, output = _validate(project_factory({"MLproject": BOMB}))
    assert time.process_time() - start < 5
    assert code == 2
    assert "MLproject: YAML aliases expand to more than 100000 values" in output


def test_a_self_referring_alias_is_refused(project_factory: Callable[[dict[str, str]], Path]) -> None:
    code, output = _validate(project_factory({"MLproject": "entry_points: &a {main: *a}\n"}))
    assert code == 2 and "a YAML alias refers to itself" in output


def test_an_oversized_spec_is_refused(project_factory: Callable[[dict[str, str]], Path]) -> None:
    code, output = _validate(project_factory({"MLproject": "#" * (MAX_FILE_BYTES + 1)}))
    assert (
        code == 2 and f"the file is {MAX_FILE_BYTES + 1} bytes; at most {MAX_FILE_BYTES} are read" in output
    )


def test_a_long_problem_list_is_cut_to_a_screenful(project_factory: Callable[[dict[str, str]], Path]) -> None:
    params = "".join(f"      p{i}: {{type: int, default: x}}\n" for i in range(500))
    spec = f"entry_points:\n  main:\n    parameters:\n{params}    command: echo\n"
    code, output = _validate(project_factory({"MLproject": spec}))
    assert code == 2
    assert output.count("is not an integer") == 50
    assert "MLproject: ... and 450 more problems; fix these first" in output


def test_unconstructible_values_are_spec_errors_with_a_line(
    project_factory: Callable[[dict[str, str]], Path],
) -> None:
    directory = project_factory(
        {
            "MLproject": "python_env: py.yaml\nentry_points:\n  main:\n    command: echo\n",
            "py.yaml": 'python: !!int "3.11"\n',
        }
    )
    code, output = _validate(directory)
    assert code == 2
    assert "py.yaml:1: YAML value cannot be read: invalid literal for int() with base 10: '3.11'" in output


def test_strict_turns_warnings_into_errors(project_factory: Callable[[dict[str, str]], Path]) -> None:
    directory = project_factory(
        {"MLproject": "rocket: {post_execution: x}\nentry_points:\n  main:\n    command: echo\n"}
    )
    code, output = _validate(directory)
    assert code == 0
    assert "Warning: " in output and "MLproject:1: rocket: unknown key, ignored, as MLflow does" in output
    code, output = _validate(directory, "--strict")
    assert code == 2 and "rocket: unknown key" in output and "invalid with --strict" in output
    code, output = _validate(directory, "--strict", "--json")
    assert code == 2 and '"valid": false' in output and '"strict": true' in output


def test_a_bad_image_reference_stops_a_dry_run(project_factory: Callable[[dict[str, str]], Path]) -> None:
    directory = project_factory(
        {"MLproject": "docker_env:\n  image: SSAD\nentry_points:\n  main:\n    command: echo\n"}
    )
    result = CliRunner().invoke(cli, ["run", str(directory), "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "'SSAD' is not a valid image reference" in result.output


def test_a_flood_of_unknown_keys_is_refused_quickly(
    project_factory: Callable[[dict[str, str]], Path],
) -> None:
    keys = "".join(f"k{i}: 1\n" for i in range(50_000))
    project = project_factory({"MLproject": f"entry_points: {{main: {{command: echo}}}}\n{keys}"})
    start = time.process_time()  # CPU seconds of this process: the cost of the check, whatever else runs
    code, output = _validate(project)
    assert time.process_time() - start < 5
    assert code == 2
    [line] = output.strip().splitlines()
    assert line.endswith("MLproject:1: 50000 unknown keys (at most 200 are looked at); refused")
