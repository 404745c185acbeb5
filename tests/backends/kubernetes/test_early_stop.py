"""`--early-stop asha` on Kubernetes (the kmock emulator of cluster.py, a real registry, real
Docker): the sweep is one Indexed Job, and a losing point is stopped alone, by lowering its pod's
activeDeadlineSeconds, while the Job and the other points go on.

What the emulator stands in for here, as the real cluster does it (cluster.py says how): the
kubelet stops a pod past its activeDeadlineSeconds (SIGTERM, the grace period, SIGKILL) and marks it
Failed, DeadlineExceeded; the Job controller fails that index alone (backoffLimitPerIndex 0: no
retry) and runs the others to their end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends import asha_curves
from tests.backends.kubernetes.cluster import FakeCluster
from tests.backends.kubernetes.test_backend import cluster, kube_env, registry_host  # noqa: F401  (fixtures)
from tests.backends.test_docker import debian_python  # noqa: F401  (fixture)
from tests.conftest import Result

pytestmark = [pytest.mark.kubernetes, pytest.mark.docker, pytest.mark.slow]


def test_a_4_point_asha_sweep_on_kubernetes_stops_the_losing_points_alone(
    mlrun: Callable[..., Result],
    example: Callable[[str], Path],
    kube_env: dict[str, str],  # noqa: F811
    cluster: FakeCluster,  # noqa: F811
    debian_python: str,  # noqa: F811
    isolated: Path,
    tmp_path: Path,
) -> None:
    store = isolated / "mlruns"
    store.mkdir()
    project = example("curves")
    # The pods log `loss` into this machine's file store, mounted from the node (hostPath), as
    # MLflow's client writes it (the image has no MLflow: train.py writes the same lines).
    docker_env = f"docker_env:\n  image: {debian_python}\n  volumes: ['{store}:{store}']\n\n"
    mlproject = (project / "MLproject").read_text()
    (project / "MLproject").write_text(mlproject.replace("entry_points:", docker_env + "entry_points:"))
    config = {**json.loads(Path(kube_env["KUBE_CONFIG"]).read_text()), "volumes": "hostPath"}
    (tmp_path / "kube.json").write_text(json.dumps(config))
    (tmp_path / "sweep.yaml").write_text(json.dumps(asha_curves.SWEEP))
    result = mlrun(
        "run", str(project), "-b", "kubernetes", "-c", str(tmp_path / "kube.json"),
        "--sweep-file", str(tmp_path / "sweep.yaml"), *asha_curves.ARGS,
        env=kube_env, timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = json.loads(result.stdout)
    children, stopped = asha_curves.check_outcome(out, FileStore(store))
    [job] = {c.tags["mlrun.kubernetes.job_id"] for c in children.values()}  # one Indexed Job
    for run in stopped.values():
        console = Path(run.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
        assert console.read_text().startswith("step 0\n")  # the stopped pod's log is kept
    # The Job was never deleted: the stopped indexes failed alone, the others completed.
    state = cluster.job(job, "mlflow")
    assert state is not None
    index_of = {i: c.tags["mlrun.kubernetes.index"] for i, c in children.items()}
    failed = set(state["status"]["failedIndexes"].split(",")) if state["status"]["failedIndexes"] else set()
    assert failed == {index_of[i] for i in stopped}
    assert len(state["status"]["completedIndexes"].split(",")) == len(children) - len(stopped)
