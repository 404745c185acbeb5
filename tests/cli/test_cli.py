"""The CLI layer: options become the right typed request; errors become the right exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from mlrun_cli import __version__
from mlrun_cli.cli import cli
from mlrun_cli.runs import api
from mlrun_cli.shared.process import Outcome
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import EXAMPLES, Result


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {}),
        (
            ["proj", "-e", "train.py", "-P", "a=1", "-P", "b=x=y"],
            {"uri": "proj", "entry_point": "train.py", "params": ("a=1", "b=x=y")},
        ),
        (
            [
                "--env-manager",
                "local",
                "--experiment-name",
                "e",
                "--run-name",
                "r",
                "--tracking-uri",
                "t",
                "-v",
                "v1",
                "-b",
                "local",
            ],
            {
                "env_manager": "local",
                "experiment_name": "e",
                "run_name": "r",
                "tracking_uri": "t",
                "version": "v1",
            },
        ),
        (["--experiment-id", "7"], {"experiment_id": "7"}),
    ],
)
def test_run_options_become_a_run_request(argv: list[str], expected: dict[str, object]) -> None:
    result_value = api.RunResult("r" * 32, "0", RunStatus.FINISHED, 0, 0.1, "cmd", {}, "file:///x", "name")
    with mock.patch("mlrun_cli.runs.api.run", autospec=True, return_value=result_value) as run:
        result = CliRunner().invoke(cli, ["run", *argv])
    assert result.exit_code == 0, result.output
    request = run.call_args.args[0]
    defaults = api.RunRequest(cwd=request.cwd)
    assert request == api.RunRequest(**{**defaults.__dict__, **expected})  # type: ignore[arg-type]


def test_unknown_env_manager_is_a_usage_error(project_factory: Callable[[dict[str, str]], Path]) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'true'}}\n"})
    result = CliRunner().invoke(cli, ["run", str(project), "--env-manager", "pip"])
    assert result.exit_code == 2
    assert "unknown env manager 'pip'; available: local, virtualenv, uv, conda, docker" in result.output


def test_internal_error_after_the_run_exists_exits_3_and_ends_it_failed(
    isolated: Path, project_factory: object
) -> None:
    project = EXAMPLES / "typed_params"

    def broken(*args: object, **kwargs: object) -> Outcome:
        raise RuntimeError("disk on fire")

    with mock.patch("mlrun_cli.backends.local.wait", side_effect=broken):
        result = CliRunner().invoke(cli, ["run", str(project), "--env-manager", "local", "-P", "text=x"])
    assert result.exit_code == 3
    assert "unexpected internal error: RuntimeError: disk on fire" in result.output
    assert "Traceback" not in result.output
    [record] = FileStore(isolated / "mlruns").search_runs(None, 5)
    full = FileStore(isolated / "mlruns").get_run(record.run_id)
    assert full.status is RunStatus.FAILED
    assert full.tags["mlrun.error"] == "RuntimeError: disk on fire"


def test_keyboard_interrupt_before_the_command_records_killed(isolated: Path) -> None:
    with mock.patch("mlrun_cli.backends.local.wait", side_effect=KeyboardInterrupt):
        result = CliRunner().invoke(
            cli, ["run", str(EXAMPLES / "typed_params"), "--env-manager", "local", "-P", "text=x"]
        )
    assert result.exit_code == 130
    [record] = FileStore(isolated / "mlruns").search_runs(None, 5)
    assert record.status is RunStatus.KILLED


def test_debug_shows_the_traceback() -> None:
    with mock.patch("mlrun_cli.project.validate.validate", side_effect=RuntimeError("boom")):
        result = CliRunner().invoke(cli, ["--debug", "validate", "."])
    assert result.exit_code == 3 and "Traceback" in result.output


def test_validate_exit_codes_and_json() -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", str(EXAMPLES / "sklearn_linear")])
    assert ok.exit_code == 0 and "valid" in ok.output
    bad = runner.invoke(cli, ["validate", str(EXAMPLES / "invalid" / "typo_key"), "--json"])
    assert bad.exit_code == 2
    data = json.loads(bad.output)
    assert data["valid"] is False
    [problem] = data["problems"]
    assert problem["line"] == 2 and problem["field"] == "entry_point"
    assert problem["message"] == "unknown key (did you mean 'entry_points'?)"
    missing = runner.invoke(cli, ["validate", "/nonexistent/project"])
    assert missing.exit_code == 2 and "no such project folder" in missing.output


def test_validate_accepts_the_mlproject_file_itself() -> None:
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLES / "sklearn_linear" / "MLproject")])
    assert result.exit_code == 0


@pytest.mark.parametrize("name", ["mlproject", "python_env", "conda_env"])
def test_schema_command_prints_the_shipped_schema(name: str) -> None:
    result = CliRunner().invoke(cli, ["schema", name])
    assert result.exit_code == 0
    repo_copy = (EXAMPLES.parent / "schemas" / f"{name}.schema.json").read_text()
    assert result.output == repo_copy


def test_schema_help_names_every_kind_in_whole_words() -> None:
    from mlrun_cli.cli.project import SCHEMAS

    text = CliRunner().invoke(cli, ["schema", "--help"], terminal_width=80).output
    words = set(text.replace(",", " ").replace(".", " ").split())
    assert set(SCHEMAS) <= words, text  # a kind cut at the line's end is not a word here


def test_every_schema_property_has_a_description() -> None:
    def walk(node: object, path: str) -> list[str]:
        missing = []
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{path}.{key}")
            for key, sub in node.items():
                missing += walk(sub, f"{path}.{key}")
        elif isinstance(node, list):
            for index, sub in enumerate(node):
                missing += walk(sub, f"{path}[{index}]")
        return missing

    for schema_file in (EXAMPLES.parent / "schemas").glob("*.json"):
        assert walk(json.loads(schema_file.read_text()), schema_file.name) == []


def test_python_dash_m_works_and_reports_the_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"mlrun, version {__version__}"


def test_json_reports_every_failure_as_one_object(isolated: Path) -> None:
    """Interrupts and internal errors too: CI reading --json never gets a bare traceback."""
    args = ["run", str(EXAMPLES / "typed_params"), "--env-manager", "local", "-P", "text=x", "--json"]
    for side_effect, code, kind in (
        (KeyboardInterrupt, 130, "Interrupted"),
        (RuntimeError("disk on fire"), 3, "InternalError"),
    ):
        with mock.patch("mlrun_cli.backends.local.wait", side_effect=side_effect):
            result = CliRunner().invoke(cli, args)
        assert result.exit_code == code
        data = json.loads(result.stdout)
        assert data["error"] == kind and data["exit_code"] == code
    bad = CliRunner().invoke(cli, [*args, "-P", "text=twice"])
    assert bad.exit_code == 2 and json.loads(bad.stdout)["exit_code"] == 2


def test_debug_shows_the_original_cause_under_ours(
    mlrun: Callable[..., Result], project_factory: Callable[[dict[str, str]], Path]
) -> None:
    project = project_factory(
        {"MLproject": "docker_env: {image: busybox}\nentry_points: {main: {command: 'true'}}\n"}
    )
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = mlrun("--debug", "run", str(project), "--dry-run", env=env)
    assert result.returncode == 75, result.stderr
    assert "DockerEngineUnreachable" in result.stderr
    assert "docker.errors.DockerException" in result.stderr  # the SDK's own error, underneath ours
    plain = mlrun("run", str(project), "--dry-run", env=env)
    assert "Traceback" not in plain.stderr and "no Docker engine reachable" in plain.stderr


def test_sweep_options_without_a_sweep_and_a_bad_objective_are_refused(
    mlrun: Callable[..., Result], project_factory: Callable[[dict[str, str]], Path], isolated: Path
) -> None:
    """Options that shape a sweep would be silently ignored on a single run: exit 2 instead."""
    project = project_factory(
        {"MLproject": "entry_points: {main: {parameters: {a: float}, command: 'echo {a}'}}\n"}
    )
    for extra, says in (
        (["--max-parallel", "3"], "--max-parallel: only for a sweep"),
        (["--random", "2", "--seed", "3"], "--random, --seed: only for a sweep"),
        (["--objective", "mse"], "--objective: only for a sweep"),
        (["-S", "a=1,2", "--seed", "3"], "--seed picks the points of --random N"),
        (["-S", "a=1,2", "--objective", "mse:up"], "the goal after ':' is min or max"),
    ):
        single = [] if "-S" in extra else ["-P", "a=1"]
        refused = mlrun("run", str(project), *single, "--env-manager", "local", *extra)
        assert refused.returncode == 2 and says in refused.stderr, (extra, refused.stderr)
    assert not (isolated / "mlruns").exists() or not list((isolated / "mlruns").glob("0/*/meta.yaml"))
    fine = mlrun("run", str(project), "--env-manager", "local", "-S", "a=1,2", "--objective", "loss:max")
    assert fine.returncode == 0, fine.stderr


def test_a_swept_parameter_the_entry_point_does_not_declare_is_warned_about(
    mlrun: Callable[..., Result], project_factory: Callable[[dict[str, str]], Path]
) -> None:
    """As for -P: passed on as --name value (as MLflow does), and said once, as -S."""
    project = project_factory(
        {"MLproject": "entry_points: {main: {parameters: {a: float}, command: 'echo {a}'}}\n"}
    )
    for dry in ([], ["--dry-run"]):
        swept = mlrun("run", str(project), "--env-manager", "local", "-P", "a=1", "-S", "seed=1,2", *dry)
        assert swept.returncode == 0, swept.stderr
        warnings = [line for line in swept.stderr.splitlines() if line.startswith("Warning:")]
        assert warnings == [
            "Warning: -S seed: not a parameter of entry point 'main'; passed as --seed (as MLflow does)"
        ], swept.stderr


def test_bytes_that_are_not_utf8_are_refused_before_anything_runs(
    mlrun: Callable[..., Result], project_factory: Callable[[dict[str, str]], Path], tmp_path: Path
) -> None:
    """MLflow's stores hold text: a Latin-1 value or folder name failed half-way (exit 3)."""
    spec = "entry_points: {main: {parameters: {x: string}, command: 'echo {x} > out.txt'}}\n"
    project = project_factory({"MLproject": spec})
    latin = os.fsdecode(b"caf\xe9")  # how Python hands such argv bytes over
    refused = mlrun("run", str(project), "--env-manager", "local", "-P", f"x={latin}")
    assert refused.returncode == 2, refused.stderr
    assert "an argument is not UTF-8 text: x=caf\ufffd" in refused.stderr
    as_json = mlrun("run", str(project), "--json", "-P", f"x={latin}")
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["error"] == "UsageError"
    folder = tmp_path / os.fsdecode(b"donn\xe9es")
    folder.mkdir()
    (folder / "MLproject").write_text(spec)
    inside = mlrun("run", ".", "--env-manager", "local", "-P", "x=1", cwd=folder)
    assert inside.returncode == 2 and "path is not UTF-8 text" in inside.stderr
    assert not (project / "out.txt").exists() and not (folder / "out.txt").exists()
    assert not (project / "mlruns").exists() and not (folder / "mlruns").exists()


def test_a_refused_argument_is_shown_without_its_password(mlrun: Callable[..., Result]) -> None:
    uri = "https://alice:" + os.fsdecode(b"pw\xe9") + "@mlflow.example"
    refused = mlrun("runs", "list", "--tracking-uri", uri)
    assert refused.returncode == 2 and "not UTF-8 text: https://***@mlflow.example" in refused.stderr
    assert "alice" not in refused.stderr and "pw" not in refused.stderr
