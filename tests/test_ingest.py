"""The fast readings of an import and an export agree with the IR ones.

An import reads records, receipts and manifests from libipld's tree when it is exact,
and everything else (a receipt whose signature parses as a CID, a float) the IR way;
an export takes a record's links from the index when its block holds no other link.
These tests check that each shortcut gives what the long way gives, and that the long
way is taken when it must be (DESIGN §3: libipld reads links and byte strings alike).
"""

from __future__ import annotations

import dataclasses
import io
import itertools

import libipld
import pytest

from compiler import identity
from compiler.identity import cid_of_raw
from compiler.ir import FrozenMap, Link
from compiler.records import Record
from compiler.runtime.receipts import NodeKey, Receipt
from compiler.store import RecordRef, Store
from compiler.store.car import Export, export_car, gather, import_car
from compiler.store.ingest import Ingest, Manifest
from compiler.store.sql import receipt_entry


def content(name: str) -> Link:
    return cid_of_raw(name.encode())


def signed(key: NodeKey, n: int) -> Receipt:
    return key.sign(
        Receipt(
            job=identity.cid_of_block(f"job {n}".encode()),
            outputs=FrozenMap({"/out": content(f"out {n}"), "/log": content(f"log {n}")}),
            exit=n % 3,
            stdout=content(f"stdout {n}"),
            stderr=content(""),
            runner=FrozenMap({"name": "test", "fuel": n}),
            node="",
            meta=FrozenMap({"started": f"2026-01-01T00:00:{n % 60:02d}.000000Z", "n": n}),
        )
    )


def test_a_receipt_read_from_the_tree_is_the_receipt_read_as_ir() -> None:
    key = NodeKey.generate()
    ingest = Ingest(store=None)  # type: ignore[arg-type]  # reading only, nothing written
    for n in range(20):
        receipt = signed(key, n)
        block = receipt.encode()
        cid = identity.cid_of_block(block)
        tree = identity.decode_plain(block)
        if tree is None:
            continue  # its signature parses as a CID: see the next test
        assert ingest._plain_receipt(cid, tree) == receipt_entry(cid, receipt)


def test_a_receipt_whose_signature_parses_as_a_cid_goes_the_ir_way() -> None:
    """About one signature in 700 is bytes libipld would write as a link: its tree is not
    exact, so the import reads that receipt the IR way, and indexes it all the same."""
    key = NodeKey.generate()
    receipt = next(
        r
        for r in (signed(key, n) for n in itertools.count())
        if identity.decode_plain(r.encode()) is None
    )
    block = receipt.encode()
    cid = identity.cid_of_block(block)
    assert identity.is_link_bytes(receipt.sig)
    ingest = Ingest(store=None)  # type: ignore[arg-type]
    ingest._classify(cid, block)
    assert ingest._receipts == [receipt_entry(cid, receipt)]


def test_a_forged_receipt_is_refused_either_way(store: Store) -> None:
    key = NodeKey.generate()
    good = signed(key, 1)
    forged = dataclasses.replace(good, exit=7)  # the signature was over exit 1
    out = io.BytesIO()
    blocks = {forged.cid: forged.encode()}
    export_car(out, Export(Manifest(receipts=[forged.cid]), blocks))
    with pytest.raises(ValueError, match=f"block {forged.cid}: receipt rejected.*signature"):
        import_car(store, io.BytesIO(out.getvalue()))
    assert store.count("receipts") == 0


def test_a_manifest_read_from_the_tree_is_the_manifest_read_as_ir() -> None:
    records = [Record.make("p", 1, content(f"a{i}"), content(f"b{i}"), []) for i in range(5)]
    manifest = Manifest(
        finals=[content("b1"), content("b0")],
        records=[r.cid for r in records],
        receipts=[content("r2"), content("r1")],
        jobs=[content("j")],
        aliases=[("bacalhau", "j-1", content("j")), ("homestar", "x", content("j"))],
    )
    block = manifest.encode()
    assert block == identity.encode_value(manifest.to_value())
    cid = identity.cid_of_block(block)
    fast = Manifest.from_plain(cid, identity.decode_plain(block))
    slow = Manifest.from_value(cid, identity.decode_value(block))  # type: ignore[arg-type]
    assert fast == slow
    assert fast is not None
    assert fast.receipts == [content("r2"), content("r1")]
    # A float is not an IR value: the tree is not taken, and the IR way refuses the block.
    with_float = libipld.encode_dag_cbor({**identity.decode_plain(block), "x": 1.5})
    assert Manifest.from_plain(cid, identity.decode_plain(with_float)) is None


def test_an_export_takes_a_records_links_from_the_index(store: Store) -> None:
    """A record whose facts link a block (a toolchain descriptor) is decoded, and the
    descriptor goes along; one whose only links are its ends needs no decoding."""
    descriptor = identity.encode_value(FrozenMap({"toolchain": "rustc", "version": "1.0"}))
    descriptor_cid = identity.cid_of_block(descriptor)
    plain = Record.make("p", 1, content("doc"), content("mid"), [])
    linking = Record.make(
        "q", 1, content("mid"), content("end"), [FrozenMap({"descriptor": descriptor_cid})]
    )
    with store.transaction():
        store.put_block(descriptor_cid, descriptor)
        for record in (plain, linking):
            store.put_record(record)
        store.mark_final(content("end"))
    export = gather(store, [content("end")])
    assert descriptor_cid in export.blocks
    assert {plain.cid, linking.cid} <= export.blocks.keys()


def test_walks_and_final_receipts_of_many_cids(store: Store) -> None:
    """Past the sizes where a backend changes how it asks (PostgreSQL: one array past
    64 CIDs; SQLite: sorted chunks of 500), the answers are the same as one by one."""
    records = [r for i in range(700) for r in _chain(f"w{i}")]
    with store.transaction():
        store.put_blocks((r.cid, b"x") for r in records)
        store.index_records(
            RecordRef(r.cid, r.pass_name, r.version, r.source, r.target) for r in records
        )
        store.mark_finals(r.target for r in records[1::2])
    key = NodeKey.generate()
    for r in records[1:40:2]:  # the first 20 finals have a receipt each
        store.put_receipt(key.sign(dataclasses.replace(signed(key, 0), job=r.target)))
    middles = [r.target for r in records[::2]]
    forward, backward = store.walks(middles)
    assert forward == store.walk(middles, "forward")
    assert backward == store.walk(middles, "backward")
    assert len(forward) == len(backward) == 700
    counts = store.final_receipts([*middles, *(r.target for r in records[1::2])])
    assert len(counts) == 700
    assert sum(counts.values()) == 20
    assert counts[records[1].target] == 1
    assert counts[records[41].target] == 0


def _chain(name: str) -> list[Record]:
    a, b, c = (content(f"{name}.{i}") for i in range(3))
    return [Record.make("p0", 1, a, b, []), Record.make("p1", 1, b, c, [])]


class Trickle(io.RawIOBase):
    """A stream that gives a few bytes a read, as a pipe may."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        step = min(n if n >= 0 else len(self.data), 1 + self.pos % 7)
        chunk = self.data[self.pos : self.pos + step]
        self.pos += len(chunk)
        return chunk


def test_a_car_read_a_few_bytes_at_a_time(store: Store) -> None:
    key = NodeKey.generate()
    receipts = [signed(key, n) for n in range(5)]
    out = io.BytesIO()
    manifest = Manifest(receipts=[r.cid for r in receipts])
    export_car(out, Export(manifest, {r.cid: r.encode() for r in receipts}))
    result = import_car(store, Trickle(out.getvalue()))  # type: ignore[arg-type]
    assert result.blocks == 6
    assert store.count("receipts") == 5
