"""Receipts: signed with the node's ed25519 key, verified, stored by job."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import dag_cbor
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from multiformats import CID

from compiler import identity
from compiler.identity import cid_of_raw
from compiler.ir import FrozenMap, Link
from compiler.runtime.receipts import (
    NodeKey,
    Receipt,
    ReceiptError,
    public_key_bytes,
    timestamp,
)
from compiler.store import open_store


def _receipt(job: bytes = b"job", exit_: int = 0) -> Receipt:
    return Receipt(
        job=identity.value_cid(FrozenMap({"job": job})),
        outputs=FrozenMap({"/outputs": cid_of_raw(b"out " + job)}),
        exit=exit_,
        stdout=cid_of_raw(b"hello\n"),
        stderr=cid_of_raw(b""),
        runner=FrozenMap({"name": "jobc", "version": "0.1.0", "engine": "wasm"}),
        node="",
        meta=FrozenMap({"started": timestamp(), "finished": timestamp(), "fuel": 12345}),
    )


def test_a_signed_receipt_verifies_and_round_trips() -> None:
    key = NodeKey.generate()
    signed = key.sign(_receipt())
    assert signed.node == key.node
    assert signed.node.startswith("z6Mk")
    assert len(signed.sig) == 64
    signed.verify()
    again = Receipt.decode(signed.encode())
    assert again == signed
    assert again.cid == signed.cid
    again.verify()


def test_the_signature_is_ed25519_over_the_receipt_without_sig() -> None:
    """Checked with the reference DAG-CBOR encoder, independently of jobc's encoding."""
    signed = NodeKey.generate().sign(_receipt())
    tree = dag_cbor.decode(signed.encode())
    assert isinstance(tree["job"], CID)
    assert isinstance(tree["sig"], bytes)
    sig = tree.pop("sig")
    Ed25519PublicKey.from_public_bytes(public_key_bytes(signed.node)).verify(
        sig, dag_cbor.encode(tree)
    )
    assert str(signed.cid) == str(CID("base32", 1, "dag-cbor", ("sha2-256", _sha(signed))))


def _sha(r: Receipt) -> bytes:
    import hashlib

    return hashlib.sha256(r.encode()).digest()


@pytest.mark.parametrize(
    "change",
    [
        {"exit": 1},
        {"outputs": FrozenMap({"/outputs": cid_of_raw(b"forged")})},
        {"stdout": cid_of_raw(b"other")},
        {"meta": FrozenMap({"fuel": 1})},
        {"node": NodeKey.generate().node},
    ],
    ids=["exit", "outputs", "stdout", "meta", "node"],
)
def test_a_tampered_receipt_fails_verification(change: dict[str, object]) -> None:
    signed = NodeKey.generate().sign(_receipt())
    tampered = dataclasses.replace(signed, **change)  # type: ignore[arg-type]
    with pytest.raises(ReceiptError, match="signature does not match"):
        tampered.verify()


def test_an_unsigned_receipt_does_not_verify() -> None:
    key = NodeKey.generate()
    unsigned = dataclasses.replace(_receipt(), node=key.node)
    with pytest.raises(ReceiptError, match="not signed"):
        unsigned.verify()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a string", "must be a map"),
        ({"receipt": 2}, "unsupported receipt version"),
        ({"receipt": 1, "job": "not a link"}, "needs job"),
    ],
)
def test_malformed_receipts_are_rejected(value: object, message: str) -> None:
    with pytest.raises(ReceiptError, match=message):
        Receipt.from_value(identity.from_dag_json(value))


def test_unknown_fields_and_bad_nodes_are_rejected() -> None:
    signed = NodeKey.generate().sign(_receipt())
    with pytest.raises(ReceiptError, match="unknown receipt fields: extra"):
        Receipt.from_value(signed.to_value().set("extra", 1))
    with pytest.raises(ReceiptError, match="not an ed25519 public key"):
        Receipt.from_value(
            signed.to_value().set("node", "zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")
        )
    base32 = "b" + signed.node  # not even multibase-valid as base32
    with pytest.raises(ReceiptError):
        Receipt.from_value(signed.to_value().set("node", base32))
    with pytest.raises(ReceiptError, match="not a strict DAG-CBOR block"):
        Receipt.decode(b"\xff\x00")


def test_the_node_key_is_made_once_with_owner_only_permissions(jobc_home: Path) -> None:
    first = NodeKey.load_or_create()
    second = NodeKey.load_or_create()
    assert first.node == second.node
    mode = stat.S_IMODE(os.stat(jobc_home / "node.key").st_mode)
    assert mode == 0o600


def test_a_corrupt_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_text("not hex\n")
    with pytest.raises(ReceiptError, match="is not a node key"):
        NodeKey.load_or_create(path)


def test_the_store_keeps_receipts_by_job_in_order(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite")
    try:
        a, b = NodeKey.generate(), NodeKey.generate()
        r1 = a.sign(_receipt(b"one"))
        r2 = b.sign(_receipt(b"one", exit_=3))
        other = a.sign(_receipt(b"two"))
        for r in (r1, r2, other, r1):  # storing twice is a no-op
            assert store.put_receipt(r) == r.cid
        assert store.receipts(r1.job) == [r1, r2]
        assert store.receipts(other.job) == [other]
        assert store.receipts(Link.parse(str(cid_of_raw(b"none")))) == []
        assert store.get_block(r1.cid) == r1.encode()
    finally:
        store.close()


def test_the_store_refuses_a_receipt_whose_signature_fails(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite")
    try:
        forged = dataclasses.replace(NodeKey.generate().sign(_receipt()), exit=9)
        with pytest.raises(ReceiptError):
            store.put_receipt(forged)
        assert store.receipts(forged.job) == []
        assert not store.has_block(forged.cid)
    finally:
        store.close()


def test_a_node_trusts_itself_and_the_nodes_it_lists(jobc_home: Path) -> None:
    from compiler.runtime.receipts import trusted_nodes

    me = NodeKey.load_or_create().node
    assert trusted_nodes() == {me}
    friend, given = NodeKey.generate().node, NodeKey.generate().node
    (jobc_home / "trusted-nodes").write_text(f"# peers\n{friend}  # the lab's runner\n\n")
    assert trusted_nodes([given]) == {me, friend, given}
    (jobc_home / "trusted-nodes").write_text("not-a-key\n")
    with pytest.raises(ReceiptError, match="not-a-key"):
        trusted_nodes()
