"""Following a pod's log on the kubernetes backend reads only its new lines at each poll: the
emulator's log endpoint (cluster.py, playing the kubelet) counts the bytes it serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends import steady
from tests.backends.kubernetes.cluster import FakeCluster
from tests.backends.kubernetes.test_backend import Factory, Mlrun, _run, cluster, kube_env, registry_host  # noqa: F401
from tests.services.docker_images import docker_project

pytestmark = [pytest.mark.kubernetes, pytest.mark.docker, pytest.mark.slow]


def test_a_steady_pods_log_is_read_once_not_at_every_poll(
    mlrun: Mlrun,
    project_factory: Factory,
    kube_env: dict[str, str],  # noqa: F811 (the fixture, imported)
    cluster: FakeCluster,  # noqa: F811
    isolated: Path,
) -> None:
    project = docker_project(project_factory, "sh steady.sh", files={"steady.sh": steady.SCRIPT})
    before = set(cluster.served)
    result = _run(mlrun, project, kube_env, "--json")
    assert result.returncode == 0, result.stderr
    record = FileStore(isolated / "mlruns").get_run(json.loads(result.stdout)["run_id"])
    console = Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
    served = sum(n for pod, n in cluster.served.items() if pod not in before)
    steady.assert_incremental(served, console.read_text())
