"""`--backend ray` against one real Ray head on 127.0.0.1, started once for the module.

mlrun runs from a side venv with `mlrun-cli[ray]` installed (tests/backends/ray/cluster.py); the test venv
itself has no Ray. Jobs are checked through the head's own job list (GET /api/jobs/, what
JobSubmissionClient.list_jobs reads).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends import asha_curves
from tests.backends.cancelling import assert_cancelled, assert_killed_by_ctrl_c, ctrl_c
from tests.backends.ray.cluster import RayHead, ensure_ray_python, jobs, start_head, stop_head
from tests.conftest import EXAMPLES, Popen, Result, run_captured
from tests.envs.conftest import assert_ran_in_the_uv_env, envs_dir, offline, python_project, wheelhouse  # noqa: F401 - fixtures
from tests.services.mlflow_env import on_path, read_run
from tests.sweep_marks import marked, max_running

pytestmark = [pytest.mark.ray, pytest.mark.slow]

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
PROJECT = """\
name: on-ray
entry_points:
  main:
    parameters:
      code: {type: int, default: 0}
    command: "echo cwd=$PWD; echo to-stderr >&2; exit {code}"
  sleepy:
    parameters:
      pids: {type: string, default: /dev/null}
    command: "trap 'echo got TERM; exit 143' TERM; echo $$ >> {pids}; echo sleeping;
      for i in $(seq 1 600); do sleep 0.2; done"
"""


@pytest.fixture(scope="module")
def ray_python() -> Path:
    return ensure_ray_python()


@pytest.fixture(scope="module")
def ray_head(ray_python: Path) -> Iterator[RayHead]:
    head = start_head(ray_python)
    print(f"Ray head started in {head.started_s:.1f}s")  # shown with -s
    try:
        yield head
    finally:
        stop_head(head)


@pytest.fixture
def on_ray(ray_python: Path, ray_head: RayHead, isolated: Path) -> Mlrun:
    """`mlrun ARGS -b ray -c '{"address": ...}'` from the Ray venv, in the test's folder."""

    def call(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> Result:
        env = {**os.environ, "RAY_ADDRESS": ray_head.address, **(env or {})}
        return run_captured([str(ray_python), "-m", "mlrun_cli", *args], isolated, env, timeout)

    return call


RUN = ("run", "-b", "ray", "--env-manager", "local")


def _store(isolated: Path) -> FileStore:
    return FileStore(isolated / "mlruns")


def _console(isolated: Path, run_id: str) -> str:
    record = _store(isolated).get_run(run_id)
    return (Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log").read_text()


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in (Path("/proc") / str(pid) / "status").read_text().lower()
    except OSError:
        return False


@pytest.mark.mlflow
def test_sklearn_example_end_to_end_with_the_childs_metrics(
    on_ray: Mlrun, ray_head: RayHead, mlflow_python: Path, example: Callable[[str], Path], isolated: Path
) -> None:
    """The job runs where mlrun runs (a shared file system): the command's `python` is the one
    first on the submitter's PATH (here MLflow's side venv), and its own mlflow.start_run() joins
    the run through the MLFLOW_* handshake in the job script."""
    project = example("sklearn_linear")
    result = on_ray(RUN[0], str(project), *RUN[1:], "-P", "alpha=0.3", "--json", env=on_path(mlflow_python))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend"] == "ray" and data["job_id"] == f"mlrun-{data['run_id']}"
    seen = read_run(mlflow_python, (isolated / "mlruns").as_uri(), data["run_id"])
    assert seen["status"] == "FINISHED" and seen["params"] == {"alpha": "0.3"}
    assert seen["metrics"]["mse"] > 1000  # logged by train.py's own MLflow run
    assert seen["tags"]["mlrun.ray.job_id"] == data["job_id"]
    assert seen["tags"]["mlrun.ray.address"] == ray_head.address
    assert "alpha=0.3 mse=" in seen["console"] and "Running entrypoint" not in seen["console"]
    assert sorted(seen["artifacts"]) == ["mlrun/console.log", "mlrun/job.sh"]
    assert jobs(ray_head)[data["job_id"]] == "SUCCEEDED"


def test_failure_mirrors_the_exit_code_and_the_output_is_the_commands_own(
    on_ray: Mlrun, project_factory: Factory, isolated: Path, ray_head: RayHead
) -> None:
    project = project_factory({"MLproject": PROJECT})
    host_port = ray_head.address.removeprefix("http://")  # HOST:PORT means http://
    config = json.dumps({"address": host_port, "num_cpus": 0.5})
    result = on_ray(
        RUN[0], str(project), *RUN[1:], "-P", "code=3", "-c", config, "--json", env={"RAY_ADDRESS": ""}
    )
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    record = _store(isolated).get_run(data["run_id"])
    assert record.tags["mlrun.ray.address"] == ray_head.address
    assert record.status is RunStatus.FAILED and record.tags["mlrun.exit_code"] == "3"
    assert record.tags["mlrun.error"] == "command exited with code 3"
    assert _console(isolated, data["run_id"]) == f"cwd={project}\nto-stderr\n"  # no Ray preamble
    assert jobs(ray_head)[data["job_id"]] == "FAILED"


def test_ray_states_map_to_run_ends() -> None:
    """The mapping alone, on JobDetails-shaped values (the real ones are covered above)."""
    from types import SimpleNamespace

    from mlrun_cli.backends.ray.backend import to_job_state

    def state(
        word: str, code: int | None = None, message: str = "", limited: bool = False
    ) -> tuple[object, ...]:
        got = to_job_state(word, SimpleNamespace(message=message, driver_exit_code=code), limited)
        return got.status, got.exit_code, got.reason

    assert state("PENDING", message="Job has not started yet.\nmore") == (
        None,
        None,
        "PENDING (Job has not started yet.)",
    )
    assert state("SUCCEEDED", 0) == (RunStatus.FINISHED, 0, "")
    assert state("STOPPED") == (RunStatus.KILLED, 143, "the job was stopped (stop_job)")
    assert state("FAILED", 3) == (RunStatus.FAILED, 3, "command exited with code 3")
    assert state("FAILED", -9) == (RunStatus.FAILED, 137, "the command was killed by signal 9")
    assert state("FAILED", 124, limited=True) == (RunStatus.FAILED, 124, "the job exceeded its time limit")
    assert state("FAILED", 124) == (RunStatus.FAILED, 124, "command exited with code 124")
    assert state("FAILED", None, "runtime env setup failed: pip") == (
        RunStatus.FAILED,
        1,
        "the Ray job failed: runtime env setup failed: pip",
    )


def test_the_output_is_the_commands_wherever_ray_writes_its_entrypoint_line() -> None:
    """Seen on a real head: Ray flushes its 'Running entrypoint' line once the command has
    started, so it comes before, inside or after the command's first lines."""
    from mlrun_cli.backends.ray.backend import command_output

    setup = "2026-12-02 01:34:27,157\tINFO job_manager.py:581 -- Runtime env is setting up.\n"
    ray_line = "Running entrypoint for job mlrun-r1: bash /h/jobs/r1/job.sh\n"
    banner = "mlrun: ray job mlrun-r1 starts\n"
    assert command_output(setup, "mlrun-r1") == b""
    assert command_output(setup + ray_line, "mlrun-r1") == b""
    for log in (
        setup + ray_line + banner + "hello\nerr\n",
        setup + banner + "hello\nerr\n" + ray_line,
        setup + banner + "hel" + ray_line + "lo\nerr\n",
    ):
        assert command_output(log, "mlrun-r1") == b"hello\nerr\n", log
    assert command_output(setup + banner + "hel", "mlrun-r1") == b"hel"  # a prefix of the above


def test_a_uv_env_built_by_mlrun_is_the_jobs_env(
    on_ray: Mlrun,
    project_factory: Factory,
    offline: dict[str, str],  # noqa: F811
    envs_dir: Path,  # noqa: F811
) -> None:
    project = python_project(project_factory, 'python: "3.11"\ndependencies: [mlrun-demo-a==2.0]\n')
    result = on_ray("run", str(project), "-b", "ray", "--env-manager", "uv", env=offline)
    assert_ran_in_the_uv_env(result, envs_dir, "3.11", "2.0")


def test_detach_then_runs_wait_settles_the_run(
    on_ray: Mlrun, project_factory: Factory, isolated: Path, ray_head: RayHead
) -> None:
    project = project_factory({"MLproject": PROJECT})
    started = time.monotonic()
    submitted = on_ray(RUN[0], str(project), *RUN[1:], "--detach", "-P", "code=7", "--json")
    assert submitted.returncode == 0, submitted.stderr
    data = json.loads(submitted.stdout)
    assert data["status"] == "RUNNING" and time.monotonic() - started < 60
    assert jobs(ray_head)[data["job_id"]] in ("PENDING", "RUNNING", "FAILED")
    waited = on_ray("runs", "wait", data["run_id"], "--json")
    assert waited.returncode == 7, waited.stderr
    assert json.loads(waited.stdout)["status"] == "FAILED" and f"cwd={project}" in waited.stderr
    assert _store(isolated).get_run(data["run_id"]).tags["mlrun.error"] == "command exited with code 7"
    assert on_ray("runs", "wait", data["run_id"]).returncode == 7  # settled once, same answer


def test_runs_cancel_and_ctrl_c_leave_no_ray_job_running(
    on_ray: Mlrun,
    project_factory: Factory,
    isolated: Path,
    ray_head: RayHead,
    ray_python: Path,
    popen: Popen,
) -> None:
    project = project_factory({"MLproject": PROJECT})
    pids = isolated / "pids.txt"
    sleepy = ("-e", "sleepy", "-P", f"pids={pids}")
    submitted = on_ray(RUN[0], str(project), *RUN[1:], *sleepy, "--detach", "--json")
    assert submitted.returncode == 0, submitted.stderr
    detached = json.loads(submitted.stdout)
    # Cancel a command that runs: one still PENDING is stopped before it starts (and records no pid).
    deadline = time.monotonic() + 90
    while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pids.exists() and pids.read_text().strip(), "the detached job never started"
    cancelled = on_ray("runs", "cancel", detached["run_id"])
    assert_cancelled(cancelled, _store(isolated).get_run(detached["run_id"]))

    proc = popen(
        [str(ray_python), "-m", "mlrun_cli", RUN[0], str(project), *RUN[1:], *sleepy],
        cwd=isolated,
        env={**os.environ, "RAY_ADDRESS": ray_head.address},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, _ = ctrl_c(proc, timeout=90, after_line="sleeping\n")
    assert "got TERM" in out  # stop_job sent the command SIGTERM
    [attached] = [r for r in _store(isolated).search_runs(None, 5) if r.run_id != detached["run_id"]]
    assert_killed_by_ctrl_c(_store(isolated).get_run(attached.run_id))
    states = jobs(ray_head)
    assert states[f"mlrun-{detached['run_id']}"] == "STOPPED"
    assert states[f"mlrun-{attached.run_id}"] == "STOPPED"
    assert not [job for job, state in states.items() if state in ("PENDING", "RUNNING")]
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 2
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in recorded) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in recorded if _alive(p)]  # the commands themselves are gone


def test_a_3_point_sweep_is_one_job_per_point_within_max_parallel(
    on_ray: Mlrun, project_factory: Factory, isolated: Path, tmp_path: Path, ray_head: RayHead
) -> None:
    marks = tmp_path / "marks.txt"
    command = marked("echo point a={a}; sleep 2", marks)
    mlproject = "entry_points:\n  main:\n    parameters: {a: {type: int}}\n"
    project = project_factory({"MLproject": f'{mlproject}    command: "{command}"\n'})
    result = on_ray(
        RUN[0], str(project), *RUN[1:], "-S", "a=1,2,3", "--max-parallel", "2", "--json", timeout=300
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    children = [_store(isolated).get_run(c["run_id"]) for c in out["children"]]
    assert len(children) == 3 and all(c.status is RunStatus.FINISHED for c in children)
    assert {c.tags["mlflow.parentRunId"] for c in children} == {out["parent_run_id"]}
    job_ids = {c.tags["mlrun.ray.job_id"] for c in children}
    assert len(job_ids) == 3 and all(jobs(ray_head)[j] == "SUCCEEDED" for j in job_ids)
    for child in children:
        assert _console(isolated, child.run_id) == f"point a={child.params['a']}\n"
    assert max_running(marks) == 2  # two at once, never three


def test_an_asha_sweep_on_ray_stops_the_losing_points_through_rays_stop_job(
    on_ray: Mlrun, example: Callable[[str], Path], isolated: Path, tmp_path: Path, ray_head: RayHead
) -> None:
    """`--early-stop asha` on the real head: each point is a Ray job; a losing one is stopped
    through the job API (STOPPED in the head's own list) and recorded KILLED with its rule, the
    others run to their end. train.py logs `loss` into the file store (no MLflow in the job)."""
    (tmp_path / "sweep.yaml").write_text(json.dumps(asha_curves.SWEEP))
    result = on_ray(
        "run", str(example("curves")), "-b", "ray", "--env-manager", "local",
        "--sweep-file", str(tmp_path / "sweep.yaml"), *asha_curves.ARGS, timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    children, stopped = asha_curves.check_outcome(json.loads(result.stdout), _store(isolated))
    states = jobs(ray_head)
    for index, run in children.items():
        assert states[run.tags["mlrun.ray.job_id"]] == ("STOPPED" if index in stopped else "SUCCEEDED")


def test_unreachable_cluster_is_exit_75_and_bad_input_exit_2_before_any_run(
    on_ray: Mlrun, project_factory: Factory, isolated: Path, ray_python: Path
) -> None:
    from tests.services.git_daemon import free_port

    project = project_factory({"MLproject": PROJECT})
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = on_ray(
        RUN[0], str(project), *RUN[1:], "-c", json.dumps({"address": nowhere}), env={"RAY_ADDRESS": ""}
    )
    assert result.returncode == 75, result.stderr
    assert f"Error: cannot reach the Ray cluster at {nowhere}" in result.stderr
    assert "Traceback" not in result.stderr
    [record] = _store(isolated).search_runs(None, 5)
    tags = _store(isolated).get_run(record.run_id).tags
    assert record.status is RunStatus.FAILED
    assert tags["mlrun.error"].startswith("InfrastructureError: cannot reach the Ray cluster")
    docker = project_factory(
        {"MLproject": "docker_env: {image: x}\nentry_points: {main: {command: 'true'}}\n"}
    )
    for args, says in (
        (["-c", '{"adress": "x"}'], "adress: unknown key (did you mean 'address'?)"),
        (["-c", '{"address": "ray://127.0.0.1:10001"}'], "is not a Job Submission address"),
        (["-c", '{"num_cpus": -1}'], "num_cpus"),
        ([str(docker), "-b", "ray"], "the ray backend cannot run a 'docker' environment"),
    ):
        argv = [*RUN[:1], *args] if args[0] == str(docker) else [*RUN[:1], str(project), *RUN[1:], *args]
        refused = on_ray(*argv, env={"RAY_ADDRESS": ""})
        assert refused.returncode == 2 and says in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    # Ray's client would obey RAY_ADDRESS over the address it is given: refused, not followed.
    overridden = on_ray(RUN[0], str(project), *RUN[1:], "-c", json.dumps({"address": nowhere}))
    assert overridden.returncode == 2 and "overrides the address mlrun gives it" in overridden.stderr
    no_address = on_ray(RUN[0], str(project), *RUN[1:], env={"RAY_ADDRESS": ""})
    assert no_address.returncode == 2 and "needs the cluster's address" in no_address.stderr
    assert len(_store(isolated).search_runs(None, 5)) == 2  # the rest refused before any run existed
    # Ray is imported only when chosen: not by --help, validate, or a local run.
    # The click group itself, not main(), which leaves without the interpreter's teardown.
    probe = (
        "import sys\nfrom mlrun_cli.cli import cli\n"
        "try:\n    cli(sys.argv[1:], prog_name='mlrun')\nexcept SystemExit:\n    pass\n"
        "print('ray' in sys.modules, file=sys.stderr)"
    )
    for args in (
        ["--help"],
        ["validate", str(EXAMPLES / "sklearn_linear")],
        ["run", str(project), "--env-manager", "local"],
    ):
        proc = subprocess.run(
            [str(ray_python), "-c", probe, *args], capture_output=True, text=True, cwd=isolated
        )
        assert proc.stderr.splitlines()[-1] == "False", (args, proc.stderr)


def test_a_cluster_that_never_answers_is_exit_75_in_bounded_time(
    on_ray: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    """Ray's client sends requests with no timeout: a dashboard that takes the connection and
    never answers must not hang mlrun. The fault: a socket that listens and never accepts (the
    kernel completes the handshake, nobody reads the request)."""
    import socket

    project = project_factory({"MLproject": PROJECT})
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = on_ray(
            RUN[0], str(project), *RUN[1:], "-c", json.dumps({"address": url}),
            env={"RAY_ADDRESS": "", "MLRUN_RAY_REQUEST_TIMEOUT": "2"}, timeout=60,
        )  # fmt: skip
        took = time.monotonic() - started
    assert result.returncode == 75, result.stderr
    assert f"the Ray cluster at {url} did not answer within 2 s" in result.stderr
    assert "Traceback" not in result.stderr
    assert took < 45  # bounded: the limit, plus start-up on a busy machine
    [record] = _store(isolated).search_runs(None, 5)
    assert _store(isolated).get_run(record.run_id).status is RunStatus.FAILED  # not left RUNNING


def test_a_detached_job_keeps_its_time_limit_and_a_secret_stays_off_disk(
    on_ray: Mlrun, project_factory: Factory, isolated: Path, ray_head: RayHead
) -> None:
    """Ray has no time limit of its own: the job script runs the command under `timeout`, so a
    detached run still ends at its --timeout (exit 124). A secret reaches the command through the
    job's runtime_env only: never the job script on the shared disk, nor anything mlrun records."""
    from tests.runs.test_secrets import CANARY, assert_nowhere
    from tests.runs.test_secrets import PROJECT as SECRET_PROJECT

    project = project_factory({"MLproject": PROJECT})
    submitted = on_ray(
        RUN[0], str(project), *RUN[1:], "-e", "sleepy", "--timeout", "3s", "--detach", "--json"
    )
    assert submitted.returncode == 0, submitted.stderr
    run_id = json.loads(submitted.stdout)["run_id"]
    waited = on_ray("runs", "wait", run_id)
    assert waited.returncode == 124, waited.stderr
    record = _store(isolated).get_run(run_id)
    assert (
        record.status is RunStatus.FAILED and record.tags["mlrun.error"] == "the job exceeded its time limit"
    )

    attached = on_ray(RUN[0], str(project), *RUN[1:], "-e", "sleepy", "--timeout", "2s", "--json")
    assert attached.returncode == 124, attached.stderr
    tags = _store(isolated).get_run(json.loads(attached.stdout)["run_id"]).tags
    assert tags["mlrun.timeout"] == "2s" and tags["mlrun.error"] == "the run exceeded its time limit (2s)"

    secret = project_factory({"MLproject": SECRET_PROJECT})
    result = on_ray(RUN[0], str(secret), *RUN[1:], "-P", f"token={CANARY}", "--json")
    assert result.returncode == 0, result.stderr
    assert f"{len(CANARY)}\n" in result.stderr and "got ***" in result.stderr  # masked, but whole
    assert_nowhere(CANARY, result, isolated / "mlruns", isolated.parent / "mlrun-home")
    script = (
        _store(isolated).get_run(json.loads(result.stdout)["run_id"]).artifact_uri.removeprefix("file://")
    )
    assert (
        "# MLRUN_SECRET_TOKEN: passed through secrets.env" in (Path(script) / "mlrun" / "job.sh").read_text()
    )
    # Ray keeps the job's runtime_env in its logs and lists it to anyone: the secret is not in it.
    # Only the command's own output (it echoes the value; mlrun masks it in what it copies) has it.
    with urllib.request.urlopen(f"{ray_head.address}/api/jobs/", timeout=10) as listing:
        assert CANARY.encode() not in listing.read()
    leaks = [
        p.name for p in ray_head.temp_dir.rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()
    ]
    assert [name for name in leaks if not name.startswith("job-driver-")] == []
