"""Reading UnixFS DAGs back from their blocks: links, directory entries, file bytes.

`compiler/unixfs.py` makes the blocks (and is where content hashing is defined); this
reads them, for what walks content in the store: a CAR export `--with-content` follows
every link, `resolve-awaits` finds a path inside an output directory, the runner writes
a job's inputs (and a memoized job's outputs) back to disk, reputation and `jobc run
--rerun` compare `unordered` outputs by their lines. Only the two protobuf messages are
read (dag-pb's PBNode/PBLink, UnixFS's Data), as the dag-pb spec lays them out.

The checked readers (`read_node`, `file_chunks`) check every block against its CID and
raise `BlockMissing` or `UnixFSError`; the lenient ones (`read_file`, `directory`,
`resolve`) answer None when something is not at hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

RAW = 0x55
DAG_PB = 0x70

# UnixFS Data.Type (a `raw` leaf reads as KIND_RAW too)
KIND_RAW = 0
KIND_DIRECTORY = 1
KIND_FILE = 2
KIND_SYMLINK = 4
KIND_HAMT = 5
MURMUR3_X64_64 = 0x22
"""The hash function of kubo's HAMT shards (multicodec murmur3-x64-64)."""

GetBlock = Callable[[bytes], "bytes | None"]
"""Gives a block's bytes by binary CID, or None when it is not at hand."""


class UnixFSError(ValueError):
    """A block that is not the dag-pb or UnixFS message it should be (or not what its
    CID says)."""


class BlockMissing(LookupError):
    """A block needed to read content is not at hand."""

    def __init__(self, cid: bytes) -> None:
        super().__init__(cid)
        self.cid = cid


@dataclass(frozen=True, slots=True)
class PBLink:
    """A dag-pb link: the child's binary CID, its name, its cumulative size."""

    cid: bytes
    name: str
    tsize: int


@dataclass(frozen=True, slots=True)
class PBNode:
    """A dag-pb node: its links and its data (a UnixFS message)."""

    links: tuple[PBLink, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class Node:
    """A content block read back: its UnixFS type, links and data (a `raw` leaf: type
    KIND_RAW, its bytes as data)."""

    kind: int
    links: tuple[PBLink, ...]
    data: bytes
    fanout: int = 0
    """A HAMT shard's buckets (256 as kubo builds them); 0 for anything else."""
    hash_type: int = 0
    """A HAMT shard's hash function (murmur3-x64-64, 0x22, as kubo builds them)."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at `pos` in `buf`, and the position after it."""
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise UnixFSError("a varint runs past the end of the block")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message (varints and byte strings;
    fixed-width fields, which dag-pb does not use, are skipped)."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            if pos + length > len(buf):
                raise UnixFSError("a field runs past the end of the block")
            out.append((number, buf[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(buf):
                raise UnixFSError("a field runs past the end of the block")
        else:
            raise UnixFSError(f"unexpected protobuf wire type {wire}")
    return out


def decode_node(block: bytes) -> PBNode:
    """Read a dag-pb block."""
    links: list[PBLink] = []
    data = b""
    for number, value in _fields(block):
        if number == 2 and isinstance(value, bytes):
            cid, name, tsize = b"", "", 0
            for n, v in _fields(value):
                if n == 1 and isinstance(v, bytes):
                    cid = v
                elif n == 2 and isinstance(v, bytes):
                    name = v.decode("utf-8", errors="surrogateescape")
                elif n == 3 and isinstance(v, int):
                    tsize = v
            links.append(PBLink(cid, name, tsize))
        elif number == 1 and isinstance(value, bytes):
            data = value
    return PBNode(tuple(links), data)


def codec_of(cid: bytes) -> int:
    """The multicodec of a binary CID (a CIDv0 is dag-pb)."""
    if cid[:2] == b"\x12\x20" and len(cid) == 34:
        return DAG_PB
    version, pos = read_varint(cid, 0)
    code, _ = read_varint(cid, pos)
    return code if version == 1 else -1


def links(cid: bytes, block: bytes) -> list[bytes]:
    """The binary CIDs a content block links to (none for a raw block)."""
    if codec_of(cid) != DAG_PB:
        return []
    return [link.cid for link in decode_node(block).links]


def _unixfs(node: PBNode) -> tuple[int, bytes, int, int]:
    """A node's UnixFS type (1 directory, 2 file, 4 symlink, 5 HAMT shard), data, and
    fanout and hash function (HAMT shards only, else 0)."""
    kind, data, fanout, hash_type = -1, b"", 0, 0
    for number, value in _fields(node.data):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, bytes):
            data = value
        elif number == 5 and isinstance(value, int):
            hash_type = value
        elif number == 6 and isinstance(value, int):
            fanout = value
    return kind, data, fanout, hash_type


# --- checked reading ------------------------------------------------------------------------


def read_block(cid: bytes, get: GetBlock) -> bytes:
    """The block of `cid`, checked against it (sha2-256 CIDs only)."""
    block = get(cid)
    if block is None:
        raise BlockMissing(cid)
    if cid[:2] == b"\x12\x20" and len(cid) == 34:
        digest = cid[2:]
    elif cid[:1] == b"\x01" and cid[2:4] == b"\x12\x20" and len(cid) == 36:
        digest = cid[4:]
    else:
        raise UnixFSError("only sha2-256 CIDs are read")
    if hashlib.sha256(block).digest() != digest:
        raise UnixFSError("a block does not hash to its CID")
    return block


def read_node(cid: bytes, get: GetBlock) -> Node:
    """What `cid` is: a `raw` leaf, or a dag-pb node with its UnixFS type and data."""
    codec = codec_of(cid)
    block = read_block(cid, get)
    if codec == RAW:
        return Node(KIND_RAW, (), block)
    if codec != DAG_PB:
        raise UnixFSError(f"codec 0x{codec:x} is not UnixFS content")
    node = decode_node(block)
    kind, data, fanout, hash_type = _unixfs(node)
    if kind < 0:
        raise UnixFSError("a dag-pb node without UnixFS data")
    return Node(kind, node.links, data, fanout, hash_type)


def file_chunks(cid: bytes, get: GetBlock, node: Node | None = None) -> Iterator[bytes]:
    """The bytes of a file, chunk by chunk, in order (memory stays flat)."""
    node = node if node is not None else read_node(cid, get)
    if node.kind not in (KIND_RAW, KIND_FILE):
        raise UnixFSError("not a file")
    if node.data:
        yield node.data
    for link in node.links:
        yield from file_chunks(link.cid, get)


def directory_links(node: Node, get: GetBlock) -> list[tuple[str, bytes]]:
    """(name, CID) of each entry of a directory, sorted by name bytes: a plain directory
    node, or a HAMT shard with its sub-shards (read through `get`)."""
    if node.kind == KIND_DIRECTORY:
        found = [(link.name, link.cid) for link in node.links]
    elif node.kind == KIND_HAMT:
        found = list(_hamt_entries(node, get))
    else:
        raise UnixFSError("not a directory")
    for name, _ in found:
        if not name or "/" in name or name in (".", ".."):
            raise UnixFSError(f"a directory entry named {name!r}")
    return sorted(found, key=lambda e: e[0].encode("utf-8", "surrogateescape"))


def directory_entry(node: Node, name: str, get: GetBlock) -> bytes | None:
    """The CID of the entry `name` of a directory, or None when it has none. In a HAMT
    shard only the buckets `name`'s hash leads to are read (a block per level: one or
    two in a directory of a million entries), as kubo looks a name up."""
    if node.kind == KIND_DIRECTORY:
        return next((link.cid for link in node.links if link.name == name), None)
    if node.kind != KIND_HAMT:
        raise UnixFSError("not a directory")
    if node.hash_type != MURMUR3_X64_64:  # another trie: its entries, read whole
        return dict(directory_links(node, get)).get(name)
    from compiler.unixfs import hamt_hash

    fanout, width = node.fanout, _hamt_width(node)
    bits = fanout.bit_length() - 1
    hashed = hamt_hash(name.encode("utf-8", "surrogateescape"))
    for level in range(64 // bits):
        bucket = f"{(hashed >> (64 - bits * (level + 1))) & (fanout - 1):0{width}X}"
        shard = None
        for link in node.links:
            if link.name[:width].upper() != bucket:
                continue
            if link.name[width:] == name:
                return link.cid
            if len(link.name) == width:
                shard = link.cid
        if shard is None:
            return None
        node = read_node(shard, get)
        if node.kind != KIND_HAMT or node.fanout != fanout:
            raise UnixFSError("a HAMT bucket that is neither an entry nor a shard")
    return None


def _hamt_width(node: Node) -> int:
    """How many hex digits name a bucket of a HAMT shard (two for 256 buckets)."""
    if node.fanout < 2 or node.fanout & (node.fanout - 1):
        raise UnixFSError(f"a HAMT shard with a fanout of {node.fanout}")
    return len(f"{node.fanout - 1:X}")


def _hamt_entries(node: Node, get: GetBlock) -> Iterator[tuple[str, bytes]]:
    """A HAMT shard's entries: each link's name is its bucket in hex (two digits for 256
    buckets), then the entry's name; a link named by its bucket alone is a sub-shard."""
    width = _hamt_width(node)
    for link in node.links:
        if len(link.name) < width:
            raise UnixFSError(f"a HAMT link named {link.name!r}")
        name = link.name[width:]
        if name:
            yield name, link.cid
            continue
        shard = read_node(link.cid, get)
        if shard.kind != KIND_HAMT:
            raise UnixFSError("a HAMT bucket that is neither an entry nor a shard")
        yield from _hamt_entries(shard, get)


# --- lenient reading ------------------------------------------------------------------------


def read_file(cid: bytes, get: GetBlock) -> bytes | None:
    """A file's bytes, or None when a block is missing or `cid` is not a file."""
    try:
        return b"".join(file_chunks(cid, get))
    except (BlockMissing, UnixFSError):
        return None


def directory(cid: bytes, get: GetBlock) -> dict[str, bytes] | None:
    """A directory's entries (name → binary CID), or None when a block is missing or it is
    not a directory (a HAMT shard's entries are gathered from its sub-shards)."""
    try:
        return dict(directory_links(read_node(cid, get), get))
    except (BlockMissing, UnixFSError):
        return None


def resolve(cid: bytes, path: str, get: GetBlock) -> bytes | None:
    """The CID at `path` (`a/b/c`) inside a directory DAG, or None when a directory on
    the way is not at hand or has no such entry."""
    current = cid
    for part in filter(None, path.split("/")):
        try:
            found = directory_entry(read_node(current, get), part, get)
        except (BlockMissing, UnixFSError):
            return None
        if found is None:
            return None
        current = found
    return current
