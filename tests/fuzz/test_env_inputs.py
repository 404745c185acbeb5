"""Requirements files (-r/-c lines, nested, missing, binary, looping) and conda-lock.yml, through
validation and the env managers' readers (nothing is built, nothing is downloaded)."""

from __future__ import annotations

import io
from unittest import mock

from hypothesis import strategies as st

from mlrun_cli.envs import conda_lock
from mlrun_cli.errors import MlrunError
from tests.fuzz.harness import expect_clean, mutated, surface
from tests.fuzz.projects import REQUIREMENTS, check_project, project_dir

LINES = st.one_of(
    st.sampled_from(["-r requirements.txt", "-r other.txt", "-c constraints.txt", "--requirement=other.txt",
                     "-r .", "-r /dev/null", "-r ../../../../etc/hostname", "-r missing.txt", "-e .",
                     "-r\tother.txt", "numpy", "# -r other.txt"]),
    st.text(max_size=30),
)  # fmt: skip
REQUIREMENT_FILE = st.one_of(
    mutated(REQUIREMENTS, ["-r ", "-c ", "requirements.txt", "other.txt", "\x00", "\xff", "\n"]),
    st.lists(LINES, max_size=5).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
)
PROJECT = "python_env: python_env.yaml\nentry_points: {main: {command: echo}}\n"
PYTHON_ENV = 'python: "3.11"\ndependencies: ["-r requirements.txt"]\n'


@surface(
    "requirements", st.tuples(REQUIREMENT_FILE, REQUIREMENT_FILE), fast=30, long=700,
    examples=[(b"\xff\xfe\x00binary", b""), (b"-r other.txt\n", b"-r requirements.txt\n"),
              (b"-r .\n", b""), (b"-c other.txt", b"-r \x00"), (b"-r a\x00b", b"")],
)  # fmt: skip
def check_requirements(files: tuple[bytes, bytes]) -> None:
    check_project(
        {
            "MLproject": PROJECT,
            "python_env.yaml": PYTHON_ENV,
            "requirements.txt": files[0],
            "other.txt": files[1],
        }
    )


LOCKS = [
    """version: 1
metadata:
  platforms: [linux-64]
  sources: [conda.yaml]
package:
  - name: python
    version: 3.11.0
    manager: conda
    platform: linux-64
    dependencies: {}
    url: file:///nonexistent/python-3.11.0-0.conda
    hash: {md5: null, sha256: 0000}
  - name: numpy
    manager: pip
    platform: linux-64
    url: https://example.invalid/numpy.whl
""",
]
ENTRY = "entry_points: {main: {command: echo}}\n"
CONDA = "dependencies: [python=3.11]\n"


@surface(
    "conda_lock", mutated(LOCKS), fast=30, long=700,
    examples=[b"- a\n- b\n", b"package: 3\n", b"package: [3, {url: 1}]\n", b"\xff\xfe",
              b"package: [{platform: linux-64}]\n"],
)  # fmt: skip
def check_conda_lock(text: bytes) -> None:
    files = {"MLproject": "conda_env: conda.yaml\n" + ENTRY, "conda.yaml": CONDA}
    check_project({**files, "conda-lock.yml": text})
    with project_dir({**files, "conda-lock.yml": text}) as directory:

        def refuse(url: str, sha256: str | None, log: object) -> None:
            raise MlrunError(f"not fetched in the fuzz tier: {url}")

        with mock.patch.object(conda_lock, "_fetch", refuse):
            expect_clean(
                lambda: conda_lock.locked_records(directory / "conda-lock.yml", io.StringIO()),
                files=["conda-lock.yml"], allowed=(1, 2),
            )  # fmt: skip


test_requirements_fast, test_requirements_long = check_requirements  # type: ignore[misc]
test_conda_lock_fast, test_conda_lock_long = check_conda_lock  # type: ignore[misc]
