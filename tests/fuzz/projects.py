"""Seed files and the project checks shared by the project-file surfaces."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlrun_cli.errors import MlrunError
from tests.fuzz.harness import expect_clean, no_marker

MLPROJECTS = [
    """name: fuzz
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5, description: "strength"}
      n: {type: int, default: 3}
      flag: {type: bool, default: true}
      data: {type: path, default: data.txt}
      where: {type: uri, default: "s3://b/k"}
      mode: {type: string, default: fast, choices: [fast, slow]}
    command: "echo {alpha} {n} {flag} {data} {where} {mode}"
  other:
    command: "python -c pass"
""",
    """name: fuzz
conda_env: conda.yaml
entry_points:
  main:
    parameters:
      x: float
      s: {type: string, default: "$(touch fuzz-executed-marker)"}
    command: "echo {x} {s} {{literal}}"
""",
    """name: fuzz
docker_env:
  image: "registry.local:5000/fuzz/img:1.0"
  volumes: ["/tmp:/tmp"]
  environment: [["A", "1"], "B"]
entry_points:
  main:
    command: "echo hi"
""",
    """entry_points:
  main: {command: "echo {a}", parameters: {a: {type: str, default: x}}}
""",
    """base: &base {type: int, default: 1}
entry_points:
  main:
    parameters: {a: *base, b: *base}
    command: "echo {a} {b}"
""",
]
PYTHON_ENVS = [
    'python: "3.11"\nbuild_dependencies:\n  - pip\ndependencies:\n  - numpy==1.26\n  - -r requirements.txt\n',
    'python: "3.10.4"\ndependencies: [mlflow, "scikit-learn>=1.3", "-c constraints.txt"]\n',
    "python: 3.12\n",
]
CONDA_ENVS = [
    "name: fuzz\nchannels:\n  - conda-forge\n  - ./local-channel\ndependencies:\n  - python=3.11\n"
    "  - numpy>=1.24\n  - pip\n  - pip:\n    - mlflow\n    - -r requirements.txt\nvariables:\n  A: 1\n",
    "dependencies:\n  - python==3.10.*\n  - setuptools=69\n",
]
REQUIREMENTS = ["numpy==1.26\n# comment\n-c constraints.txt\n", "mlflow\n"]
SIDE_FILES = {
    "requirements.txt": REQUIREMENTS[0],
    "constraints.txt": "numpy<2\n",
    "data.txt": "1 2 3\n",
    "python_env.yaml": PYTHON_ENVS[0],
    "conda.yaml": CONDA_ENVS[0],
}


@contextmanager
def project_dir(files: Mapping[str, bytes | str]) -> Iterator[Path]:
    """A fresh project folder in the test's tmp folder, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="fuzz-", dir=Path.cwd()))
    try:
        for name, content in files.items():
            (directory / name).write_bytes(content.encode() if isinstance(content, str) else content)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def check_project(files: Mapping[str, bytes | str]) -> None:
    """validate; when valid, also load, bind defaults, render, and read the env's inputs."""
    from mlrun_cli.project.validate import validate

    with project_dir({**SIDE_FILES, **files}) as directory:
        names = [*SIDE_FILES, *files]
        report, _ = expect_clean(lambda: validate(directory, strict=True), files=names)
        if report is not None:
            from tests.fuzz.harness import check_problems

            check_problems(report.problems, names)
            if not report.problems:
                expect_clean(lambda: _use(directory), files=names)
        no_marker(directory, Path.cwd())


def _use(directory: Path) -> None:
    from mlrun_cli.envs.conda import read_inputs
    from mlrun_cli.envs.python_spec import python_env_inputs
    from mlrun_cli.project import params
    from mlrun_cli.project.loader import load_project

    project = load_project(directory)
    for entry in project.entry_points.values():
        given = [(p.name, "1") for p in entry.parameters.values() if p.default is None]
        try:
            bound = params.bind(entry, given, directory, directory)
        except MlrunError:
            continue
        params.render_command(entry, bound)
    if project.env.kind in ("python", "conda"):
        python_env_inputs(project, "uv")
    if project.env.kind == "conda":
        read_inputs(project)
