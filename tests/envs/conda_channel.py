"""Hand-made conda packages and a local channel, so conda environments are solved and installed
for real with no network. The "python" package links to the Python running the tests (a real
CPython, made a conda package by a pyvenv.cfg), because no conda-forge is reachable here."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
import tarfile
import time
from pathlib import Path

PY_VERSION = ".".join(str(p) for p in sys.version_info[:3])
PY_XY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _add_link(archive: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    archive.addfile(info)


def build_package(
    channel: Path,
    name: str,
    version: str,
    *,
    subdir: str = "noarch",
    depends: tuple[str, ...] = (),
    files: dict[str, tuple[str, int]] | None = None,
    links: dict[str, str] | None = None,
    noarch: str | None = "generic",
    extra_index: dict[str, object] | None = None,
) -> Path:
    """A .tar.bz2 conda package: `files` maps path -> (text, mode), `links` path -> target."""
    files, links = files or {}, links or {}
    index = {
        "name": name,
        "version": version,
        "build": "0",
        "build_number": 0,
        "depends": list(depends),
        "license": "MIT",
        "subdir": subdir,
        "timestamp": int(time.time() * 1000),
        **(extra_index or {}),
    }
    if noarch:
        index["noarch"] = noarch
    paths = [
        {
            "_path": p,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(t.encode()).hexdigest(),
            "size_in_bytes": len(t.encode()),
        }
        for p, (t, _) in files.items()
    ]
    paths += [{"_path": p, "path_type": "softlink"} for p in links]
    target = channel / subdir / f"{name}-{version}-0.tar.bz2"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:bz2") as archive:
        _add(archive, "info/index.json", json.dumps(index).encode())
        _add(archive, "info/paths.json", json.dumps({"paths": paths, "paths_version": 1}).encode())
        _add(archive, "info/files", ("\n".join([*files, *links]) + "\n").encode())
        if noarch == "python":
            _add(
                archive,
                "info/link.json",
                json.dumps({"noarch": {"type": "python"}, "package_metadata_version": 1}).encode(),
            )
        for path, (text, mode) in files.items():
            _add(archive, path, text.encode(), mode)
        for path, link_target in links.items():
            _add_link(archive, path, link_target)
    return target


def index_channel(channel: Path) -> None:
    import rattler.index

    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    asyncio.run(rattler.index.index_fs(channel, write_zst=False, write_shards=False, force=True))


def build_test_channel(channel: Path) -> Path:
    host = Path(sys.executable).resolve()
    python_files = {
        "pyvenv.cfg": (
            f"home = {host.parent}\ninclude-system-site-packages = false\nversion = {PY_VERSION}\n",
            0o644,
        ),
        f"lib/python{PY_XY}/site-packages/.keep": ("", 0o644),
    }
    build_package(
        channel,
        "python",
        PY_VERSION,
        subdir="linux-64",
        noarch=None,
        files=python_files,
        links={"bin/python": str(host), "bin/python3": "python", f"bin/python{PY_XY}": "python"},
        extra_index={"python_site_packages_path": f"lib/python{PY_XY}/site-packages"},
    )
    for version in ("1.0", "2.0"):
        build_package(
            channel,
            "mlrun-demo-data",
            version,
            files={"share/mlrun-demo/data.txt": (f"data {version}\n", 0o644)},
        )
    build_package(
        channel,
        "mlrun-demo-tool",
        "0.1",
        depends=("mlrun-demo-data >=1.0",),
        files={
            "bin/demo-tool": (
                '#!/bin/sh\necho tool sees $(cat "$CONDA_PREFIX/share/mlrun-demo/data.txt")\n',
                0o755,
            )
        },
    )
    build_package(
        channel,
        "mlrun-demo-py",
        "0.1",
        depends=("python",),
        noarch="python",
        files={"site-packages/mlrun_demo_py/__init__.py": ("VALUE = 'from conda'\n", 0o644)},
    )
    index_channel(channel)
    return channel
