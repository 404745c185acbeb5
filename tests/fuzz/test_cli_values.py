"""`-P` values against typed parameters (bound, rendered and really run by bash: no value ever
executes), `-A` docker args, and `-c` backend configs (JSON text, .json and .yaml files)."""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
from pathlib import Path

import yaml
from hypothesis import strategies as st

from mlrun_cli.project import params
from mlrun_cli.project.model import EntryPoint, Parameter
from tests.fuzz.harness import (
    BILLION_LAUGHS,
    MARKER_NAME,
    TEXT_VALUES,
    VALUES,
    expect_clean,
    mutated,
    no_marker,
    surface,
)

TYPES = ("string", "int", "float", "bool", "path", "uri")
ENTRY = EntryPoint(
    "main",
    "printf '%s\\n' " + " ".join(f"{{{t}}}" for t in TYPES),
    {t: Parameter(t, t, None if t == "string" else {"int": "1", "float": "0.5", "bool": "true",
                                                    "path": ".", "uri": "s3://b/k"}[t]) for t in TYPES},
)  # fmt: skip
NAMES = st.one_of(st.sampled_from([*TYPES, "extra", "x.y", "-bad", ""]), st.text(max_size=6))
PAIRS = st.lists(st.tuples(NAMES, st.sampled_from(["=", "", "=="]), TEXT_VALUES).map("".join), max_size=6)


@surface(
    "param_values", PAIRS, fast=40, long=1200,
    examples=[["string=$(touch fuzz-executed-marker)"], ["string=a\x00b"], ["int=1e3", "float=nan"],
              ["string=`touch fuzz-executed-marker`; touch fuzz-executed-marker"], ["string=" + "x" * 7000]],
)  # fmt: skip
def check_param_values(pairs: list[str]) -> None:
    cwd = Path(tempfile.mkdtemp(dir=Path.cwd()))

    def bind() -> tuple[str, params.BoundParams]:
        bound = params.bind(ENTRY, params.parse_param_args(pairs), cwd, cwd)
        return params.render_command(ENTRY, bound), bound

    result, _ = expect_clean(bind)
    if result is None:
        return
    command, bound = result
    values = [bound.values[t] for t in TYPES]
    words = shlex.split(command)
    assert words[2 : 2 + len(TYPES)] == values, "a value was not passed as one word"
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, check=False, timeout=10)
    assert proc.returncode == 0, proc.stderr
    no_marker(cwd, Path.cwd())
    assert not (cwd / MARKER_NAME).exists()


DOCKER_NAMES = st.sampled_from(
    ["v", "volume", "e", "env", "cpus", "gpus", "label", "add-host", "privileged", "t", "memory",
     "pids-limit", "cap-add", "network", "--cpus", "-e", "unknown", ""]
)  # fmt: skip
DOCKER_ARGS = st.lists(
    st.one_of(st.tuples(DOCKER_NAMES, st.sampled_from(["=", ""]), TEXT_VALUES).map("".join), TEXT_VALUES),
    max_size=6,
)


@surface(
    "docker_args", DOCKER_ARGS, fast=40, long=800,
    examples=[["cpus=nan"], ["cpus=inf"], ["cpus=1e400"], ["gpus=-1"], ["pids-limit=1e3"], ["gpus=x"]],
)  # fmt: skip
def check_docker_args(args: list[str]) -> None:
    from mlrun_cli.shared.docker_args import parse_docker_args

    expect_clean(lambda: parse_docker_args(args))


SLURM = {"partition": "debug", "time": "1:00:00", "cpus": 2, "mem": "4G", "gpus": "a100:1",
         "sbatch_args": ["--constraint=x"], "job_name": "j"}  # fmt: skip
KUBE = {"kube-job-template-path": "job.yaml", "repository-uri": "registry.local/x", "kube-context": "c"}
CONFIG_TEXT = st.one_of(
    mutated([json.dumps(SLURM), json.dumps(KUBE), yaml.safe_dump(SLURM), yaml.safe_dump(KUBE)]),
    VALUES.map(lambda v: json.dumps(v).encode()),
)
TEMPLATE = mutated(["apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\n"])
CONFIGS = st.tuples(
    st.sampled_from(["slurm", "kubernetes"]), st.sampled_from(["text", ".json", ".yaml"]),
    CONFIG_TEXT, TEMPLATE,
)  # fmt: skip


@surface(
    "backend_config", CONFIGS, fast=40, long=1000,
    examples=[("slurm", "text", b'{"time": !!int "3.11"}', b""), ("kubernetes", ".yaml", BILLION_LAUGHS, b""),
              ("kubernetes", ".json", json.dumps(KUBE).encode(), BILLION_LAUGHS),
        ("kubernetes", ".json", json.dumps(KUBE).encode(), b"- not a mapping\n"),
        ("kubernetes", ".json", json.dumps(KUBE).encode(), b"\xff\xfe")],
)  # fmt: skip
def check_backend_config(case: tuple[str, str, bytes, bytes]) -> None:
    from mlrun_cli.backends import get_backend
    from mlrun_cli.backends.config import load_backend_config

    name, form, text, template = case
    cwd = Path(tempfile.mkdtemp(dir=Path.cwd()))
    (cwd / "job.yaml").write_bytes(template)
    raw = text.decode("utf-8", "replace")
    if form != "text":
        (cwd / f"config{form}").write_bytes(text)
        raw = f"config{form}"
    backend = get_backend(name)
    expect_clean(lambda: load_backend_config(raw, backend, cwd), files=["config" + form, "job.yaml",
                                                                         "--backend-config"])  # fmt: skip


test_param_values_fast, test_param_values_long = check_param_values  # type: ignore[misc]
test_docker_args_fast, test_docker_args_long = check_docker_args  # type: ignore[misc]
test_backend_config_fast, test_backend_config_long = check_backend_config  # type: ignore[misc]
