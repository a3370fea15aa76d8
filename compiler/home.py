"""The data dir: where the store, caches and keys live.

`$JOBC_HOME` when set, else `$XDG_DATA_HOME/jobc`, else `~/.local/share/jobc`.
It is created on first use, readable by its owner only.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(*, create: bool = False) -> Path:
    """The data dir (created, mode 0700, when `create`)."""
    env = os.environ.get("JOBC_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = (
            Path(xdg).expanduser()
            if xdg and Path(xdg).is_absolute()
            else (Path.home() / ".local" / "share")
        )
        path = base / "jobc"
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
