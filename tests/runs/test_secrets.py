"""`type: secret` parameters: the command gets the value; nothing mlrun writes or prints has it.

Each test runs with a canary value, then searches every byte mlrun produced: its stdout and
stderr, the tracking store, $MLRUN_HOME (job files, outbox, owner files), the console log."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result
from tests.services.docker_images import docker_project

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
CANARY = "c4n4ry-s3cr3t-9f1e"
COMMAND = "echo got {token}; printf %s {token} | wc -c; echo len={level}"
PROJECT = f"""\
entry_points:
  main:
    parameters:
      token: {{type: secret}}
      level: {{type: int, default: 1}}
    command: "{COMMAND}"
"""


def assert_nowhere(canary: str, result: Result, *folders: Path) -> None:
    assert canary not in result.stdout and canary not in result.stderr
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert canary.encode() not in path.read_bytes(), f"the secret is in {path}"


def _console(isolated: Path, run_id: str) -> str:
    record = FileStore(isolated / "mlruns").get_run(run_id)
    return (Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log").read_text()


def test_a_secret_reaches_the_command_and_nothing_else(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory({"MLproject": PROJECT})
    result = mlrun("run", str(project), "--env-manager", "local", "-P", f"token={CANARY}", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert f"{len(CANARY)}\n" in result.stderr  # the command got the whole value ...
    assert "got ***" in result.stderr  # ... and printing it shows the mask
    assert data["params"] == {"token": "***", "level": "1"}
    assert '"${MLRUN_SECRET_TOKEN}"' in data["command"]
    record = FileStore(isolated / "mlruns").get_run(data["run_id"])
    assert record.params["token"] == "***" and record.status is RunStatus.FINISHED
    assert "got ***" in _console(isolated, data["run_id"])
    assert_nowhere(CANARY, result, isolated / "mlruns", isolated.parent / "mlrun-home")
    dry = mlrun("run", str(project), "--env-manager", "local", "-P", f"token={CANARY}", "--dry-run")
    assert dry.returncode == 0 and "token = ***" in dry.stdout
    assert_nowhere(CANARY, dry)


def test_secrets_come_from_the_environment_or_a_private_file(
    mlrun: Mlrun, project_factory: Factory, isolated: Path, tmp_path: Path
) -> None:
    project = project_factory({"MLproject": PROJECT})
    from_env = mlrun("run", str(project), "--env-manager", "local", env={"MLRUN_SECRET_TOKEN": CANARY})
    assert from_env.returncode == 0 and f"{len(CANARY)}\n" in from_env.stdout
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"# for the demo\ntoken='{CANARY}x'\n")
    secrets.chmod(0o644)
    loose = mlrun("run", str(project), "--env-manager", "local", "--secrets-file", str(secrets))
    assert loose.returncode == 2 and "permissions 0644" in loose.stderr and "chmod 600" in loose.stderr
    secrets.chmod(0o600)
    from_file = mlrun("run", str(project), "--env-manager", "local", "--secrets-file", str(secrets))
    assert from_file.returncode == 0, from_file.stderr
    assert f"{len(CANARY) + 1}\n" in from_file.stdout and "got ***" in from_file.stdout
    missing = mlrun("run", str(project), "--env-manager", "local")
    assert missing.returncode == 2 and "missing required parameters: token" in missing.stderr
    assert_nowhere(CANARY, from_env, isolated / "mlruns", isolated.parent / "mlrun-home")
    assert_nowhere(CANARY, from_file, isolated / "mlruns", isolated.parent / "mlrun-home")


def test_a_secret_split_across_output_chunks_is_still_masked(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    half = len(CANARY) // 2
    first = f'printf %s "$(printf %s {{token}} | head -c {half})"'
    rest = f"printf '%s\\n' \"$(printf %s {{token}} | tail -c +{half + 1})\""
    spec = {"parameters": {"token": {"type": "secret"}}, "command": f"{first}; sleep 0.3; {rest}"}
    project = project_factory({"MLproject": json.dumps({"entry_points": {"main": spec}})})
    result = mlrun("run", str(project), "--env-manager", "local", "-P", f"token={CANARY}", "--json")
    assert result.returncode == 0, result.stderr
    assert "***" in result.stderr
    assert_nowhere(CANARY, result, isolated / "mlruns")


@pytest.mark.docker
def test_a_secret_in_a_container_run(
    busybox: str, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = docker_project(
        project_factory, 'echo "got $MLRUN_SECRET_TOKEN"; printf %s "$MLRUN_SECRET_TOKEN" | wc -c'
    )
    (project / "MLproject").write_text(
        (project / "MLproject")
        .read_text()
        .replace("{text: {default: x}}", "{text: {default: x}, token: {type: secret}}")
    )
    result = mlrun("run", str(project), "-P", f"token={CANARY}", env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert "got ***" in result.stdout and f"{len(CANARY)}" in result.stdout
    assert_nowhere(CANARY, result, isolated / "mlruns", isolated.parent / "mlrun-home")


def test_a_secret_cannot_be_swept(mlrun: Mlrun, project_factory: Factory, isolated: Path) -> None:
    project = project_factory({"MLproject": PROJECT})
    result = mlrun("run", str(project), "--env-manager", "local", "-S", f"token={CANARY},b", "--dry-run")
    assert result.returncode == 2 and "a secret parameter cannot be swept: token" in result.stderr
    assert_nowhere(CANARY, result)


@pytest.mark.parametrize("json_output", [False, True])
def test_a_swept_secret_is_refused_before_a_bad_point_could_show_it(
    mlrun: Mlrun, project_factory: Factory, isolated: Path, json_output: bool
) -> None:
    """Point 0 does not bind (level=x): the secret is refused by its declared type first, and the
    bad points, listed with their values otherwise, are never described."""
    project = project_factory({"MLproject": PROJECT})
    flags = ["--json"] if json_output else []
    sweep = ["-S", f"token={CANARY}A,{CANARY}B", "-S", "level=x,1"]
    result = mlrun("run", str(project), "--env-manager", "local", *sweep, *flags)
    assert result.returncode == 2, result.stderr
    said = json.loads(result.stdout)["message"] if json_output else result.stderr
    assert "a secret parameter cannot be swept: token" in said
    assert_nowhere(CANARY, result, isolated)


def test_a_bad_point_is_described_with_its_secret_masked() -> None:
    from mlrun_cli.runs.sweeps.spec import describe

    assert describe({"token": CANARY, "level": "x"}, {"token"}) == "token=*** level=x"


def test_what_a_grandchild_prints_after_the_run_is_not_the_runs(
    project_factory: Factory, isolated: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A process that outlives the run (here the Python API's caller) never shows the secret."""
    import time

    import mlrun_cli

    spec = {
        "parameters": {"token": {"type": "secret"}},
        "command": "(sleep 5; echo late:{token}) & echo early",
    }
    project = project_factory({"MLproject": json.dumps({"entry_points": {"main": spec}})})
    result = mlrun_cli.run(str(project), parameters={"token": CANARY}, env_manager="local")
    assert isinstance(result, mlrun_cli.RunResult) and result.exit_code == 0
    time.sleep(5.5)
    out, err = capfd.readouterr()
    assert "early" in out and CANARY not in out + err
    assert _console(isolated, result.run_id) == "early\n"
