"""`mlrun --help`, `mlrun validate` and a local run stay light: heavy modules are imported where
they are used. The mlrun modules each command imports are listed here in full, so that a module
joining a command's import graph shows up as a failing diff, to be accepted here on purpose."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import EXAMPLES

HEAVY = (
    "docker",
    "git",
    "mlflow",
    "requests",
    "urllib3",
    "filelock",
    "importlib.metadata",
    "rattler",
    "asyncio",
    "mlrun_cli.envs",
    "mlrun_cli.tracking",
)
# Never on the path of --help, validate or a local run: containers, clusters, conda (py-rattler
# glue), HTTP clients, MLflow itself.
NEVER = (
    "docker",
    "kubernetes",
    "ray",
    "rattler",
    "mlflow",
    "requests",
    "urllib3",
    "http.client",
    "httpx",
    "mlrun_cli.envs.conda",
    "mlrun_cli.envs.docker",
    "mlrun_cli.shared.docker_engine",
    "mlrun_cli.backends.container",
    "mlrun_cli.backends.slurm",
    "mlrun_cli.backends.kubernetes",
    "mlrun_cli.tracking.rest",
    "mlrun_cli.tracking.mlflow_client",
)
CLI = [
    "mlrun_cli",
    "mlrun_cli.version",
    "mlrun_cli.cli",
    "mlrun_cli.cli.common",
    "mlrun_cli.cli.env",
    "mlrun_cli.cli.error_handler",
]
CLI += ["mlrun_cli.cli.project", "mlrun_cli.cli.run", "mlrun_cli.cli.runs", "mlrun_cli.cli.ui"]
# Small and import-free: the hook that loads completion code when a shell asks, and the names of
# the `mlflow run` options that are refused.
CLI += ["mlrun_cli.cli.completion", "mlrun_cli.cli.mlflow_options", "mlrun_cli.runs", "mlrun_cli.runs.resume"]
# A project already found valid: no YAML, schema or compat code (mlrun_cli/project/known.py).
KNOWN_PROJECT = ["mlrun_cli.errors", "mlrun_cli.shared", "mlrun_cli.shared.home", "mlrun_cli.project"]
KNOWN_PROJECT += ["mlrun_cli.project.known", "mlrun_cli.project.loader", "mlrun_cli.project.model"]
KNOWN_PROJECT += ["mlrun_cli.shared.tags", "mlrun_cli.cli.render"]
LOCAL_RUN = [
    *(
        "mlrun_cli.backends",
        "mlrun_cli.backends.base",
        "mlrun_cli.backends.config",
        "mlrun_cli.backends.jobs",
        "mlrun_cli.backends.local",
    ),
    *("mlrun_cli.envs", "mlrun_cli.envs.base", "mlrun_cli.envs.cache", "mlrun_cli.envs.leases"),
    "mlrun_cli.envs.local",
    *(
        "mlrun_cli.shared.process",
        "mlrun_cli.shared.registry",
        "mlrun_cli.shared.streaming",
        "mlrun_cli.runs.api",
    ),
    *("mlrun_cli.runs.detached", "mlrun_cli.runs.fingerprint", "mlrun_cli.runs.lifecycle"),
    *("mlrun_cli.runs.outputs", "mlrun_cli.runs.path_digest"),  # a run's outputs; path parameters
    *("mlrun_cli.app", "mlrun_cli.app.ownership", "mlrun_cli.app.reaper"),
    *("mlrun_cli.runs.plan", "mlrun_cli.runs.result", "mlrun_cli.runs.retries"),
    *("mlrun_cli.sources", "mlrun_cli.sources.git", "mlrun_cli.sources.git.urls"),
    *("mlrun_cli.tracking", "mlrun_cli.tracking.base"),
    *("mlrun_cli.tracking.filestore", "mlrun_cli.tracking.filestore.records"),
    *("mlrun_cli.tracking.filestore.store", "mlrun_cli.tracking.outbox"),
    "mlrun_cli.tracking.outbox_damage",
    "mlrun_cli.shared.uri_credentials",
    "mlrun_cli.shared.types",
    "mlrun_cli.shared.job_records",
    "mlrun_cli.project.entry_points",
    *("mlrun_cli.project.durations", "mlrun_cli.project.params"),
    "mlrun_cli.tracking.filestore.flat_yaml",
]
PROBE = """
import json, sys
from mlrun_cli.cli import cli
try:
    cli(sys.argv[1:], prog_name="mlrun")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    return set(json.loads(proc.stderr.splitlines()[-1]))


def _ours(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith("mlrun_cli"))


def test_help_imports_nothing_heavy() -> None:
    modules = _modules("--help")
    assert not [m for m in (*HEAVY, *NEVER, "jsonschema", "yaml", "dataclasses") if m in modules]
    assert _ours(modules) == sorted(CLI)


def test_validating_a_known_project_imports_no_yaml_or_schema_code() -> None:
    _modules("validate", str(EXAMPLES / "sklearn_linear"))
    modules = _modules("validate", str(EXAMPLES / "sklearn_linear"))
    assert not [m for m in (*HEAVY, *NEVER, "jsonschema", "yaml", "difflib") if m in modules]
    assert _ours(modules) == sorted(
        [
            *CLI,
            *KNOWN_PROJECT,
            "mlrun_cli.documents", "mlrun_cli.documents.hints",
            "mlrun_cli.project.validate",
        ]
    )


def test_a_local_run_imports_only_what_it_runs(tmp_path: Path) -> None:
    project = tmp_path / "noop"
    project.mkdir()
    (project / "MLproject").write_text('name: noop\nentry_points: {main: {command: "true"}}\n')
    argv = ("run", str(project), "--env-manager", "local", "--tracking-uri", str(tmp_path / "mlruns"))
    first = _modules(*argv)
    assert not [m for m in (*NEVER, "git", "filelock") if m in first]
    modules = _modules(*argv)  # the project is known valid now
    # No yaml either: MLflow's flat meta.yaml is written and read without it (filestore/flat_yaml.py).
    assert not [
        m for m in (*NEVER, "git", "filelock", "jsonschema", "yaml", "difflib", "asyncio") if m in modules
    ]
    assert _ours(modules) == sorted([*CLI, *KNOWN_PROJECT, *LOCAL_RUN])


def test_validate_imports_no_docker_git_or_tracking() -> None:
    modules = _modules("validate", str(EXAMPLES / "sklearn_linear"))
    assert "jsonschema" in modules  # the first time, it does validate
    assert not [m for m in HEAVY if m in modules]
    again = _modules("validate", str(EXAMPLES / "sklearn_linear"))
    assert "jsonschema" not in again  # the same content again: known valid


def test_edited_content_is_validated_again(project_factory: Callable[[dict[str, str]], Path]) -> None:
    project = project_factory({"MLproject": "name: a\nentry_points: {main: {command: echo}}\n"})
    assert "jsonschema" in _modules("validate", str(project))
    assert "jsonschema" not in _modules("validate", str(project))
    (project / "MLproject").write_text("name: a\nentry_points: {main: {comand: echo}}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "validate", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "did you mean 'command'" in proc.stderr
