"""The Kubernetes API client as mlrun sets it up, against a real fault: an API server that accepts
the connection and never answers (no emulator needed: the client's own timeouts and retries are
what is tested)."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlrun_cli.backends.kubernetes import api as kube_api
from mlrun_cli.backends.kubernetes import submit
from mlrun_cli.errors import InfrastructureError
from tests.faults.hung import hung_server
from tests.serving import serving

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


def test_a_submit_that_fails_after_creating_the_job_leaves_neither_job_nor_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Secret and the Job are created, then adopting the Secret fails (a 500): the submit
    raises, and deletes the Job and the Secret it made, so no job runs without its run and no
    credentials stay unowned. The API is a small recording server (no emulator is needed: the
    official client's calls are what is tested)."""
    calls: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, object]) -> None:
            calls.append(f"{self.command} {self.path.split('?')[0]}")
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer(201, {"metadata": {"name": "x", "uid": "u-1"}})

        def do_PATCH(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer(500, {"kind": "Status", "message": "etcd is unhappy"})

        def do_DELETE(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer(200, {"kind": "Status", "status": "Success"})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.daemon_threads = True
    with serving(server) as url:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: c, cluster: {{server: '{url}'}}}}]\n"
            "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
            "users: [{name: u, user: {token: t}}]\n"
        )
        manifest = {"metadata": {"name": "mlrun-r1", "namespace": "ns", "labels": {"mlrun/run-id": "r1"}}}
        rendered = submit.Rendered(manifest, {"DB_PASSWORD": "pw"}, "mlrun-r1-env", "img", None)
        with monkeypatch.context() as patch:  # os.environ as it was by the end of the test
            patch.setenv("KUBECONFIG", str(kubeconfig))
            with pytest.raises(InfrastructureError, match="Kubernetes refused to adopt the Secret: 500"):
                submit.create(rendered)
    assert calls == [
        "POST /api/v1/namespaces/ns/secrets",
        "POST /apis/batch/v1/namespaces/ns/jobs",
        "PATCH /api/v1/namespaces/ns/secrets/mlrun-r1-env",
        "DELETE /apis/batch/v1/namespaces/ns/jobs/mlrun-r1",
        "DELETE /api/v1/namespaces/ns/secrets/mlrun-r1-env",
    ]
