"""`mlrun ui`: MLflow's real UI serves the runs mlrun recorded, with MLflow on PATH or installed
by mlrun itself (from uv's cache, offline: the MLflow side venv filled it; nothing is downloaded)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import MLRUN, Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"  # no mlflow on it
pytestmark = [pytest.mark.mlflow, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _recorded_run(mlrun: Mlrun, project_factory: Factory) -> str:
    project = project_factory({"MLproject": "entry_points:\n  main:\n    command: echo hi\n"})
    done = mlrun("run", str(project), "--env-manager", "local", "--json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["run_id"])


def _serve_and_search(
    work: Path, env: dict[str, str], timeout_s: float = 180, also: Callable[[str], None] = lambda log: None
) -> tuple[list[str], str]:
    """Start `mlrun ui` on a free port, wait for the page, search runs through its API, call
    `also` with what mlrun said, stop it."""
    port = _free_port()
    log = work / "ui.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*MLRUN, "ui", "--port", str(port)],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200 and b"<html" in page.read().lower()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        search = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
            data=json.dumps({"experiment_ids": ["0"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(search, timeout=30) as answer:
            runs = json.loads(answer.read())["runs"]
        also(log.read_text())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return [run["info"]["run_id"] for run in runs], log.read_text()


def test_ui_serves_the_recorded_runs_with_mlflow_from_path(
    mlrun: Mlrun, project_factory: Factory, mlflow_python: Path, isolated: Path
) -> None:
    run_id = _recorded_run(mlrun, project_factory)
    env = {**os.environ, "PATH": f"{mlflow_python.parent}:{BARE_PATH}"}
    run_ids, log = _serve_and_search(isolated, env, also=_opens_on_the_runs_view)
    assert run_ids == [run_id]
    assert f"MLflow's UI for {isolated / 'mlruns'} at http://127.0.0.1:" in log
    assert "installing" not in log


def _opens_on_the_runs_view(log: str) -> None:
    """The URL mlrun prints is MLflow's runs view, as the UI it serves reads URLs: MLflow 3 opens
    on its GenAI mode (each experiment on "Traces") unless the hash route's query says
    `workflowType=machine_learning` ("Model training")."""
    url = re.search(r"at (http://\S+)", log)
    assert url is not None, log
    base, _, route = url.group(1).partition("/#")
    assert route == "/experiments/0?workflowType=machine_learning"
    with urllib.request.urlopen(base + "/", timeout=30) as page:
        scripts = re.findall(r'src="([^"]*static/js/main\.[0-9a-f]+\.js)"', page.read().decode())
    assert len(scripts) == 1, scripts
    with urllib.request.urlopen(f"{base}/{scripts[0].removeprefix('./').lstrip('/')}", timeout=30) as js:
        code = js.read().decode()
    assert "createHashRouter" in code  # the route and its query are after '#'
    assert 'MACHINE_LEARNING="machine_learning"' in code and '.get("workflowType")' in code


def test_ui_installs_mlflow_once_when_it_is_missing(
    mlrun: Mlrun,
    project_factory: Factory,
    mlflow_python: Path,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = _recorded_run(mlrun, project_factory)
    # Offline: uv installs from its cache, which building the MLflow side venv filled.
    env = {**os.environ, "PATH": BARE_PATH, "UV_OFFLINE": "1"}
    run_ids, log = _serve_and_search(isolated, env)
    assert run_ids == [run_id]
    tool = Path(os.environ["MLRUN_HOME"]) / "tools" / "mlflow"
    assert f"mlrun: MLflow is not installed here: installing it once into {tool} for its UI" in log
    assert "for its UI: done in" in log
    # The next time, the installed one is used as it is.
    from mlrun_cli.app.ui import find_mlflow

    with monkeypatch.context() as patched:
        patched.setenv("PATH", BARE_PATH)
        assert find_mlflow() == [str(tool / "bin" / "mlflow")]


def test_ui_says_why_when_mlflow_cannot_be_installed(mlrun: Mlrun) -> None:
    env = {"PATH": BARE_PATH, "UV_OFFLINE": "1", "UV_NO_CACHE": "1"}
    failed = mlrun("ui", "--port", str(_free_port()), env=env)
    assert failed.returncode == 75, failed.stderr
    assert "Error: cannot install MLflow for its UI: 'uv pip install ...' exited with code" in failed.stderr
    assert "pip install 'mlrun-cli[mlflow]'" in failed.stderr
    assert not (Path(os.environ["MLRUN_HOME"]) / "tools" / "mlflow").exists()  # no half-made venv


def test_ui_of_a_server_or_of_nothing(mlrun: Mlrun) -> None:
    server = mlrun("ui", "--tracking-uri", "http://127.0.0.1:5999")
    assert server.returncode == 0
    assert (
        server.stdout.strip() == "mlrun: http://127.0.0.1:5999 is an MLflow server: its UI is there already: "
        "http://127.0.0.1:5999/#/experiments/0?workflowType=machine_learning"
    )
    nothing = mlrun("ui", "--tracking-uri", "none")
    assert nothing.returncode == 2 and "records nothing" in nothing.stderr


def test_store_credentials_stay_off_the_command_line_and_the_screen(mlrun: Mlrun, isolated: Path) -> None:
    """`ps` shows every process's command line to every user: a store's password goes to `mlflow
    ui` through its environment (MLFLOW_BACKEND_STORE_URI), and mlrun prints it redacted."""
    bin_dir = isolated / "fake-bin"
    bin_dir.mkdir()
    seen = isolated / "seen.json"
    fake = bin_dir / "mlflow"
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        "store = os.environ.get('MLFLOW_BACKEND_STORE_URI')\n"
        f"json.dump({{'argv': sys.argv, 'store': store}}, open({str(seen)!r}, 'w'))\n"
    )
    fake.chmod(0o755)
    store = "postgresql://alice:hunter2@db.invalid/mlflow"
    shown = mlrun("ui", "--tracking-uri", store, "--port", "5998", env={"PATH": f"{bin_dir}:{BARE_PATH}"})
    assert shown.returncode == 0, shown.stderr
    assert "hunter2" not in shown.stdout + shown.stderr and "db.invalid" in shown.stderr
    started = json.loads(seen.read_text())
    assert "hunter2" not in " ".join(started["argv"]) and "--backend-store-uri" not in started["argv"]
    assert started["store"] == store
    server = mlrun("ui", "--tracking-uri", "https://alice:hunter2@mlflow.invalid")
    assert server.returncode == 0 and "hunter2" not in server.stdout + server.stderr
    assert "mlflow.invalid" in server.stdout


def _recording_mlflow(isolated: Path, exit_code: int = 0) -> tuple[Path, Path]:
    """A stand-in `mlflow` that records how it was started and exits: (its folder, the record)."""
    bin_dir = isolated / "fake-bin"
    bin_dir.mkdir()
    seen = isolated / "seen.json"
    fake = bin_dir / "mlflow"
    fake.write_text(
        f"#!/usr/bin/env python3\nimport json, sys\njson.dump(sys.argv, open({str(seen)!r}, 'w'))\n"
        f"sys.exit({exit_code})\n"
    )
    fake.chmod(0o755)
    return bin_dir, seen


def test_ui_prints_its_url_once_mlflow_answers_on_the_port_passed_to_mlflow(
    mlflow_python: Path, isolated: Path
) -> None:
    """`-p N` goes to `mlflow ui` (which takes the last --port): the URL mlrun prints is where
    MLflow listens, and it is printed only once MLflow answers there (after a "starting" line)."""
    port = _free_port()
    env = {**os.environ, "PATH": f"{mlflow_python.parent}:{BARE_PATH}"}
    proc = subprocess.Popen(
        [*MLRUN, "ui", f"-p{port}"], cwd=isolated, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("mlrun: starting MLflow's UI for ") and f"port {port}" in first, first
        said = [first]
        while "at http" not in said[-1]:
            said.append(proc.stderr.readline())
            assert said[-1], "".join(said)  # mlrun ended before printing a URL
        # The moment the URL shows, the page is there.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert page.status == 200
        assert f"at http://127.0.0.1:{port}/#/experiments/0?workflowType=machine_learning" in said[-1]
        mlflow_argv = subprocess.run(
            ["ps", "-ww", "-o", "args=", "--ppid", str(proc.pid)], capture_output=True, text=True, check=False
        ).stdout
        assert f"--port {port}" in mlflow_argv and mlflow_argv.count("--port") == 1, mlflow_argv
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close() if proc.stderr else None


def test_ui_passes_one_host_and_port_whatever_form_they_take(mlrun: Mlrun, isolated: Path) -> None:
    bin_dir, seen = _recording_mlflow(isolated)
    port = _free_port()
    # After `--` (mlrun's -h is its help), the rest goes to `mlflow ui` as it is.
    words = ["--port", "1", "--", "-h", "localhost", "--workers", "1", f"--port={port}"]
    shown = mlrun("ui", *words, env={"PATH": f"{bin_dir}:{BARE_PATH}"})
    assert shown.returncode == 0, shown.stderr
    argv = json.loads(seen.read_text())
    assert argv[argv.index("--host") :] == ["--host", "localhost", "--port", str(port), "--workers", "1"]
    assert argv.count("--port") == 1 and "-p" not in argv and "-h" not in argv
    assert f"on localhost port {port}" in shown.stderr
    bad = mlrun("ui", "-p", "five", env={"PATH": f"{bin_dir}:{BARE_PATH}"})
    assert bad.returncode == 2 and "'five' is not a port" in bad.stderr


def test_ui_on_a_port_in_use_says_so_at_once(mlrun: Mlrun, isolated: Path) -> None:
    bin_dir, seen = _recording_mlflow(isolated)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        busy = mlrun("ui", "-p", str(port), env={"PATH": f"{bin_dir}:{BARE_PATH}"})
        elapsed = time.monotonic() - started
    assert busy.returncode == 2, busy.stderr
    assert f"Error: port {port} on 127.0.0.1 is in use; give another with --port" in busy.stderr
    assert "http://" not in busy.stdout + busy.stderr  # not the URL of someone else's server
    assert not seen.exists() and elapsed < 10


def test_ui_that_exits_before_answering_prints_no_url(mlrun: Mlrun, isolated: Path) -> None:
    bin_dir, seen = _recording_mlflow(isolated, exit_code=3)
    ended = mlrun("ui", "--port", str(_free_port()), env={"PATH": f"{bin_dir}:{BARE_PATH}"})
    assert seen.exists()
    assert ended.returncode == 3 and "http://" not in ended.stdout + ended.stderr, ended.stderr
