"""The Kubernetes API client as mlrun sets it up, against a real fault: an API server that accepts
the connection and never answers (no emulator needed: the client's own timeouts and retries are
what is tested)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlrun_cli.backends.kubernetes import api as kube_api
from mlrun_cli.errors import InfrastructureError
from tests.hung import hung_server

pytestmark = pytest.mark.kubernetes


def test_a_hung_api_server_costs_one_operation_not_four_tries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MLRUN_CONNECT_TIMEOUT", "MLRUN_CALL_TIMEOUT", "MLRUN_OPERATION_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)  # the defaults: 10 s a call, 20 s an operation
    with hung_server() as url:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: hung\n"
            f"clusters: [{{name: hung, cluster: {{server: '{url}'}}}}]\n"
            "contexts: [{name: hung, context: {cluster: hung, user: u}}]\n"
            "users: [{name: u, user: {token: t}}]\n"
        )
        with monkeypatch.context() as patch:  # os.environ as it was by the end of the test
            patch.setenv("KUBECONFIG", str(kubeconfig))
            _, batch = kube_api.clients(None)
        started = time.monotonic()
        with pytest.raises(InfrastructureError, match="cannot reach the Kubernetes API to read the Job"):
            kube_api.call("read the Job", batch.read_namespaced_job_status, "x", "default")
        took = time.monotonic() - started
    assert 10 <= took < 25, f"{took:.1f} s"  # urllib3's default alone: 4 tries of 10 s
