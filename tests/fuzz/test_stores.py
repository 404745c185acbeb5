"""The stores mlrun reads back: file-store meta.yaml, the outbox's ops.json, env records
(complete.json) and run owner files (owner.json), damaged at random and read through the CLI
(`runs list/show`, `runs sync`, `env list`); plus end-to-end cases through a real subprocess."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import strategies as st

from tests.fuzz.harness import BILLION_LAUGHS, mutated, surface
from tests.fuzz.projects import project_dir

RUN_ID = "0123456789abcdef0123456789abcdef"
RUN_META = yaml.safe_dump({"run_id": RUN_ID, "run_uuid": RUN_ID, "experiment_id": "0", "status": 3,
                           "start_time": 1, "end_time": 2, "lifecycle_stage": "active", "run_name": "x",
                           "artifact_uri": "file:///tmp/x"})  # fmt: skip
EXP_META = yaml.safe_dump({"experiment_id": "0", "name": "Default", "lifecycle_stage": "active",
                           "artifact_location": "file:///tmp/x"})  # fmt: skip


def _cli(args: list[str], home: Path) -> None:
    """The command exits 0, 1 (documented for sync) or 2, and never with an internal error."""
    from mlrun_cli.cli import cli

    result = CliRunner().invoke(cli, args, env={"MLRUN_HOME": str(home)}, catch_exceptions=True)
    assert result.exit_code in (0, 1, 2), f"exit {result.exit_code}: {result.output}{result.exception!r}"
    assert "Traceback" not in result.output


def _safe_json(text: bytes, fix: dict[str, str], nested: str | None = None) -> bytes:
    """A parseable damaged record never points outside tmp (a scratch folder to delete, a file to copy)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        data.update({k: v for k, v in fix.items() if k in data or nested is None})
        for op in data.get(nested or "", ()) if isinstance(data.get(nested or ""), list) else ():
            if isinstance(op, dict) and "file" in op:
                op["file"] = fix["file"]
    return json.dumps(data).encode()


@surface("store_meta_yaml", st.tuples(st.booleans(), mutated([RUN_META, EXP_META])), fast=15, long=300,
         examples=[(True, b"status: !!int x\n"), (False, BILLION_LAUGHS), (True, b"- a\n"),
                   (False, b'!!int "3.11"')])  # fmt: skip
def check_store_meta_yaml(case: tuple[bool, bytes]) -> None:
    damage_run, text = case
    with project_dir({}) as root:
        store = root / "mlruns"
        (store / "0" / RUN_ID).mkdir(parents=True)
        (store / "0" / "meta.yaml").write_bytes(EXP_META.encode() if damage_run else text)
        (store / "0" / RUN_ID / "meta.yaml").write_bytes(text if damage_run else RUN_META.encode())
        _cli(["runs", "list", "--tracking-uri", str(store)], root / "home")
        _cli(["runs", "show", RUN_ID, "--tracking-uri", str(store)], root / "home")


OPS = json.dumps({"tracking_uri": "TRACKING", "run_id": RUN_ID, "ops": [
    {"op": "log_batch", "params": {"a": "1"}, "tags": {"t": "v"}},
    {"op": "log_artifact", "file": "FILE", "name": "console.log", "artifact_path": "mlrun"},
    {"op": "end_run", "status": "FINISHED", "end_time": 5}]})  # fmt: skip


@surface("store_outbox", mutated([OPS]), fast=15, long=300, examples=[b"[]", b'{"ops": 1}', b"\xff"])
def check_store_outbox(text: bytes) -> None:
    with project_dir({}) as root:
        home = root / "home"
        folder = home / "outbox" / RUN_ID
        folder.mkdir(parents=True)
        (root / "console.log").write_text("log\n")
        fix = {"tracking_uri": str(root / "mlruns"), "file": str(root / "console.log")}
        text = text.replace(b"TRACKING", fix["tracking_uri"].encode()).replace(b"FILE", fix["file"].encode())
        (folder / "ops.json").write_bytes(_safe_json(text, fix, "ops"))
        _cli(["runs", "sync"], home)


COMPLETE = json.dumps({"kind": "uv", "key": "abc", "python": "3.11", "created": 1.0})
OWNER = json.dumps({"run_id": RUN_ID, "experiment_id": "0", "artifact_uri": "file:///x", "tracking_uri": "T",
                    "detachable": False, "scratch": "S", "host": "h", "boot_id": "b", "pid": 1,
                    "start_time": "1"})  # fmt: skip


def _env_list(complete: bytes, owner: bytes) -> None:
    with project_dir({}) as root:
        home = root / "home"
        (home / "envs" / "uv-abc").mkdir(parents=True)
        (home / "envs" / ".meta" / "uv-abc").mkdir(parents=True)
        (home / "envs" / ".meta" / "uv-abc" / "complete.json").write_bytes(complete)
        (home / "jobs" / RUN_ID).mkdir(parents=True)
        (root / "scratch").mkdir()
        fix = {"scratch": str(root / "scratch"), "tracking_uri": str(root / "mlruns")}
        (home / "jobs" / RUN_ID / "owner.json").write_bytes(_safe_json(owner, fix))
        _cli(["env", "list"], home)


@surface("store_env_records", mutated([COMPLETE]), fast=15, long=300, examples=[b"[]", b"{", b"\xff"])
def check_store_env_records(complete: bytes) -> None:
    _env_list(complete, OWNER.encode())


@surface("store_owner", mutated([OWNER]), fast=15, long=300,
         examples=[b"[]", b'{"pid": "x"}', b"null", OWNER.replace('"pid": 1', '"pid": "1"').encode(),
                   OWNER.replace('"host": "h"', f'"host": "{socket.gethostname()}"').encode()])  # fmt: skip
def check_store_owner(owner: bytes) -> None:
    _env_list(COMPLETE.encode(), owner)


def _real_mlrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # bounded memory: 2 GiB of address space
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    env = {**os.environ, "MLRUN_HOME": str(cwd / "home")}
    return subprocess.run([sys.executable, "-m", "mlrun_cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, preexec_fn=limit, check=False)  # fmt: skip


@surface("end_to_end", mutated(["python_env: python_env.yaml\nentry_points:\n  main:\n    parameters: "
                                "{a: {type: int, default: 1}}\n    command: 'echo {a}'\n"]), fast=3, long=40,
         examples=[b"entry_points: {main: {command: !!int fuzz}}\n", BILLION_LAUGHS,
                   b'entry_points: {main: {command: "echo $(touch x)"}}\n'])  # fmt: skip
def check_end_to_end(text: bytes) -> None:
    files = {"MLproject": text, "python_env.yaml": b'python: !!int "3.11"\n'}
    with project_dir(files) as directory, tempfile.TemporaryDirectory(dir=Path.cwd()) as cwd:
        for args in (["validate", str(directory)],
                     ["run", str(directory), "--dry-run", "--env-manager", "local", "--no-track",
                      "-P", "a=$(touch fuzz-executed-marker)"]):  # fmt: skip
            proc = _real_mlrun(*args, cwd=Path(cwd))
            assert proc.returncode in (0, 2), proc.stdout + proc.stderr
            assert "Traceback" not in proc.stderr + proc.stdout
            if proc.returncode == 2:
                assert (
                    "MLproject" in proc.stderr
                    or "python_env.yaml" in proc.stderr
                    or "-P" in proc.stderr
                    or "param" in proc.stderr
                ), proc.stderr
            assert not (Path(cwd) / "fuzz-executed-marker").exists()


test_store_meta_yaml_fast, test_store_meta_yaml_long = check_store_meta_yaml  # type: ignore[misc]
test_store_outbox_fast, test_store_outbox_long = check_store_outbox  # type: ignore[misc]
test_store_env_records_fast, test_store_env_records_long = check_store_env_records  # type: ignore[misc]
test_store_owner_fast, test_store_owner_long = check_store_owner  # type: ignore[misc]
test_end_to_end_fast, test_end_to_end_long = check_end_to_end  # type: ignore[misc]


RUN_CACHE_PROJECT = "entry_points: {main: {parameters: {d: {type: path, default: d.txt}}, command: ls}}\n"
OUTPUTS_RECORD = json.dumps({"directory": "D", "paths": {"model.txt": [2, 1], "gone.txt": None}})
DIGESTS = json.dumps({"1:2": [3, 4, 5, "0123456789abcdef0123456789abcdef"]})


@surface("store_run_cache", st.tuples(st.booleans(), mutated([OUTPUTS_RECORD, DIGESTS])), fast=15, long=300,
         examples=[(True, b"[]"), (True, b'{"paths": []}'), (False, b'{"1:2": [1]}'),
                   (False, b"\xff")])  # fmt: skip
def check_store_run_cache(case: tuple[bool, bytes]) -> None:
    """The run cache's records (runs/outputs.py, runs/path_digest.py) damaged: `--needed --dry-run`
    still plans, with a warning."""
    import hashlib

    outputs, text = case
    files = {"MLproject": RUN_CACHE_PROJECT, "d.txt": "1\n", "model.txt": "m\n"}
    with project_dir(files) as directory:
        home = directory / "home"
        key = hashlib.sha256(os.fsencode(os.path.realpath(directory))).hexdigest()[:24]
        record = home / "outputs" / f"{key}.json" if outputs else home / "cache" / "digests.json"
        record.parent.mkdir(parents=True)
        record.write_bytes(text)
        store = str(directory / "mlruns")
        dry = ["--dry-run", "--needed", "--env-manager", "local", "--tracking-uri", store]
        _cli(["run", str(directory), *dry], home)
test_store_run_cache_fast, test_store_run_cache_long = check_store_run_cache  # type: ignore[misc]
