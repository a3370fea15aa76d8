"""jobc's UnixFS CIDs equal those of an independent importer (npm `ipfs-unixfs-importer`,
the one js-ipfs and Helia use) with kubo's `ipfs add --cid-version=1` options.

Generated trees: files at every chunking boundary (empty, 1 byte, one chunk, one chunk
+ 1, 174 chunks: one full node, 175: a second layer), odd sizes, nested and empty
directories, unicode names (NFC and NFD side by side), names whose byte order differs
from their case order, hidden files, symlinks (relative, absolute, dangling, to a
directory), and a directory exactly at kubo's HAMT threshold. A 100 MiB file is `slow`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from compiler import unixfs
from compiler.ir import Link
from compiler.oracles.content import Hasher
from tests import unixfs_js

CHUNK = unixfs.CHUNK_SIZE


@pytest.fixture(scope="module")
def js_available() -> None:
    try:
        unixfs_js.installed()
    except unixfs_js.Unavailable as exc:
        pytest.skip(str(exc))


def ours(path: Path) -> str:
    return str(Link(Hasher(progress=False).path(path).cid))


def _write(path: Path, size: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


FILE_SIZES = {
    "empty": 0,
    "one-byte": 1,
    "one-chunk": CHUNK,
    "one-chunk-plus-one": CHUNK + 1,
    "two-chunks-minus-one": 2 * CHUNK - 1,
    "odd": 1_000_003,
    "174-chunks": 174 * CHUNK,
    "174-chunks-plus-one": 174 * CHUNK + 1,
    "175-chunks": 175 * CHUNK,
    "350-chunks-plus-7": 350 * CHUNK + 7,
}


def test_files_at_every_boundary(tmp_path: Path, js_available: None) -> None:
    paths = [_write(tmp_path / name, size, i) for i, (name, size) in enumerate(FILE_SIZES.items())]
    expected = unixfs_js.cids(paths)
    got = {p: ours(p) for p in paths}
    assert got == expected
    # The single-chunk ones are raw leaves, the others dag-pb roots.
    for p in paths:
        assert got[p].startswith("bafkrei" if p.stat().st_size <= CHUNK else "bafybei"), p.name


def _tree(root: Path) -> Path:
    """A directory with every kind of entry and name the importers must agree on."""
    _write(root / "a.txt", 10, 1)
    _write(root / "B.txt", 20, 2)  # uppercase sorts before lowercase (byte order)
    _write(root / "a", 0, 3)
    _write(root / "a-b", 1, 4)  # '-' (0x2d) < '.' (0x2e) < '/' < letters
    _write(root / "a.b", 1, 5)
    _write(root / ".hidden", 7, 6)  # kept: `ipfs add -r -H`
    _write(root / "nested" / "deeper" / "deepest" / "leaf.bin", CHUNK + 5, 7)
    _write(root / "nested" / "multi.bin", 3 * CHUNK, 8)
    (root / "empty-dir").mkdir()
    (root / "nested" / "also-empty").mkdir()
    _write(root / "unicode" / "caf\u00e9.txt", 3, 9)  # NFC é
    _write(root / "unicode" / "cafe\u0301.txt", 4, 10)  # NFD e + combining acute
    _write(root / "unicode" / "\u65e5\u672c\u8a9e", 5, 11)
    _write(root / "unicode" / "\U0001f600 emoji", 6, 12)
    _write(root / "unicode" / "\uff21 fullwidth", 6, 13)  # U+FF21 sorts before U+1F600
    _write(root / "with space", 2, 14)
    os.symlink("a.txt", root / "link-relative")
    os.symlink("/etc/hostname", root / "link-absolute")
    os.symlink("does/not/exist", root / "link-dangling")
    os.symlink("nested", root / "link-to-dir")
    os.symlink("caf\u00e9.txt", root / "unicode" / "link-unicode")
    return root


def test_directories(tmp_path: Path, js_available: None) -> None:
    tree = _tree(tmp_path / "tree")
    empty = tmp_path / "empty"
    empty.mkdir()
    single = tmp_path / "single"
    _write(single / "only", 100, 20)
    paths = [tree, empty, single, tree / "nested", tree / "unicode"]
    assert {p: ours(p) for p in paths} == unixfs_js.cids(paths)


def test_directory_at_the_hamt_threshold(tmp_path: Path, js_available: None) -> None:
    # 4,096 entries of 28-byte names and 36-byte CIDs: exactly 262,144 bytes by kubo's
    # estimate, the most a directory holds before kubo (and the JS importer) shard it.
    folder = tmp_path / "wide"
    folder.mkdir()
    for i in range(4096):
        (folder / f"{i:028d}").write_bytes(b"")
    assert ours(folder) == unixfs_js.cids([folder])[folder]
    (folder / f"{4096:028d}").write_bytes(b"")
    with pytest.raises(Exception, match="HAMT"):
        ours(folder)


@pytest.mark.slow
def test_a_100_mib_file(tmp_path: Path, js_available: None) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        rng = random.Random(100)
        for _ in range(100):
            f.write(rng.randbytes(1 << 20))
    assert ours(path) == unixfs_js.cids([path])[path]
