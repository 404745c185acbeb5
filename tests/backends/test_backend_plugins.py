"""A third-party backend, installed as a real package under the entry-point group
`mlrun_cli.backends`: attached runs, and detached ones settled later by another mlrun process."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result
from tests.envs.conftest import install_plugin

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]

# A queue of background processes: the job is a detached `bash -c`, its state two files. It
# imports only the public protocol modules, and writes no wait(): the protocol's default polls.
PLUGIN = """
import os, shlex, signal, subprocess
from pathlib import Path
from mlrun_cli.backends.base import JobRef, JobState
from mlrun_cli.tracking.base import RunStatus

NAME = "bgqueue"
DETACHABLE = True

def submit(job):
    job.job_dir.mkdir(parents=True, exist_ok=True)
    out, code = job.job_dir / "out.log", job.job_dir / "exit_code"
    # Slow to write its first file, as a real queue is: mlrun must not take the empty folder.
    wrapper = (f"sleep 0.3; bash -c {shlex.quote(job.command)} >{out} 2>&1; "
               f"echo $? >{code}.tmp; mv {code}.tmp {code}")
    proc = subprocess.Popen(["bash", "-c", wrapper], cwd=job.cwd, env=job.environment(),
                            start_new_session=True)
    return JobRef(NAME, str(proc.pid), {"dir": str(job.job_dir)})

def status(ref):
    code = Path(ref.data["dir"]) / "exit_code"
    if not code.exists():
        return JobState("RUNNING", None)
    value = int(code.read_text())
    if value == 0:
        return JobState("DONE", RunStatus.FINISHED, 0)
    return JobState("DONE", RunStatus.FAILED, value, f"exited with {value}")

def logs(ref):
    out = Path(ref.data["dir"]) / "out.log"
    return out.read_bytes() if out.exists() else b""

def cancel(ref):
    os.killpg(int(ref.job_id), signal.SIGTERM)
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return install_plugin(
        tmp_path_factory.mktemp("backend-plugin"),
        "mlrun-bgqueue",
        "mlrun_bgqueue",
        PLUGIN,
        "[mlrun_cli.backends]\nbgqueue = mlrun_bgqueue\n",
    )


def test_plugin_backend_runs_attached_and_records_its_job(
    mlrun: Mlrun, project_factory: Factory, plugin_path: str, isolated: Path
) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'echo via plugin; exit 4'}}\n"})
    result = mlrun(
        "run",
        str(project),
        "-b",
        "bgqueue",
        "--env-manager",
        "local",
        "--json",
        env={"PYTHONPATH": plugin_path},
    )
    assert result.returncode == 4, result.stderr
    data = json.loads(result.stdout)
    assert data["backend"] == "bgqueue" and data["job_id"].isdigit()
    assert "via plugin\n" in result.stderr
    record = FileStore(isolated / "mlruns").get_run(data["run_id"])
    assert record.status is RunStatus.FAILED and record.tags["mlrun.bgqueue.job_id"] == data["job_id"]
    assert record.tags["mlflow.project.backend"] == "bgqueue" and record.tags["mlrun.exit_code"] == "4"


def test_plugin_backend_detached_run_is_settled_by_another_process(
    mlrun: Mlrun, project_factory: Factory, plugin_path: str, isolated: Path
) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'sleep 0.5; echo late'}}\n"})
    env = {"PYTHONPATH": plugin_path}
    submitted = mlrun(
        "run", str(project), "-b", "bgqueue", "--env-manager", "local", "--detach", "--json", env=env
    )
    assert submitted.returncode == 0, submitted.stderr
    run_id = json.loads(submitted.stdout)["run_id"]
    assert FileStore(isolated / "mlruns").get_run(run_id).status is RunStatus.RUNNING
    waited = mlrun("runs", "wait", run_id, env=env)
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout == "late\n"
    record = FileStore(isolated / "mlruns").get_run(run_id)
    assert record.status is RunStatus.FINISHED and "mlrun/console.log" in record.artifacts


def test_the_plugin_needs_only_the_public_protocol_modules() -> None:
    imported = set(re.findall(r"^from (mlrun_cli[\w.]*) import", PLUGIN, re.MULTILINE))
    assert imported == {"mlrun_cli.backends.base", "mlrun_cli.tracking.base"}
    assert "def wait" not in PLUGIN  # the protocol's default follows the job


def test_unknown_backend_names_the_plugin_group(mlrun: Mlrun, project_factory: Factory) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'true'}}\n"})
    result = mlrun("run", str(project), "-b", "nope")
    assert result.returncode == 2
    assert "unknown backend 'nope'; available: local, slurm, kubernetes" in result.stderr
    assert "entry-point group 'mlrun_cli.backends'" in result.stderr


def test_detach_names_the_backends_that_can_detach_plugins_too(
    mlrun: Mlrun, project_factory: Factory, plugin_path: str
) -> None:
    env = {"PYTHONPATH": plugin_path}
    shown = " ".join(mlrun("run", "--help", env=env).stdout.split())
    assert "--detach Return once submitted, on slurm/kubernetes/ray/bgqueue (" in shown, shown
    project = project_factory({"MLproject": "entry_points: {main: {command: 'true'}}\n"})
    refused = mlrun("run", str(project), "--env-manager", "local", "--detach", env=env)
    assert refused.returncode == 2
    assert "queues jobs (slurm, kubernetes, ray, bgqueue), not 'local'" in refused.stderr
