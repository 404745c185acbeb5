"""conda-lock's `conda-lock.yml`: installed exactly (no solve) and written from a rattler solve."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

from mlrun_cli.errors import MlrunError
from mlrun_cli.home import mlrun_home

LOCK_NAME = "conda-lock.yml"
DOWNLOAD_TIMEOUT_S = 120


def _platform() -> str:
    from rattler.platform import Platform

    return str(Platform.current())


def _fetch(url: str, sha256: str | None, log: IO[str]) -> Path:
    """A local copy of the package at `url`, checked against the lock's hash."""
    import urllib.request

    parsed = urlparse(url)
    if parsed.scheme == "file":
        local = Path(unquote(parsed.path))
    else:
        local = mlrun_home() / "conda-pkgs" / "downloads" / Path(parsed.path).name
        if not local.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            log.write(f"downloading {url}\n")
            partial = local.with_suffix(local.suffix + ".part")
            with (
                urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
                partial.open("wb") as out,
            ):
                shutil.copyfileobj(response, out)
            partial.replace(local)
    if not local.is_file():
        raise MlrunError(f"locked package not found: {url}")
    if sha256 and hashlib.sha256(local.read_bytes()).hexdigest() != sha256:
        raise MlrunError(f"locked package {local.name} does not match the sha256 in {LOCK_NAME}")
    return local


def locked_records(lock: Path, log: IO[str]) -> list[Any]:
    """Records for this platform's conda packages in the lock, ready for rattler.install."""
    import asyncio

    import yaml
    from rattler import RepoDataRecord

    data = yaml.safe_load(lock.read_text(encoding="utf-8")) or {}
    platform = _platform()
    packages = [p for p in data.get("package") or () if p.get("manager", "conda") == "conda"]
    mine = [p for p in packages if p.get("platform") == platform]
    if not mine:
        platforms = sorted({str(p.get("platform")) for p in packages})
        raise MlrunError(
            f"{lock.name} has no packages for {platform} (it has: {', '.join(platforms) or 'none'})",
            hint="re-lock on this platform: mlrun env lock",
        )
    log.write(f"installing {len(mine)} packages from {lock} (no solve)\n")
    records = []
    for package in mine:
        archive = _fetch(str(package["url"]), (package.get("hash") or {}).get("sha256"), log)
        records.append(asyncio.run(RepoDataRecord.from_package_archive(archive)))
        log.write(f"  {package['name']} {package['version']} {package['url']}\n")
    return records


def write_lock(conda_yaml: Path, channels: tuple[str, ...], records: list[Any]) -> Path:
    """A conda-lock v1 file for this platform from solved records."""
    import yaml

    platform = _platform()
    source_hash = hashlib.sha256(conda_yaml.read_bytes()).hexdigest()
    packages = []
    for record in sorted(records, key=lambda r: r.name.normalized):
        depends = {}
        for spec in record.depends:
            name, _, constraint = spec.partition(" ")
            depends[name] = constraint
        packages.append(
            {
                "name": record.name.normalized,
                "version": str(record.version),
                "manager": "conda",
                "platform": platform,
                "dependencies": depends,
                "url": record.url,
                "hash": {
                    "md5": record.md5.hex() if record.md5 else None,
                    "sha256": record.sha256.hex() if record.sha256 else None,
                },
                "category": "main",
                "optional": False,
            }
        )
    document = {
        "version": 1,
        "metadata": {
            "content_hash": {platform: source_hash},
            "channels": [{"url": c, "used_env_vars": []} for c in channels],
            "platforms": [platform],
            "sources": [conda_yaml.name],
            "custom_metadata": {"generator": "mlrun-cli (rattler solve)"},
        },
        "package": packages,
    }
    target = conda_yaml.parent / LOCK_NAME
    target.write_text(
        "# Written by 'mlrun env lock'. Install with 'mlrun run' (no solve).\n"
        + yaml.safe_dump(document, sort_keys=False)
    )
    return target
