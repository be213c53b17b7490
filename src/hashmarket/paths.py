"""Where Hashmarket keeps its files when nobody says otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """``$HASHMARKET_DATA_DIR``, else ``$XDG_DATA_HOME/hashmarket``, else
    ``~/.local/share/hashmarket``."""
    env = os.environ.get("HASHMARKET_DATA_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "hashmarket"
