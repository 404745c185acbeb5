"""Tracking backends by URI scheme: built-ins here, third-party ones through entry points."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlparse

from mlrun_cli.errors import TrackingError
from mlrun_cli.tracking.base import Tracker

ENTRY_POINT_GROUP = "mlrun_cli.tracking"
DEFAULT_TRACKING_DIR = "mlruns"


def _file_store(uri: str) -> Tracker:
    from mlrun_cli.tracking.file_store import FileStore

    return FileStore.from_uri(uri)


def _rest(uri: str) -> Tracker:
    from mlrun_cli.tracking.rest import RestTracker

    return RestTracker(uri)


def _mlflow_client(uri: str) -> Tracker:
    from mlrun_cli.tracking.mlflow_client import MlflowClientTracker

    return MlflowClientTracker(uri)


BUILTIN: dict[str, Callable[[str], Tracker]] = {
    "": _file_store,
    "file": _file_store,
    "http": _rest,
    "https": _rest,
    # MLflow's own client writes its databases; mlrun never does.
    **dict.fromkeys(("sqlite", "postgresql", "mysql", "mssql", "databricks"), _mlflow_client),
}


def resolve_tracking_uri(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else ./mlruns in the working directory."""
    environ = os.environ if environ is None else environ
    return explicit or environ.get("MLFLOW_TRACKING_URI") or str(Path(DEFAULT_TRACKING_DIR).absolute())


def _scheme(uri: str) -> str:
    scheme = urlparse(uri).scheme
    # A one-letter scheme is a Windows drive letter; treat it as a path.
    return "" if len(scheme) <= 1 else scheme.lower()


def get_tracker(uri: str) -> Tracker:
    if uri == "none":
        from mlrun_cli.tracking.null import NullTracker

        return NullTracker()
    scheme = _scheme(uri)
    if scheme in BUILTIN:
        return BUILTIN[scheme](uri)
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == scheme:
            factory = entry.load()
            tracker: Tracker = factory(uri)
            return tracker
    raise TrackingError(
        f"no tracking backend for scheme '{scheme}' (from {uri!r})",
        hint=f"plugins register under the entry-point group '{ENTRY_POINT_GROUP}'",
    )
