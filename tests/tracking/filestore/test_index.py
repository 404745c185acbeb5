"""The run index beside the cache: fresh when the store changes (also by MLflow itself), never
inside the store, rebuilt when damaged, safe with several processes at once; delete/restore."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunQuery, RunStatus, ViewType
from mlrun_cli.tracking.filestore.store import FileStore
from mlrun_cli.tracking.search.runs import run_query
from tests.conftest import Popen, Result


def _store(root: Path, count: int, start: int = 1000) -> tuple[FileStore, list[str]]:
    store = FileStore(root)
    store.check()
    ids = []
    for i in range(count):
        run = store.create_run("0", f"r{start + i}", "me", start + i, {"team": "a", tags.FINGERPRINT: f"{i}"})
        store.log_batch(run.run_id, {"alpha": str(i % 3)}, {})
        store.end_run(run.run_id, RunStatus.FINISHED, start + i + 1)
        ids.append(run.run_id)
    _age(root)
    return store, ids


def _age(root: Path) -> None:
    """Every file a minute old: the index then trusts mtimes (nothing is 'just written')."""
    old = time.time() - 60
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.utime(os.path.join(folder, name), (old, old))
    os.utime(root, (old, old))


def _names(store: FileStore, **kw: object) -> list[str]:
    return [r.run_name for r in run_query(store, RunQuery(**kw))]  # type: ignore[arg-type]


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_new_changed_deleted_and_removed_runs_show_and_the_store_is_untouched(isolated: Path) -> None:
    store, ids = _store(isolated / "mlruns", 30)
    before = _tree(store.root)
    assert _names(store, max_results=3) == ["r1029", "r1028", "r1027"]
    assert _tree(store.root) == before  # the index lives under MLRUN_HOME, not in the store
    assert list((isolated.parent / "mlrun-home" / "index").iterdir())
    store.set_deleted(ids[29], True)
    newer = store.create_run("0", "new", "me", 5000, {})
    assert _names(store, max_results=3) == ["new", "r1028", "r1027"]
    assert _names(store, max_results=3, view=ViewType.DELETED_ONLY) == ["r1029"]
    import shutil

    shutil.rmtree(store.root / "0" / newer.run_id)  # as `mlflow gc` removes a run
    _age(store.root)
    assert _names(store, max_results=2, view=ViewType.ALL) == ["r1029", "r1028"]
    assert _names(store, filter="params.alpha = '2' and attributes.status = 'FINISHED'", max_results=2) == [
        "r1026",
        "r1023",
    ]


def test_an_ordered_listing_leaves_the_index_s_newest_first_order_right(isolated: Path) -> None:
    """Runs added, then listed with --order-by first: the plain listing after it must see them."""
    store, _ = _store(isolated / "mlruns", 3)
    assert _names(store, max_results=10) == ["r1002", "r1001", "r1000"]
    for i in (3, 4):
        run = store.create_run("0", f"r100{i}", "me", 1000 + i, {})
        store.end_run(run.run_id, RunStatus.FINISHED, 1000 + i + 1)
    _age(store.root)
    ordered = _names(store, max_results=10, order_by=("attributes.start_time",))
    assert ordered == ["r1000", "r1001", "r1002", "r1003", "r1004"]
    assert _names(store, max_results=10) == ["r1004", "r1003", "r1002", "r1001", "r1000"]
    assert _names(store, max_results=2) == ["r1004", "r1003"]


def test_unchanged_runs_are_not_read_again(isolated: Path, capfd: pytest.CaptureFixture[str]) -> None:
    store, ids = _store(isolated / "mlruns", 20)
    assert len(_names(store, filter="tags.team = 'a'")) == 20  # builds both parts of the index
    oldest = store.root / "0" / ids[0]
    for path in (oldest / "meta.yaml", oldest / "tags" / "team"):  # other content, the same mtime
        stat = path.stat()
        path.write_text("{ not yaml" if path.name == "meta.yaml" else "b")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _names(store, max_results=5) == [f"r{1019 - i}" for i in range(5)]
    assert "skipping" not in capfd.readouterr().err  # the damaged oldest run was not read
    assert len(_names(store, filter="tags.team = 'b'")) == 0  # its tag was not read again either
    os.utime(oldest / "tags" / "team")  # now its mtime says it changed
    os.utime(oldest / "meta.yaml")
    assert len(_names(store, filter="tags.team = 'a'")) == 19
    assert "skipping" in capfd.readouterr().err


def test_a_damaged_index_is_rebuilt_with_a_warning(isolated: Path, capfd: pytest.CaptureFixture[str]) -> None:
    store, _ = _store(isolated / "mlruns", 5)
    assert _names(store, filter="params.alpha = '1'") == ["r1004", "r1001"]
    for index in (isolated.parent / "mlrun-home" / "index").iterdir():
        index.write_bytes(b"\x00garbage" if index.suffix == ".runs" else b"")
    assert _names(store, filter="params.alpha = '1'") == ["r1004", "r1001"]
    warned = capfd.readouterr().err
    assert "is damaged" in warned and "rebuilding it" in warned
    assert _names(store, filter="params.alpha = '1'") == ["r1004", "r1001"]
    assert "damaged" not in capfd.readouterr().err  # rebuilt and saved


LIST = """
import sys
from mlrun_cli.tracking.base import RunQuery
from mlrun_cli.tracking.filestore.store import FileStore
from mlrun_cli.tracking.search.runs import run_query
store = FileStore.from_uri(sys.argv[1])
for _ in range(15):
    found = run_query(store, RunQuery(filter="params.alpha = '0'", max_results=1000))
    assert all(r.params["alpha"] == "0" for r in found)
print(len(run_query(store, RunQuery(max_results=1000))))
"""


def test_several_processes_list_while_runs_are_added(isolated: Path, popen: Popen) -> None:
    store, _ = _store(isolated / "mlruns", 10)
    argv = [sys.executable, "-c", LIST, str(store.root)]
    procs = [popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    for i in range(20):  # a writer at the same time
        run = store.create_run("0", f"n{i}", "me", 9000 + i, {})
        store.log_batch(run.run_id, {"alpha": "0"}, {})
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0 and 10 <= int(out) <= 30
    assert len(_names(store, max_results=1000)) == 30
    assert len(_names(store, filter="params.alpha = '0'", max_results=1000)) == 24


CHANGE = """
import sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
client.set_tag(sys.argv[2], "team", "changed")
client.set_terminated(sys.argv[2], "FAILED")
client.log_metric(sys.argv[2], "rmse", 0.1)
"""


@pytest.mark.mlflow
def test_runs_changed_by_mlflow_itself_show(
    isolated: Path, mlflow_python: Path, mlrun: Callable[..., Result]
) -> None:
    store, ids = _store(isolated / "mlruns", 12)

    def listed(*args: str) -> list[str]:
        result = mlrun("runs", "list", "--tracking-uri", store.uri, "--json", *args)
        assert result.returncode == 0, result.stderr
        return [r["run_name"] for r in json.loads(result.stdout)]

    assert listed("--filter", "tags.team = 'changed'") == []
    assert listed("--status", "FAILED") == []
    assert listed("--order-by", "metrics.rmse", "--max-results", "1") == ["r1011"]  # none has one
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    subprocess.run([str(mlflow_python), "-c", CHANGE, store.uri, ids[3]], env=env, check=True)
    assert listed("--filter", "tags.team = 'changed'") == ["r1003"]  # a tag rewritten in place
    assert listed("--status", "FAILED") == ["r1003"]
    assert listed("--order-by", "metrics.rmse", "--max-results", "1") == ["r1003"]


def test_runs_delete_and_restore_on_the_command_line(isolated: Path, mlrun: Callable[..., Result]) -> None:
    store, ids = _store(isolated / "mlruns", 3)
    result = mlrun("runs", "delete", ids[2], "--tracking-uri", store.uri)
    assert result.returncode == 0 and f"run {ids[2]} deleted" in result.stdout
    listed = mlrun("runs", "list", "--tracking-uri", store.uri, "--output", "csv").stdout.splitlines()
    assert [line.split(",")[1] for line in listed[1:]] == ["r1001", "r1000"]
    assert listed[0].startswith("run_id,run_name,status,") and listed[0].endswith(",params.alpha")
    deleted = mlrun("runs", "list", "--tracking-uri", store.uri, "--deleted", "--json").stdout
    assert [(r["run_name"], r["lifecycle_stage"]) for r in json.loads(deleted)] == [("r1002", "deleted")]
    shown = mlrun("runs", "show", ids[2], "--tracking-uri", store.uri).stdout
    assert "Status:      FINISHED (deleted: `mlrun runs restore` brings it back)" in shown
    assert mlrun("runs", "restore", ids[2], "--tracking-uri", store.uri).returncode == 0
    assert "r1002" in mlrun("runs", "list", "--tracking-uri", store.uri).stdout
    missing = mlrun("runs", "delete", "f" * 32, "--tracking-uri", store.uri)
    assert missing.returncode == 2 and "no run with id" in missing.stderr


@pytest.mark.parametrize("where", ["under a file", "read-only"])
def test_a_home_that_cannot_be_written_lists_without_an_index(
    where: str, isolated: Path, mlrun: Callable[..., Result]
) -> None:
    from tests.faults.mid_run import read_only

    store, _ = _store(isolated / "mlruns", 3)
    blocked = isolated / "blocked"
    if where == "under a file":
        blocked.write_text("a file, not a folder")
        home = blocked / "home"
    else:
        home = blocked
        home.mkdir()
    with contextlib.nullcontext() if where == "under a file" else read_only(home):
        for _ in range(2):  # the second time too: nothing was saved, nothing is trusted
            result = mlrun(
                "runs", "list", "--tracking-uri", store.uri, "--filter", "params.alpha = '1'", "--json",
                env={"MLRUN_HOME": str(home)},
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert [r["run_name"] for r in json.loads(result.stdout)] == ["r1001"]
            assert result.stderr.count("warning") == 1 and "the run index is not kept" in result.stderr
    assert not list(blocked.rglob("*"))  # nothing written anywhere
