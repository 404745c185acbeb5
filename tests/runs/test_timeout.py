"""--timeout and the entry point's `timeout:`: the job is stopped as on SIGTERM (grace, then kill),
the run recorded FAILED with mlrun.timeout, and mlrun exits 124, on every backend."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.backends.kubernetes import job as kube_job
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result
from tests.services.docker_images import containers_labelled, docker_project

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _record(isolated: Path, run_id: str) -> tuple[RunStatus, dict[str, str]]:
    record = FileStore(isolated / "mlruns").get_run(run_id)
    return record.status, dict(record.tags)


def test_timeout_stops_the_whole_group_and_exits_124(
    mlrun: Mlrun, project_factory: Factory, isolated: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    command = f"sleep 30 & echo $! > {pidfile}; wait"
    project = project_factory({"MLproject": f"entry_points: {{main: {{command: '{command}'}}}}\n"})
    started = time.monotonic()
    result = mlrun("run", str(project), "--env-manager", "local", "--timeout", "2s", "--json")
    assert result.returncode == 124, result.stderr
    assert time.monotonic() - started < 5 + 3  # 2 s, the stop, and a Python start-up or two
    data = json.loads(result.stdout)
    status, tags = _record(isolated, data["run_id"])
    assert status is RunStatus.FAILED and data["exit_code"] == 124
    assert tags["mlrun.timeout"] == "2s" and tags["mlrun.exit_code"] == "124"
    assert tags["mlrun.error"] == "the run exceeded its time limit (2s)"
    assert not _alive(int(pidfile.read_text()))


def test_a_command_ignoring_sigterm_is_killed_after_the_grace_period(
    mlrun: Mlrun, project_factory: Factory
) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: \"trap '' TERM; sleep 60\"}}\n"})
    started = time.monotonic()
    result = mlrun(
        "run", str(project), "--env-manager", "local", "--timeout", "1", env={"MLRUN_KILL_GRACE_SECONDS": "1"}
    )
    assert result.returncode == 124, result.stderr
    assert time.monotonic() - started < 10


def test_the_entry_points_timeout_applies_and_the_flag_wins(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory(
        {"MLproject": "entry_points:\n  main:\n    command: 'sleep 1; echo done'\n    timeout: 0.3\n"}
    )
    limited = mlrun("run", str(project), "--env-manager", "local")
    assert limited.returncode == 124 and "exceeded its time limit (0.3s)" in limited.stderr
    overridden = mlrun("run", str(project), "--env-manager", "local", "--timeout", "1m")
    assert overridden.returncode == 0 and overridden.stdout == "done\n"
    bad = mlrun("run", str(project), "--env-manager", "local", "--timeout", "soon")
    assert bad.returncode == 2 and "--timeout: 'soon' is not a duration" in bad.stderr
    plan = json.loads(mlrun("run", str(project), "--dry-run", "--json", "--env-manager", "local").stdout)
    assert plan["timeout_s"] == 0.3


def test_the_job_manifest_carries_the_deadline() -> None:
    template = {"spec": {"template": {"spec": {"containers": [{}]}}}}
    job = kube_job.render_job(
        template, name="n", container_name="c", image="i", command="true", env={}, run_id="r", deadline_s=3
    )
    assert job["spec"]["activeDeadlineSeconds"] == 3


@pytest.mark.docker
def test_timeout_stops_the_container(
    busybox: str, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    started = time.monotonic()
    result = mlrun("run", str(docker_project(project_factory, "sleep 30")), "--timeout", "2s", "--json")
    assert result.returncode == 124, result.stderr
    assert time.monotonic() - started < 20
    run_id = json.loads(result.stdout)["run_id"]
    assert _record(isolated, run_id)[1]["mlrun.timeout"] == "2s"
    assert containers_labelled(f"mlrun.run_id={run_id}") == []
