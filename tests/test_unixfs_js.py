"""jobc's UnixFS CIDs equal those of an independent importer (npm `ipfs-unixfs-importer`,
the one js-ipfs and Helia use) with kubo's `ipfs add --cid-version=1` options.

Generated trees: files at every chunking boundary (empty, 1 byte, one chunk, one chunk
+ 1, 174 chunks: one full node, 175: a second layer), odd sizes, nested and empty
directories, unicode names (NFC and NFD side by side), names whose byte order differs
from their case order, hidden files, symlinks (relative, absolute, dangling, to a
directory), and HAMT-sharded directories: just below, exactly at and just above kubo's
threshold, nested, with sub-shards three levels deep, holding every kind of entry, and
the one case where the two importers decide differently (many subdirectories). A 100 MiB
file is `slow`.
"""

from __future__ import annotations

import itertools
import os
import random
import tracemalloc
from pathlib import Path

import pytest

from compiler import unixfs
from compiler.ir import Link
from compiler.oracles.content import Hasher
from tests import dagpb, unixfs_js

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


def _wide(folder: Path, count: int, name_length: int = 28) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{i:0{name_length}d}").write_bytes(b"")
    return folder


def _root_type(path: Path) -> int:
    """The UnixFS type of the root node jobc makes for a directory (1 plain, 5 a HAMT)."""
    blocks: dict[bytes, bytes] = {}
    root = Hasher(progress=False, sink=blocks.__setitem__).path(path)
    kind = dagpb.data(blocks[root.cid])[1]
    assert isinstance(kind, int)
    return kind


def test_directories_around_the_hamt_threshold(tmp_path: Path, js_available: None) -> None:
    # Entries of 28-byte names and 36-byte CIDs: 4,096 of them are exactly 262,144 bytes
    # by kubo's estimate, the most one directory node holds; one more shards it.
    below = _wide(tmp_path / "below", 4095)
    at = _wide(tmp_path / "at", 4096)
    above = _wide(tmp_path / "above", 4097)
    paths = [below, at, above]
    assert {p: ours(p) for p in paths} == unixfs_js.cids(paths)
    assert [_root_type(p) for p in paths] == [1, 1, 5]


def _write_sharded(root: Path, count: int, seed: int) -> None:
    """`count` entries of every kind: files (empty, small, two chunks), symlinks, unicode."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    for i in range(count):
        kind = i % 10
        if kind == 0:
            os.symlink(f"target-{i}", root / f"link-{i:05d}")
        elif kind == 1:
            (root / f"caf\u00e9-{i:05d}").write_bytes(rng.randbytes(rng.randrange(100)))
        elif kind == 2:
            (root / f"cafe\u0301-{i:05d}").write_bytes(b"")  # NFD beside the NFC one
        elif kind == 3:
            (root / f"\u65e5\u672c-{i:05d}.txt").write_bytes(rng.randbytes(10))
        elif kind == 4:
            (root / f"\U0001f600 {i:05d}").write_bytes(b"")
        else:
            (root / f"file-{i:05d}.bin").write_bytes(rng.randbytes(rng.randrange(64)))
    (root / "empty-dir").mkdir()
    _write(root / "two-chunks.bin", CHUNK + 1, seed)


def test_sharded_directories_with_every_kind_of_entry(tmp_path: Path, js_available: None) -> None:
    # A sharded directory holding a sharded directory (nested HAMTs), symlinks, empty
    # files, unicode names and an empty directory; 6,000-7,000 entries put 23-27 names in
    # each bucket of the root, so most buckets are sub-shards and some of those have
    # sub-shards of their own.
    top = tmp_path / "top"
    _write_sharded(top, 7000, 1)
    _write_sharded(top / "nested-sharded", 6000, 2)
    _write(top / "small-dir" / "only", 3, 3)
    blocks: dict[bytes, bytes] = {}
    root = Hasher(progress=False, sink=blocks.__setitem__).path(top)
    shards = [b for b in blocks.values() if b.endswith(b"\x28\x22\x30\x80\x02")]
    assert len(shards) > 2 * 256  # the two roots and their sub-shards
    nested = top / "nested-sharded"
    assert [_root_type(top), _root_type(nested)] == [5, 5]
    paths = [top, nested]
    assert {p: ours(p) for p in paths} == unixfs_js.cids(paths)
    assert str(Link(root.cid)) == ours(top)


def test_names_crowding_one_bucket(tmp_path: Path, js_available: None) -> None:
    # 4,800 names of 23 bytes (over kubo's threshold), 300 of them chosen to fall in
    # bucket 00 at the root, 30 of those in bucket 00 below it too: sub-shards three
    # levels deep or more.
    folder = tmp_path / "crowded"
    folder.mkdir()
    first = second = plain = 0
    for i in itertools.count():
        name = f"crowded-name-{i:010d}"
        top = unixfs.hamt_hash(name.encode()) >> 48
        if top == 0 and second < 30:
            second += 1
        elif top >> 8 == 0 and first < 270:
            first += 1
        elif plain < 4500:
            plain += 1
        else:
            if second == 30 and first == 270:
                break
            continue
        (folder / name).write_bytes(b"")
    blocks: dict[bytes, bytes] = {}
    root = Hasher(progress=False, sink=blocks.__setitem__).path(folder)
    assert dagpb.hamt_tree(blocks, root.cid)[1] >= 3
    assert str(Link(root.cid)) == unixfs_js.cids([folder])[folder]


def test_subdirectories_count_for_kubo_not_for_the_js_importer(
    tmp_path: Path, js_available: None
) -> None:
    # 5,000 subdirectories of 19-byte names, each holding one file: 5,000 x (19 + 36) =
    # 275,000 bytes by kubo's estimate, which counts every link: kubo shards it. The JS
    # importer counts only entries it has CIDs for while it adds them, so subdirectories
    # with entries count 0 and it keeps one node. jobc follows kubo (docs/content.md).
    folder = tmp_path / "many-subdirs"
    for i in range(5000):
        sub = folder / f"subdirectory-{i:06d}"
        sub.mkdir(parents=True)
        (sub / "f").write_bytes(b"")
    assert _root_type(folder) == 5
    # The JS importer's CID is that of the same entries in one Directory node.
    hasher = Hasher(progress=False)
    entries = sorted((p.name.encode(), hasher.path(p)) for p in folder.iterdir())
    one_node = unixfs.pb_node(
        [(e.cid, name, e.tsize) for name, e in entries], unixfs.unixfs_data(1)
    )
    assert unixfs_js.cids([folder])[folder] == str(Link(unixfs.dag_pb_cid(one_node)))
    # Made to shard (at 50 bytes: each 55-byte subdirectory link counts while it is
    # added, a subdirectory's own 37 bytes do not reach it), the JS importer builds the
    # very HAMT jobc does.
    assert ours(folder) == unixfs_js.cids([folder], shard_threshold=50)[folder]


@pytest.mark.slow
def test_a_100_mib_file(tmp_path: Path, js_available: None) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        rng = random.Random(100)
        for _ in range(100):
            f.write(rng.randbytes(1 << 20))
    assert ours(path) == unixfs_js.cids([path])[path]


@pytest.mark.slow
def test_a_directory_of_100_000_files(tmp_path: Path, js_available: None) -> None:
    # 100,000 files of 1 KiB (100 MiB of content) in one directory: the HAMT both
    # importers build, and jobc holds names and CIDs while it hashes, never contents.
    folder = tmp_path / "wide"
    folder.mkdir()
    rng = random.Random(7)
    for i in range(100_000):
        (folder / f"entry-{i:06d}.dat").write_bytes(rng.randbytes(1024))
    tracemalloc.start()
    try:
        got = ours(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # About 0.5 KiB a name (its two listings, its entry, its place in the trie): far
    # below the 100 MiB the files hold.
    assert peak < 64 << 20, f"peak {peak:,} bytes"
    assert _root_type(folder) == 5
    assert got == unixfs_js.cids([folder])[folder]
