"""A recorded run's uncommitted changes (its `mlrun/git.diff`), applied again to a checkout of
its commit (`mlrun runs rerun`): the source becomes what the run was made from, and is recorded
and fingerprinted as the run's own work tree was (commit + changes, the same git.diff)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlrun_cli.errors import UsageError
from mlrun_cli.shared import tags as tag_keys
from mlrun_cli.sources import ProjectSource
from mlrun_cli.sources.git.run import GitError, run_git

UNTRACKED = "# untracked: "
"""How git.diff lists an untracked file: by name only, its content was never recorded."""


def untracked_names(diff: str) -> list[str]:
    return [line[len(UNTRACKED) :] for line in diff.splitlines() if line.startswith(UNTRACKED)]


def apply_changes(source: ProjectSource, diff: str) -> None:
    """Apply `diff` to `source`, a checkout made for this run (never the user's own work tree)."""
    if source.cleanup is None:
        raise UsageError("recorded changes are applied to a checkout of the recorded commit only")
    patch = "".join(line for line in diff.splitlines(keepends=True) if not line.startswith(UNTRACKED))
    if patch.strip():
        top = run_git("rev-parse", "--show-toplevel", cwd=source.directory).rstrip("\n")
        with tempfile.NamedTemporaryFile("wb", prefix="mlrun-rerun-", suffix=".diff") as file:
            file.write(patch.encode("utf-8", "surrogateescape"))
            file.flush()
            try:
                run_git("apply", "--whitespace=nowarn", file.name, cwd=Path(top))
            except GitError as error:
                raise UsageError(
                    f"the run's recorded changes (mlrun/git.diff) do not apply to its commit: {error.message}"
                ) from None
    from mlrun_cli.sources.git.work_tree import local_provenance

    found = local_provenance(source.directory)
    source.changed = found[2] if found is not None else None
    source.diff = diff
    source.tags[tag_keys.GIT_DIRTY] = "true"
