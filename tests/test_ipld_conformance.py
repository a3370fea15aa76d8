"""IPLD codec conformance: every DAG-CBOR / DAG-JSON fixture of ipld/codec-fixtures.

The fixtures live beside the repository (`shared/conformance/ipld`, see its SOURCES.txt).
Each fixture is one block in two codecs, named by its CID. For each one we check that:

- the block hashes (through `compiler.identity.cid_of_block`) to the CID in its name;
- `libipld` (what jobc encodes with) decodes and re-encodes it to the same bytes, and
  what it loses on the way (links come back as plain `bytes`: DESIGN §3 pitfall);
- the reference `dag_cbor` package decodes and re-encodes it to the same bytes;
- the DAG-JSON form, read by an independent parser here, is the same data;
- jobc's own path (`freeze` with links as `Link`, then `encode_value`, `value_cid`,
  `value_dag_json`, `from_dag_json`) gives the fixture's bytes and CID, or rejects the
  fixture with `IdentityError` when it holds floats (identity has no floats).

Findings (libipld 3.5.0), asserted below rather than skipped:
- libipld round-trips *all* 128 blocks byte for byte, including the integers outside
  int64 (`int-18446744073709551615`, `int--11959030306112471732`, ...) that
  go-ipld-prime skips: it reads and writes the full CBOR range [-2**64, 2**64 - 1].
- That round trip is not faithful at the data-model level: `decode_dag_cbor` returns
  every link as the CID's binary form in a plain `bytes`, and `encode_dag_cbor` writes
  any `bytes` that starts with a parsable CID back as tag 42. The bytes survive only
  because the guess is made twice. A genuine byte string equal to one of these CIDs
  would be written as a link: jobc must (and does) keep it a byte string.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

import dag_cbor
import libipld
import pytest
from multiformats import CID, multihash

from compiler import identity
from compiler.identity import IdentityError, cid_of_block, encode_value
from compiler.ir import FrozenMap, Link, Value, freeze
from tests.conftest import SHARED
from tests.reference import same

CONFORMANCE = SHARED / "conformance" / "ipld"
FIXTURES = CONFORMANCE / "fixtures"
MANIFEST = CONFORMANCE / "manifest.jsonl"
NEGATIVE = CONFORMANCE / "negative-fixtures" / "dag-cbor" / "decode"
FIXTURE_COUNT = 128

# An empty list when the shared directory is missing: test_all_fixtures_present then fails.
NAMES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.is_dir() else []


@dataclass(frozen=True)
class Fixture:
    """One fixture: the same data as a DAG-CBOR block and as a DAG-JSON block."""

    name: str
    cbor: bytes
    cbor_cid: str
    json: bytes
    json_cid: str


@cache
def fixture(name: str) -> Fixture:
    """Read the fixture directory `name` (exactly one file of each codec)."""
    folder = FIXTURES / name
    (cbor,) = folder.glob("*.dag-cbor")
    (js,) = folder.glob("*.dag-json")
    return Fixture(name, cbor.read_bytes(), cbor.stem, js.read_bytes(), js.stem)


@cache
def manifest() -> dict[str, dict[str, str]]:
    """The derived manifest, by fixture name."""
    rows = [json.loads(line) for line in MANIFEST.read_text().splitlines() if line.strip()]
    return {row["name"]: row for row in rows}


# --- helpers ------------------------------------------------------------------------------


def walk(tree: Any) -> list[Any]:
    """Every node of a decoded tree, depth first."""
    out = [tree]
    if isinstance(tree, dict):
        for v in tree.values():
            out.extend(walk(v))
    elif isinstance(tree, list):
        for v in tree:
            out.extend(walk(v))
    return out


def links_in(tree: Any) -> list[CID]:
    """Every link of a tree decoded by `dag_cbor`."""
    return [n for n in walk(tree) if isinstance(n, CID)]


def has_float(tree: Any) -> bool:
    """Whether a decoded tree holds a float anywhere."""
    return any(isinstance(n, float) for n in walk(tree))


def links_as_bytes(tree: Any) -> Any:
    """What libipld makes of a tree: each link becomes its binary CID in plain bytes."""
    if isinstance(tree, CID):
        return bytes(tree)
    if isinstance(tree, dict):
        return {k: links_as_bytes(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [links_as_bytes(v) for v in tree]
    return tree


def links_as_link(tree: Any) -> Any:
    """A `dag_cbor` tree with its links as jobc `Link`s, ready for `freeze`."""
    if isinstance(tree, CID):
        return Link(bytes(tree))
    if isinstance(tree, dict):
        return {k: links_as_link(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [links_as_link(v) for v in tree]
    return tree


def unchecked_ir(tree: Any) -> Any:
    """Like `freeze(links_as_link(tree))` but lets floats through, to reach `encode_value`."""
    if isinstance(tree, CID):
        return Link(bytes(tree))
    if isinstance(tree, dict):
        return FrozenMap({k: unchecked_ir(v) for k, v in tree.items()})
    if isinstance(tree, list):
        return tuple(unchecked_ir(v) for v in tree)
    return tree


def ir_as_plain(value: Value) -> Any:
    """An IR value back as a `dag_cbor`-style tree (dict, list, CID), for `same`."""
    if isinstance(value, Link):
        return CID.decode(value.raw)
    if isinstance(value, FrozenMap):
        return {k: ir_as_plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [ir_as_plain(v) for v in value]
    return value


def parse_dag_json(data: bytes) -> Any:
    """An independent DAG-JSON reader: links as `CID`, bytes as `bytes`, no duplicate keys."""

    def pairs_hook(pairs: list[tuple[str, Any]]) -> Any:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate map key in {keys}")
        obj = dict(pairs)
        if keys == ["/"]:
            inner = obj["/"]
            if isinstance(inner, str):
                return CID.decode(inner)
            if isinstance(inner, dict) and list(inner) == ["bytes"]:
                text = inner["bytes"]
                return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        return obj

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not DAG-JSON")

    return json.loads(
        data.decode("utf-8"), object_pairs_hook=pairs_hook, parse_constant=no_constants
    )


def dag_json_cid(block: bytes) -> str:
    """The CIDv1 (codec dag-json 0x0129, sha2-256) of a DAG-JSON block."""
    return str(CID("base32", 1, "dag-json", multihash.digest(block, "sha2-256")))


# --- the fixture set as a whole -----------------------------------------------------------


def test_all_fixtures_present() -> None:
    assert FIXTURES.is_dir(), f"conformance fixtures not found at {FIXTURES}"
    assert len(NAMES) == FIXTURE_COUNT
    assert sorted(manifest()) == NAMES


def test_negative_duplicate_keys_rejected() -> None:
    cases = json.loads((NEGATIVE / "duplicate-keys.json").read_text())
    assert cases, "the negative fixture file is empty"
    for case in cases:
        block = bytes.fromhex(case["hex"])
        with pytest.raises(ValueError, match="sorted and unique"):
            libipld.decode_dag_cbor(block)
        with pytest.raises(dag_cbor.decoding.DAGCBORDecodingError, match="Duplicate key"):
            dag_cbor.decode(block)


def test_duplicate_keys_rejected_in_dag_json() -> None:
    """The DAG-JSON reader of this file is itself strict about duplicate keys."""
    with pytest.raises(ValueError, match="duplicate"):
        parse_dag_json(b'{"bar":3,"foo":1,"foo":2}')


# --- one test of each kind per fixture ----------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_block_hashes_to_its_name(name: str) -> None:
    fx = fixture(name)
    assert fx.cbor_cid.startswith("bafyrei")
    assert str(cid_of_block(fx.cbor)) == fx.cbor_cid
    assert identity.verify_block(Link.parse(fx.cbor_cid), fx.cbor)
    assert dag_json_cid(fx.json) == fx.json_cid
    row = manifest()[name]
    assert bytes.fromhex(row["dag_cbor_hex"]) == fx.cbor
    assert row["dag_cbor_cid"] == fx.cbor_cid
    assert row["dag_json"].encode() == fx.json
    assert row["dag_json_cid"] == fx.json_cid


@pytest.mark.parametrize("name", NAMES)
def test_libipld_round_trip(name: str) -> None:
    fx = fixture(name)
    tree = libipld.decode_dag_cbor(fx.cbor)
    again = libipld.encode_dag_cbor(tree)
    assert again == fx.cbor
    assert str(cid_of_block(again)) == fx.cbor_cid

    # What libipld's tree holds: the reference tree with every link turned into plain
    # bytes. Nothing in the tree says which bytes were links (DESIGN §3 pitfall).
    reference = dag_cbor.decode(fx.cbor)
    assert same(tree, links_as_bytes(reference))
    for node in walk(tree):
        assert not isinstance(node, CID)

    # Integers outside int64 (go-ipld-prime skips them) are read exactly.
    if name.startswith("int-"):
        assert same(tree, int(name.removeprefix("int-")))
    if name.startswith("float-") and name != "float-array_of_specials":
        assert same(tree, float(name.removeprefix("float-")))


@pytest.mark.parametrize("name", NAMES)
def test_reference_round_trip(name: str) -> None:
    fx = fixture(name)
    tree = dag_cbor.decode(fx.cbor)
    again = dag_cbor.encode(tree)
    assert again == fx.cbor
    assert str(cid_of_block(again)) == fx.cbor_cid
    if name.startswith("cid-"):
        assert links_in(tree), "a cid-* fixture decodes to at least one link"


@pytest.mark.parametrize("name", NAMES)
def test_dag_json_is_the_same_data(name: str) -> None:
    fx = fixture(name)
    from_json = parse_dag_json(fx.json)
    from_cbor = dag_cbor.decode(fx.cbor)
    assert same(from_json, from_cbor)
    # And the DAG-CBOR encoding of what the DAG-JSON says is the DAG-CBOR fixture.
    assert dag_cbor.encode(from_json) == fx.cbor


@pytest.mark.parametrize("name", NAMES)
def test_jobc_identity_path(name: str) -> None:
    """The path jobc hashes through: IR values (links as `Link`) → `encode_value`."""
    fx = fixture(name)
    tree = dag_cbor.decode(fx.cbor)

    if has_float(tree):
        # Identity has no floats (DESIGN §3): freeze refuses them, and so does the
        # encoder when handed a float that bypassed freeze, and so does the DAG-JSON reader.
        with pytest.raises(TypeError, match="float"):
            freeze(links_as_link(tree))
        with pytest.raises(IdentityError, match="float"):
            encode_value(unchecked_ir(tree))
        with pytest.raises(IdentityError, match="float"):
            identity.from_dag_json(json.loads(fx.json))
        return

    value = freeze(links_as_link(tree))
    assert encode_value(value) == fx.cbor
    assert str(identity.value_cid(value)) == fx.cbor_cid
    assert same(ir_as_plain(value), tree)

    # jobc's DAG-JSON writer gives the fixture's DAG-JSON bytes exactly, and reads them back.
    assert identity.dag_json_dumps(identity.value_dag_json(value)).encode() == fx.json
    back = identity.from_dag_json(json.loads(fx.json))
    assert same(ir_as_plain(back), tree)
    assert encode_value(back) == fx.cbor

    # Every link: as a `Link` it is tag 42 over 0x00 + CID; the same bytes as a *bytes*
    # value stay a byte string (major type 2) in jobc, where libipld would write a link.
    for cid in links_in(tree):
        raw = bytes(cid)
        as_link = encode_value(Link(raw))
        assert as_link == dag_cbor.encode(cid)
        assert as_link[:2] == b"\xd8\x2a"
        assert as_link[2] >> 5 == 2
        assert b"\x00" + raw in as_link
        as_bytes = encode_value(raw)
        assert as_bytes == dag_cbor.encode(raw)
        assert as_bytes[0] >> 5 == 2
        assert libipld.encode_dag_cbor(raw)[:2] == b"\xd8\x2a"  # libipld's guess: a link


def test_float_fixtures_are_64_bit() -> None:
    """DAG-CBOR floats are always 0xfb (float64); identity rejects them all the same."""
    for name in NAMES:
        if not name.startswith("float-") or name == "float-array_of_specials":
            continue
        block = fixture(name).cbor
        assert block[0] == 0xFB
        assert len(block) == 9
        value = struct.unpack(">d", block[1:])[0]
        assert math.isfinite(value)


def test_map_keysort_is_length_first() -> None:
    """DAG-CBOR sorts keys by length first, DAG-JSON bytewise: jobc writes both orders."""
    fx = fixture("map-keysort")
    value = freeze(json.loads(fx.json))
    assert isinstance(value, FrozenMap)
    assert list(value) == sorted(value)  # bytewise, as DAG-JSON
    encoded = encode_value(value)
    assert encoded == fx.cbor
    keys = list(dag_cbor.decode(encoded))
    assert keys == sorted(keys, key=lambda k: (len(k.encode()), k.encode()))
