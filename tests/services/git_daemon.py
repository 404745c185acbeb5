"""`git daemon` on 127.0.0.1 as a real network remote, for the tests and bench/bench_git.py."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_git_daemon(served: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Serve every repository below `served`; returns once the port accepts connections."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={served}",
            str(served),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=10)  # reaped: a Popen dropped while its process runs is a ResourceWarning
    raise RuntimeError("git daemon did not start")
