"""`--backend slurm` against real Slurm daemons (munge, slurmctld, slurmd) on this machine.

The time-limit test needs a minute and more (Slurm's limits are whole minutes, checked every
30 s), so its job is submitted detached by the first test and settled by the last one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends.cancelling import assert_cancelled, assert_killed_by_ctrl_c, ctrl_c
from tests.backends.conftest import scontrol_state
from tests.conftest import MLRUN, Popen, Result
from tests.envs.conftest import assert_ran_in_the_uv_env, envs_dir, offline, python_project, wheelhouse  # noqa: F401 - fixtures
from tests.services.mlflow_env import on_path, read_run

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

Mlrun = Callable[..., Result]
ON_SLURM = ("-b", "slurm", "--env-manager", "local")
NETNS = "mlrun-slurm"  # as .ci/slurm-up names it
Factory = Callable[[dict[str, str]], Path]
PROJECT = """\
name: on-slurm
entry_points:
  main:
    parameters:
      code: {type: int, default: 0}
    command: "echo job=$SLURM_JOB_ID cwd=$PWD; echo to-stderr >&2; exit {code}"
  sleepy:
    command: "trap 'echo got TERM; exit 143' TERM; echo sleeping; for i in $(seq 1 300); do sleep 0.2; done"
"""


def _store(work: Path) -> FileStore:
    return FileStore(work / "mlruns")


def _json(result: Result) -> dict[str, object]:
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def timeout_run(
    tmp_path_factory: pytest.TempPathFactory, slurm_env: dict[str, str], slurm_bin: Path
) -> Iterator[dict[str, str]]:
    """A detached job that outlives its 1-minute limit; submitted first, settled last."""
    work = tmp_path_factory.mktemp("timeout-run")
    (work / "proj").mkdir()
    (work / "proj" / "MLproject").write_text("entry_points: {main: {command: 'echo started; sleep 600'}}\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        **slurm_env,
        "MLRUN_HOME": str(work / "home"),
    }
    argv = [*MLRUN, "run", "proj", *ON_SLURM, "--detach", "--json"]
    proc = subprocess.run(
        [*argv, "-c", '{"time": 1, "partition": "short"}'], cwd=work, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    submitted = json.loads(proc.stdout)
    yield {"work": str(work), "run_id": submitted["run_id"], **env}
    # Whatever happened to the test that waits for it, the job does not outlive the module.
    subprocess.run([str(slurm_bin / "scancel"), str(submitted["job_id"])], check=False)


def test_detach_returns_at_once_with_run_and_job_ids(timeout_run: dict[str, str], slurm_bin: Path) -> None:
    work = Path(timeout_run["work"])
    record = _store(work).get_run(timeout_run["run_id"])
    assert record.status is RunStatus.RUNNING
    assert record.tags["mlflow.project.backend"] == "slurm"
    job_id = record.tags["mlrun.slurm.job_id"]
    assert scontrol_state(slurm_bin, job_id) in ("PENDING", "RUNNING")
    script = (work / "home" / "jobs" / record.run_id / "job.sh").read_text()
    assert f"export MLFLOW_RUN_ID={record.run_id}" in script and "exec bash -c" in script
    env = {k: v for k, v in timeout_run.items() if k not in ("work", "run_id")}
    shown = subprocess.run(
        [*MLRUN, "runs", "show", record.run_id, "--json"], cwd=work, env=env, capture_output=True, text=True
    )
    data = json.loads(shown.stdout)
    assert data["status"] == "RUNNING" and data["job_state"] in ("RUNNING", "PENDING"), shown.stderr


def test_success_streams_output_and_records_the_job(
    mlrun: Mlrun, project_factory: Factory, slurm_env: dict[str, str], isolated: Path
) -> None:
    project = project_factory({"MLproject": PROJECT})
    result = mlrun("run", str(project), *ON_SLURM, "--json", env=slurm_env)
    assert result.returncode == 0, result.stderr
    data = _json(result)
    job_id = str(data["job_id"])
    assert job_id.isdigit() and data["backend"] == "slurm" and data["status"] == "FINISHED"
    # The job's own output, streamed live (to stderr under --json).
    assert f"job={job_id} cwd={project}\n" in result.stderr and "to-stderr\n" in result.stderr
    record = _store(isolated).get_run(str(data["run_id"]))
    assert record.status is RunStatus.FINISHED
    assert record.tags["mlrun.slurm.job_id"] == job_id and record.tags["mlrun.exit_code"] == "0"
    assert record.tags["mlflow.project.backend"] == "slurm"
    console = (Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log").read_text()
    assert console == f"job={job_id} cwd={project}\nto-stderr\n"
    script = (Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "job.sh").read_text()
    assert "exec bash -c" in script and f"MLFLOW_RUN_ID={record.run_id}" in script
    assert not (Path(os.environ["MLRUN_HOME"]) / "jobs" / record.run_id).exists()  # cleaned up


def test_failure_exit_code_is_mirrored(
    mlrun: Mlrun, project_factory: Factory, slurm_env: dict[str, str], isolated: Path
) -> None:
    project = project_factory({"MLproject": PROJECT})
    config = project.parent / "slurm.yaml"
    config.write_text("cpus: 1\nmem: 100M\ntime: '5:00'\nsbatch_args: ['--comment=ignored-by-mlrun']\n")
    result = mlrun("run", str(project), "-b", "slurm", "-c", str(config), "-P", "code=3", env=slurm_env)
    assert result.returncode == 3, result.stderr
    [summary] = _store(isolated).search_runs(None, 5)
    record = _store(isolated).get_run(summary.run_id)
    assert record.status is RunStatus.FAILED
    assert record.tags["mlrun.exit_code"] == "3"
    assert record.tags["mlrun.error"] == "command exited with code 3"


def test_uv_env_is_built_under_mlrun_home_and_activated_by_the_job(
    mlrun: Mlrun,
    project_factory: Factory,
    slurm_env: dict[str, str],
    offline: dict[str, str],  # noqa: F811
    envs_dir: Path,  # noqa: F811
) -> None:
    project = python_project(project_factory, 'python: "3.11"\ndependencies: [mlrun-demo-a==2.0]\n')
    result = mlrun("run", str(project), "-b", "slurm", "--env-manager", "uv", env={**offline, **slurm_env})
    assert_ran_in_the_uv_env(result, envs_dir, "3.11", "2.0")


def test_ctrl_c_cancels_the_job_and_records_killed(
    project_factory: Factory, slurm_env: dict[str, str], slurm_bin: Path, isolated: Path, popen: Popen
) -> None:
    project = project_factory({"MLproject": PROJECT})
    proc = popen(
        [*MLRUN, "run", str(project), "-e", "sleepy", *ON_SLURM],
        env={**os.environ, **slurm_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, _ = ctrl_c(proc, timeout=90, after_line="sleeping\n")
    assert "got TERM" in out  # scancel sent the job SIGTERM
    [summary] = _store(isolated).search_runs(None, 5)
    record = _store(isolated).get_run(summary.run_id)
    assert_killed_by_ctrl_c(record)
    assert scontrol_state(slurm_bin, record.tags["mlrun.slurm.job_id"]) == "CANCELLED"


@pytest.mark.mlflow
def test_the_childs_mlflow_logs_into_the_run(
    mlrun: Mlrun, project_factory: Factory, slurm_bin: Path, mlflow_python: Path, isolated: Path
) -> None:
    project = project_factory(
        {
            "MLproject": "entry_points: {main: {command: 'python log.py'}}\n",
            "log.py": "import mlflow\nwith mlflow.start_run() as run:\n"
            "    mlflow.log_metric('score', 0.75)\n    print('child joined', run.info.run_id)\n",
        }
    )
    env = {"PATH": f"{slurm_bin}{os.pathsep}{on_path(mlflow_python)['PATH']}"}
    result = mlrun("run", str(project), *ON_SLURM, "--json", env=env)
    assert result.returncode == 0, result.stderr
    run_id = str(_json(result)["run_id"])
    seen = read_run(mlflow_python, (isolated / "mlruns").as_uri(), run_id)
    assert seen["status"] == "FINISHED" and seen["metrics"] == {"score": 0.75}
    assert seen["tags"]["mlrun.slurm.job_id"] == _json(result)["job_id"]
    assert f"child joined {run_id}" in seen["console"]


def test_detached_run_from_git_is_settled_by_runs_show_and_wait(
    mlrun: Mlrun, project_factory: Factory, slurm_env: dict[str, str], isolated: Path, tmp_path: Path
) -> None:
    repo = project_factory({"MLproject": PROJECT.replace("sleep 0.2", "sleep 0.01")})
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    # The checkout made for --version is gone when mlrun returns; the job has its own copy.
    submitted = mlrun("run", str(repo), "-v", "v1", *ON_SLURM, "--detach", "-P", "code=7", env=slurm_env)
    assert submitted.returncode == 0, submitted.stderr
    run_id = re.search(r"run ([0-9a-f]{32}) submitted as slurm job (\d+)", submitted.stderr)
    assert run_id is not None, submitted.stderr
    waited = mlrun("runs", "wait", run_id[1], "--json", env=slurm_env)
    assert waited.returncode == 7, waited.stderr
    data = _json(waited)
    assert data["status"] == "FAILED" and data["exit_code"] == 7
    assert f"job={run_id[2]}" in waited.stderr  # the job's output, shown while waiting
    assert "/jobs/" in waited.stderr.split("cwd=", 1)[1].split()[0]
    assert "mlrun/console.log" in data["artifacts"]  # type: ignore[operator]
    again = mlrun("runs", "show", run_id[1], "--json", env=slurm_env)
    assert _json(again)["tags"]["mlrun.exit_code"] == "7"  # type: ignore[index]
    # Settled once: a second wait records nothing more and exits the same way.
    assert mlrun("runs", "wait", run_id[1], env=slurm_env).returncode == 7


def test_runs_wait_gives_up_after_its_timeout_and_runs_cancel_cancels(
    mlrun: Mlrun, project_factory: Factory, slurm_env: dict[str, str], slurm_bin: Path, isolated: Path
) -> None:
    project = project_factory({"MLproject": PROJECT})
    submitted = mlrun("run", str(project), "-e", "sleepy", *ON_SLURM, "--detach", "--json", env=slurm_env)
    data = _json(submitted)
    started = time.monotonic()
    waited = mlrun("runs", "wait", str(data["run_id"]), "--timeout", "1", env=slurm_env)
    assert waited.returncode == 1 and time.monotonic() - started < 30
    assert f"has not ended after 1 s (slurm job {data['job_id']}" in waited.stderr
    cancelled = mlrun("runs", "cancel", str(data["run_id"]), env=slurm_env)
    assert_cancelled(cancelled, _store(isolated).get_run(str(data["run_id"])))
    assert scontrol_state(slurm_bin, str(data["job_id"])) == "CANCELLED"
    waited = mlrun("runs", "wait", str(data["run_id"]), env=slurm_env)
    assert waited.returncode == 143 and "KILLED" in waited.stderr
    again = mlrun("runs", "cancel", str(data["run_id"]), env=slurm_env)
    assert again.returncode == 2 and "has no job left to cancel (it is KILLED)" in again.stderr


def test_runs_wait_survives_the_cluster_failing_twice_in_a_row(
    mlrun: Mlrun, project_factory: Factory, slurm_env: dict[str, str], slurm_bin: Path, tmp_path: Path
) -> None:
    """The same poll loop as an attached run: a controller that does not answer for a while is
    waited out, not fatal (the watcher's one squeue call fails twice)."""
    project = project_factory({"MLproject": PROJECT})
    submitted = mlrun("run", str(project), *ON_SLURM, "--detach", "--json", "-P", "code=3", env=slurm_env)
    data = _json(submitted)
    flaky, failures = tmp_path / "flaky-bin", tmp_path / "failures"
    flaky.mkdir()
    (flaky / "squeue").write_text(
        "#!/bin/sh\n"
        f"n=$(cat {failures} 2>/dev/null || echo 0)\n"
        f'if [ "$n" -lt 2 ]; then echo $((n + 1)) > {failures}; '
        'echo "slurm_load_jobs error: Unable to contact slurm controller" >&2; exit 1; fi\n'
        f'exec {slurm_bin / "squeue"} "$@"\n'
    )
    (flaky / "squeue").chmod(0o755)
    env = {**slurm_env, "PATH": f"{flaky}{os.pathsep}{slurm_env['PATH']}"}
    waited = mlrun("runs", "wait", str(data["run_id"]), env=env)
    assert waited.returncode == 3, waited.stderr
    assert failures.read_text().strip() == "2"
    assert waited.stderr.count("Unable to contact slurm controller (retrying)") == 2
    assert "job=" in waited.stdout


def test_sbatch_refusal_is_a_clear_error_and_the_run_ends_failed(
    mlrun: Mlrun, project_factory: Factory, slurm_env: dict[str, str], isolated: Path
) -> None:
    project = project_factory({"MLproject": PROJECT})
    result = mlrun("run", str(project), *ON_SLURM, "-c", '{"partition": "nope"}', env=slurm_env)
    assert result.returncode == 2
    assert "Error: sbatch refused the job:" in result.stderr and "Traceback" not in result.stderr
    [record] = _store(isolated).search_runs(None, 5)
    assert record.status is RunStatus.FAILED
    # No job owns its folder: the script and output file written for it go with the run's end.
    assert not (isolated.parent / "mlrun-home" / "jobs" / record.run_id).exists()


def test_an_sbatch_that_queues_the_job_but_gives_no_id_leaves_no_job_behind(
    mlrun: Mlrun,
    project_factory: Factory,
    slurm_env: dict[str, str],
    slurm_bin: Path,
    isolated: Path,
    tmp_path: Path,
) -> None:
    """sbatch queues the job, then its answer is lost (here: a wrapper prints something other
    than the id, as a client cut off mid-answer would): mlrun finds the job by the comment that
    names its run and cancels it, so no job runs for a run recorded FAILED."""
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "sbatch").write_text(
        f'#!/bin/sh\n"{slurm_bin}/sbatch" "$@" >/dev/null; echo "sbatch: Submitted?"\n'
    )
    (shims / "sbatch").chmod(0o755)
    project = project_factory({"MLproject": PROJECT})
    env = {**slurm_env, "PATH": f"{shims}{os.pathsep}{slurm_env['PATH']}"}
    result = mlrun("run", str(project), *ON_SLURM, "-e", "sleepy", env=env)
    assert result.returncode != 0 and "sbatch answered without a job id" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    [record] = _store(isolated).search_runs(None, 5)
    assert record.status is RunStatus.FAILED
    queued = subprocess.run(
        [str(slurm_bin / "squeue"), "--me", "-h", "-t", "PENDING,RUNNING", "-o", "%i|%k"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"mlrun run {record.run_id}" not in queued


def test_time_limit_exceeded_ends_failed_with_exit_124(
    timeout_run: dict[str, str], slurm_env: dict[str, str]
) -> None:
    env = {k: v for k, v in timeout_run.items() if k not in ("work", "run_id")}
    proc = subprocess.run(
        [*MLRUN, "runs", "wait", timeout_run["run_id"], "--timeout", "240"],
        cwd=timeout_run["work"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 124, proc.stderr
    assert "started\n" in proc.stdout and "DUE TO TIME LIMIT" in proc.stdout
    record = _store(Path(timeout_run["work"])).get_run(timeout_run["run_id"])
    assert record.status is RunStatus.FAILED
    assert record.tags["mlrun.error"] == "the job exceeded its time limit (TIMEOUT)"


def test_sacct_answers_once_slurmctld_has_forgotten_the_job(
    slurm_bin: Path, slurm_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scontrol forgets a job MinJobAge (300 s) after it ends; the job completion log does not.
    This cluster has no accounting database, so `sacct -X` fails and `sacct -c` answers."""
    from mlrun_cli.backends import slurm_states

    job = subprocess.run(
        [str(slurm_bin / "sbatch"), "--parsable", f"--output={tmp_path}/o.log", "--wrap", "exit 3"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with monkeypatch.context() as patched:  # undone here: the isolated fixture checks os.environ
        patched.setenv("PATH", slurm_env["PATH"])
        deadline = time.monotonic() + 60
        while slurm_states.query(job).status is None and time.monotonic() < deadline:
            time.sleep(0.2)
        from_log = slurm_states._from_sacct(job)
    assert from_log is not None
    assert (from_log.state, from_log.status, from_log.exit_code) == ("FAILED", RunStatus.FAILED, 3)


@pytest.mark.mlflow
def test_the_childs_mlflow_joins_the_run_on_a_tracking_server(
    project_factory: Factory, slurm_bin: Path, mlflow_python: Path, tmp_path: Path
) -> None:
    """The usual cluster set-up: a tracking server, and the job logging to it over REST.

    The cluster's nodes live in their own network namespace (see .ci/slurm-up), so the server,
    and mlrun itself, run in it too, as they would on the cluster's network."""
    from tests.services.git_daemon import free_port
    from tests.services.mlflow_server import start_server, stop_server

    netns = ["nsenter", f"--net=/run/netns/{NETNS}"]
    proc, url = start_server(mlflow_python, tmp_path / "server", free_port(), prefix=netns)
    try:
        project = project_factory(
            {
                "MLproject": "entry_points: {main: {command: 'python log.py'}}\n",
                "log.py": "import mlflow\nwith mlflow.start_run() as run:\n"
                "    mlflow.log_metric('score', 0.5)\n    print('joined', run.info.run_id)\n",
            }
        )
        env = {**os.environ, "PATH": f"{slurm_bin}{os.pathsep}{on_path(mlflow_python)['PATH']}"}
        result = subprocess.run(
            [*netns, *MLRUN, "run", str(project), *ON_SLURM, "--tracking-uri", url, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        data = _json(Result(result.returncode, result.stdout, result.stderr))
        seen = read_run(mlflow_python, url, str(data["run_id"]), prefix=netns)
        assert seen["status"] == "FINISHED" and seen["metrics"] == {"score": 0.5}
        assert seen["tags"]["mlrun.slurm.job_id"] == data["job_id"]
        assert f"joined {data['run_id']}" in seen["console"]
        assert "mlrun/job.sh" in seen["artifacts"]
    finally:
        stop_server(proc)


def test_timeout_cancels_the_slurm_job_and_sets_its_time_limit(
    mlrun: Mlrun, project_factory: Factory, slurm_env: dict[str, str], isolated: Path
) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'sleep 60'}}\n"})
    started = time.monotonic()
    result = mlrun(
        "run",
        str(project),
        "-b",
        "slurm",
        "--env-manager",
        "local",
        "--timeout",
        "3s",
        "--json",
        env=slurm_env,
    )
    assert result.returncode == 124, result.stderr
    assert time.monotonic() - started < 30
    data = json.loads(result.stdout)
    status, tags = _status_and_tags(isolated, str(data["run_id"]))
    assert status is RunStatus.FAILED and tags["mlrun.timeout"] == "3s"
    limit = subprocess.run(
        ["scontrol", "show", "job", "-o", str(data["job_id"])],
        capture_output=True,
        text=True,
        env={**os.environ, **slurm_env},
        check=False,
    ).stdout
    assert "TimeLimit=00:01:00" in limit or not limit  # Slurm may have forgotten the job already


def _status_and_tags(isolated: Path, run_id: str) -> tuple[RunStatus, dict[str, str]]:
    record = FileStore(isolated / "mlruns").get_run(run_id)
    return record.status, dict(record.tags)


def test_a_secret_reaches_the_slurm_job_through_its_environment_only(
    mlrun: Mlrun, project_factory: Factory, slurm_env: dict[str, str], isolated: Path
) -> None:
    from tests.runs.test_secrets import CANARY, PROJECT, assert_nowhere

    project = project_factory({"MLproject": PROJECT})
    detached = mlrun(
        "run", str(project), *ON_SLURM, "-P", f"token={CANARY}", "--detach", "--json", env=slurm_env
    )
    assert detached.returncode == 0, detached.stderr
    run_id = str(_json(detached)["run_id"])
    job_dir = isolated.parent / "mlrun-home" / "jobs" / run_id
    assert_nowhere(CANARY, detached, job_dir)  # job.sh names the variable, never its value
    assert "MLRUN_SECRET_TOKEN: passed through sbatch's environment" in (job_dir / "job.sh").read_text()
    waited = mlrun("runs", "wait", run_id, env={**slurm_env, "MLRUN_SECRET_TOKEN": CANARY})
    assert waited.returncode == 0, waited.stderr
    assert "got ***" in waited.stdout and f"{len(CANARY)}\n" in waited.stdout
    assert_nowhere(CANARY, waited, isolated / "mlruns", isolated.parent / "mlrun-home")


def test_a_value_with_credentials_reaches_the_job_but_not_its_script(
    mlrun: Mlrun,
    project_factory: Factory,
    slurm_env: dict[str, str],
    isolated: Path,
    offline: dict[str, str],  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A database tracking store's URI carries its password (postgresql://user:pw@host/db), and
    the job script is logged with the run: a value with credentials in a URI goes through
    sbatch's environment, as a secret does. Here the value comes from a conda env's variables
    (the real path a database URI takes needs a database server)."""
    from tests.envs.conda_channel import build_test_channel

    channel = build_test_channel(tmp_path_factory.mktemp("conda") / "channel")
    uri = "postgresql://mlflow:db-pw-5e7a@db.example:5432/mlflow"
    project = project_factory(
        {
            "MLproject": "conda_env: conda.yaml\nentry_points:\n  main:\n"
            '    command: "[ \\"$STORE_URI\\" = \\"$EXPECTED\\" ] && echo the job has it"\n',
            "conda.yaml": f"channels: [{channel.as_uri()}]\ndependencies: [mlrun-demo-data]\n"
            f"variables: {{STORE_URI: '{uri}'}}\n",
        }
    )
    result = mlrun(
        "run", str(project), "-b", "slurm", "--json", env={**offline, **slurm_env, "EXPECTED": uri}
    )
    assert result.returncode == 0, result.stderr
    assert "the job has it" in result.stderr + result.stdout
    record = _store(isolated).get_run(str(_json(result)["run_id"]))
    script = (Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "job.sh").read_text()
    assert "# STORE_URI: passed through sbatch's environment, not written here" in script
    for path in (isolated / "mlruns").rglob("*"):  # the logged script and every other record
        assert not path.is_file() or b"db-pw-5e7a" not in path.read_bytes(), path
