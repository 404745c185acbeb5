"""Projects from git, for real: local and bare repositories, file:// URLs, and `git daemon` on
127.0.0.1 as a network remote."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.sources.git.urls import clean_url, parse_git_uri, redact
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import MLRUN, Popen, Result
from tests.faults.hung import hung_port, hung_server
from tests.services.git_daemon import start_git_daemon
from tests.serving import serving

Mlrun = Callable[..., Result]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_CONFIG_NOSYSTEM": "1",
}
MLPROJECT = "name: g\nentry_points:\n  main:\n    command: cat version.txt\n"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout.strip()


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A work tree with the project in sub.dir/, branches main and feature, a tag, and its bare clone."""
    root = tmp_path_factory.mktemp("git")
    work = root / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    first = _commit(work, {"sub.dir/MLproject": MLPROJECT, "sub.dir/version.txt": "one\n"}, "one")
    git("tag", "v1.0", cwd=work)
    main = _commit(work, {"sub.dir/version.txt": "two\n"}, "two")
    git("checkout", "-q", "-b", "feature", cwd=work)
    feature = _commit(work, {"sub.dir/version.txt": "feature\n"}, "feature")
    git("checkout", "-q", "main", cwd=work)
    bare = root / "served" / "proj.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    return {"work": work, "bare": bare, "first": first, "main": main, "feature": feature}


@pytest.fixture(scope="module")
def daemon(repos: dict[str, object]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    proc, port = start_git_daemon(Path(str(repos["bare"])).parent)
    yield f"git://127.0.0.1:{port}/proj.git", proc
    proc.terminate()
    proc.wait(timeout=10)


def _run(mlrun: Mlrun, uri: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return mlrun("run", uri, "--env-manager", "local", "--json", *args, env=env)


def _record(work: Path, result: Result):  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stderr
    return FileStore(work / "mlruns").get_run(json.loads(result.stdout)["run_id"])


def test_bare_repository_over_file_url_with_subdir_and_branch(
    mlrun: Mlrun, repos: dict[str, object], isolated: Path
) -> None:
    bare = Path(str(repos["bare"]))
    uri = f"{bare.as_uri()}#sub.dir"
    result = _run(mlrun, uri, "-v", "feature")
    run = _record(isolated, result)
    assert "feature\n" in result.stderr
    assert run.tags["mlflow.source.name"] == uri
    assert run.tags["mlflow.source.git.commit"] == repos["feature"]
    assert run.tags["mlflow.source.git.branch"] == "feature"
    assert run.tags["mlflow.source.git.repoURL"] == bare.as_uri()
    # The bare repository is intact (MLflow nests a .git in it) and the checkout is gone.
    assert not (bare / ".git").exists()
    assert git("rev-parse", "main", cwd=bare) == repos["main"]
    checkouts = Path(os.environ["MLRUN_HOME"]) / "git" / "checkouts"
    assert list(checkouts.iterdir()) == []


def test_git_daemon_default_branch_and_one_cache_per_url(
    mlrun: Mlrun,
    repos: dict[str, object],
    daemon: tuple[str, subprocess.Popen[bytes]],
    isolated: Path,
) -> None:
    url, _ = daemon
    first = _record(isolated, _run(mlrun, f"{url}#sub.dir"))
    assert first.tags["mlflow.source.git.commit"] == repos["main"]
    assert first.tags["mlflow.source.git.branch"] == "main"
    again = _record(isolated, _run(mlrun, f"{url}#sub.dir", "-v", "feature", "--refresh"))
    assert again.tags["mlflow.source.git.commit"] == repos["feature"]
    caches = [p for p in (Path(os.environ["MLRUN_HOME"]) / "git").iterdir() if (p / "HEAD").is_file()]
    assert len(caches) == 1


def test_second_run_of_a_cached_commit_makes_no_network_round_trip(
    mlrun: Mlrun, repos: dict[str, object], tmp_path: Path, isolated: Path
) -> None:
    proc, port = start_git_daemon(Path(str(repos["bare"])).parent)
    url = f"git://127.0.0.1:{port}/proj.git#sub.dir"
    try:
        for _ in range(100):
            if _run(mlrun, url, "-v", str(repos["first"])).returncode == 0:
                break
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    result = _run(mlrun, url, "-v", str(repos["first"]))  # the daemon is gone now
    assert "one\n" in result.stderr
    assert _record(isolated, result).tags["mlflow.source.git.commit"] == repos["first"]


@pytest.mark.parametrize(("version", "expected"), [("v1.0", "one"), ("main", "two")])
def test_tags_and_branches_over_the_daemon(
    version: str, expected: str, mlrun: Mlrun, daemon: tuple[str, subprocess.Popen[bytes]]
) -> None:
    result = _run(mlrun, f"{daemon[0]}#sub.dir", "-v", version)
    assert result.returncode == 0, result.stderr
    assert f"{expected}\n" in result.stderr


def test_short_commit_ids_are_resolved(
    mlrun: Mlrun,
    repos: dict[str, object],
    daemon: tuple[str, subprocess.Popen[bytes]],
    isolated: Path,
) -> None:
    result = _run(mlrun, f"{daemon[0]}#sub.dir", "-v", str(repos["first"])[:8])
    assert _record(isolated, result).tags["mlflow.source.git.commit"] == repos["first"]


def test_local_repository_with_version_is_not_checked_out_in_place(
    mlrun: Mlrun, repos: dict[str, object], tmp_path: Path
) -> None:
    work = tmp_path / "mine"
    git("clone", "-q", str(repos["work"]), str(work), cwd=tmp_path)
    git("checkout", "-q", "feature", cwd=work)
    (work / "sub.dir" / "version.txt").write_text("my uncommitted edit\n")
    before = (git("status", "--porcelain", cwd=work), git("remote", "-v", cwd=work))
    result = _run(mlrun, f"{work}#sub.dir", "-v", "v1.0")
    assert result.returncode == 0, result.stderr
    assert "one\n" in result.stderr
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=work) == "feature"
    assert (work / "sub.dir" / "version.txt").read_text() == "my uncommitted edit\n"
    assert (git("status", "--porcelain", cwd=work), git("remote", "-v", cwd=work)) == before


def test_local_work_tree_records_commit_dirty_flag_and_diff(
    mlrun: Mlrun, repos: dict[str, object], tmp_path: Path, isolated: Path
) -> None:
    work = tmp_path / "local"
    git("clone", "-q", str(repos["work"]), str(work), cwd=tmp_path)
    clean = _record(isolated, _run(mlrun, f"{work}#sub.dir"))
    assert clean.tags["mlflow.source.git.commit"] == repos["main"]
    assert clean.tags["mlrun.git.dirty"] == "false"
    assert clean.tags["mlflow.source.name"] == f"file://{work}#sub.dir"
    assert "mlrun/git.diff" not in clean.artifacts
    (work / "sub.dir" / "version.txt").write_text("edited\n")
    (work / "sub.dir" / "new.txt").write_text("x\n")
    dirty = _record(isolated, _run(mlrun, str(work / "sub.dir")))
    assert dirty.tags["mlrun.git.dirty"] == "true"
    diff = (Path(dirty.artifact_uri.removeprefix("file://")) / "mlrun" / "git.diff").read_text()
    assert "+edited" in diff and "# untracked: sub.dir/new.txt" in diff


def test_a_work_tree_with_bytes_that_are_not_utf8_runs_and_keeps_them(
    mlrun: Mlrun, tmp_path: Path, isolated: Path
) -> None:
    """A Latin-1 file in the diff and a file name that is not UTF-8 (both ordinary on old
    projects): the run is recorded, and git.diff holds git's own bytes, not a decoding of them."""
    work = tmp_path / "latin"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    _commit(work, {"MLproject": MLPROJECT, "version.txt": "v\n", "notes.txt": "caf\xe9\n"}, "one")
    (work / "notes.txt").write_bytes(b"caf\xe9 cr\xe8me\n")
    (work / os.fsdecode(b"caf\xe9.csv")).write_bytes(b"1,2\n")
    dirty = _record(isolated, _run(mlrun, str(work)))
    assert dirty.tags["mlrun.git.dirty"] == "true"
    diff = (Path(dirty.artifact_uri.removeprefix("file://")) / "mlrun" / "git.diff").read_bytes()
    assert b"+caf\xe9 cr\xe8me" in diff and b"# untracked: caf\xe9.csv" in diff
    assert "+changes:" in json.loads(dirty.tags["mlrun.fingerprint.inputs"])["source"]


def test_what_runs_write_into_the_work_tree_is_no_change(mlrun: Mlrun, tmp_path: Path) -> None:
    """The default store, ./mlruns, is not in most .gitignore files: a run must not make the
    next one dirty, nor list every earlier run's files in its git.diff."""
    work = tmp_path / "plain"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    _commit(work, {"MLproject": MLPROJECT, "version.txt": "v\n"}, "one")
    env = {"MLFLOW_TRACKING_URI": (work / "mlruns").as_uri()}
    for _ in range(2):
        again = _record(work, _run(mlrun, str(work), env=env))
    assert again.tags["mlrun.git.dirty"] == "false" and "mlrun/git.diff" not in again.artifacts
    (work / "version.txt").write_text("w\n")
    dirty = _record(work, _run(mlrun, str(work), env=env))
    diff = (Path(dirty.artifact_uri.removeprefix("file://")) / "mlrun" / "git.diff").read_text()
    assert "+w" in diff and "mlruns" not in diff


def test_submodules_are_initialised_at_the_chosen_commit(mlrun: Mlrun, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    git("init", "-q", "-b", "main", cwd=lib)
    _commit(lib, {"data.txt": "from the submodule\n"}, "lib")
    top = tmp_path / "top"
    top.mkdir()
    git("init", "-q", "-b", "main", cwd=top)
    _commit(top, {"MLproject": "entry_points:\n  main:\n    command: cat lib/data.txt\n"}, "top")
    git("submodule", "-q", "add", lib.as_uri(), "lib", cwd=top)
    git("commit", "-q", "-m", "add lib", cwd=top)
    result = _run(mlrun, top.as_uri(), "-v", "main")
    assert result.returncode == 0, result.stderr
    assert "from the submodule\n" in result.stderr


def test_parallel_runs_of_two_versions_do_not_collide(
    repos: dict[str, object], daemon: tuple[str, subprocess.Popen[bytes]], isolated: Path, popen: Popen
) -> None:
    env = {**os.environ}
    procs = {
        version: [
            popen(
                [*MLRUN, "run", f"{daemon[0]}#sub.dir", "-v", version, "--env-manager", "local"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
                cwd=isolated,
            )
            for _ in range(3)
        ]
        for version in ("feature", "v1.0")
    }
    outputs = {version: [p.communicate(timeout=120)[0] for p in group] for version, group in procs.items()}
    assert outputs == {"feature": ["feature\n"] * 3, "v1.0": ["one\n"] * 3}


@pytest.mark.parametrize(
    ("uri", "args", "message", "code"),
    [
        ("{bare}#sub.dir", ["-v", "nope"], "unknown version 'nope' of file://", 2),
        ("{bare}#missing", ["-v", "main"], "subdirectory 'missing' not found in file://", 2),
        ("{bare}#../etc", [], "invalid subdirectory '../etc'", 2),
        ("git://127.0.0.1:9/proj.git", [], "cannot fetch from git://127.0.0.1:9/proj.git", 75),
        ("{notrepo}", ["-v", "main"], "--version needs a git repository", 2),
        ("ext::sh -c touch% /tmp/pwned", [], "transport helpers (ext::, fd::) can run programs", 2),
        ("-uhttps://x/y", [], "it looks like a git option", 2),
        ("https://127.0.0.1:9/x.git--upload-pack=touch", [], "it looks like a git option", 2),
        ("https://user:s3cret@127.0.0.1:9/x.git", [], "cannot fetch from https://127.0.0.1:9/x.git", 75),
    ],
)
def test_bad_sources_fail_clearly_and_record_nothing(
    uri: str,
    args: list[str],
    code: int,
    message: str,
    mlrun: Mlrun,
    repos: dict[str, object],
    tmp_path: Path,
    isolated: Path,
) -> None:
    notrepo = tmp_path / "plain"
    notrepo.mkdir()
    uri = uri.format(bare=Path(str(repos["bare"])).as_uri(), notrepo=notrepo)
    # After "--", as a user must write a URI that starts with "-".
    result = mlrun("run", "--env-manager", "local", *args, "--", uri, env={"MLRUN_GIT_TIMEOUT": "20"})
    assert result.returncode == code, result.stderr  # 75: the remote did not answer (worth a retry)
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    assert not (isolated / "mlruns").exists()
    assert not Path("/tmp/pwned").exists()


def test_unknown_version_lists_some_branches_and_tags(mlrun: Mlrun, repos: dict[str, object]) -> None:
    result = mlrun("run", f"{Path(str(repos['bare'])).as_uri()}#sub.dir", "-v", "nope")
    assert "versions there include: feature, main, v1.0" in result.stderr


def test_inherited_git_variables_do_not_redirect_git(
    mlrun: Mlrun, repos: dict[str, object], tmp_path: Path
) -> None:
    result = _run(
        mlrun,
        f"{Path(str(repos['bare'])).as_uri()}#sub.dir",
        "-v",
        "main",
        env={"GIT_DIR": str(tmp_path / "elsewhere"), "GIT_WORK_TREE": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "two\n" in result.stderr


def test_network_operations_time_out_clearly(mlrun: Mlrun) -> None:
    with hung_port() as port:
        started = time.monotonic()
        result = mlrun(
            "run", f"git://127.0.0.1:{port}/x.git", "--env-manager", "local", env={"MLRUN_GIT_TIMEOUT": "2"}
        )
        assert result.returncode == 75  # infrastructure: a retry may succeed
        assert "timed out after 2 s" in result.stderr and "MLRUN_GIT_TIMEOUT" in result.stderr
        assert time.monotonic() - started < 20


def test_a_hung_remote_is_exit_75_in_seconds_with_the_default_budget(mlrun: Mlrun) -> None:
    env = {name: "" for name in ("MLRUN_GIT_TIMEOUT", "MLRUN_CALL_TIMEOUT")}  # what a user has
    with hung_server() as url:
        for remote in (url.replace("http://", "git://") + "/x.git", url + "/x.git"):
            started = time.monotonic()
            result = mlrun("run", remote, "--env-manager", "local", env=env, timeout=400)
            took = time.monotonic() - started
            assert result.returncode == 75, result.stderr
            assert "timed out" in result.stderr and "MLRUN_CALL_TIMEOUT" in result.stderr, result.stderr
            assert took < 30, f"{remote}: {took:.1f} s"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Slow(_Quiet):
    """A static file server that sends 4 KiB a second: slow, but never silent for long."""

    def copyfile(self, source: Any, outputfile: Any) -> None:
        while chunk := source.read(4096):
            outputfile.write(chunk)
            outputfile.flush()
            time.sleep(1)


@contextlib.contextmanager
def _dumb_http(work: Path, root: Path, handler: type[SimpleHTTPRequestHandler]) -> Iterator[str]:
    """`work`'s bare clone served as static files (git's "dumb" http: no shallow fetches)."""
    served = root / "static"
    git("clone", "-q", "--bare", str(work), str(served / "proj.git"), cwd=root)
    git("update-server-info", cwd=served / "proj.git")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    with serving(server) as url:
        yield f"{url}/proj.git"


def test_a_dumb_http_remote_runs(mlrun: Mlrun, repos: dict[str, object], tmp_path: Path) -> None:
    with _dumb_http(Path(str(repos["work"])), tmp_path, _Quiet) as url:
        for args, expected in (((), "two\n"), (("-v", "feature"), "feature\n"), (("-v", "v1.0"), "one\n")):
            result = _run(mlrun, f"{url}#sub.dir", *args)
            assert result.returncode == 0, result.stderr
            assert expected in result.stderr  # the command's output, after the --json line


def test_a_slow_download_that_makes_progress_is_not_cut_off(mlrun: Mlrun, tmp_path: Path) -> None:
    work = tmp_path / "big"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "blob.bin").write_bytes(os.urandom(48 * 1024))  # 12 s at 4 KiB/s: past MLRUN_CALL_TIMEOUT
    _commit(work, {"MLproject": "entry_points: {main: {command: 'wc -c < blob.bin'}}\n"}, "big")
    with _dumb_http(work, tmp_path, _Slow) as url:
        started = time.monotonic()
        result = mlrun("run", url, "--env-manager", "local", timeout=400)
        took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "49152" in result.stdout and took > 12


def test_url_helpers() -> None:
    assert parse_git_uri("https://github.com/org/repo/tree/v1.2/sub/dir", "").__dict__ == {
        "url": "https://github.com/org/repo",
        "subdir": "sub/dir",
        "version": "v1.2",
    }
    assert parse_git_uri("https://gitlab.com/org/repo/-/tree/main", "x").version == "main"
    assert clean_url("https://user:tok@host:8443/a.git") == "https://host:8443/a.git"
    assert redact("fatal: https://tok@host/a.git not found") == "fatal: https://***@host/a.git not found"


def test_a_head_naming_a_missing_branch_lists_the_branches(
    mlrun: Mlrun, repos: dict[str, object], tmp_path: Path
) -> None:
    bare = tmp_path / "odd.git"
    git("clone", "-q", "--bare", str(repos["work"]), str(bare), cwd=tmp_path)
    git("symbolic-ref", "HEAD", "refs/heads/master", cwd=bare)  # no such branch there
    result = mlrun("run", f"{bare.as_uri()}#sub.dir", "--env-manager", "local")
    assert result.returncode == 2
    assert "HEAD names a branch that does not exist" in result.stderr
    assert "-v" in result.stderr and "feature, main, v1.0" in result.stderr


class _SmartHttp(BaseHTTPRequestHandler):
    """git's smart HTTP protocol (`git http-backend`) behind basic auth."""

    root: Path
    expected: str

    def _serve(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cgi = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_USER": "tester",
        }
        out = subprocess.run(["git", "http-backend"], input=body, env=cgi, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve

    def log_message(self, *_: object) -> None:
        return None


def test_git_credentials_in_the_url_never_reach_a_file(
    mlrun: Mlrun, repos: dict[str, object], isolated: Path
) -> None:
    secret = "pa55-Word"
    handler = type(
        "Handler",
        (_SmartHttp,),
        {
            "root": Path(str(repos["bare"])).parent,
            "expected": "Basic " + base64.b64encode(f"tester:{secret}".encode()).decode(),
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://tester:{secret}@127.0.0.1:{server.server_address[1]}/proj.git#sub.dir"
        result = _run(mlrun, url, "-v", "main")
        assert result.returncode == 0, result.stderr
        assert "two\n" in result.stderr and secret not in result.stdout + result.stderr
        denied = _run(mlrun, url.replace(secret, "wrong"), "-v", "main", "--refresh")
        assert denied.returncode == 2 and "wrong" not in denied.stderr
    finally:
        server.shutdown()
        server.server_close()
    home = Path(os.environ["MLRUN_HOME"])
    leaked = [
        p
        for p in [*home.rglob("*"), *isolated.rglob("*")]
        if p.is_file() and secret.encode() in p.read_bytes()
    ]
    assert leaked == []
    [config] = home.glob("git/*/config")
    assert "url = http://127.0.0.1:" in config.read_text()


def test_only_http_credentials_are_taken_out_of_a_git_url() -> None:
    from mlrun_cli.sources.git.cache import RepoCache
    from mlrun_cli.sources.git.urls import credentials_of

    assert credentials_of("https://tok%40en@host/r.git") == ("tok@en", "")
    assert credentials_of("http://u:p@host:8080/r.git") == ("u", "p")
    assert credentials_of("ssh://git@host/r.git") is None and credentials_of("git@host:r.git") is None
    assert RepoCache("ssh://git@host/r.git").remote == "ssh://git@host/r.git"  # ssh needs its user
    assert RepoCache("https://u:p@host/r.git").remote == "https://host/r.git"


def test_a_version_of_a_folder_inside_a_repository_runs_it_as_repo_hash_folder(
    mlrun: Mlrun, repos: dict[str, object], tmp_path: Path, isolated: Path
) -> None:
    work = tmp_path / "clone"
    git("clone", "-q", str(repos["work"]), str(work), cwd=tmp_path)
    (work / "sub.dir" / "version.txt").write_text("my uncommitted edit\n")
    result = _run(mlrun, str(work / "sub.dir"), "-v", "v1.0")
    run = _record(isolated, result)
    assert "one\n" in result.stderr
    assert run.tags["mlflow.source.name"] == f"{work.as_uri()}#sub.dir"
    assert run.tags["mlflow.source.git.commit"] == repos["first"]
    assert (work / "sub.dir" / "version.txt").read_text() == "my uncommitted edit\n"
    # A subdirectory given as well is taken inside the folder; a folder not in git is still refused.
    (tmp_path / "plain").mkdir()
    refused = _run(mlrun, str(tmp_path / "plain"), "-v", "main")
    assert refused.returncode == 2 and "--version needs a git repository" in refused.stdout
    missing = _run(mlrun, f"{work / 'sub.dir'}#nope", "-v", "v1.0")
    assert missing.returncode == 2 and "subdirectory 'sub.dir/nope' not found in file://" in missing.stdout
