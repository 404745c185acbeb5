"""Projects in a zip archive, as `mlflow run p.zip` runs them: a local path, `file://`, a real
`python -m http.server` on 127.0.0.1; archives that escape their folder or are bombs refused
(exit 2); a server that refuses (75), has no such file (2), or accepts and never answers (75,
within the default budget)."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result
from tests.faults.hung import hung_port
from tests.services.git_daemon import free_port
from tests.serving import serving

Mlrun = Callable[..., Result]
MLPROJECT = "name: z\nentry_points:\n  main:\n    command: cat data.txt\n"


def _zip(path: Path, files: dict[str, str | bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as packed:
        for name, content in files.items():
            packed.writestr(name, content)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            packed.writestr(info, target)
    return path


def _runs(isolated: Path) -> list[str]:
    store = isolated / "mlruns" / "0"
    return [p.name for p in store.iterdir() if len(p.name) == 32] if store.is_dir() else []


def _home() -> Path:
    return Path(os.environ["MLRUN_HOME"])


def test_a_local_zip_runs_from_a_checked_copy_cached_by_content(
    mlrun: Mlrun, tmp_path: Path, isolated: Path
) -> None:
    archive = _zip(
        tmp_path / "p.zip", {"MLproject": MLPROJECT, "data.txt": "zipped\n"}, {"alias.txt": "data.txt"}
    )
    result = mlrun("run", str(archive), "--env-manager", "local")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "zipped\n"
    (run_id,) = _runs(isolated)
    tags = FileStore(isolated / "mlruns").get_run(run_id).tags
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert tags["mlflow.source.name"] == str(archive)
    assert tags["mlrun.source.archive.sha256"] == digest
    assert not [t for t in tags if t.startswith("mlflow.source.git")]
    cached = _home() / "archives" / digest
    assert (cached / "data.txt").read_text() == "zipped\n" and os.readlink(cached / "alias.txt") == "data.txt"
    assert list((_home() / "archives" / "checkouts").iterdir()) == []  # the run's copy is gone
    # Relative, and a second time: the same cached tree.
    again = mlrun("run", "p.zip", "--env-manager", "local", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == "zipped\n"
    assert sorted(p.name for p in (_home() / "archives").iterdir() if not p.name.startswith(".")) == sorted(
        ["checkouts", digest]
    )


def test_a_file_url_zip_with_a_subdirectory(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    archive = _zip(tmp_path / "p.zip", {"proj/MLproject": MLPROJECT, "proj/data.txt": "inner\n"})
    uri = f"{archive.as_uri()}#proj"
    result = mlrun("run", uri, "--env-manager", "local")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "inner\n"
    (run_id,) = _runs(isolated)
    assert FileStore(isolated / "mlruns").get_run(run_id).tags["mlflow.source.name"] == f"{archive}#proj"
    missing = mlrun("run", f"{archive.as_uri()}#nope", "--env-manager", "local")
    assert missing.returncode == 2 and "subdirectory 'nope' not found in" in missing.stderr
    with_version = mlrun("run", str(archive), "-v", "main", "--env-manager", "local")
    assert with_version.returncode == 2 and "a zip archive has no versions" in with_version.stderr


def test_a_zipped_project_folder_is_refused_naming_the_folder(
    mlrun: Mlrun, tmp_path: Path, isolated: Path
) -> None:
    # `zip -r p.zip project/`: MLflow unpacks it and runs its top, which has no MLproject.
    archive = _zip(tmp_path / "p.zip", {"project/MLproject": MLPROJECT, "project/data.txt": "inner\n"})
    result = mlrun("run", str(archive), "--env-manager", "local")
    assert result.returncode == 2, result.stderr
    assert f"{archive} has no MLproject at its top" in result.stderr
    assert f"{archive}#project" in result.stderr
    assert "checkouts" not in result.stderr and "-e" not in result.stderr and "Traceback" not in result.stderr
    assert _runs(isolated) == [] and list((_home() / "archives" / "checkouts").iterdir()) == []
    named = mlrun("run", f"{archive}#project", "--env-manager", "local")
    assert named.returncode == 0 and named.stdout == "inner\n", named.stderr


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=served,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", served
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_zip_served_over_http(mlrun: Mlrun, http_server: tuple[str, Path], isolated: Path) -> None:
    url, served = http_server
    _zip(served / "p.zip", {"MLproject": MLPROJECT, "data.txt": "served\n"})
    result = mlrun("run", f"{url}/p.zip?token=s3cret", "--env-manager", "local")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "served\n"
    (run_id,) = _runs(isolated)
    tags = FileStore(isolated / "mlruns").get_run(run_id).tags
    assert tags["mlflow.source.name"] == f"{url}/p.zip"  # a signed URL's query is a credential
    assert "s3cret" not in result.stderr
    assert not [p for p in (_home() / "archives").iterdir() if p.name.startswith(".download")]
    gone = mlrun("run", f"{url}/missing.zip", "--env-manager", "local")
    assert gone.returncode == 2 and "HTTP 404" in gone.stderr
    assert len(_runs(isolated)) == 1


def test_a_server_that_refuses_is_worth_a_retry(mlrun: Mlrun, isolated: Path) -> None:
    result = mlrun("run", "http://127.0.0.1:9/p.zip", "--env-manager", "local")
    assert result.returncode == 75, result.stderr
    assert "cannot download http://127.0.0.1:9/p.zip" in result.stderr and "Traceback" not in result.stderr
    assert _runs(isolated) == []


def test_a_server_that_never_answers_costs_the_budget_not_forever(mlrun: Mlrun, isolated: Path) -> None:
    with hung_port() as port:
        started = time.monotonic()
        result = mlrun("run", f"http://127.0.0.1:{port}/p.zip", "--env-manager", "local", timeout=120)
        elapsed = time.monotonic() - started
    assert result.returncode == 75, result.stderr
    assert "no answer for 10 s" in result.stderr and "MLRUN_CALL_TIMEOUT" in result.stderr
    assert 10 <= elapsed < 30  # the default budget: 10 s without a byte
    assert _runs(isolated) == []


@contextmanager
def _slow_server(body: bytes) -> Iterator[str]:
    """/drip sends the body in 4 parts, 4 s apart (16 s in all, each wait under the budget's 10 s);
    /stall sends half of it, then nothing until the test ends."""
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path.startswith("/stall"):
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                released.wait(120)
                return
            step = len(body) // 4 + 1
            for start in range(0, len(body), step):
                time.sleep(4)
                self.wfile.write(body[start : start + step])
                self.wfile.flush()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with serving(server) as url:
        try:
            yield url
        finally:
            released.set()  # before the shutdown, as a stalled handler waits for it


def test_a_slow_download_that_progresses_goes_on_and_one_that_stalls_ends(
    mlrun: Mlrun, tmp_path: Path, isolated: Path
) -> None:
    body = _zip(tmp_path / "p.zip", {"MLproject": MLPROJECT, "data.txt": "dripped\n"}).read_bytes()
    with _slow_server(body) as url:
        started = time.monotonic()
        slow = mlrun("run", f"{url}/drip/p.zip", "--env-manager", "local")
        took = time.monotonic() - started
        assert slow.returncode == 0, slow.stderr
        assert slow.stdout == "dripped\n" and took > 15  # longer than any one limit of the budget
        started = time.monotonic()
        stalled = mlrun("run", f"{url}/stall/p.zip", "--env-manager", "local")
        took = time.monotonic() - started
    assert stalled.returncode == 75, stalled.stderr
    assert "no answer for 10 s" in stalled.stderr and 10 <= took < 30
    assert len(_runs(isolated)) == 1


@contextmanager
def _proxy(body: bytes) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A stand-in for a site's HTTP proxy: it serves `body` for any absolute URL it is asked for
    (so the archive's host need not exist: only the proxy can answer), and refuses CONNECT
    tunnels with 502; it keeps each request line and its Proxy-Authorization."""
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.requestline, self.headers.get("Proxy-Authorization", "")))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_CONNECT(self) -> None:
            seen.append((self.requestline, self.headers.get("Proxy-Authorization", "")))
            self.send_response(502)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with serving(server) as url:
        yield url, seen


def test_a_download_goes_through_the_proxy_the_environment_names(
    mlrun: Mlrun, tmp_path: Path, isolated: Path
) -> None:
    """As `mlflow run` (requests) and pip do: http_proxy/https_proxy, with the proxy's own
    credentials, and no_proxy to go direct. archive.test is a reserved name that resolves nowhere."""
    body = _zip(tmp_path / "p.zip", {"MLproject": MLPROJECT, "data.txt": "proxied\n"}).read_bytes()
    with _proxy(body) as (url, seen):
        proxy = url.replace("http://", "http://squid:pr0xy-pw@")
        env = {"http_proxy": proxy, "HTTPS_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}

        def fetch(archive: str, **changed: str) -> Result:
            return mlrun("run", archive, "--env-manager", "local", env={**env, **changed})

        result = fetch("http://archive.test/p.zip")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "proxied\n"
        assert seen[-1] == ("GET http://archive.test/p.zip HTTP/1.1", "Basic c3F1aWQ6cHIweHktcHc=")
        tunnelled = fetch("https://archive.test/p.zip")
        assert tunnelled.returncode == 75, tunnelled.stderr
        assert seen[-1] == ("CONNECT archive.test:443 HTTP/1.0", "Basic c3F1aWQ6cHIweHktcHc=")
        assert "through the proxy" in tunnelled.stderr and "502" in tunnelled.stderr
        asked = len(seen)
        direct = fetch("http://archive.test/p.zip", no_proxy="archive.test")
        assert direct.returncode == 75, direct.stderr  # went direct: the name resolves nowhere
        assert len(seen) == asked
        socks = fetch("http://archive.test/p.zip", http_proxy="socks5://x:1")
        assert socks.returncode == 2 and "is not an http:// proxy" in socks.stderr, socks.stderr
    for printed in (result, tunnelled, direct, socks):
        assert "pr0xy-pw" not in printed.stderr + printed.stdout and "Traceback" not in printed.stderr
    assert len(_runs(isolated)) == 1


@pytest.mark.parametrize(
    ("files", "links", "message"),
    [
        ({"MLproject": MLPROJECT, "../evil.txt": "x"}, {}, "entry '../evil.txt' would be written outside"),
        (
            {"MLproject": MLPROJECT, "/tmp/evil.txt": "x"},
            {},
            "entry '/tmp/evil.txt' would be written outside",
        ),
        (
            {"MLproject": MLPROJECT},
            {"data.txt": "/etc/hostname"},
            "symlink 'data.txt' -> '/etc/hostname' leads",
        ),
        ({"MLproject": MLPROJECT}, {"data.txt": "../../../../etc/hostname"}, "symlink 'data.txt' -> '../"),
        # Each link inside when made; together, out: a -> b/.., then b -> .
        ({"MLproject": MLPROJECT}, {"a": "b/..", "b": "."}, "symlink 'a' -> 'b/..' leads outside"),
    ],
)
def test_an_archive_that_escapes_its_folder_is_refused(
    files: dict[str, str], links: dict[str, str], message: str, mlrun: Mlrun, tmp_path: Path, isolated: Path
) -> None:
    archive = _zip(tmp_path / "evil.zip", files, links)
    result = mlrun("run", str(archive), "--env-manager", "local")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert _runs(isolated) == [] and not (tmp_path / "evil.txt").exists()
    assert [p.name for p in (_home() / "archives").iterdir()] == []  # nothing of it kept


def test_zip_bombs_are_refused(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    dense = _zip(tmp_path / "dense.zip", {"MLproject": MLPROJECT, "zeros.bin": b"\0" * (8 << 20)})
    assert dense.stat().st_size < 100_000
    result = mlrun("run", str(dense), "--env-manager", "local")
    assert result.returncode == 2 and "'zeros.bin' unpacks to 8388608 bytes" in result.stderr
    assert "refused as a zip bomb" in result.stderr
    many = _zip(tmp_path / "many.zip", {"MLproject": MLPROJECT, **{f"f/{i}": "" for i in range(20_001)}})
    result = mlrun("run", str(many), "--env-manager", "local")
    assert result.returncode == 2 and "has 20002 entries, more than 20000" in result.stderr
    assert _runs(isolated) == []
