"""ARCHITECTURE.md's promise, kept by a check: children start in the one subprocess helper (git's
hardened runner is the one other), process groups are signalled only there, and a signal becomes
an exit code only in shared/tags.py."""

from __future__ import annotations

import ast
import re

from tests.conftest import REPO

PACKAGE = REPO / "mlrun_cli"


def _modules_matching(pattern: str) -> set[str]:
    found = re.compile(pattern, re.MULTILINE)
    return {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if found.search(path.read_text(encoding="utf-8"))
    }


def test_subprocess_is_imported_by_the_process_helper_and_git_alone() -> None:
    importers = _modules_matching(r"^\s*(import subprocess|from subprocess import)")
    assert "shared/process.py" in importers
    others = importers - {"shared/process.py"}
    assert len(others) <= 1 and all("git" in module for module in others), others


def test_process_groups_are_signalled_only_by_the_process_helper() -> None:
    assert _modules_matching(r"\bkillpg\(") == {"shared/process.py"}


def test_a_signal_becomes_an_exit_code_only_in_tags() -> None:
    """`128 + N` and `128 - returncode` are reckoned by tags.exit_code_for_signal/exit_code_of."""
    reckoning = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add | ast.Sub)
        and isinstance(node.left, ast.Constant)
        and node.left.value == 128
    }
    assert reckoning == {"shared/tags.py"}
