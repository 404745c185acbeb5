"""`--backend ray` when submitting goes wrong, against a fake dashboard on 127.0.0.1.

The fake is a tiny http.server that answers what Ray's JobSubmissionClient asks first (GET
/api/version, twice) like a real dashboard, then fails the submission (POST /api/jobs/) in the
way under test, and records every request, so the test sees whether mlrun asked it to stop the
job. A real head cannot be made to fail a submission on demand; mlrun and Ray's client are the
real ones (from the Ray side venv, tests/backends/ray/cluster.py). No Ray head is started here.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.backends.ray.cluster import ensure_ray_python
from tests.conftest import Result, run_captured
from tests.runs.test_secrets import CANARY, PROJECT, assert_nowhere

pytestmark = [pytest.mark.ray, pytest.mark.slow]

Factory = Callable[[dict[str, str]], Path]
RUN = ("-b", "ray", "--env-manager", "local", "-P", f"token={CANARY}")


class Dashboard(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode  # "500": the submission fails; "hold": it is never answered
        self.seen: list[tuple[str, str]] = []
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Dashboard

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path))
        if self.path == "/api/version":
            self._answer(
                200, {"version": "4", "ray_version": "2.40.0", "ray_commit": "x", "session_name": "s"}
            )
        else:
            self._answer(404, {})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(("POST", self.path))
        if self.path.endswith("/stop"):
            self._answer(200, {"stopped": True})
        elif self.server.mode == "hold":
            self.server.released.wait(60)  # past mlrun's deadline: it gave up long before
        else:
            self._answer(500, {"error": "the job manager crashed"})


@pytest.fixture
def dashboard(request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    server = Dashboard(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()


def _mlrun(isolated: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    env = {**os.environ, "RAY_ADDRESS": "", **(env or {})}
    return run_captured([str(ensure_ray_python()), "-m", "mlrun_cli", *args], isolated, env, timeout=120)


@pytest.mark.parametrize("dashboard", ["500", "hold"], indirect=True)
def test_a_failed_submission_leaves_no_secret_and_no_job(
    dashboard: Dashboard, project_factory: Factory, isolated: Path
) -> None:
    """The job's secrets are written to its folder before submit_job; a submission that fails
    must not leave them there, nor (when the cluster may have taken the job) a job running."""
    project = project_factory({"MLproject": PROJECT})
    config = json.dumps({"address": dashboard.url})
    result = _mlrun(isolated, "run", str(project), *RUN, "-c", config, env={"MLRUN_RAY_REQUEST_TIMEOUT": "3"})
    assert result.returncode == 75, result.stderr
    assert "Traceback" not in result.stderr
    [record] = FileStore(isolated / "mlruns").search_runs(None, 5)
    assert record.status is RunStatus.FAILED
    home = isolated.parent / "mlrun-home"
    assert not list(home.rglob("secrets.env")) and not list(home.rglob("job.sh"))
    assert not (home / "jobs" / record.run_id).exists()  # no job owns the folder: it is gone
    assert_nowhere(CANARY, result, home, isolated / "mlruns")
    submission = f"mlrun-{record.run_id}"
    assert ("POST", "/api/jobs/") in dashboard.seen
    # Silent, or a 5xx: the cluster may have taken the job all the same; it is told to stop it.
    assert [path for _, path in dashboard.seen if path.endswith("/stop")] == [f"/api/jobs/{submission}/stop"]
    said = "did not answer within 3 s to submit the job" if dashboard.mode == "hold" else "failed to submit"
    assert said in result.stderr


def test_an_address_with_credentials_is_refused_and_never_shown(
    project_factory: Factory, isolated: Path
) -> None:
    """mlrun records the address in the run (mlrun.ray.address) and prints it in errors: one
    with user:password@ is refused before any run exists, the password shown nowhere."""
    project = project_factory({"MLproject": PROJECT})
    password = "pw-9c1d-ray"
    for address, env in (
        (f"http://admin:{password}@127.0.0.1:8265", {}),
        (f"admin:{password}@127.0.0.1:8265", {}),
        (f"ray://admin:{password}@127.0.0.1:10001", {}),
        (None, {"RAY_ADDRESS": f"https://admin:{password}@head:8265/"}),
    ):
        config = ["-c", json.dumps({"address": address})] if address else []
        result = _mlrun(isolated, "run", str(project), *RUN, *config, env=env)
        assert result.returncode == 2, result.stderr
        assert "has credentials in it" in result.stderr and "RAY_AUTH_TOKEN" in result.stderr
        assert password not in result.stderr + result.stdout
    assert FileStore(isolated / "mlruns").search_runs(None, 5) == []  # no run, so no tag has it
