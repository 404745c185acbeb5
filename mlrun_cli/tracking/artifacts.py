"""Reading a run's artifact back (`mlrun runs rerun` reads `mlrun/git.diff` and
`mlrun/environment.txt`), on any tracker.

A tracker may have `read_artifact(record, path) -> bytes | None` of its own (an optional part of
the Tracker protocol: the REST tracker downloads through the server's artifact proxy); without
it, an artifact store that is a local folder (a file store's, or a server's `file:` one) is read
in place. None: the run has no such artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from mlrun_cli.errors import TrackingError, TrackingUnreachable
from mlrun_cli.tracking.base import RunRecord, Tracker


def read_artifact(tracker: Tracker, record: RunRecord, path: str) -> bytes | None:
    """The bytes of the run's artifact at `path` (e.g. `mlrun/git.diff`), None when absent."""
    own = getattr(tracker, "read_artifact", None)
    if callable(own):
        data: bytes | None = own(record, path)
        return data
    return read_local(record.artifact_uri, path)


def read_local(artifact_uri: str, path: str) -> bytes | None:
    """From an artifact store that is a folder here; TrackingError for one that is not."""
    if artifact_uri.startswith("file:"):
        root = Path(unquote(urlparse(artifact_uri).path))
    elif artifact_uri.startswith("/"):
        root = Path(artifact_uri)
    else:
        raise TrackingError(f"cannot read artifacts from {artifact_uri} (not a local folder)")
    file = root / path
    try:
        return file.read_bytes() if file.is_file() else None
    except OSError as error:
        raise TrackingError(f"cannot read artifact {path}: {error.strerror or error}") from None


def read_over_rest(
    server: str, headers: dict[str, str], context: Any, artifact_uri: str, path: str
) -> bytes | None:
    """Through an MLflow server's artifact proxy (`mlflow-artifacts:` URIs, `--serve-artifacts`),
    held to mlrun's network budget; a `file:` store the server shares with this machine is read
    in place."""
    import urllib.error
    import urllib.request

    from mlrun_cli.shared.budget import budget

    if not artifact_uri.startswith("mlflow-artifacts:"):
        return read_local(artifact_uri, path)
    target = artifact_uri.split(":", 1)[1].lstrip("/")
    url = f"{server}/api/2.0/mlflow-artifacts/artifacts/{quote(f'{target}/{path}')}"
    request = urllib.request.Request(url, method="GET", headers=headers)
    limits = budget()
    try:
        with urllib.request.urlopen(request, timeout=limits.call_s, context=context) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        if error.code >= 500:
            raise TrackingUnreachable(f"the tracking server {server} failed ({error.code})") from None
        raise TrackingError(f"cannot read artifact {path} from {server} ({error.code})") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TrackingUnreachable(f"cannot reach the tracking server {server}: {reason}") from None
