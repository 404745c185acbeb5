"""`--backend kubernetes` against an emulated API server (kmock), a real registry and a real Docker
engine. No real Kubernetes API server can run on this machine: see cluster.py for what the
stand-in is, and for what these tests therefore do not prove."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.backends.kubernetes import job as kube_job
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends.cancelling import assert_killed_by_ctrl_c, assert_sweep_killed, ctrl_c
from tests.backends.kubernetes.cluster import FakeCluster, registry
from tests.conftest import MLRUN, Popen, Result
from tests.services.docker_images import docker_project

pytestmark = [pytest.mark.kubernetes, pytest.mark.docker, pytest.mark.slow]
Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
TEMPLATE = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: "{replaced with MLflow Project name}"
  namespace: mlflow
spec:
  ttlSecondsAfterFinished: 100
  backoffLimit: 0
  template:
    spec:
      containers:
      - name: "{replaced with MLflow Project name}"
        image: "{replaced with URI of Docker image created during Project execution}"
        command: ["{replaced with MLflow Project entry point command}"]
        env: ["{appended with MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and MLFLOW_EXPERIMENT_ID}"]
        resources:
          limits: {memory: 512Mi}
      restartPolicy: Never
"""


@pytest.fixture(scope="module")
def registry_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with registry(tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCluster]:
    # One per module: kmock's server patches aiohttp's resolver chain for as long as it runs.
    with FakeCluster(tmp_path_factory.mktemp("kube") / "kubeconfig") as fake:
        yield fake
    assert not fake.errors, fake.errors


@pytest.fixture
def kube_env(cluster: FakeCluster, registry_host: str, tmp_path: Path, busybox: str) -> dict[str, str]:
    """The kubeconfig, and --backend-config as a user writes it for MLflow."""
    (tmp_path / "job.yaml").write_text(TEMPLATE)
    config = {
        "kube-job-template-path": str(tmp_path / "job.yaml"),
        "repository-uri": f"{registry_host}/mlrun/proj",
    }
    (tmp_path / "kube.json").write_text(json.dumps(config))
    return {"KUBECONFIG": str(cluster.kubeconfig), "KUBE_CONFIG": str(tmp_path / "kube.json")}


def _run(mlrun: Mlrun, project: Path, kube_env: dict[str, str], *args: str) -> Result:
    return mlrun("run", str(project), "-b", "kubernetes", "-c", kube_env["KUBE_CONFIG"], *args, env=kube_env)


def test_job_runs_the_pushed_image_and_its_log_is_recorded(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster, isolated: Path
) -> None:
    project = docker_project(
        project_factory,
        "echo run=$MLFLOW_RUN_ID; cat data.txt; echo param={text}",
        files={"data.txt": "baked\n"},
    )
    result = _run(mlrun, project, kube_env, "-P", "text=hi there", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    run_id, job = data["run_id"], data["job_id"]
    assert data["backend"] == "kubernetes" and data["status"] == "FINISHED"
    # The pod ran the image with the code in it, with the handshake and the quoted parameter.
    expected = f"run={run_id}\nbaked\nparam=hi there\n"
    assert expected in result.stderr
    assert "mlrun: warning: the pod records to file://" in result.stderr  # a local store
    assert "mlrun: job Active (ContainerCreating)\n" in result.stderr  # why it waits, while it waits
    record = FileStore(isolated / "mlruns").get_run(run_id)
    assert record.status is RunStatus.FINISHED
    assert record.tags["mlflow.project.backend"] == "kubernetes"
    assert (
        record.tags["mlrun.kubernetes.job_id"] == job
        and record.tags["mlrun.kubernetes.namespace"] == "mlflow"
    )
    pinned = record.tags["mlrun.kubernetes.image"]
    assert pinned.startswith(kube_env["KUBE_CONFIG"] and "127.0.0.1:") and "@sha256:" in pinned
    console = Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
    assert console.read_text() == expected
    manifest = cluster.seen[f"mlflow/{job}"]
    assert manifest["metadata"]["name"] == job and len(job) <= 63
    assert manifest["metadata"]["labels"][kube_job.RUN_ID_LABEL] == run_id
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == pinned and container["resources"] == {"limits": {"memory": "512Mi"}}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLFLOW_RUN_ID"] == run_id and "MLFLOW_TRACKING_URI" in env


def test_failed_pod_exit_code_is_mirrored(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], isolated: Path
) -> None:
    result = _run(mlrun, docker_project(project_factory, "echo failing; exit 5"), kube_env)
    assert result.returncode == 5, result.stderr
    [summary] = FileStore(isolated / "mlruns").search_runs(None, 5)
    record = FileStore(isolated / "mlruns").get_run(summary.run_id)
    assert record.status is RunStatus.FAILED and record.tags["mlrun.error"] == "command exited with code 5"


def test_ctrl_c_deletes_the_job_and_records_killed(
    project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster, isolated: Path, popen: Popen
) -> None:
    project = docker_project(project_factory, "echo started; sleep 300")
    proc = popen(
        [*MLRUN, "run", str(project), "-b", "kubernetes", "-c", kube_env["KUBE_CONFIG"]],
        env={**os.environ, **kube_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ctrl_c(proc, timeout=60, after_line="started\n")
    [summary] = FileStore(isolated / "mlruns").search_runs(None, 5)
    record = FileStore(isolated / "mlruns").get_run(summary.run_id)
    assert_killed_by_ctrl_c(record)
    assert cluster.job(record.tags["mlrun.kubernetes.job_id"], "mlflow") is None  # deleted


def test_detach_then_runs_wait(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster
) -> None:
    project = docker_project(project_factory, "sleep 1; echo done late; exit 3")
    submitted = _run(mlrun, project, kube_env, "--detach", "--json")
    assert submitted.returncode == 0, submitted.stderr
    data = json.loads(submitted.stdout)
    assert data["status"] == "RUNNING"
    started = time.monotonic()
    waited = mlrun("runs", "wait", data["run_id"], env=kube_env)
    assert waited.returncode == 3, waited.stderr
    assert "done late" in waited.stdout and time.monotonic() - started < 60


def _run_with_secret(
    mlrun: Mlrun, project: Path, env: dict[str, str], cluster: FakeCluster, name: str, secret: str
) -> tuple[Result, dict[str, Any]]:
    """Run on the cluster; `name` must reach the pod from the Job's Secret, and `secret`
    appear nowhere in the Job's spec. The run's result and the Job's container."""
    result = mlrun("run", str(project), "-b", "kubernetes", "-c", env["KUBE_CONFIG"], "--json", env=env)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)["job_id"]
    container: dict[str, Any] = cluster.seen[f"mlflow/{job}"]["spec"]["template"]["spec"]["containers"][0]
    [entry] = [e for e in container["env"] if e["name"] == name]
    assert entry["valueFrom"] == {"secretKeyRef": {"name": f"{job}-env", "key": name}}
    assert secret not in json.dumps(cluster.seen[f"mlflow/{job}"])
    return result, container


def test_secrets_go_into_a_secret_not_the_job(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster
) -> None:
    """A password the project copies from this machine reaches the pod through a Secret."""
    project = docker_project(
        project_factory, 'echo "pw=$DB_PASSWORD"', extra="  environment: [DB_PASSWORD]\n"
    )
    env = {**kube_env, "DB_PASSWORD": "s3cr3t", "KUBE_MLFLOW_TRACKING_URI": "http://mlflow.team.svc:5000"}
    result, container = _run_with_secret(mlrun, project, env, cluster, "DB_PASSWORD", "s3cr3t")
    assert "pw=s3cr3t" in result.stderr  # the fake kubelet resolved it as a kubelet does
    # As in MLflow: the address the pods reach the tracking server at, and no warning then.
    assert {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.team.svc:5000"} in container["env"]
    assert "warning" not in result.stderr


def test_a_tracking_uri_with_credentials_goes_into_the_secret(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster
) -> None:
    """A basic-auth address of the tracking server is a secret by its value, whatever its name."""
    project = docker_project(project_factory, 'echo "uri=$MLFLOW_TRACKING_URI"')
    uri = "http://alice:pa55w0rd@mlflow.team.svc:5000"
    env = {**kube_env, "KUBE_MLFLOW_TRACKING_URI": uri}
    result, _ = _run_with_secret(mlrun, project, env, cluster, "MLFLOW_TRACKING_URI", "pa55w0rd")
    assert f"uri={uri}" in result.stderr  # the pod got it, through the Secret


def test_a_local_tracking_uri_warning_hides_its_password(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str]
) -> None:
    project = docker_project(project_factory, "true")
    env = {**kube_env, "KUBE_MLFLOW_TRACKING_URI": "postgresql://bob:hunter22@127.0.0.1/mlflow"}
    result = mlrun("run", str(project), "-b", "kubernetes", "-c", kube_env["KUBE_CONFIG"], env=env)
    assert "warning: the pod records to postgresql://bob:***@127.0.0.1/mlflow" in result.stderr
    assert "hunter22" not in result.stderr + result.stdout


def test_config_errors_are_caught_before_anything_is_built(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path, isolated: Path
) -> None:
    project = docker_project(project_factory, "true")
    missing = mlrun("run", str(project), "-b", "kubernetes", "-c", '{"repository-uri": "reg/x"}')
    assert missing.returncode == 2 and "missing required key 'kube-job-template-path'" in missing.stderr
    none = mlrun("run", str(project), "-b", "kubernetes")
    assert none.returncode == 2 and "missing required key 'repository-uri'" in none.stderr
    (tmp_path / "bad.yaml").write_text("kind: Pod\nspec: {}\n")
    config = json.dumps({"kube-job-template-path": str(tmp_path / "bad.yaml"), "repository-uri": "reg/x"})
    bad = mlrun("run", str(project), "-b", "kubernetes", "-c", config)
    assert bad.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}:1: kind: must be Job" in bad.stderr
    local = mlrun(
        "run",
        str(project_factory({"MLproject": "entry_points: {main: {command: 'true'}}\n"})),
        "-b",
        "kubernetes",
        "-c",
        config,
    )
    assert local.returncode == 2 and "cannot run a 'uv' environment" in local.stderr
    assert not (isolated / "mlruns").exists()


def test_container_options_become_resources_and_the_rest_is_refused(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster, isolated: Path
) -> None:
    project = docker_project(project_factory, "echo sized")
    result = _run(
        mlrun, project, kube_env, "-A", "cpus=2", "-A", "memory=1g", "-A", "env=MODE=fast", "--json"
    )
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)["job_id"]
    container = cluster.seen[f"mlflow/{job}"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {
        "limits": {"memory": "1Gi", "cpu": "2"},
        "requests": {"cpu": "2", "memory": "1Gi"},
    }
    assert {"name": "MODE", "value": "fast"} in container["env"]
    runs_before = FileStore(isolated / "mlruns").search_runs(None, 50)
    refused = _run(mlrun, project, kube_env, "-A", "privileged", "-A", "cpus=1")
    assert refused.returncode == 2
    assert "the kubernetes backend cannot honour -A privileged" in refused.stderr
    volume = _run(mlrun, project, kube_env, "-A", "v=/data:/data")
    assert volume.returncode == 2 and "cannot mount /data:/data" in volume.stderr
    assert FileStore(isolated / "mlruns").search_runs(None, 50) == runs_before  # refused before any run


def test_a_sweep_is_one_indexed_job_each_pod_recording_its_own_child_run(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster, isolated: Path
) -> None:
    """Three points, two at a time, in ONE Indexed Job; the third point fails on its own."""
    project = docker_project(
        project_factory, "echo run=$MLFLOW_RUN_ID index=$JOB_COMPLETION_INDEX text={text}; sleep 1; "
        'test "{text}" != bad'
    )  # fmt: skip
    result = _run(mlrun, project, kube_env, "-S", "text=a,b,bad", "--max-parallel", "2", "--json")
    assert result.returncode == 1, result.stderr
    sweep = json.loads(result.stdout)
    store = FileStore(isolated / "mlruns")
    children = [store.get_run(c["run_id"]) for c in sweep["children"]]
    assert [c.status for c in children] == [RunStatus.FINISHED, RunStatus.FINISHED, RunStatus.FAILED]
    assert children[2].tags["mlrun.exit_code"] == "1"
    jobs = {c.tags["mlrun.kubernetes.job_id"] for c in children}
    assert len(jobs) == 1, jobs  # one Job for the whole sweep
    # Job indexes follow the order the points' runs were submitted in, not the points' order.
    assert sorted(c.tags["mlrun.kubernetes.index"] for c in children) == ["0", "1", "2"]
    manifest = cluster.seen[f"mlflow/{jobs.pop()}"]
    spec = manifest["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 2)
    assert spec["backoffLimitPerIndex"] == 0 and "backoffLimit" not in spec
    env = {e["name"] for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert "MLFLOW_RUN_ID" not in env  # each point's own, set from its index
    for child in children:
        console = Path(child.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
        index, text = child.tags["mlrun.kubernetes.index"], child.params["text"]
        assert console.read_text() == f"run={child.run_id} index={index} text={text}\n", index
    assert cluster.peak == 2
    assert store.get_run(sweep["parent_run_id"]).status is RunStatus.FAILED


def test_ctrl_c_on_a_sweep_deletes_its_indexed_job_and_every_child_ends_killed(
    project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster, isolated: Path, popen: Popen
) -> None:
    """One pod at a time: point 0 runs, points 1 and 2 wait in the Job; Ctrl-C ends all three."""
    project = docker_project(project_factory, "echo started {text}; sleep 300")
    before = set(cluster.logs)
    proc = popen(
        [*MLRUN, "run", str(project), "-b", "kubernetes", "-c", kube_env["KUBE_CONFIG"], "-S", "text=a,b,c",
         "--max-parallel", "1", "--json"],
        env={**os.environ, **kube_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
        v.startswith(b"started") for k, v in list(cluster.logs.items()) if k not in before
    ):
        time.sleep(0.2)
    out, _ = ctrl_c(proc, timeout=120)
    children = assert_sweep_killed(FileStore(isolated / "mlruns"), json.loads(out), points=3)
    [job] = {c.tags["mlrun.kubernetes.job_id"] for c in children}
    assert cluster.job(job, "mlflow") is None  # the whole Job deleted


def test_detached_sweep_on_kubernetes_then_runs_wait(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], isolated: Path
) -> None:
    project = docker_project(project_factory, "sleep 1; echo point {text}; test {text} != b")
    submitted = _run(mlrun, project, kube_env, "-S", "text=a,b", "--detach", "--json")
    assert submitted.returncode == 0, submitted.stderr
    sweep = json.loads(submitted.stdout)
    assert sweep["detached"] is True and {c["status"] for c in sweep["children"]} == {"RUNNING"}
    waited = mlrun("runs", "wait", sweep["parent_run_id"], env=kube_env, timeout=120)
    assert waited.returncode == 1, waited.stderr
    store = FileStore(isolated / "mlruns")
    children = {
        store.get_run(c["run_id"]).params["text"]: store.get_run(c["run_id"]) for c in sweep["children"]
    }
    assert children["a"].status is RunStatus.FINISHED and children["b"].status is RunStatus.FAILED
    console = Path(children["a"].artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
    assert console.read_text() == "point a\n"
    assert store.get_run(sweep["parent_run_id"]).status is RunStatus.FAILED


def test_a_detached_sweep_cancelled_as_a_whole_deletes_its_job_at_once(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster, isolated: Path
) -> None:
    """`runs cancel PARENT` cancels the points together (`cancel_many`): the Indexed Job is
    deleted once, so no queued index starts, and every child ends KILLED (cancelling them one by
    one would stop only each one's pod and let the queued ones run)."""
    project = docker_project(project_factory, "echo started {text}; sleep 300")
    args = ("-S", "text=a,b,c", "--max-parallel", "1", "--detach", "--json")
    submitted = _run(mlrun, project, kube_env, *args)
    assert submitted.returncode == 0, submitted.stderr
    sweep = json.loads(submitted.stdout)
    cancelled = mlrun("runs", "cancel", sweep["parent_run_id"], env=kube_env, timeout=180)
    assert cancelled.returncode == 0, cancelled.stderr
    children = assert_sweep_killed(FileStore(isolated / "mlruns"), sweep, points=3)
    [job] = {c.tags["mlrun.kubernetes.job_id"] for c in children}
    assert cluster.job(job, "mlflow") is None  # the whole Job deleted


def test_a_points_timeout_stops_that_point_alone_and_the_others_finish(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster, isolated: Path
) -> None:
    """Each point keeps its own time limit inside its pod: point a times out (124, FAILED), the
    Job is not deleted, and points b and c, running beside it and after, end FINISHED."""
    project = docker_project(
        project_factory, 'if [ "{text}" = a ]; then sleep 300; else sleep 2; echo done {text}; fi'
    )
    started = time.monotonic()
    result = _run(
        mlrun, project, kube_env, "-S", "text=a,b,c", "--max-parallel", "2", "--timeout", "15s", "--json"
    )
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 100
    store = FileStore(isolated / "mlruns")
    children = {c["point"]["text"]: store.get_run(c["run_id"]) for c in json.loads(result.stdout)["children"]}
    assert children["a"].status is RunStatus.FAILED and children["a"].tags["mlrun.exit_code"] == "124"
    assert children["a"].tags["mlrun.timeout"] == "15s"
    assert children["b"].status is RunStatus.FINISHED and children["c"].status is RunStatus.FINISHED
    [job] = {c.tags["mlrun.kubernetes.job_id"] for c in children.values()}
    assert cluster.job(job, "mlflow") is not None  # the sweep's Job was not deleted


def test_a_sweeps_deadline_counts_every_points_timeout_not_rounds_of_parallel_points(
    mlrun: Mlrun, project_factory: Factory, kube_env: dict[str, str], cluster: FakeCluster, isolated: Path
) -> None:
    """Kubernetes counts Pending time in activeDeadlineSeconds: ceil(n/P) rounds of the timeout
    would kill points still waiting for a node. Points never started at the deadline end KILLED,
    the one it stopped FAILED (124)."""
    from mlrun_cli.backends.kubernetes.sweep import DEADLINE_MARGIN_S, NEVER_STARTED

    project = docker_project(project_factory, "echo started {text}; sleep 300")
    before = set(cluster.logs)
    submitted = _run(
        mlrun,
        project,
        kube_env,
        "-S",
        "text=a,b,c",
        "--max-parallel",
        "1",
        "--timeout",
        "20s",
        "--detach",
        "--json",
    )
    assert submitted.returncode == 0, submitted.stderr
    sweep = json.loads(submitted.stdout)
    store = FileStore(isolated / "mlruns")
    [job] = {store.get_run(c["run_id"]).tags["mlrun.kubernetes.job_id"] for c in sweep["children"]}
    try:
        spec = (cluster.job(job, "mlflow") or {})["spec"]
        assert spec["activeDeadlineSeconds"] == 3 * 20 + DEADLINE_MARGIN_S
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            v.startswith(b"started") for k, v in list(cluster.logs.items()) if k not in before
        ):
            time.sleep(0.2)
    finally:
        cluster.exceed_deadline(job, "mlflow")  # point 0 running, points 1 and 2 never started
    waited = mlrun("runs", "wait", sweep["parent_run_id"], env=kube_env, timeout=120)
    assert waited.returncode == 1, waited.stderr
    by_index = {}
    for child in sweep["children"]:
        record = store.get_run(child["run_id"])
        by_index[record.tags["mlrun.kubernetes.index"]] = record
    assert by_index["0"].status is RunStatus.FAILED and by_index["0"].tags["mlrun.exit_code"] == "124"
    for index in ("1", "2"):
        assert by_index[index].status is RunStatus.KILLED, index
        assert by_index[index].tags["mlrun.error"] == NEVER_STARTED
    assert store.get_run(sweep["parent_run_id"]).status is RunStatus.FAILED


def test_a_sweep_index_never_started_only_where_the_state_shows_it() -> None:
    """kube_sweep.index_state on Job and pod objects as the API server returns them."""
    from mlrun_cli.backends.kubernetes.sweep import index_state

    failed = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
    job = {"spec": {"parallelism": 2}, "status": {"completedIndexes": "0", "conditions": [failed]}}

    def pod(phase: str, state: str) -> dict[str, object]:
        return {"status": {"phase": phase, "containerStatuses": [{"state": {state: {}}}]}}

    # Index 1 and 2 may have been running when the pods were deleted; 3 is past 1 done + 2 parallel.
    assert [index_state(job, i, None).status for i in (1, 2, 3, 4)] == [
        RunStatus.FAILED, RunStatus.FAILED, RunStatus.KILLED, RunStatus.KILLED
    ]  # fmt: skip
    assert index_state(job, 3, None).exit_code == 143
    assert index_state(job, 1, pod("Pending", "waiting")).status is RunStatus.KILLED  # never scheduled
    assert index_state(job, 1, pod("Running", "running")).exit_code == 124  # it ran: the deadline stopped it
    assert index_state(job, 0, None).status is RunStatus.FINISHED
