"""A run's fingerprint: a hash of what decides its result, recorded on every run (`--needed`).

Inputs: the source (a git commit, plus a hash of the files that differ from it; or,
for a plain folder, a hash of the files git would track there, honouring .gitignore), the entry
point, the parameter values as recorded, the content of `path` parameters (runs/path_digest.py),
and the env key (or the image). Their JSON is recorded too (`mlrun.fingerprint.inputs`), so two
runs can be told apart. What earlier runs wrote into the project (runs/outputs.py) is left out.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlrun_cli.envs.base import EnvPlan
from mlrun_cli.project.model import EntryPoint
from mlrun_cli.project.params import BoundParams
from mlrun_cli.shared import tags
from mlrun_cli.sources import WRITTEN_BY_RUNS, ProjectSource

_NOT_HASHED = frozenset({*WRITTEN_BY_RUNS, ".git"})
Skip = Callable[[str], bool]
"""Whether a project-relative path is left out (a run's output)."""


def _nothing(_relative: str) -> bool:
    return False


@dataclass(frozen=True)
class Fingerprint:
    value: str
    inputs: Mapping[str, object]

    def tags(self) -> dict[str, str]:
        text = json.dumps(self.inputs, sort_keys=True, separators=(",", ":"))
        if len(text) <= tags.MAX_TAG_LENGTH:
            return {tags.FINGERPRINT: self.value, tags.FINGERPRINT_INPUTS: text}
        return {tags.FINGERPRINT: self.value, **tags.split_value(tags.FINGERPRINT_INPUTS, text)}

    def with_params(self, params: Mapping[str, str]) -> Fingerprint:
        """The same run with other parameter values (a sweep's point); a path parameter keeps its
        content digest where its value is the same, and is read again where it is swept."""
        from mlrun_cli.runs import path_digest

        inputs = self.inputs
        before = inputs.get("params")
        before = before if isinstance(before, dict) else {}
        named = inputs.get("paths")
        paths = {str(k): str(v) for k, v in named.items()} if isinstance(named, dict) else {}
        swept = {n: params[n] for n in paths if params.get(n) != before.get(n) and n in params}
        paths.update(path_digest.digests({n: v for n, v in swept.items() if os.path.isabs(v)}))
        paths = {n: d for n, d in paths.items() if n not in swept or os.path.isabs(swept[n])}
        return make(str(inputs["source"]), str(inputs["entry_point"]), params, str(inputs["env"]), paths)


def make(
    source: str, entry_point: str, params: Mapping[str, str], env: str, paths: Mapping[str, str] | None = None
) -> Fingerprint:
    inputs: dict[str, object] = {
        "source": source,
        "entry_point": entry_point,
        "params": dict(sorted(params.items())),
        "env": env,
    }
    if paths:  # absent when there is none: the fingerprints of runs without path parameters stay
        inputs["paths"] = dict(sorted(paths.items()))
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return Fingerprint(hashlib.sha256(text.encode()).hexdigest(), inputs)


def of_run(source: ProjectSource, entry: EntryPoint, bound: BoundParams, env: str) -> Fingerprint:
    """A planned run's fingerprint: what earlier runs wrote into the project left out
    (runs/outputs.py); `path` parameters by content (runs/path_digest.py), always: a path given
    as the run's input counts, even one another run wrote."""
    from mlrun_cli.runs import outputs, path_digest

    is_output = outputs.is_output(source.directory) if source.cleanup is None else _nothing
    paths = {
        n: bound.values[n] for n, p in entry.parameters.items() if p.type == "path" and n in bound.values
    }
    return make(
        source_digest(source, is_output), entry.name, bound.all_values(), env, path_digest.digests(paths)
    )


def env_digest(env: EnvPlan) -> str:
    """The env's content key; a container's image when it has no key; else just its kind."""
    if env.key:
        return f"{env.manager}:{env.key}"
    if env.container is not None:
        return f"{env.manager}:{env.container.image_id or env.container.image}"
    return env.manager


def source_digest(source: ProjectSource, skip: Skip = _nothing) -> str:
    commit = source.tags.get(tags.GIT_COMMIT)
    if commit and source.cleanup is not None and not source.changed:  # a clean checkout made for this run
        return f"git:{commit}"
    if commit:
        changes = _changes_digest(source.directory, source.changed or (), skip)
        return f"git:{commit}" + (f"+changes:{changes}" if changes else "")
    return f"files:{tree_digest(source.directory, skip)}"


def _kept(relative: str) -> bool:
    parts = relative.split("/")
    return not any(p in _NOT_HASHED for p in parts) and not relative.endswith(".pyc")


def _hash_files(
    directory: Path, relatives: Iterable[str], digest: hashlib._Hash, skip: Skip, prefix: str = ""
) -> bool:
    """Hash the entries (relative to `directory`, itself at `prefix` in the project); False when
    there was none to hash."""
    hashed = False
    for relative in sorted({r.rstrip("/") for r in relatives} - {""}):
        if not _kept(relative) or skip(prefix + relative):
            continue
        path = directory / relative
        folder = None
        if path.is_dir() and not path.is_symlink():  # an untracked folder, or a submodule
            folder = _tree_digest(path, skip, "" if relative == "." else f"{prefix}{relative}/")
            if folder is None:  # nothing in it but outputs
                continue
        hashed = True
        digest.update(os.fsencode(relative) + b"\0")  # a name that is not UTF-8 is still a name
        try:
            if path.is_symlink():
                digest.update(b"link:" + os.fsencode(os.readlink(path)))
            elif not path.exists():
                digest.update(b"deleted")
            elif folder is not None:
                digest.update(b"folder:" + folder.encode())
            elif path.is_file():
                file_hash = hashlib.sha256()
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        file_hash.update(block)
                digest.update(file_hash.digest() + (b"x" if path.stat().st_mode & 0o111 else b""))
        except OSError:
            digest.update(b"unreadable")
        digest.update(b"\0")
    return hashed


def _changes_digest(directory: Path, changed: Iterable[str], skip: Skip = _nothing) -> str:
    """A hash of what differs from the commit inside the project folder: the path, present
    content and executable bit (or absence) of every entry the source's `git status` listed
    ('' when there is none beyond what runs write). With the commit in the fingerprint, the
    same content means the same run."""
    names = [n for n in changed if _kept(n.rstrip("/"))]
    digest = hashlib.sha256()
    if not names or not _hash_files(directory, names, digest, skip):
        return ""
    return digest.hexdigest()[:32]


def tree_digest(directory: Path, skip: Skip = _nothing) -> str:
    """A content hash of the files git would track in this folder (.gitignore honoured)."""
    return _tree_digest(directory, skip, "") or hashlib.sha256().hexdigest()[:32]


def _tree_digest(directory: Path, skip: Skip, prefix: str) -> str | None:
    """tree_digest, or None when every file in the folder was skipped."""
    digest = hashlib.sha256()
    listed = _walk(directory)
    # Only a .gitignore can make git's list differ from the walk: ask git (two processes) then.
    if any(name.rsplit("/", 1)[-1] == ".gitignore" for name in listed) and shutil.which("git"):
        listed = _ls_untracked(directory) or listed
    if not _hash_files(directory, listed, digest, skip, prefix) and listed:
        return None
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
