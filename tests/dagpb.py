"""Readers for the tests: CARv1 files and the links of dag-pb blocks.

jobc writes these formats (`compiler/unixfs.py`); tests read what kubo wrote to compare.
Only what the fixtures use: CIDv1 block CIDs, PBLink's Hash, Name and Tsize.
"""

from __future__ import annotations

from collections.abc import Iterator

import libipld

from compiler.unixfs import Entry


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def read_car(data: bytes) -> tuple[list[bytes], dict[bytes, bytes]]:
    """(roots, {binary CID: block}) of a CARv1 file whose blocks have CIDv1s."""
    size, at = _uvarint(data, 0)
    header = libipld.decode_dag_cbor(data[at : at + size])
    at += size
    assert header["version"] == 1, header
    blocks: dict[bytes, bytes] = {}
    while at < len(data):
        size, at = _uvarint(data, at)
        frame, at = data[at : at + size], at + size
        assert frame[0] == 1, "CIDv1 only"
        cid_end = 1
        for _ in range(2):  # codec, multihash code
            _, cid_end = _uvarint(frame, cid_end)
        digest, cid_end = _uvarint(frame, cid_end)
        cid_end += digest
        blocks[frame[:cid_end]] = frame[cid_end:]
    return [bytes(root) for root in header["roots"]], blocks


def _fields(message: bytes) -> Iterator[tuple[int, int | bytes]]:
    at = 0
    while at < len(message):
        key, at = _uvarint(message, at)
        if key & 7 == 0:
            value, at = _uvarint(message, at)
            yield key >> 3, value
        elif key & 7 == 2:
            size, at = _uvarint(message, at)
            yield key >> 3, message[at : at + size]
            at += size
        else:
            raise ValueError(f"wire type {key & 7} is not in dag-pb")


def links(block: bytes) -> list[tuple[bytes, bytes, int]]:
    """The (CID, name, Tsize) of every link of a dag-pb block, in order."""
    out = []
    for field, value in _fields(block):
        if field == 2:
            assert isinstance(value, bytes)
            link = dict(_fields(value))
            cid, name, tsize = link[1], link.get(2, b""), link.get(3, 0)
            assert isinstance(cid, bytes)
            assert isinstance(name, bytes)
            assert isinstance(tsize, int)
            out.append((cid, name, tsize))
    return out


def data(block: bytes) -> dict[int, int | bytes]:
    """The fields of a dag-pb block's Data (a UnixFS message), by number (last one wins)."""
    for field, value in _fields(block):
        if field == 1:
            assert isinstance(value, bytes)
            return dict(_fields(value))
    return {}


def hamt_tree(blocks: dict[bytes, bytes], root: bytes) -> tuple[list[tuple[bytes, Entry]], int]:
    """The (name, entry) pairs a HAMT holds, read back from its blocks, and its depth
    (1: the root alone). Links named by the two hex digits alone are sub-shards."""
    entries: list[tuple[bytes, Entry]] = []
    depth = 0

    def walk(cid: bytes, level: int) -> None:
        nonlocal depth
        depth = max(depth, level + 1)
        for child, name, tsize in links(blocks[cid]):
            if len(name) == 2:
                walk(child, level + 1)
            else:
                entries.append((name[2:], Entry(child, tsize)))

    walk(root, 0)
    return entries, depth
