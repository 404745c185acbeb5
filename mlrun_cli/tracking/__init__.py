"""Tracking backends by URI scheme: built-ins here, third-party ones through entry points."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlparse

from mlrun_cli.errors import PluginError, TrackingError
from mlrun_cli.shared.registry import Registry
from mlrun_cli.tracking.base import Tracker

ENTRY_POINT_GROUP = "mlrun_cli.tracking"
NO_TRACKING = "none"
"""The tracking URI of --no-track: the run is recorded nowhere."""
DEFAULT_TRACKING_DIR = "mlruns"


TrackerFactory = Callable[[str], Tracker]


def _adapt(name: str, factory: object) -> TrackerFactory:
    if not callable(factory):
        raise PluginError(f"tracking plugin {name!r} is not a factory (uri) -> Tracker")
    return factory


_DATABASES = ("sqlite", "postgresql", "mysql", "mssql", "databricks")
TRACKERS: Registry[TrackerFactory] = Registry(
    "tracking backend",
    ENTRY_POINT_GROUP,
    {
        "": "mlrun_cli.tracking.filestore.store:FileStore.from_uri",
        "file": "mlrun_cli.tracking.filestore.store:FileStore.from_uri",
        "http": "mlrun_cli.tracking.rest.tracker:RestTracker",
        "https": "mlrun_cli.tracking.rest.tracker:RestTracker",
        # MLflow's own client writes its databases; mlrun never does.
        **dict.fromkeys(_DATABASES, "mlrun_cli.tracking.mlflow_client:MlflowClientTracker"),
    },
    _adapt,
)


def resolve_tracking_uri(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else ./mlruns in the working directory."""
    environ = os.environ if environ is None else environ
    return explicit or environ.get("MLFLOW_TRACKING_URI") or str(Path(DEFAULT_TRACKING_DIR).absolute())


def _scheme(uri: str) -> str:
    scheme = urlparse(uri).scheme
    # A one-letter scheme is a Windows drive letter; treat it as a path.
    return "" if len(scheme) <= 1 else scheme.lower()


def get_tracker(uri: str) -> Tracker:
    if uri == NO_TRACKING:
        from mlrun_cli.tracking.null import NullTracker

        return NullTracker()
    if "\0" in uri or "%00" in uri:  # no path or URL may hold one; pathlib and sockets refuse it
        raise TrackingError("the tracking URI may not contain a NUL byte")
    scheme = _scheme(uri)
    if scheme not in TRACKERS.builtin and scheme not in TRACKERS.names():
        raise TrackingError(
            f"no tracking backend for scheme '{scheme}' (from {uri!r})",
            hint=f"plugins register under the entry-point group '{ENTRY_POINT_GROUP}'",
        )
    return TRACKERS.get(scheme)(uri)
