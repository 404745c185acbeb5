"""Projects in a ZIP archive (`mlflow run p.zip`): a local path, `file://`, or an http(s) URL.

The archive is checked before anything of it is run: every entry must stay in its folder (no
absolute names, no `..`, no symlink that leads out) and it must not be a bomb (at most
MAX_ENTRIES entries, MAX_BYTES unpacked, no entry unpacking to more than MAX_RATIO times its
packed size). What passed is kept unpacked under `$MLRUN_HOME/archives/<sha256>`, by content,
so the same archive is checked and unpacked once; each run gets its own copy (a run writes
into its project folder), removed afterwards, as a git worktree is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, cast
from urllib.parse import unquote, urlsplit

from mlrun_cli.errors import UsageError
from mlrun_cli.shared import tags as tag_keys
from mlrun_cli.shared.home import writable_dir
from mlrun_cli.sources import ProjectSource

MAX_ENTRIES = 20_000
MAX_BYTES = 1 << 30
"""1 GiB unpacked in all (and so at most that much downloaded)."""
MAX_RATIO = 200
RATIO_FLOOR = 1 << 20
"""An entry under 1 MiB unpacked may compress as well as it likes."""
_LINK_MAX = 4096


class ArchiveError(UsageError):
    """The archive is not a zip, escapes its folder, or is a bomb: nothing of it runs."""


def from_zip(base: str, subdir: str, version: str | None, cwd: Path) -> ProjectSource:
    """The project in the zip at `base` (#`subdir` inside it); call `close()` when the run is over."""
    if version is not None:
        raise UsageError("--version is for git sources; a zip archive has no versions")
    scheme = urlsplit(base).scheme.lower()
    root = writable_dir("archives")
    if scheme in ("http", "https"):
        from mlrun_cli.sources.download import download, shown_url

        name = shown_url(base)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".download-", suffix=".zip") as file:
            digest = download(base, cast(BinaryIO, file), max_bytes=MAX_BYTES)
            file.flush()
            tree = _unpacked(Path(file.name), digest, root, name)
    else:
        path = Path(unquote(urlsplit(base).path)) if scheme == "file" else Path(base).expanduser()
        path = (cwd / path).absolute()
        name = str(path)
        if not path.is_file():
            raise UsageError(f"no such zip archive: {path}")
        tree = _unpacked(path, _sha256(path), root, name)
    return _checkout(tree, subdir, name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _unpacked(archive: Path, digest: str, root: Path, name: str) -> Path:
    """The checked, unpacked tree of this content: from the cache, or unpacked into it now."""
    tree = root / digest
    if tree.is_dir():
        return tree
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}-", dir=root))
    try:
        _extract(archive, staging, name)
        try:
            staging.rename(tree)  # atomic: a tree in the cache is always whole
        except OSError:
            if not tree.is_dir():  # else: another run unpacked the same content first
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return tree


def _checkout(tree: Path, subdir: str, name: str) -> ProjectSource:
    checkouts = writable_dir("archives", "checkouts")
    copy = Path(tempfile.mkdtemp(prefix=f"{tree.name[:16]}-", dir=checkouts))
    shutil.copytree(tree, copy, symlinks=True, dirs_exist_ok=True)
    source = ProjectSource(copy, "", cleanup=lambda: shutil.rmtree(copy, ignore_errors=True))
    directory = copy / subdir if subdir else copy
    if not directory.is_dir():
        source.close()
        raise UsageError(f"subdirectory {subdir!r} not found in {name}")
    if not subdir and not (copy / "MLproject").exists():
        inner = sorted(p.name for p in copy.iterdir() if (p / "MLproject").is_file())
        scripts = [p for p in copy.iterdir() if p.suffix in (".py", ".sh") and p.is_file()]
        if inner and not scripts:
            # As `zip -r p.zip project/` makes it. MLflow runs an archive from its top too, and
            # fails there; nothing at the top could run, so say which folder to name.
            source.close()
            folders = " or ".join(f"{name}#{folder}" for folder in inner)
            raise UsageError(
                f"{name} has no MLproject at its top, only inside {', '.join(f + '/' for f in inner)}",
                hint=f"run {folders} (as mlflow run, the archive runs from its top unless #folder is given)",
            )
        if inner:
            sys.stderr.write(
                f"mlrun: warning: the archive has no MLproject at its top, its folder {inner[0]}/ "
                f"has one: run {name}#{inner[0]}\n"
            )
    source.directory = directory
    source.name = f"{name}#{subdir}" if subdir else name
    source.tags = {tag_keys.SOURCE_ARCHIVE_SHA256: tree.name}
    return source


def _extract(archive: Path, into: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(archive) as packed:
            entries = packed.infolist()
            _check_sizes(entries, name)
            links = []
            for entry in entries:
                relative = _safe_name(entry.filename, name)
                if relative is None:
                    continue
                if stat.S_ISLNK(entry.external_attr >> 16):
                    links.append((entry, relative))
                elif entry.is_dir():
                    (into / relative).mkdir(parents=True, exist_ok=True)
                else:
                    _write(packed, entry, into / relative)
            # Links last, so no file is ever written through one.
            for entry, relative in links:
                _link(packed, entry, into, relative, name)
            # Again once all exist: a link checked while another it goes through was missing.
            for entry, relative in links:
                _check_inside(into, relative, entry.filename, name)
    except zipfile.BadZipFile as error:
        raise ArchiveError(f"{name} is not a readable zip archive: {error}") from None
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as error:
        raise ArchiveError(f"{name}: entries clash ({error.filename}): the archive is damaged") from None


def _check_sizes(entries: list[zipfile.ZipInfo], name: str) -> None:
    if len(entries) > MAX_ENTRIES:
        raise ArchiveError(
            f"{name} has {len(entries)} entries, more than {MAX_ENTRIES}: refused as a zip bomb"
        )
    total = sum(entry.file_size for entry in entries)
    if total > MAX_BYTES:
        raise ArchiveError(
            f"{name} unpacks to {total} bytes, more than {MAX_BYTES // (1 << 20)} MiB: refused as a zip bomb"
        )
    for entry in entries:
        if entry.file_size > RATIO_FLOOR and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            raise ArchiveError(
                f"{name}: {entry.filename!r} unpacks to {entry.file_size} bytes from {entry.compress_size}, "
                f"more than {MAX_RATIO} times: refused as a zip bomb"
            )


def _safe_name(filename: str, name: str) -> str | None:
    """The entry's path inside the folder, None for the folder itself; refused when it would
    land outside it."""
    pure = PurePosixPath(filename.replace("\\", "/"))
    if "\0" in filename or pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise ArchiveError(f"{name}: entry {filename!r} would be written outside the project folder")
    parts = [part for part in pure.parts if part != "."]
    return "/".join(parts) or None


def _write(packed: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with packed.open(entry) as source, target.open("xb") as out:
        shutil.copyfileobj(source, out, 1 << 20)  # zipfile stops at the declared size and checks the CRC
    mode = (entry.external_attr >> 16) & 0o777
    if mode:
        target.chmod((mode & 0o755) | 0o600)  # the exec bit kept; never writable by others


def _link(packed: zipfile.ZipFile, entry: zipfile.ZipInfo, into: Path, relative: str, name: str) -> None:
    if entry.file_size > _LINK_MAX:
        raise ArchiveError(f"{name}: symlink {entry.filename!r} is not a link")
    pointed = packed.read(entry).decode("utf-8", "replace")
    where = into / relative
    where.parent.mkdir(parents=True, exist_ok=True)
    if os.path.isabs(pointed):
        raise ArchiveError(
            f"{name}: symlink {entry.filename!r} -> {pointed!r} leads outside the project folder"
        )
    os.symlink(pointed, where)
    _check_inside(into, relative, entry.filename, name)


def _check_inside(into: Path, relative: str, filename: str, name: str) -> None:
    inside = os.path.realpath(into)
    if os.path.commonpath([inside, os.path.realpath(into / relative)]) != inside:
        pointed = os.readlink(into / relative)
        raise ArchiveError(f"{name}: symlink {filename!r} -> {pointed!r} leads outside the project")
