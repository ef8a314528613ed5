"""Where ganvas keeps things it can rebuild: prepared datasets, Inception weights, feature stats."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) ``$GANVAS_CACHE/<parts>``, by default under ``~/.cache/ganvas``."""
    root = os.environ.get("GANVAS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "ganvas")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
