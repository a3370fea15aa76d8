"""HAMT-sharded directories on their own: the hash, kubo's own shard byte for byte, the
switch-over rule, the trie's shape, and 100,000 entries.

The JS importer cross-checks (real trees on disk) are in tests/test_unixfs_js.py.
"""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path

import pytest

from compiler import unixfs
from compiler.ir import Link
from compiler.unixfs import (
    HAMT_THRESHOLD,
    Entry,
    directory_entry,
    file_entry,
    hamt_directory_entry,
    hamt_hash,
)
from tests import dagpb

FIXTURES = Path(__file__).parent / "fixtures" / "unixfs"
EMPTY = file_entry(b"")
DIRECTORY, HAMT_SHARD = 1, 5


# murmur3 x64 128-bit, seed 0: the first 64 bits (`h1`), from the test table of the Go
# package kubo hashes names with (github.com/spaolacci/murmur3, murmur_test.go).
MURMUR3_H1 = {
    b"": 0x0000000000000000,
    b"hello": 0xCBD8A7B341BD9B02,
    b"hello, world": 0x342FAC623A5EBC8E,
    b"19 Jan 2038 at 3:14:07 AM": 0xB89E5988B737AFFC,
    b"The quick brown fox jumps over the lazy dog.": 0xCD99481F9EE902C9,
}


@pytest.mark.parametrize(("name", "h1"), MURMUR3_H1.items())
def test_murmur3_test_vectors(name: bytes, h1: int) -> None:
    assert hamt_hash(name) == h1


def test_the_specs_example_buckets() -> None:
    # UnixFS spec, "Finding 470.txt in a HAMT with fanout=256": both names fall in bucket
    # 00 at the root, then 6E and FF in the sub-shard.
    assert hamt_hash(b"470.txt").to_bytes(8, "big")[:2] == b"\x00\x6e"
    assert hamt_hash(b"742.txt").to_bytes(8, "big")[:2] == b"\x00\xff"


def test_kubos_shard_byte_for_byte() -> None:
    # A HAMT kubo made (the gateway conformance fixture the UnixFS spec cites): from its
    # 1,000 entries, jobc must write the same 237 shard blocks, hence the same root.
    data = (FIXTURES / "single-layer-hamt-with-multi-block-files.car").read_bytes()
    (root,), kubo = dagpb.read_car(data)
    assert str(Link(root)) == "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i"
    entries, depth = dagpb.hamt_tree(kubo, root)
    assert len(entries) == 1000
    assert depth == 3  # the root, a sub-shard in most buckets, a few below those
    ours: dict[bytes, bytes] = {}
    made = hamt_directory_entry(entries, ours.__setitem__)
    assert made.cid == root
    assert len(ours) == 237
    for cid, block in ours.items():
        assert kubo[cid] == block, str(Link(cid))
    # The Tsize a parent would record is what kubo's root links add up to.
    assert made.tsize == len(kubo[root]) + sum(t for _, _, t in dagpb.links(kubo[root]))
    # The fixture was made with a low threshold: by kubo's default it stays one node.
    assert _kind(entries)[0] == DIRECTORY


def _kind(entries: list[tuple[bytes, Entry]]) -> tuple[int, dict[bytes, bytes], Entry]:
    blocks: dict[bytes, bytes] = {}
    root = directory_entry(entries, blocks.__setitem__)
    kind = dagpb.data(blocks[root.cid])[1]
    assert isinstance(kind, int)
    return kind, blocks, root


def names_of_size(count: int, total: int) -> list[bytes]:
    """`count` distinct names whose lengths add up to `total` bytes (all about equal)."""
    base, extra = divmod(total, count)
    return [f"{i:0{base + (i < extra)}d}".encode() for i in range(count)]


def test_the_threshold_is_exclusive() -> None:
    # kubo: estimated size = sum of name lengths + CID lengths, sharded when > 262,144.
    count = 4000
    cid_bytes = count * len(EMPTY.cid)
    at = [(n, EMPTY) for n in names_of_size(count, HAMT_THRESHOLD - cid_bytes)]
    below = [(n, EMPTY) for n in names_of_size(count, HAMT_THRESHOLD - cid_bytes - 1)]
    above = [(n, EMPTY) for n in names_of_size(count, HAMT_THRESHOLD - cid_bytes + 1)]
    assert sum(len(n) + len(e.cid) for n, e in at) == HAMT_THRESHOLD
    assert _kind(below)[0] == DIRECTORY
    assert _kind(at)[0] == DIRECTORY
    kind, blocks, root = _kind(above)
    assert kind == HAMT_SHARD
    data = dagpb.data(blocks[root.cid])
    assert data[5] == 0x22  # hashType: murmur3-x64-64
    assert data[6] == 256  # fanout
    # Lengths are of the UTF-8 bytes: one character more than ASCII tips it over.
    wide = list(at)
    wide[0] = (wide[0][0][:-1] + "é".encode(), EMPTY)
    assert len(wide[0][0].decode()) == len(at[0][0].decode())
    assert _kind(wide)[0] == HAMT_SHARD


def test_the_trie_as_the_spec_draws_it() -> None:
    entries = [(f"file-{i}.txt".encode(), file_entry(str(i).encode())) for i in range(20_000)]
    blocks: dict[bytes, bytes] = {}
    root = directory_entry(entries, blocks.__setitem__)
    assert root == directory_entry(list(reversed(entries)))  # order does not matter
    read_back, depth = dagpb.hamt_tree(blocks, root.cid)
    assert len(read_back) == len(entries)
    assert {n: (e.cid, e.tsize) for n, e in read_back} == {n: (e.cid, e.tsize) for n, e in entries}
    # 20,000 names: ~78 a root bucket, ~12 pairs that share the first 24 bits of their
    # hash (so a fourth level), none sharing 32.
    assert depth == 4
    hashes = {name: hamt_hash(name).to_bytes(8, "big") for name, _ in entries}

    def check(cid: bytes, level: int, path: bytes) -> int:
        block = blocks[cid]
        links = dagpb.links(block)
        data = dagpb.data(block)
        assert (data[1], data[5], data[6]) == (HAMT_SHARD, 0x22, 256)
        buckets = [int(name[:2], 16) for _, name, _ in links]
        assert buckets == sorted(set(buckets))  # one link per bucket, in bucket order
        # Two uppercase hex digits.
        assert all(name[:2] == f"{int(name[:2], 16):02X}".encode() for _, name, _ in links)
        bitfield = sum(1 << b for b in buckets)
        assert data[2] == bitfield.to_bytes((bitfield.bit_length() + 7) // 8, "big")
        count = 0
        for child, name, tsize in links:
            if len(name) == 2:  # a sub-shard: only where two names or more share a bucket
                held = check(child, level + 1, path + bytes([int(name, 16)]))
                assert held >= 2
                assert tsize == len(blocks[child]) + sum(t for *_, t in dagpb.links(blocks[child]))
                count += held
            else:
                assert hashes[name[2:]][: level + 1] == path + bytes([int(name[:2], 16)])
                count += 1
        return count

    assert check(root.cid, 0, b"") == len(entries)


def test_names_sharing_their_first_bits() -> None:
    # Forty names all in bucket 00 at the root, and some sharing the next byte too: the
    # root holds a single link, to a sub-shard, as kubo keeps it (it only collapses shards
    # on removal).
    names = (f"n{i}".encode() for i in itertools.count())
    chosen = list(itertools.islice((n for n in names if hamt_hash(n) >> 56 == 0), 40))
    entries = [(n, EMPTY) for n in chosen]
    blocks: dict[bytes, bytes] = {}
    root = hamt_directory_entry(entries, blocks.__setitem__)
    (link,) = dagpb.links(blocks[root.cid])
    assert link[1] == b"00"
    assert dagpb.data(blocks[root.cid])[2] == b"\x01"
    read_back, depth = dagpb.hamt_tree(blocks, root.cid)
    assert sorted(n for n, _ in read_back) == sorted(chosen)
    assert depth == 3


def test_names_that_share_all_64_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    # kubo fails on two names with one 64-bit hash ("sharded directory too deep"); no such
    # pair of names is known, so the hash is made to collide here.
    monkeypatch.setattr(unixfs, "hamt_hash", lambda name: 0x1234)
    with pytest.raises(unixfs.HashCollision, match="'a', 'b' share all 64 bits"):
        hamt_directory_entry([(b"a", EMPTY), (b"b", EMPTY)])
    assert hamt_directory_entry([(b"a", EMPTY)]).cid  # one name alone is fine


def test_an_empty_shard_has_no_bitfield() -> None:
    blocks: dict[bytes, bytes] = {}
    root = hamt_directory_entry([], blocks.__setitem__)
    # Type, hashType, fanout; no Data, as go-bitfield gives no bytes for no bits.
    assert blocks[root.cid] == b"\x0a\x07\x08\x05\x28\x22\x30\x80\x02"


def test_a_hundred_thousand_entries_in_flat_memory() -> None:
    entries = [
        (f"entry-{i:06d}".encode(), file_entry(i.to_bytes(4, "big"))) for i in range(100_000)
    ]
    tracemalloc.start()
    try:
        shards = 0

        def count(cid: bytes, block: bytes) -> None:
            nonlocal shards
            shards += 1

        root = directory_entry(entries, count)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert shards > 256
    assert root.tsize > 100_000 * 4
    # The trie holds (hash, name, entry) per name and one shard's links at a time.
    assert peak < 64 << 20, f"peak {peak:,} bytes"
