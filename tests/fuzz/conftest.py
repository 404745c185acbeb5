"""The fuzz tier: the seed and case counts are printed at the end, and nothing may be written
outside the test's own tmp folders (the repository and the home folder are compared)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tests.conftest import REPO
from tests.fuzz import harness

# Hypothesis keeps a cache folder; it goes to tmp, not into the repository.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="mlrun-fuzz-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)


def _outside_state() -> tuple[str, list[str]]:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=REPO, capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    # Ignored files (tool caches, .venv, .test-cache) are left out: other tiers write them.
    kept = [line for line in status.splitlines() if "__pycache__" not in line and ".pytest_cache" not in line]
    return "\n".join(kept), sorted(p.name for p in Path.home().iterdir())


@pytest.fixture(scope="session", autouse=True)
def nothing_written_outside_tmp() -> Iterator[None]:
    before = _outside_state()
    yield
    shutil.rmtree(_HYPOTHESIS_HOME, ignore_errors=True)
    assert _outside_state() == before, "the fuzz tier wrote outside its tmp folders"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not harness.RAN:
        return
    counts = ", ".join(f"{name}={count}" for name, count in sorted(harness.RAN.items()))
    terminalreporter.write_line(
        f"mlrun fuzz: {sum(harness.RAN.values())} cases ({counts}); long slice seed "
        f"MLRUN_FUZZ_SEED={harness.SEED} MLRUN_FUZZ_EXAMPLES={harness.TOTAL}"
    )
