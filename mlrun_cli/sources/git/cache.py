"""Projects from git: safe URL parsing, a fetch cache under $MLRUN_HOME/git, one worktree per run.

git is driven through its CLI, every call through `run_git` (run.py: the environment we
control, and the network time budget).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlrun_cli.shared.home import mlrun_home, writable_dir
from mlrun_cli.sources.git.run import GitError, GitUnreachable, run_git, total_timeout_s
from mlrun_cli.sources.git.urls import clean_url, credentials_of

__all__ = ["GitError", "GitUnreachable", "RepoCache", "Resolved", "lock_for", "run_git"]

if TYPE_CHECKING:
    from filelock import FileLock

_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_NO_ANSWER = (
    "timed out",
    "could not resolve host",
    "connection refused",
    "failed to connect",
    "connection reset",
    "network is unreachable",
    "no route to host",
    "temporary failure in name resolution",
)


@dataclass(frozen=True)
class Resolved:
    commit: str
    branch: str | None


class RepoCache:
    """A bare repository per URL; fetched into incrementally, shallow where the server allows."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._credentials = credentials_of(url)
        # What the cache's config holds: never a password or token.
        self.remote = clean_url(url) if self._credentials is not None else url
        key = hashlib.sha256(self.remote.encode()).hexdigest()[:16]
        self.path = mlrun_home() / "git" / key

    def _run(self, *args: str, network: bool = False, check: bool = True) -> str:
        credentials = self._credentials if network else None
        return run_git(*args, git_dir=self.path, network=network, check=check, credentials=credentials)

    def ensure(self) -> None:
        if not (self.path / "HEAD").is_file():
            writable_dir("git")
            run_git("init", "--bare", "-q", str(self.path))
        # Stored in the cache's own config, the only place git reads it from; rewritten each
        # time, which also clears credentials that older versions of mlrun stored there.
        self._run("config", "remote.origin.url", self.remote)

    def has_commit(self, rev: str) -> str | None:
        out = self._run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return out.strip() or None

    def _fetch(self, *refspecs: str, depth: bool = True) -> bool:
        shallow = ["--depth=1"] if depth else (["--unshallow"] if (self.path / "shallow").exists() else [])
        try:
            # --progress: what git prints while the download moves tells it from a hung remote.
            self._run("fetch", "-q", "--progress", "--no-tags", *shallow, "origin", *refspecs, network=True)
        except GitError as error:
            if (
                "couldn't find remote ref" in error.message
                or "not our ref" in error.message
                or "no such remote ref" in error.message
                or "unadvertised" in error.message
            ):
                return False
            if depth and "does not support shallow" in error.message:  # dumb http: no --depth
                return self._fetch(*refspecs, depth=False)
            raise self._unreachable(error) from None
        return True

    def _unreachable(self, error: GitError) -> GitError:
        # A remote that does not answer is worth a retry (exit 75); one that answers "no such
        # repository" or refuses the credentials is the user's input (exit 2).
        silent = any(sign in error.message.lower() for sign in _NO_ANSWER)
        kind = GitUnreachable if silent else GitError
        return kind(f"cannot fetch from {clean_url(self.url)}: {error.message}", hint=error.hint)

    def default_branch(self) -> str:
        try:
            out = self._run("ls-remote", "--symref", "origin", "HEAD", network=True)
        except GitError as error:
            raise self._unreachable(error) from None
        for line in out.splitlines():
            if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                return line[len("ref: refs/heads/") : -len("\tHEAD")]
        refs = self._some_refs()
        if refs == "none":
            raise GitError(f"{clean_url(self.url)} has no default branch (is it an empty repository?)")
        # A bare repository whose HEAD names a branch that does not exist (e.g. master vs main).
        raise GitError(
            f"{clean_url(self.url)} has no default branch: its HEAD names a branch that does not exist",
            hint=f"choose a version with -v; versions there include: {refs}",
        )

    def resolve(self, version: str | None, refresh: bool) -> Resolved:
        """The commit for `version` (a branch, tag or commit; default: the remote's HEAD branch)."""
        if version is not None and not refresh and len(version) == 40 and _SHA.match(version):
            known = self.has_commit(version)
            if known:
                return Resolved(known, None)  # already here: no network round trip at all
        branch = version or self.default_branch()
        if self._fetch(f"+refs/heads/{branch}:refs/remotes/origin/{branch}"):
            return Resolved(self._must(f"refs/remotes/origin/{branch}"), branch)
        assert version is not None
        if self._fetch(f"+refs/tags/{version}:refs/tags/{version}"):
            return Resolved(self._must(f"refs/tags/{version}"), None)
        if _SHA.match(version):
            if len(version) == 40 and self._fetch(version):
                return Resolved(self._must(version), None)
            # A short commit id can only be found in the full history.
            self._fetch("+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*", depth=False)
            found = self.has_commit(version)
            if found:
                return Resolved(found, None)
        raise GitError(
            f"unknown version {version!r} of {clean_url(self.url)}",
            hint=f"versions there include: {self._some_refs()}",
        )

    def _must(self, rev: str) -> str:
        found = self.has_commit(rev)
        if not found:
            raise GitError(f"cannot resolve {rev} in {clean_url(self.url)}")
        return found

    def _some_refs(self) -> str:
        out = self._run("ls-remote", "--heads", "--tags", "origin", network=True, check=False)
        names = [
            line.split("\t", 1)[1].removeprefix("refs/heads/").removeprefix("refs/tags/")
            for line in out.splitlines()
            if "\t" in line and not line.endswith("^{}")
        ]
        return ", ".join(names[:10]) or "none"

    def add_worktree(self, commit: str) -> Path:
        root = writable_dir("git", "checkouts")
        target = Path(tempfile.mkdtemp(prefix=f"{self.path.name}-", dir=root))
        self._run("worktree", "add", "-q", "--detach", "--force", str(target), commit)
        if (target / ".gitmodules").is_file():
            run_git(
                "submodule", "update", "-q", "--progress", "--init", "--recursive", cwd=target, network=True
            )
        return target

    def remove_worktree(self, target: Path) -> None:
        if not self._ok_remove(target):
            shutil.rmtree(target, ignore_errors=True)
            self._run("worktree", "prune", check=False)

    def _ok_remove(self, target: Path) -> bool:
        try:
            self._run("worktree", "remove", "--force", str(target))
        except GitError:
            return False
        return True


def lock_for(cache: RepoCache) -> FileLock:
    from filelock import FileLock

    writable_dir("git")  # a read-only $MLRUN_HOME is a clear error, not a traceback
    # Another mlrun fetching the same repository: its download may be long, but it is moving.
    return FileLock(str(cache.path) + ".lock", timeout=max((total_timeout_s() or 120) * 2, 60))
