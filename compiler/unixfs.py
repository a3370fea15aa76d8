"""UnixFS: content CIDs exactly as `ipfs add --cid-version=1` makes them (DESIGN §4).

The one place content hashing is defined, as `identity.py` is for jobs. Pure: bytes in,
CIDs and blocks out; reading files and URLs is `oracles/content.py`'s job.

kubo's defaults for CIDv1, which this follows:
- files are cut into fixed 262,144-byte chunks, each a `raw` block (raw leaves);
- a file of one chunk (or none: the empty file) is that raw block's CID (`bafkrei…`);
- larger files are a balanced DAG of dag-pb nodes with at most 174 links each, every
  node a UnixFS `File` (total size, and each child's size in `blocksizes`);
- a directory is one dag-pb node of type `Directory` whose links are named entries,
  sorted by the bytes of their names; a symlink is a dag-pb node of type `Symlink`
  holding its target; no modes and no mtimes anywhere;
- a link's `Tsize` is the child's block size plus the Tsizes of everything below it.

A directory whose entries' names and CIDs add up to more than 256 KiB (about 5,000
entries with short names) is a HAMT shard instead, as kubo builds it (boxo's
`ipld/unixfs/hamt`, the UnixFS spec's `HAMTDirectory`):
- each name is hashed with murmur3 (the x64 128-bit variant, seed 0, its first 64 bits
  `h1`: multihash `murmur3-x64-64`, 0x22); each level of the trie takes the next 8 bits
  of that hash, most significant first, as a bucket index 0-255 (fanout 256);
- a bucket holding one entry links it as `<two uppercase hex digits><name>`; a bucket
  holding several links a sub-shard, named by the two digits alone, which sorts them by
  the next 8 bits (so the trie is the same whatever order the entries came in);
- every shard is a dag-pb node of type `HAMTShard` with the occupied buckets as a
  bitfield (bit i for bucket i, as a big-endian integer without leading zero bytes), the
  hash type 0x22 and the fanout 256.

The two protobuf messages (dag-pb's PBNode/PBLink and UnixFS's Data) are written here
by hand: a few tags and varints, in the canonical order the dag-pb spec requires
(links before data; in a link: hash, name, tsize).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

CHUNK_SIZE = 262_144
"""Bytes per leaf (kubo's `size-262144` chunker)."""
MAX_LINKS = 174
"""Children per file node (kubo's balanced layout)."""
HAMT_THRESHOLD = 262_144
"""kubo shards a directory whose estimated size (names + CIDs, in bytes) is above this."""
HAMT_FANOUT = 256
"""Buckets per HAMT shard (boxo's `DefaultShardWidth`): 8 bits of the name's hash a level."""
MURMUR3_X64_64 = 0x22
"""The multihash code of the HAMT's name hash, written in every shard."""
PROFILE = "unixfs/cidv1-raw-256k-174"
"""Names the parameters above; part of every cache key, so a change never reuses a CID."""

RAW = 0x55
DAG_PB = 0x70
_RAW_PREFIX = b"\x01\x55\x12\x20"
_DAG_PB_PREFIX = b"\x01\x70\x12\x20"

# UnixFS Data.Type
_DIRECTORY = 1
_FILE = 2
_SYMLINK = 4
_HAMT_SHARD = 5

_HAMT_BITS = HAMT_FANOUT.bit_length() - 1
_HAMT_MASK = HAMT_FANOUT - 1
_HAMT_LEVELS = 64 // _HAMT_BITS
"""How deep a trie can go before the 64-bit hash runs out (kubo stops there too)."""
_HAMT_DIGITS = len(f"{_HAMT_MASK:X}")
_HAMT_PREFIX = [f"{i:0{_HAMT_DIGITS}X}".encode() for i in range(HAMT_FANOUT)]
"""Link names start with the bucket index in fixed-width uppercase hex (`00`…`FF`)."""

BlockSink = Callable[[bytes, bytes], None]
"""Takes (binary CID, block bytes) of every block made, leaves first."""


class Readable(Protocol):
    """A stream that reads into a buffer (a raw file, a socket)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class HashCollision(ValueError):
    """Two names of one directory share all 64 bits of their HAMT hash: kubo cannot add both."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A hashed file, directory or symlink: its CID and the sizes a parent link needs."""

    cid: bytes
    """The binary CIDv1."""
    tsize: int
    """Block size plus the Tsizes of everything below (a parent link's `Tsize`)."""
    filesize: int = 0
    """Bytes of file content (0 for directories and symlinks)."""


# --- protobuf -----------------------------------------------------------------------------


def varint(n: int) -> bytes:
    """An unsigned LEB128 varint (protobuf's and multiformats' integers)."""
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field_bytes(tag: int, data: bytes) -> bytes:
    return bytes((tag,)) + varint(len(data)) + data


def unixfs_data(
    kind: int,
    *,
    data: bytes = b"",
    filesize: int | None = None,
    blocksizes: Iterable[int] = (),
    hash_type: int | None = None,
    fanout: int | None = None,
) -> bytes:
    """A UnixFS `Data` message: Type (1), Data (2), filesize (3), blocksizes (4, unpacked),
    hashType (5), fanout (6), in field order as kubo writes them."""
    out = bytearray(b"\x08" + varint(kind))
    if data:
        out += _field_bytes(0x12, data)
    if filesize is not None:
        out += b"\x18" + varint(filesize)
    for size in blocksizes:
        out += b"\x20" + varint(size)
    if hash_type is not None:
        out += b"\x28" + varint(hash_type)
    if fanout is not None:
        out += b"\x30" + varint(fanout)
    return bytes(out)


def pb_node(links: Iterable[tuple[bytes, bytes, int]], data: bytes) -> bytes:
    """A dag-pb `PBNode`: every link (hash, name, tsize) as field 2, then Data as field 1.

    A link's Name is always written, even empty (as kubo and js-ipfs do for file nodes).
    """
    out = bytearray()
    for cid, name, tsize in links:
        link = _field_bytes(0x0A, cid) + _field_bytes(0x12, name) + b"\x18" + varint(tsize)
        out += _field_bytes(0x12, link)
    out += _field_bytes(0x0A, data)
    return bytes(out)


def raw_cid(data: bytes | bytearray | memoryview) -> bytes:
    """The CIDv1 (raw, sha2-256) of a leaf."""
    return _RAW_PREFIX + hashlib.sha256(data).digest()


def dag_pb_cid(block: bytes) -> bytes:
    """The CIDv1 (dag-pb, sha2-256) of a node."""
    return _DAG_PB_PREFIX + hashlib.sha256(block).digest()


# --- files --------------------------------------------------------------------------------


class FileBuilder:
    """A file's CID, fed its bytes in pieces of any size; memory stays flat.

    Leaves are hashed as soon as a chunk is full; file nodes are made as soon as 174
    siblings are waiting, so at most 174 entries wait per level of the tree
    (`log174(size / 256 KiB)` levels: 3 for a 1.3 TB file).
    """

    __slots__ = ("_buffer", "_fill", "_levels", "_sink", "_view", "size")

    def __init__(self, sink: BlockSink | None = None) -> None:
        self._sink = sink
        self._buffer = bytearray(CHUNK_SIZE)
        self._view = memoryview(self._buffer)
        self._fill = 0
        self._levels: list[list[Entry]] = [[]]
        self.size = 0
        """Bytes taken so far."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Take the next bytes of the file."""
        view = memoryview(data).cast("B")
        n = len(view)
        pos = 0
        while pos < n:
            if self._fill == 0 and n - pos >= CHUNK_SIZE:
                self._leaf(view[pos : pos + CHUNK_SIZE])  # a whole chunk: no copy
                pos += CHUNK_SIZE
                continue
            take = min(CHUNK_SIZE - self._fill, n - pos)
            self._view[self._fill : self._fill + take] = view[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == CHUNK_SIZE:
                self._leaf(self._view)
                self._fill = 0

    def read_from(self, stream: Readable, on_bytes: Callable[[int], None] | None = None) -> int:
        """Read `stream` to its end straight into the chunk buffer; returns the bytes read."""
        total = 0
        readinto = stream.readinto
        view = self._view
        while True:
            got = readinto(view[self._fill :])
            if not got:
                return total
            self._fill += got
            total += got
            if self._fill == CHUNK_SIZE:
                self._leaf(view)
                self._fill = 0
            if on_bytes is not None:
                on_bytes(got)

    def _leaf(self, chunk: memoryview) -> None:
        cid = raw_cid(chunk)
        if self._sink is not None:
            self._sink(cid, bytes(chunk))
        n = len(chunk)
        self.size += n
        self._push(0, Entry(cid, n, n))

    def _push(self, level: int, entry: Entry) -> None:
        levels = self._levels
        if level == len(levels):
            levels.append([])
        siblings = levels[level]
        siblings.append(entry)
        if len(siblings) == MAX_LINKS:
            levels[level] = []
            self._push(level + 1, self._node(siblings))

    def _node(self, children: list[Entry]) -> Entry:
        filesize = sum(c.filesize for c in children)
        data = unixfs_data(_FILE, filesize=filesize, blocksizes=[c.filesize for c in children])
        block = pb_node([(c.cid, b"", c.tsize) for c in children], data)
        cid = dag_pb_cid(block)
        if self._sink is not None:
            self._sink(cid, block)
        return Entry(cid, len(block) + sum(c.tsize for c in children), filesize)

    def finish(self) -> Entry:
        """The file's root entry (the builder cannot be used after)."""
        if self._fill or not self.size:
            # The last, short chunk; the empty file is one empty raw leaf, as in kubo.
            self._leaf(self._view[: self._fill])
            self._fill = 0
        levels = self._levels
        level = 0
        while level < len(levels):  # `_push` may add a level on the way up
            waiting = levels[level]
            if waiting:
                above = any(levels[i] for i in range(level + 1, len(levels)))
                if len(waiting) == 1 and not above:
                    return waiting[0]  # the root: a single leaf stays a raw block
                levels[level] = []
                self._push(level + 1, self._node(waiting))
            level += 1
        raise AssertionError("unreachable: a file has at least one leaf")


def file_entry(data: bytes | bytearray | memoryview, sink: BlockSink | None = None) -> Entry:
    """The entry of a file given whole (inline text, `data:` URIs)."""
    builder = FileBuilder(sink)
    builder.write(data)
    return builder.finish()


# --- directories and symlinks -------------------------------------------------------------


def directory_entry(entries: Iterable[tuple[bytes, Entry]], sink: BlockSink | None = None) -> Entry:
    """A directory of (UTF-8 name, entry) pairs, in any order, as kubo stores it.

    One `Directory` node with the entries sorted by name bytes, or a HAMT shard when the
    names and CIDs add up to more than `HAMT_THRESHOLD` bytes: boxo's estimate
    (`SizeEstimationLinks`, kubo's default), compared with `>`, so a directory exactly at
    the threshold stays one node. Raises ValueError on a repeated or empty name, or one
    holding `/`; HashCollision where kubo fails too.
    """
    ordered = _checked(entries)
    if sum(len(name) + len(entry.cid) for name, entry in ordered) > HAMT_THRESHOLD:
        return _hamt_shard(_hashed(ordered), 0, sink)
    block = pb_node([(e.cid, name, e.tsize) for name, e in ordered], unixfs_data(_DIRECTORY))
    return _node_entry(block, sum(e.tsize for _, e in ordered), sink)


def hamt_directory_entry(
    entries: Iterable[tuple[bytes, Entry]], sink: BlockSink | None = None
) -> Entry:
    """A directory as a HAMT shard whatever its size (what kubo makes with its sharding
    threshold set low, as some fixtures are); `directory_entry` decides as kubo does."""
    return _hamt_shard(_hashed(_checked(entries)), 0, sink)


def hamt_hash(name: bytes) -> int:
    """The 64-bit hash that places `name` in a HAMT: murmur3 x64 128-bit, seed 0, first half.

    go-ipfs took `h1` of the 128-bit hash and read it big-endian, bits from the most
    significant; the JS importer takes the same bits (reversing the digest's first 8 bytes).
    """
    import mmh3  # only large directories need it

    h1: int = mmh3.mmh3_x64_128_utupledigest(name, 0)[0]
    return h1


def _checked(entries: Iterable[tuple[bytes, Entry]]) -> list[tuple[bytes, Entry]]:
    ordered = sorted(entries, key=_name)
    for i, (name, _) in enumerate(ordered):
        if not name or b"/" in name or name in (b".", b".."):
            raise ValueError(f"not a directory entry name: {name!r}")
        if i and ordered[i - 1][0] == name:
            raise ValueError(f"two entries named {name.decode(errors='replace')!r}")
    return ordered


def _name(item: tuple[bytes, Entry]) -> bytes:
    return item[0]


_Hashed = tuple[int, bytes, Entry]


def _hashed(ordered: list[tuple[bytes, Entry]]) -> list[_Hashed]:
    return [(hamt_hash(name), name, entry) for name, entry in ordered]


def _hamt_shard(entries: list[_Hashed], level: int, sink: BlockSink | None) -> Entry:
    """The shard at `level` of the trie holding `entries` (two or more, or the root)."""
    if level == _HAMT_LEVELS:
        names = ", ".join(repr(name.decode(errors="replace")) for _, name, _ in entries[:3])
        if len(entries) > 3:
            names += f" and {len(entries) - 3:,} more"
        raise HashCollision(
            f"the names {names} share all 64 bits of their murmur3 hash: kubo cannot store "
            "them in one directory (it fails with 'sharded directory too deep')"
        )
    shift = 64 - _HAMT_BITS * (level + 1)
    buckets: dict[int, list[_Hashed]] = {}
    for item in entries:
        buckets.setdefault((item[0] >> shift) & _HAMT_MASK, []).append(item)
    links: list[tuple[bytes, bytes, int]] = []
    occupied = 0
    for index in sorted(buckets):
        bucket = buckets[index]
        occupied |= 1 << index
        if len(bucket) == 1:
            _, name, entry = bucket[0]
            links.append((entry.cid, _HAMT_PREFIX[index] + name, entry.tsize))
        else:
            shard = _hamt_shard(bucket, level + 1, sink)
            links.append((shard.cid, _HAMT_PREFIX[index], shard.tsize))
    bitfield = occupied.to_bytes((occupied.bit_length() + 7) // 8, "big")
    data = unixfs_data(_HAMT_SHARD, data=bitfield, hash_type=MURMUR3_X64_64, fanout=HAMT_FANOUT)
    # Bucket order is name order too: the prefixes are fixed-width uppercase hex.
    return _node_entry(pb_node(links, data), sum(tsize for _, _, tsize in links), sink)


def _node_entry(block: bytes, below: int, sink: BlockSink | None) -> Entry:
    cid = dag_pb_cid(block)
    if sink is not None:
        sink(cid, block)
    return Entry(cid, len(block) + below)


def symlink_entry(target: bytes, sink: BlockSink | None = None) -> Entry:
    """A symlink to `target` (the link's text as bytes, never followed)."""
    return _node_entry(pb_node((), unixfs_data(_SYMLINK, data=target)), 0, sink)
