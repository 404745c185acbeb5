"""Ray for the ray tier: a side venv with `mlrun-cli[ray]` (editable, this checkout) built once per
machine with uv, and one real Ray head on 127.0.0.1 started from it for the whole session.

The side venv keeps Ray's ~400 MB of packages out of the test venv (whose start-up and import
checks must not see them), and installs the `ray` extra exactly as a user would."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests import tiers
from tests.services.side_venv import REPO, SideVenv

RAY_VENV = SideVenv(
    name="ray-venv",
    env_var="MLRUN_TEST_RAY_VENV",
    requirements=("-e", f"{REPO}[ray]"),
    probe="import ray.job_submission, mlrun_cli; print(mlrun_cli.__file__)",
    accepts=lambda stdout: Path(stdout.strip()).is_relative_to(REPO),  # not another checkout's
)


def ensure_ray_python() -> Path:
    """The side venv's python: mlrun-cli of THIS checkout with its `ray` extra."""
    tiers.require("ray")
    return RAY_VENV.python()


@dataclass
class RayHead:
    address: str
    """The dashboard's URL: what `-c '{"address": ...}'` and RAY_ADDRESS take."""
    process: subprocess.Popen[bytes]
    temp_dir: Path
    started_s: float


def _ports(count: int) -> list[int]:
    """Free ports, all held until every one is chosen (so no two are the same)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def ray_env() -> dict[str, str]:
    """Ray on loopback only: without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, Ray turns
    --node-ip-address 127.0.0.1 into the host's outward address and its servers listen on it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_", "MLRUN_"))}
    return {**env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def start_head(python: Path) -> RayHead:
    """One Ray head on 127.0.0.1, in a temp dir of its own (a short path: Ray's unix sockets live
    there), in the foreground of its own process group (`--block`) so it can be stopped alone."""
    tiers.require("ray")
    temp_dir = Path(tempfile.mkdtemp(prefix="mlrun-ray-", dir="/tmp"))
    gcs, dashboard, client, agent = _ports(4)
    argv = [
        str(python.parent / "ray"), "start", "--head", "--block",
        "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1",
        "--port", str(gcs), "--dashboard-port", str(dashboard),
        "--ray-client-server-port", str(client), "--dashboard-agent-listen-port", str(agent),
        "--disable-usage-stats", "--include-dashboard", "true",
        "--num-cpus", "4", "--object-store-memory", str(100 * 1024 * 1024),
        "--temp-dir", str(temp_dir),
    ]  # fmt: skip
    started = time.monotonic()
    with (temp_dir / "ray-start.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, env=ray_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    address = f"http://127.0.0.1:{dashboard}"
    head = RayHead(address, proc, temp_dir, 0.0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{address}/api/version", timeout=2) as response:
                if response.status == 200:
                    head.started_s = time.monotonic() - started
                    return head
        except OSError:
            time.sleep(0.3)
    stop_head(head)
    raise RuntimeError(f"the Ray head did not start:\n{(temp_dir / 'ray-start.log').read_text()[-3000:]}")


def jobs(head: RayHead) -> dict[str, str]:
    """Submission id -> status of every job the head knows (GET /api/jobs/, as list_jobs reads it)."""
    with urllib.request.urlopen(f"{head.address}/api/jobs/", timeout=10) as response:
        return {job["submission_id"]: job["status"] for job in json.load(response)}


def stop_head(head: RayHead) -> None:
    """Stop this head only: its jobs, then `ray start --block` (SIGTERM: it stops what it started),
    then whatever of its processes is left, found by its temp dir; never `ray stop`, which kills
    every Ray process on the machine by name."""
    with contextlib.suppress(OSError, ValueError):
        for job_id, status in jobs(head).items():
            if status in ("PENDING", "RUNNING"):
                request = urllib.request.Request(f"{head.address}/api/jobs/{job_id}/stop", method="POST")
                urllib.request.urlopen(request, timeout=10).close()
    if head.process.poll() is None:
        head.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.process.wait(timeout=40)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(head.process.pid, signal.SIGKILL)
    head.process.wait()
    for pid in _pids_mentioning(str(head.temp_dir)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(head.temp_dir, ignore_errors=True)


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
