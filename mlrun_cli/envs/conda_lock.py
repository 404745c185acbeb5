"""conda-lock's `conda-lock.yml`: installed exactly (no solve) and written from a rattler solve."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

from mlrun_cli.errors import MlrunError, ServiceUnreachable, disk_unavailable
from mlrun_cli.shared.home import mlrun_home

LOCK_NAME = "conda-lock.yml"


def _platform() -> str:
    try:  # py-rattler 0.28 renamed Platform to Subdir and warns on the old name
        from rattler.platform import Subdir
    except ImportError:  # pragma: no cover - older py-rattler
        from rattler.platform import Platform as Subdir

    return str(Subdir.current())


def _fetch(url: str, sha256: str | None, log: IO[str]) -> Path:
    """A local copy of the package at `url`, checked against the lock's hash."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        local = Path(unquote(parsed.path))
    else:
        local = mlrun_home() / "conda-pkgs" / "downloads" / Path(parsed.path).name
        if not local.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            log.write(f"downloading {url}\n")
            _download(url, local)
    if not local.is_file():
        raise MlrunError(f"locked package not found: {url}")
    if sha256 and hashlib.sha256(local.read_bytes()).hexdigest() != sha256:
        raise MlrunError(f"locked package {local.name} does not match the sha256 in {LOCK_NAME}")
    return local


def _download(url: str, local: Path) -> None:
    """`url` into `local`, within mlrun's budget (shared/budget.py): a channel that does not answer, or
    sends nothing for the call limit, is ServiceUnreachable; a download making progress goes on."""
    import urllib.error
    import urllib.request

    from mlrun_cli.shared.budget import budget
    from mlrun_cli.sources.git.urls import redact

    partial = local.with_suffix(local.suffix + ".part")
    try:
        with (
            urllib.request.urlopen(url, timeout=budget().call_s) as response,
            partial.open("wb") as out,
        ):
            shutil.copyfileobj(response, out)
    except (OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, OSError) and disk_unavailable(error):
            raise
        if isinstance(error, urllib.error.HTTPError) and error.code < 500:
            raise MlrunError(f"locked package not found: {redact(url)} (HTTP {error.code})") from None
        reason = getattr(error, "reason", None) or error
        raise ServiceUnreachable(f"cannot download {redact(url)}: {reason}") from None
    partial.replace(local)


def _packages(lock: Path) -> list[dict[str, Any]]:
    """The lock's `package` list, each a mapping with what installing it needs (SpecError if not)."""
    from mlrun_cli.documents.yamlfile import load_yaml
    from mlrun_cli.errors import Problem, SpecError

    doc = load_yaml(lock, lock.name)
    if doc.problems:
        raise SpecError(doc.problems, subject="conda-lock file")
    data = doc.data if doc.data is not None else {}
    packages = data.get("package") if isinstance(data, dict) else None
    if packages is None and isinstance(data, dict):
        return []
    problems = []
    if not isinstance(packages, list):
        line = doc.line_of(("package",))
        problems.append(Problem(doc.file, line, "package", "expected a list of packages"))
        packages = []
    for index, package in enumerate(packages):
        bad = not isinstance(package, dict) or not isinstance(package.get("hash") or {}, dict)
        if bad or any(package.get(key) is None for key in ("name", "version", "url")):
            where = ("package", index)
            message = "expected a mapping with name, version, url (and optionally hash: {sha256: ...})"
            problems.append(Problem(doc.file, doc.line_of(where), f"package[{index}]", message))
    if problems:
        raise SpecError(problems, subject="conda-lock file", hint="re-lock: mlrun env lock")
    return packages


def locked_records(lock: Path, log: IO[str]) -> list[Any]:
    """Records for this platform's conda packages in the lock, ready for rattler.install."""
    import asyncio

    from rattler import RepoDataRecord

    platform = _platform()
    packages = [p for p in _packages(lock) if p.get("manager", "conda") == "conda"]
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
