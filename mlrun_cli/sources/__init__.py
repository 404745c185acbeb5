"""Where a project comes from: a local folder (optionally `#subdir`) or a git URL and version."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from mlrun_cli.errors import UsageError
from mlrun_cli.shared import tags as tag_keys

WRITTEN_BY_RUNS = ("mlruns", "mlartifacts", "__pycache__")
"""Folders that running a project writes into it: never a change of the project, nor a part of
its fingerprint."""


@dataclass
class ProjectSource:
    directory: Path
    """The folder holding the MLproject (the subdirectory, when one was given)."""
    name: str
    """How the source is recorded in `mlflow.source.name` (never with credentials)."""
    tags: dict[str, str] = field(default_factory=dict)
    diff: str | None = None
    """The uncommitted changes of a local git work tree, saved as mlrun/git.diff."""
    changed: tuple[str, ...] | None = None
    """In a local git work tree: what differs from HEAD inside the project folder (modified, added,
    deleted, renamed, untracked and not ignored; an untracked folder or a submodule as one entry
    ending in / or not), relative to it, read once by `git status` for the tags and the run's
    fingerprint alike. None where nobody asked git."""
    cleanup: Callable[[], None] | None = None

    def close(self) -> None:
        if self.cleanup is not None:
            self.cleanup()
            self.cleanup = None


def split_subdirectory(uri: str) -> tuple[str, str]:
    base, _, subdir = uri.partition("#")
    subdir = subdir.strip().strip("'\"").strip("/")
    if subdir:
        pure = PurePosixPath(subdir)
        if pure.is_absolute() or ".." in pure.parts or subdir.startswith("/"):
            raise UsageError(
                f"invalid subdirectory {subdir!r}: it must be a relative path inside "
                "the project, without '..'"
            )
    return base, subdir


def _is_text(name: str) -> bool:
    """False for a file name with bytes that are not UTF-8 (Python keeps them as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_zip_uri(base: str, cwd: Path) -> bool:
    """A zip archive, as MLflow tells one (a name ending in .zip): a local file or `file://`, or an
    http(s) URL; a folder so named is still a folder."""
    scheme = urlparse(base).scheme.lower() if "://" in base else ""
    if scheme in ("http", "https"):
        return urlparse(base).path.lower().endswith(".zip")
    if scheme not in ("", "file") or not base.lower().endswith(".zip"):
        return False
    local = Path(unquote(urlparse(base).path)) if scheme else Path(base).expanduser()
    return not (cwd / local).is_dir()


def _is_git_repository(path: Path) -> bool:
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def _may_be_in_git_work_tree(directory: Path) -> bool:
    """False when git would find no repository around `directory`: no folder from it up to the
    root holds `.git` or is a repository itself, and GIT_DIR is not set. Asking git costs a
    process per run; a stat per folder is what git's own discovery does first."""
    if os.environ.get("GIT_DIR"):
        return True
    return any(_is_git_repository(folder) for folder in (directory, *directory.parents))


def resolve_source(uri: str, version: str | None, cwd: Path, *, refresh: bool = False) -> ProjectSource:
    """Find (or fetch) the project; call `close()` on the result when the run is over."""
    from mlrun_cli.sources.git import urls as git_urls

    if "\0" in uri or (version is not None and "\0" in version):
        raise UsageError("a project URI or --version may not contain a NUL byte")
    base, subdir = split_subdirectory(uri)
    if base.startswith("-"):
        git_urls.check_url(base)  # refuses it: a leading '-' would reach git as an option
    if _is_zip_uri(base, cwd):
        from mlrun_cli.sources import archive

        return archive.from_zip(base, subdir, version, cwd)
    if git_urls.looks_remote(base):
        return _from_git(base, subdir, version, refresh)
    local = Path(unquote(urlparse(base).path)) if base.startswith("file:") else Path(base)
    root = (cwd / local.expanduser()).absolute()
    if not root.exists():
        raise UsageError(f"no such project folder: {root}")
    if not _is_text(str(root)):  # the stores record it as text; say so before anything runs
        shown = os.fsencode(root).decode("utf-8", "replace")
        raise UsageError(
            f"the project folder's path is not UTF-8 text: {shown}",
            hint="MLflow's stores record the project's path as text: give the folder a UTF-8 name",
        )
    if not root.is_dir():
        raise UsageError(f"not a folder: {root}")
    # A repository asked for at a version, or a bare one, is read through git, never checked
    # out in place: the user's own working copy is not touched.
    if version is not None or (_is_git_repository(root) and not (root / ".git").exists()):
        if not _is_git_repository(root):
            # A folder inside a repository, as `repo#folder`: the repository at that version.
            top = next((up for up in root.resolve().parents if _is_git_repository(up)), None)
            if top is None:
                raise UsageError(f"--version needs a git repository, and {root} is not in one")
            inside = root.resolve().relative_to(top).as_posix()
            root, subdir = top, f"{inside}/{subdir}" if subdir else inside
        return _from_git(root.as_uri(), subdir, version, refresh)
    directory = root / subdir if subdir else root
    if not directory.is_dir():
        raise UsageError(f"subdirectory {subdir!r} not found in {root}")
    if _may_be_in_git_work_tree(directory):
        from mlrun_cli.sources.git import work_tree

        found = work_tree.local_provenance(directory)
        if found is not None:
            tags, diff, changed = found
            name = tags.pop(tag_keys.SOURCE_NAME)
            return ProjectSource(directory, name, tags, diff, changed=changed)
    return ProjectSource(directory, f"{root}#{subdir}" if subdir else str(root))


def _from_git(base: str, subdir: str, version: str | None, refresh: bool) -> ProjectSource:
    from mlrun_cli.sources.git import cache as git_source
    from mlrun_cli.sources.git import urls as git_urls

    parsed = git_urls.parse_git_uri(base, subdir)
    cache = git_source.RepoCache(parsed.url)
    with git_source.lock_for(cache):
        cache.ensure()
        resolved = cache.resolve(version or parsed.version, refresh)
        checkout = cache.add_worktree(resolved.commit)
    source = ProjectSource(checkout, "", cleanup=lambda: cache.remove_worktree(checkout))
    directory = checkout / parsed.subdir if parsed.subdir else checkout
    if not directory.is_dir():
        source.close()
        raise UsageError(
            f"subdirectory {parsed.subdir!r} not found in {git_urls.clean_url(parsed.url)} "
            f"at {resolved.commit[:12]}"
        )
    url = git_urls.clean_url(parsed.url)
    source.directory = directory
    source.name = f"{url}#{parsed.subdir}" if parsed.subdir else url
    source.tags = {tag_keys.GIT_COMMIT: resolved.commit, tag_keys.GIT_REPO_URL: url}
    if resolved.branch:
        source.tags[tag_keys.GIT_BRANCH] = resolved.branch
    return source
