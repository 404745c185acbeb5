"""A local project inside a git work tree: what a run records of it (commit, dirty flag, origin,
the diff) and which files differ from the commit, for the run's fingerprint.

Every git process costs a run milliseconds, so this asks git three times, four when the tree is
dirty, and the fingerprint reuses the one `git status`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlrun_cli import tags as tag_keys
from mlrun_cli.sources.git import run_git
from mlrun_cli.sources.git_urls import clean_url


def local_provenance(directory: Path) -> tuple[dict[str, str], str | None, tuple[Path, ...]] | None:
    """For a local project inside a git work tree with a commit: its tags (with the source name),
    its diff when it is dirty, and the files that differ from HEAD (None elsewhere). One rev-parse
    asks for the top folder and the commit at once."""
    if shutil.which("git") is None:
        return None
    top, _, commit = run_git("rev-parse", "--show-toplevel", "HEAD", cwd=directory, check=False).partition(
        "\n"
    )
    commit = commit.strip()
    if not top or not commit:  # not in a work tree, or no commit yet
        return None
    status = run_git("status", "--porcelain", "-z", "--untracked-files=all", cwd=directory, check=False)
    untracked, changed = _status_paths(status)
    tags = {tag_keys.GIT_COMMIT: commit, tag_keys.GIT_DIRTY: "true" if changed else "false"}
    remote = run_git("config", "--get", "remote.origin.url", cwd=directory, check=False).strip()
    if remote:
        tags[tag_keys.GIT_REPO_URL] = clean_url(remote)
    subdir = os.path.relpath(directory, top)
    tags[tag_keys.SOURCE_NAME] = f"file://{top}" + ("" if subdir == "." else f"#{subdir}")
    diff = None
    if changed:
        diff = run_git("diff", "HEAD", "--binary", cwd=directory, check=False)
        diff += "".join(f"# untracked: {name}\n" for name in untracked)
    return tags, diff, tuple(Path(top, name) for name in changed)


def _status_paths(status: str) -> tuple[list[str], list[str]]:
    """The untracked paths, and every changed path, of `git status --porcelain -z` (relative to
    the top folder); a rename or copy names both its new path and the one it came from."""
    untracked: list[str] = []
    changed: list[str] = []
    fields = iter(status.split("\0"))
    for entry in fields:
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        changed.append(path)
        if code == "??":
            untracked.append(path)
        elif "R" in code or "C" in code:
            changed.append(next(fields, ""))
    return untracked, changed
