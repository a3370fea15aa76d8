"""Reading UnixFS DAGs back from their blocks: links, directory entries, file bytes.

`compiler/unixfs.py` makes the blocks (and is where content hashing is defined); this
reads them, for what walks content in the store: a CAR export `--with-content` follows
every link, `resolve-awaits` finds a path inside an output directory, reputation
compares `unordered` outputs by their lines. Only the two protobuf messages are read
(dag-pb's PBNode/PBLink, UnixFS's Data), as the dag-pb spec lays them out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

RAW = 0x55
DAG_PB = 0x70

GetBlock = Callable[[bytes], "bytes | None"]
"""Gives a block's bytes by binary CID, or None when it is not at hand."""


class UnixFSError(ValueError):
    """A block that is not the dag-pb or UnixFS message it should be."""


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
    """The (field number, value) pairs of a protobuf message (varints and byte strings)."""
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


def _unixfs(node: PBNode) -> tuple[int, bytes]:
    """A node's UnixFS type (1 directory, 2 file, 4 symlink, 5 HAMT shard) and data."""
    kind, data = -1, b""
    for number, value in _fields(node.data):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, bytes):
            data = value
    return kind, data


def read_file(cid: bytes, get: GetBlock) -> bytes | None:
    """A file's bytes, or None when a block is missing or `cid` is not a file."""
    block = get(cid)
    if block is None:
        return None
    if codec_of(cid) == RAW:
        return block
    if codec_of(cid) != DAG_PB:
        return None
    node = decode_node(block)
    kind, data = _unixfs(node)
    if kind not in (0, 2):  # Raw or File
        return None
    parts = [data]
    for link in node.links:
        part = read_file(link.cid, get)
        if part is None:
            return None
        parts.append(part)
    return b"".join(parts)


def directory(cid: bytes, get: GetBlock) -> dict[str, bytes] | None:
    """A plain directory's entries (name → binary CID), or None when its block is missing,
    it is not a directory, or it is a HAMT shard (whose names are spread over blocks)."""
    if codec_of(cid) != DAG_PB:
        return None
    block = get(cid)
    if block is None:
        return None
    node = decode_node(block)
    kind, _ = _unixfs(node)
    if kind != 1:
        return None
    return {link.name: link.cid for link in node.links}


def resolve(cid: bytes, path: str, get: GetBlock) -> bytes | None:
    """The CID at `path` (`a/b/c`) inside a directory DAG, or None when a directory on
    the way is not at hand or has no such entry."""
    current = cid
    for part in filter(None, path.split("/")):
        entries = directory(current, get)
        if entries is None or part not in entries:
            return None
        current = entries[part]
    return current
