"""Whether an image name is a Docker image reference, by Docker's own grammar."""

from __future__ import annotations

import re

# Docker's reference grammar; plain patterns (re caches them once used): most projects have no image.
_COMPONENT = r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$"
_DOMAIN = (
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$"
)
_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_DIGEST = r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$"


def image_problem(image: str) -> str | None:
    """Why `image` is not a Docker image reference (Docker's own grammar), or None."""
    name, _, digest = image.partition("@")
    if digest and not re.match(_DIGEST, digest):
        return f"{image!r} is not a valid image reference: bad digest {digest!r}"
    head, slash, rest = name.partition("/")
    # As Docker decides: the first part is a registry only when it looks like a host.
    has_domain = bool(slash) and ("." in head or ":" in head or head == "localhost")
    if has_domain and not re.match(_DOMAIN, head):
        return f"{image!r} is not a valid image reference: bad registry {head!r}"
    path = rest if has_domain else name
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
        if not re.match(_TAG, tag):
            return f"{image!r} is not a valid image reference: bad tag {tag!r}"
    for component in path.split("/"):
        if not re.match(_COMPONENT, component):
            why = " (repository names must be lowercase)" if component.lower() != component else ""
            return f"{image!r} is not a valid image reference: {component!r} is not a valid name{why}"
    return None
