"""`mlrun ui`: MLflow's own UI over the tracking store, whether or not MLflow is installed here.

mlrun writes MLflow's formats without depending on MLflow, so `pip install mlrun-cli` brings no
`mlflow` command. This finds one (on PATH, or importable next to mlrun through the `mlflow`
extra), else installs MLflow once with uv into a tool venv under $MLRUN_HOME, and starts
`mlflow ui` on the store a run would record into.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mlrun_cli.errors import CommandFailed, InfrastructureError, UsageError
from mlrun_cli.shared.uri_credentials import redact_uri, split_credentials
from mlrun_cli.tracking import NO_TRACKING, resolve_tracking_uri

TOOL_DIR = ("tools", "mlflow")
READY = "mlrun-ready"
# MLflow 3.13+ refuses a file store unless this is set; mlrun's stores are file stores by default.
UI_ENV = {"MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
STORE_VARIABLE = "MLFLOW_BACKEND_STORE_URI"
# MLflow 3 opens on its GenAI mode (each experiment on "Traces", empty for mlrun's runs); its UI
# (a hash router) reads the mode from this query, which lasts while one stays in the experiment
# (back in the experiments list, the browser's remembered mode applies again: README says how to
# set it). Experiment 0, Default, is where runs go without --experiment-name. Checked against the
# MLflow the tests install (tests/cli/test_ui.py) and in a browser; older UIs ignore the query.
RUNS_VIEW = "/#/experiments/0?workflowType=machine_learning"
# `mlflow ui`'s options that take no value (from `mlflow ui --help`, MLflow 3): any other long
# option without `=` takes the next word as its value, which is then not read as -p or -h.
MLFLOW_FLAGS = frozenset({
    "--serve-artifacts", "--no-serve-artifacts", "--artifacts-only", "--artifacts-presigned-only",
    "--disable-security-middleware", "--dev", "--enable-workspaces", "--disable-workspaces",
})  # fmt: skip
POLL_S = 0.25


@dataclass(frozen=True)
class UiRequest:
    tracking_uri: str | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    extra_args: tuple[str, ...] = ()


def tool_venv() -> Path:
    from mlrun_cli.shared.home import mlrun_home

    return mlrun_home().joinpath(*TOOL_DIR)


def find_mlflow() -> list[str] | None:
    """An `mlflow` command already here: on PATH, else importable next to mlrun, else the tool
    venv built by an earlier `mlrun ui`."""
    found = shutil.which("mlflow")
    if found is not None:
        return [found]
    if importlib.util.find_spec("mlflow") is not None:
        return [sys.executable, "-m", "mlflow"]
    venv = tool_venv()
    if (venv / READY).is_file() and (venv / "bin" / "mlflow").is_file():
        return [str(venv / "bin" / "mlflow")]
    return None


def install_mlflow() -> list[str]:
    """Install MLflow with uv into the tool venv, once (a lock keeps two installs apart)."""
    from filelock import FileLock

    from mlrun_cli.envs.progress import progress
    from mlrun_cli.envs.venvs import uv_executable
    from mlrun_cli.shared.home import writable_dir
    from mlrun_cli.shared.process import run_logged

    venv = tool_venv()
    writable_dir(*TOOL_DIR[:-1])
    with FileLock(str(venv.with_suffix(".lock"))):
        if (venv / READY).is_file():
            return [str(venv / "bin" / "mlflow")]
        shutil.rmtree(venv, ignore_errors=True)
        uv = uv_executable()
        log_path = venv.with_suffix(".log")
        try:
            message = f"MLflow is not installed here: installing it once into {venv} for its UI"
            with log_path.open("w", encoding="utf-8") as raw_log, progress(message, log=raw_log) as log:
                run_logged([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], log=log)
                python = str(venv / "bin" / "python")
                run_logged([uv, "pip", "install", "--python", python, "mlflow"], log=log)
        except CommandFailed as error:
            shutil.rmtree(venv, ignore_errors=True)
            raise InfrastructureError(
                f"cannot install MLflow for its UI: {error.message}",
                hint=f"see {log_path}; or install it yourself: pip install 'mlrun-cli[mlflow]'",
            ) from None
        (venv / READY).write_text("")
    return [str(venv / "bin" / "mlflow")]


def ui_command(request: UiRequest, mlflow: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """`mlflow ui`'s command line and environment. A store URI with credentials goes in the
    environment (MLFLOW_BACKEND_STORE_URI, which `mlflow ui` reads), never on the command line,
    where `ps` shows it to every user of the machine."""
    uri = resolve_tracking_uri(request.tracking_uri)
    env = dict(UI_ENV)
    store: list[str] = ["--backend-store-uri", uri]
    if split_credentials(uri)[1:] != (None, None):
        env[STORE_VARIABLE] = uri
        store = []
    host, port, others = listen_address(request)
    return [*mlflow, "ui", *store, "--host", host, "--port", str(port), *others], env


def listen_address(request: UiRequest) -> tuple[str, int, tuple[str, ...]]:
    """Where `mlflow ui` will listen, and the words passed on to it without its host and port.
    MLflow takes the last --host/-h and --port/-p (`--port=N`, `-pN` too) given after mlrun's own;
    they are taken out here so that the one address mlrun passes is the one it checks and prints."""
    host, port, others = request.host, str(request.port), list[str]()
    words = iter(request.extra_args)
    for word in words:
        name, equals, value = word.partition("=") if word.startswith("--") else (word[:2], "", word[2:])
        if name in ("--host", "-h", "--port", "-p"):
            value = value if (equals or value) else next(words, "")
            if name in ("--host", "-h"):
                host = value
            else:
                port = value
            continue
        others.append(word)
        takes_value = word == "-w" or (word.startswith("--") and not equals and word not in MLFLOW_FLAGS)
        following = next(words, None) if takes_value else None
        if following is not None:
            others.append(following)  # the option's value, passed on as it is
    if not host:
        raise UsageError("--host needs an address")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--port {port!r} is not a port: give a number from 1 to 65535")
    return host, int(port), tuple(others)


def server_url(request: UiRequest) -> str | None:
    """An http(s) tracking URI is a server that serves its own UI: nothing to start (the URL
    returned is safe to print: credentials redacted)."""
    uri = resolve_tracking_uri(request.tracking_uri)
    if uri == NO_TRACKING:
        raise UsageError("--tracking-uri none records nothing: there is nothing to look at")
    return redact_uri(uri) if urlparse(uri).scheme in ("http", "https") else None


def runs_view_url(base: str) -> str:
    """The URL of the Default experiment's runs (the "Model training" workflow) on the UI at `base`."""
    return base.rstrip("/") + RUNS_VIEW


def check_port_free(host: str, port: int) -> None:
    """Fail fast when `mlflow ui` could not listen there (else it fails ~30 s later, after the
    URL of whatever else holds the port was shown). SO_REUSEADDR as uvicorn: TIME_WAIT is no obstacle."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise UsageError(f"cannot listen on {host!r}: {error.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is in use; give another with --port") from None
            raise UsageError(f"cannot listen on {host} port {port}: {error.strerror}") from None


def answers(host: str, port: int) -> bool:
    """Whether an HTTP server answers a GET of / there (any status: it is up)."""
    import http.client

    target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # a wildcard: ask over loopback
    connection = http.client.HTTPConnection(target, port, timeout=2)
    try:
        connection.request("GET", "/")
        connection.getresponse()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def start_ui(request: UiRequest) -> int:
    """Run `mlflow ui` until it ends (Ctrl-C stops it), printing its URL once it answers; returns
    the exit code mlrun should end with. A child, not an exec: mlrun watches for the answer."""
    import os

    from mlrun_cli.envs.progress import announce
    from mlrun_cli.shared.process import merged_env, run_streaming

    host, port, _ = listen_address(request)
    check_port_free(host, port)
    mlflow = find_mlflow() or install_mlflow()
    argv, env = ui_command(request, mlflow)
    store = redact_uri(resolve_tracking_uri(request.tracking_uri))
    url = runs_view_url(f"http://{f'[{host}]' if ':' in host else host}:{port}")
    announce(f"starting MLflow's UI for {store} on {host} port {port}")
    stopped = threading.Event()

    def announce_when_answering() -> None:
        # Polled until the server answers (its first start can take a minute on a loaded machine),
        # or until mlflow has exited: then it never will.
        while not stopped.wait(POLL_S):
            if answers(host, port):
                announce(f"MLflow's UI for {store} at {url}")
                return

    watcher = threading.Thread(target=announce_when_answering, daemon=True)
    try:
        outcome = run_streaming(
            argv, cwd=Path.cwd(), env=merged_env(env), log_path=Path(os.devnull),
            on_start=lambda _pid: watcher.start(), die_with_parent=True,
        )  # fmt: skip
    finally:
        stopped.set()
    return outcome.exit_code
