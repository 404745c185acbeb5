"""A run's fingerprint: a hash of what decides its result, recorded on every run (`--needed`).

Inputs: the source (a git commit, plus a hash of the files that differ from it; or,
for a plain folder, a hash of the files git would track there, honouring .gitignore), the entry
point, the parameter values as recorded, and the env key (or the image). Their JSON is recorded
too (`mlrun.fingerprint.inputs`), so two runs can be told apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlrun_cli import tags
from mlrun_cli.envs.base import EnvPlan
from mlrun_cli.sources import WRITTEN_BY_RUNS, ProjectSource

_NOT_HASHED = frozenset({*WRITTEN_BY_RUNS, ".git"})


@dataclass(frozen=True)
class Fingerprint:
    value: str
    inputs: Mapping[str, object]

    def tags(self) -> dict[str, str]:
        text = json.dumps(self.inputs, sort_keys=True, separators=(",", ":"))
        return {tags.FINGERPRINT: self.value, tags.FINGERPRINT_INPUTS: text[: tags.MAX_TAG_LENGTH]}

    def with_params(self, params: Mapping[str, str]) -> Fingerprint:
        """The same run with other parameter values (a sweep's point)."""
        inputs = self.inputs
        return make(str(inputs["source"]), str(inputs["entry_point"]), params, str(inputs["env"]))


def make(source: str, entry_point: str, params: Mapping[str, str], env: str) -> Fingerprint:
    inputs: dict[str, object] = {
        "source": source,
        "entry_point": entry_point,
        "params": dict(sorted(params.items())),
        "env": env,
    }
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return Fingerprint(hashlib.sha256(text.encode()).hexdigest(), inputs)


def env_digest(env: EnvPlan) -> str:
    """The env's content key; a container's image when it has no key; else just its kind."""
    if env.key:
        return f"{env.manager}:{env.key}"
    if env.container is not None:
        return f"{env.manager}:{env.container.image_id or env.container.image}"
    return env.manager


def source_digest(source: ProjectSource) -> str:
    commit = source.tags.get(tags.GIT_COMMIT)
    if commit and source.cleanup is not None:  # a clean checkout made for this run
        return f"git:{commit}"
    if commit:
        changes = _changes_digest(source.directory, source.changed or ())
        return f"git:{commit}" + (f"+changes:{changes}" if changes else "")
    return f"files:{tree_digest(source.directory)}"


def _kept(relative: str) -> bool:
    parts = relative.split("/")
    return not any(p in _NOT_HASHED for p in parts) and not relative.endswith(".pyc")


def _hash_files(directory: Path, relatives: Iterable[str], digest: hashlib._Hash) -> None:
    for relative in sorted({r.rstrip("/") for r in relatives} - {""}):
        if not _kept(relative):
            continue
        path = directory / relative
        digest.update(os.fsencode(relative) + b"\0")  # a name that is not UTF-8 is still a name
        try:
            if path.is_symlink():
                digest.update(b"link:" + os.fsencode(os.readlink(path)))
            elif not path.exists():
                digest.update(b"deleted")
            elif path.is_dir():  # an untracked folder, or a submodule at another commit or dirty
                digest.update(b"folder:" + tree_digest(path).encode())
            elif path.is_file():
                file_hash = hashlib.sha256()
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        file_hash.update(block)
                digest.update(file_hash.digest() + (b"x" if path.stat().st_mode & 0o111 else b""))
        except OSError:
            digest.update(b"unreadable")
        digest.update(b"\0")


def _changes_digest(directory: Path, changed: Iterable[str]) -> str:
    """A hash of what differs from the commit inside the project folder: the path, present
    content and executable bit (or absence) of every entry the source's `git status` listed
    ('' when there is none beyond what runs write). With the commit in the fingerprint, the
    same content means the same run."""
    names = [n for n in changed if _kept(n.rstrip("/"))]
    if not names:
        return ""
    digest = hashlib.sha256()
    _hash_files(directory, names, digest)
    return digest.hexdigest()[:32]


def tree_digest(directory: Path) -> str:
    """A content hash of the files git would track in this folder (.gitignore honoured)."""
    digest = hashlib.sha256()
    listed = _walk(directory)
    # Only a .gitignore can make git's list differ from the walk: ask git (two processes) then.
    if any(name.rsplit("/", 1)[-1] == ".gitignore" for name in listed) and shutil.which("git"):
        listed = _ls_untracked(directory) or listed
    _hash_files(directory, listed, digest)
    return digest.hexdigest()[:32]


def _walk(directory: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in _NOT_HASHED]
        found += [(Path(root) / name).relative_to(directory).as_posix() for name in files]
    return found


def _ls_untracked(directory: Path) -> list[str] | None:
    from mlrun_cli.sources.git.run import GitError, run_git

    with tempfile.TemporaryDirectory(prefix="mlrun-fp-") as scratch:
        try:
            run_git("init", "-q", scratch, cwd=Path(scratch))
            git_dir = Path(scratch) / ".git"
            out = run_git(
                "--work-tree", str(directory), "ls-files", "--others", "--exclude-standard", "-z",
                cwd=directory, git_dir=git_dir,
            )  # fmt: skip
        except GitError:
            return None
    return out.split("\0")
