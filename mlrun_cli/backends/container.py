"""Running the command in a container through the Docker SDK: live output, the container's exit
code, signals that stop the container, and no container left behind."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote, urlparse

from mlrun_cli.envs.base import ContainerSpec
from mlrun_cli.envs.docker import CODE_DIR, client
from mlrun_cli.execute import DEFAULT_GRACE_S, Outcome

if TYPE_CHECKING:
    from mlrun_cli.planning import RunPlan

# bash when the image has it, sh otherwise; the command arrives as $0, untouched by any shell.
_SHELL = 'if command -v bash >/dev/null 2>&1; then exec bash -c "$0"; else exec sh -c "$0"; fi'


def _stream(chunks: Iterator[bytes], sink: BinaryIO, log: BinaryIO, lock: threading.Lock) -> None:
    sink_ok = True
    for chunk in chunks:
        if sink_ok:
            try:
                sink.write(chunk)
                sink.flush()
            except (OSError, ValueError):
                sink_ok = False
        with lock:
            log.write(chunk)
            log.flush()


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
) -> Outcome:
    engine = client()
    options: dict[str, Any] = {
        "working_dir": CODE_DIR,
        "user": f"{os.getuid()}:{os.getgid()}",
        **spec.run_options,
    }
    started = time.monotonic()
    container = engine.containers.create(
        spec.image_id,
        ["sh", "-c", _SHELL, command],
        environment={**spec.environment, **env},
        volumes=_volumes(spec, project_dir, tracking_dir),
        **options,
    )
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        if not received:
            received.append(signum)
            # `docker stop`: SIGTERM, then SIGKILL after the grace period, off the handler.
            threading.Thread(target=container.stop, kwargs={"timeout": int(grace_s)}, daemon=True).start()

    in_main = threading.current_thread() is threading.main_thread()
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in forwarded} if in_main else {}
    lock = threading.Lock()
    try:
        with console_log.open("ab") as log:
            # Attached before the start, so even a command that exits at once loses no output.
            sinks = {"stdout": stdout or sys.stdout.buffer, "stderr": sys.stderr.buffer}
            attached = {
                which: container.attach(
                    stdout=which == "stdout", stderr=which == "stderr", stream=True, logs=True
                )
                for which in sinks
            }
            streams = [
                threading.Thread(target=_stream, args=(attached[which], sink, log, lock), daemon=True)
                for which, sink in sinks.items()
            ]
            for stream in streams:
                stream.start()
            container.start()
            status = container.wait()
            for stream in streams:
                stream.join(timeout=5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not spec.keep_container:
            container.remove(force=True)
    duration = time.monotonic() - started
    if received:
        return Outcome(128 + received[0], received[0], duration)
    return Outcome(int(status.get("StatusCode", 1)), None, duration)


def run_plan_in_container(
    plan: RunPlan,
    spec: ContainerSpec,
    handshake: dict[str, str],
    console_log: Path,
    child_stdout: BinaryIO | None,
) -> Outcome:
    """A docker_env project on the local backend: its command in its image, on this machine."""
    from mlrun_cli.backends.local import grace_period

    uri = handshake.get("MLFLOW_TRACKING_URI", "")
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
        plan.command,
        project_dir=plan.project.directory,
        env=handshake,
        tracking_dir=tracking_dir,
        console_log=console_log,
        grace_s=grace_period(),
        stdout=child_stdout,
    )
