"""Where jaxinterest keeps files it rebuilds on demand (tokenizer build, compiled kernels)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$JAXINTEREST_CACHE`, else `$XDG_CACHE_HOME/jaxinterest`, else `~/.cache/jaxinterest`."""
    if os.environ.get("JAXINTEREST_CACHE"):
        return Path(os.environ["JAXINTEREST_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxinterest"
