"""mlrun's own folder: caches and state live under $MLRUN_HOME (default: the user cache dir)."""

from __future__ import annotations

import os
from pathlib import Path


def mlrun_home() -> Path:
    explicit = os.environ.get("MLRUN_HOME")
    if explicit:
        return Path(explicit).expanduser().absolute()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mlrun", appauthor=False))
