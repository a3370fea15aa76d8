"""The UnixFS importer on its own: known CIDs, the node bytes, streaming, flat memory."""

from __future__ import annotations

import contextlib
import hashlib
import random
import tracemalloc

import pytest

from compiler import unixfs, unixfs_read
from compiler.ir import Link
from compiler.unixfs import CHUNK_SIZE, Entry, FileBuilder, directory_entry, file_entry


def cid(entry: Entry) -> str:
    return str(Link(entry.cid))


def test_well_known_cids() -> None:
    # What `ipfs add --cid-version=1` prints for these (and what kubo's docs show).
    assert cid(file_entry(b"")) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert cid(file_entry(b"hello world\n")) == (
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    )
    assert cid(directory_entry([])) == "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


def test_a_file_node_is_written_as_the_specs_say() -> None:
    data = bytes(range(256)) * 1025  # one full chunk and 256 bytes
    blocks: dict[bytes, bytes] = {}
    root = file_entry(data, blocks.setdefault)
    first, second = data[:CHUNK_SIZE], data[CHUNK_SIZE:]
    leaf1, leaf2 = unixfs.raw_cid(first), unixfs.raw_cid(second)
    # PBNode: links (field 2) first, then Data (field 1); in a link: Hash, Name (empty,
    # but present), Tsize. UnixFS Data: Type=File, filesize, blocksizes (unpacked).
    link1 = b"\x0a\x24" + leaf1 + b"\x12\x00" + b"\x18" + unixfs.varint(len(first))
    link2 = b"\x0a\x24" + leaf2 + b"\x12\x00" + b"\x18" + unixfs.varint(len(second))
    meta = b"\x08\x02\x18" + unixfs.varint(len(data))
    meta += b"\x20" + unixfs.varint(len(first)) + b"\x20" + unixfs.varint(len(second))
    node = b"\x12" + bytes([len(link1)]) + link1 + b"\x12" + bytes([len(link2)]) + link2
    node += b"\x0a" + bytes([len(meta)]) + meta
    assert blocks[root.cid] == node
    assert root.cid == b"\x01\x70\x12\x20" + hashlib.sha256(node).digest()
    assert root.tsize == len(node) + len(data)
    assert blocks[leaf1] == first
    assert blocks[leaf2] == second


def test_a_directory_sorts_its_names_as_bytes() -> None:
    a, b = file_entry(b"a"), file_entry(b"b")
    names = ["b", "B", "a-b", "a.b", "\U0001f600", "\uff21", "é"]
    blocks: dict[bytes, bytes] = {}
    entries = [(n.encode(), a if i % 2 else b) for i, n in enumerate(names)]
    root = directory_entry(entries, blocks.setdefault)
    assert root == directory_entry(list(reversed(entries)))
    block = blocks[root.cid]
    order = sorted(n.encode() for n in names)
    positions = [block.index(b"\x12" + bytes([len(n)]) + n + b"\x18") for n in order]
    assert positions == sorted(positions)
    assert block.endswith(b"\x0a\x02\x08\x01")  # Data: Type=Directory, nothing else


@pytest.mark.parametrize("name", [b"", b"a/b", b".", b".."])
def test_directory_names_are_checked(name: bytes) -> None:
    with pytest.raises(ValueError, match="not a directory entry name"):
        directory_entry([(name, file_entry(b""))])


def test_two_entries_with_one_name() -> None:
    with pytest.raises(ValueError, match="two entries"):
        directory_entry([(b"x", file_entry(b"")), (b"x", file_entry(b"1"))])


def test_symlink_node() -> None:
    blocks: dict[bytes, bytes] = {}
    entry = unixfs.symlink_entry(b"../target", blocks.setdefault)
    assert blocks[entry.cid] == b"\x0a\x0d\x08\x04\x12\x09../target"
    assert entry.tsize == 15


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 174 * CHUNK_SIZE, 175 * CHUNK_SIZE]
)
def test_pieces_of_any_size_give_the_same_cid(size: int) -> None:
    data = random.Random(size).randbytes(size)
    whole = file_entry(data)
    for piece in (1000, 65_536, CHUNK_SIZE, 3 * CHUNK_SIZE + 7):
        builder = FileBuilder()
        for i in range(0, len(data), piece):
            builder.write(data[i : i + piece])
        assert builder.finish() == whole, piece
    assert whole.filesize == size


class Pattern:
    """A stream of `size` bytes made up on the fly, read with readinto (like a raw file)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = bytes(range(256)) * 4096  # 1 MiB

    def readinto(self, buffer: memoryview, /) -> int:
        n = min(len(buffer), self.left, len(self.block))
        buffer[:n] = self.block[:n]
        self.left -= n
        return n


def test_read_from_equals_write() -> None:
    size = 2 * CHUNK_SIZE + 12_345
    builder = FileBuilder()
    assert builder.read_from(Pattern(size)) == size
    data = (bytes(range(256)) * 4096)[: 1 << 20]
    expected = file_entry((data * 1)[:size])
    assert builder.finish() == expected


def test_memory_stays_flat() -> None:
    # 200 MiB through the builder: what it allocates does not grow with the file.
    stream = Pattern(200 << 20)
    tracemalloc.start()
    try:
        builder = FileBuilder()
        builder.read_from(stream)
        root = builder.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert root.filesize == 200 << 20
    assert peak < 1 << 20, f"peak {peak:,} bytes"


def test_the_balanced_tree_has_a_second_layer_after_174_chunks() -> None:
    nodes = []

    def keep(c: bytes, b: bytes) -> None:
        if c.startswith(b"\x01\x70"):
            nodes.append(b)

    builder = FileBuilder(keep)
    builder.read_from(Pattern(175 * CHUNK_SIZE))
    builder.finish()
    # One full node of 174 leaves, one of a single leaf, and the root over both.
    assert [n.count(b"\x0a\x24\x01\x55") for n in nodes] == [174, 1, 0]
    assert nodes[2].count(b"\x0a\x24\x01\x70") == 2


# --- reading back -----------------------------------------------------------------------


def test_files_read_back_exactly_whatever_their_size() -> None:
    """Raw leaves, a two-level tree, the empty file: every byte comes back, in order."""
    rng = random.Random(5)
    for size in (0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, CHUNK_SIZE * 175 + 3):
        data = rng.randbytes(size)
        blocks: dict[bytes, bytes] = {}
        root = file_entry(data, blocks.setdefault)
        assert b"".join(unixfs_read.file_chunks(root.cid, blocks.get)) == data, size
        node = unixfs_read.read_node(root.cid, blocks.get)
        assert node.kind == (unixfs_read.KIND_RAW if size <= CHUNK_SIZE else unixfs_read.KIND_FILE)


def test_directories_and_symlinks_read_back() -> None:
    blocks: dict[bytes, bytes] = {}
    inner = directory_entry([(b"x.txt", file_entry(b"x\n", blocks.setdefault))], blocks.setdefault)
    link = unixfs.symlink_entry(b"../elsewhere", blocks.setdefault)
    root = directory_entry([(b"sub", inner), (b"ln", link)], blocks.setdefault)
    node = unixfs_read.read_node(root.cid, blocks.get)
    entries = dict(unixfs_read.directory_links(node, blocks.get))
    assert sorted(entries) == ["ln", "sub"]
    assert unixfs_read.read_node(entries["ln"], blocks.get).data == b"../elsewhere"
    sub = unixfs_read.read_node(entries["sub"], blocks.get)
    ((name, x),) = unixfs_read.directory_links(sub, blocks.get)
    assert name == "x.txt"
    assert b"".join(unixfs_read.file_chunks(x, blocks.get)) == b"x\n"


def test_a_block_must_hash_to_its_cid_and_be_there() -> None:
    blocks: dict[bytes, bytes] = {}
    root = file_entry(b"y" * (CHUNK_SIZE + 1), blocks.setdefault)
    leaf = next(c for c in blocks if c != root.cid)
    tampered = dict(blocks)
    tampered[leaf] = b"z" + blocks[leaf][1:]
    with pytest.raises(unixfs_read.UnixFSError, match="does not hash"):
        b"".join(unixfs_read.file_chunks(root.cid, tampered.get))
    missing = {k: v for k, v in blocks.items() if k != leaf}
    with pytest.raises(unixfs_read.BlockMissing) as info:
        b"".join(unixfs_read.file_chunks(root.cid, missing.get))
    assert info.value.cid == leaf


def test_malformed_nodes_are_errors_not_crashes() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        block = rng.randbytes(rng.randrange(0, 40))
        with contextlib.suppress(unixfs_read.UnixFSError):
            unixfs_read.decode_node(block)


def test_a_hamt_sharded_directory_reads_back_whole() -> None:
    """Entries spread over shards and sub-shards (forced here, as kubo does for large
    folders): every name and CID comes back, sorted, whatever the buckets."""
    blocks: dict[bytes, bytes] = {}
    files = {
        f"file-{i:04d}.txt": file_entry(f"{i}\n".encode(), blocks.setdefault) for i in range(600)
    }
    root = unixfs.hamt_directory_entry(
        ((n.encode(), e) for n, e in files.items()), blocks.setdefault
    )
    node = unixfs_read.read_node(root.cid, blocks.get)
    assert node.kind == unixfs_read.KIND_HAMT
    assert node.fanout == 256
    shards = [b for c, b in blocks.items() if unixfs_read.codec_of(c) == unixfs_read.DAG_PB]
    assert len(shards) > 1  # 600 names in 256 buckets: some share one, a sub-shard
    got = unixfs_read.directory_links(node, blocks.get)
    assert got == sorted((n, e.cid) for n, e in files.items())
    assert unixfs_read.resolve(root.cid, "file-0042.txt", blocks.get) == files["file-0042.txt"].cid
