"""A local project inside a git work tree: what a run records of it (commit, dirty flag, origin,
the diff) and which files differ from the commit, for the run's fingerprint.

Every git process costs a run milliseconds, so this asks git three times, four when the tree is
dirty, and the fingerprint reuses the one `git status`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from mlrun_cli.shared import tags as tag_keys
from mlrun_cli.sources import WRITTEN_BY_RUNS
from mlrun_cli.sources.git.run import GitError, run_git
from mlrun_cli.sources.git.urls import clean_url

# What runs write into a project is neither a change of it nor a line of git.diff (a default
# ./mlruns would list every earlier run's files in each new diff); `top`: from any subfolder.
_NOT_RUN_OUTPUT = [f":(top,exclude,glob)**/{name}{tail}" for name in WRITTEN_BY_RUNS for tail in ("", "/**")]
_NOT_RUN_OUTPUT.append(":(top,exclude,glob)**/*.pyc")


def local_provenance(directory: Path) -> tuple[dict[str, str], str | None, tuple[str, ...]] | None:
    """For a local project inside a git work tree with a commit: its tags (with the source name),
    its diff when it is dirty, and what differs from HEAD inside the project folder, relative to
    it as git lists it (an untracked folder or a submodule as one entry). None elsewhere, and where
    git cannot say what changed: the project is then a plain folder, hashed file by file."""
    if shutil.which("git") is None:
        return None
    # The folder as git sees it (no symlinks), the project's place in it, and the commit: one
    # process. The top folder comes first and may itself hold a newline.
    out = run_git("rev-parse", "--show-toplevel", "--show-prefix", "HEAD", cwd=directory, check=False)
    lines = out.split("\n")
    if len(lines) < 4 or not lines[-2]:  # not in a work tree, or no commit yet
        return None
    top, prefix, commit = "\n".join(lines[:-3]), lines[-3], lines[-2]
    try:
        status = run_git("status", "--porcelain", "-z", "--", *_NOT_RUN_OUTPUT, cwd=directory)
    except GitError as error:  # a damaged index: clean it is not, and its changes are unknown
        sys.stderr.write(f"mlrun: warning: {error}; the project is recorded as a plain folder\n")
        return None
    untracked, changed = _status_paths(status)
    tags = {tag_keys.GIT_COMMIT: commit, tag_keys.GIT_DIRTY: "true" if changed else "false"}
    remote = run_git("config", "--get", "remote.origin.url", cwd=directory, check=False).strip()
    if remote:
        tags[tag_keys.GIT_REPO_URL] = clean_url(remote)
    subdir = prefix.rstrip("/")
    tags[tag_keys.SOURCE_NAME] = f"file://{top}" + (f"#{subdir}" if subdir else "")
    diff = None
    if changed:
        # A patch whatever the user's git config says: no external diff, no textconv, no colour.
        plain = ("--no-ext-diff", "--no-textconv", "--no-color")
        diff = run_git("diff", "HEAD", "--binary", *plain, "--", *_NOT_RUN_OUTPUT, cwd=directory, check=False)
        # One line per name, also for a name with a newline in it.
        diff += "".join("# untracked: " + name.replace("\n", "\\n") + "\n" for name in untracked)
    inside = tuple((path[len(prefix) :] or ".") for path in changed if path.startswith(prefix))
    return tags, diff, inside


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


def changed_files(directory: Path) -> list[str] | None:
    """What differs from the index inside `directory` (modified, deleted, untracked and not
    ignored; an untracked folder as one entry), relative to it: one git process, for learning a
    run's outputs (runs/outputs.py). None where git cannot say."""
    listing = (
        "--modified",
        "--deleted",
        "--others",
        "--exclude-standard",
        "--directory",
        "--no-empty-directory",
    )
    try:
        out = run_git("ls-files", "-z", *listing, "--", ".", *_NOT_RUN_OUTPUT, cwd=directory)
    except GitError:
        return None
    return [path for path in out.split("\0") if path]
