"""The independent UnixFS importer (npm `ipfs-unixfs-importer`), for conformance tests and bench.

`make test` installs it (`make js`: `npm ci` in tests/js from its lock file); run alone,
`installed()` does the same on first use. `cids(paths)` runs `tests/js/unixfs-hash.mjs`
once over every path and returns their CIDs as the JS importer gives them with kubo's
options for `ipfs add --cid-version=1`.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

JS = Path(__file__).resolve().parent / "js"
SCRIPT = JS / "unixfs-hash.mjs"


class Unavailable(RuntimeError):
    """Node.js is not on this machine."""


@functools.cache
def installed() -> Path:
    """The script's path, once the npm packages are installed (installing them if needed)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise Unavailable("node and npm are needed (make test installs them)")
    if not (JS / "node_modules" / "ipfs-unixfs-importer").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return SCRIPT


def cids(paths: Sequence[Path], *, shard_threshold: int | None = None) -> dict[Path, str]:
    """The JS importer's CID of each path (file or directory).

    `shard_threshold` replaces kubo's 262,144 bytes as the size over which it shards a
    directory (its estimate leaves out subdirectories that have entries: kubo's does not).
    """
    script = installed()
    option = [] if shard_threshold is None else [f"--shard-threshold={shard_threshold}"]
    run = subprocess.run(
        ["node", str(script), *option, *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    out: dict[Path, str] = {}
    for line, path in zip(run.stdout.splitlines(), paths, strict=True):
        cid, _, shown = line.partition("\t")
        assert shown == str(path), (shown, path)
        out[path] = cid
    return out
