"""Running the command in a container through the Docker SDK: live output, the container's exit
code, signals that stop the container, and no container left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from mlrun_cli.backends.base import Job
from mlrun_cli.shared import tags
from mlrun_cli.shared.docker_args import gpu_request
from mlrun_cli.shared.docker_engine import CODE_DIR, client
from mlrun_cli.shared.job_records import CONTAINER_FILE
from mlrun_cli.shared.process import DEFAULT_GRACE_S, Outcome
from mlrun_cli.shared.streaming import ConsoleLog, Sink, start_pumps
from mlrun_cli.shared.types import ContainerSpec

# bash when the image has it, sh otherwise; the command arrives as $0, untouched by any shell.
RUN_ID_LABEL = "mlrun.run_id"
_SHELL = 'if command -v bash >/dev/null 2>&1; then exec bash -c "$0"; else exec sh -c "$0"; fi'


_running: dict[str, Any] = {}
"""Containers running now, by run id: what `stop_container` stops."""


def stop_container(run_id: str, grace_s: float) -> None:
    """`docker stop`: SIGTERM, SIGKILL after the grace period; from any thread."""
    container = _running.get(run_id)
    if container is not None:
        threading.Thread(target=container.stop, kwargs={"timeout": int(grace_s)}, daemon=True).start()


def _volumes(spec: ContainerSpec, project_dir: Path, tracking_dir: Path | None) -> list[str]:
    volumes = [f"{project_dir}:{CODE_DIR}"] if spec.mount_code else []
    if tracking_dir is not None:
        # The same path inside, so the run's file:// tracking and artifact URIs stay valid.
        volumes.append(f"{tracking_dir}:{tracking_dir}")
    return [*volumes, *spec.volumes]


def run_in_container(
    spec: ContainerSpec,
    command: str,
    *,
    project_dir: Path,
    env: Mapping[str, str],
    tracking_dir: Path | None,
    console_log: Path,
    grace_s: float = DEFAULT_GRACE_S,
    stdout: BinaryIO | None = None,
    run_id: str = "",
) -> Outcome:
    engine = client()
    options: dict[str, Any] = {
        "working_dir": CODE_DIR,
        "user": f"{os.getuid()}:{os.getgid()}",
        # A real init as PID 1: `sh` there ignores SIGTERM, and every stop would take the grace.
        "init": True,
        **spec.run_options,
    }
    # Found again by run id if mlrun dies (see mlrun_cli.app.ownership).
    options["labels"] = {**options.get("labels", {}), RUN_ID_LABEL: run_id}
    if spec.gpus is not None and "device_requests" not in options:
        options["device_requests"] = [gpu_request(spec.gpus)]
    started = time.monotonic()
    container = engine.containers.create(
        spec.image_id or spec.image,
        ["sh", "-c", _SHELL, command],
        environment={**spec.environment, **env},
        volumes=_volumes(spec, project_dir, tracking_dir),
        **options,
    )
    _running[run_id] = container
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        if not received:
            received.append(signum)
            # `docker stop`: SIGTERM, then SIGKILL after the grace period, off the handler.
            threading.Thread(target=container.stop, kwargs={"timeout": int(grace_s)}, daemon=True).start()

    in_main = threading.current_thread() is threading.main_thread()
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in forwarded} if in_main else {}
    try:
        with ConsoleLog(console_log) as log:
            # Attached before the start, so even a command that exits at once loses no output.
            terminals = {"stdout": stdout or sys.stdout.buffer, "stderr": sys.stderr.buffer}
            sinks = [Sink(log, terminal) for terminal in terminals.values()]
            attached = [
                container.attach(stdout=which == "stdout", stderr=which == "stderr", stream=True, logs=True)
                for which in terminals
            ]
            streams = start_pumps(zip(attached, sinks, strict=True))
            container.start()
            status = container.wait()
            for stream in streams:
                stream.join(timeout=5)
            for sink in sinks:
                sink.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _running.pop(run_id, None)
        if not spec.keep:
            container.remove(force=True)
    duration = time.monotonic() - started
    if received:
        return Outcome(tags.exit_code_for_signal(received[0]), received[0], duration)
    return Outcome(int(status.get("StatusCode", 1)), None, duration)


def run_job_in_container(
    job: Job, spec: ContainerSpec, console_log: Path, grace_s: float, stdout: BinaryIO | None
) -> Outcome:
    """A container job on this machine: the job's command in its image, with its variables."""
    env = {key: value for key, value in job.env_patch.items() if value is not None}
    with contextlib.suppress(OSError):  # for whoever finds this run orphaned: look for containers
        job.job_dir.mkdir(parents=True, exist_ok=True)
        (job.job_dir / CONTAINER_FILE).touch()
    uri = env.get("MLFLOW_TRACKING_URI", "")
    tracking_dir = Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else None
    if (
        uri.startswith(("http://localhost", "http://127.", "https://localhost", "https://127."))
        and spec.run_options.get("network_mode") != "host"
    ):
        sys.stderr.write(
            "mlrun: warning: the tracking server is on localhost, which the container "
            "cannot reach without -A network=host\n"
        )
    return run_in_container(
        spec,
        job.command,
        project_dir=job.cwd,
        env=env,
        tracking_dir=tracking_dir,
        console_log=console_log,
        grace_s=grace_s,
        stdout=stdout,
        run_id=job.run_id,
    )
