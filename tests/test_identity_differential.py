"""Differential tests: jobc's identity encoding against the reference DAG-CBOR encoder.

jobc encodes with libipld (fast) and falls back to the `dag-cbor` package when a value
holds bytes that libipld would mistake for a link (DESIGN §3 pitfall). Here thousands of
random jobs and values are encoded both by jobc and, independently, by `dag_cbor` with
links as `multiformats.CID`: the bytes and the CIDs must be identical. Byte strings that
look like CIDs are generated on purpose, and must come out as CBOR byte strings
(major type 2), never as tag 42.
"""

from __future__ import annotations

import json
from typing import Any

import dag_cbor
import libipld
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multiformats import CID, multihash

from compiler import identity
from compiler.ir import (
    BUILTIN_ENGINES,
    Await,
    DockerTask,
    FrozenMap,
    ImageDigest,
    Input,
    Job,
    Link,
    Network,
    OtherTask,
    SourceTask,
    Value,
    WasmTask,
)
from tests.reference import same

# Thousands of examples each: a few minutes in all, so marked slow (`make` quick loop skips them).
MANY = settings(
    max_examples=3000,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- links and bytes ----------------------------------------------------------------------

SHA = st.binary(min_size=32, max_size=32)
# Multicodec codes (several of more than one varint byte): raw, dag-cbor, dag-pb,
# libp2p-key, git-raw, bitcoin-block, dag-json.
CODECS = (0x55, 0x71, 0x70, 0x72, 0x78, 0xB0, 0x0129)
# Multihash code -> digest size: sha2-256, sha2-512, sha3-256, blake2b-256.
SIZED_HASHES = {0x12: 32, 0x13: 64, 0x16: 32, 0xB220: 32}
IDENTITY = 0x00


def varint(n: int) -> bytes:
    """Unsigned LEB128, as multiformats writes codes and sizes."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@st.composite
def cid_bytes(draw: st.DrawFn, max_identity: int = 100) -> bytes:
    """A CID's binary form: v0, or v1 with assorted codecs and multihashes.

    Built by hand (multiformats is slow to construct CIDs); `to_reference` decodes each
    with `multiformats.CID.decode`, which checks it. Identity multihashes of up to
    `max_identity` bytes are included: libipld 3.5 cannot parse a multihash digest longer
    than 64 bytes, yet such a CID is valid (an inlined block), and must stay a link.
    """
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return b"\x12\x20" + draw(SHA)
    if kind == 1:
        code, size = IDENTITY, draw(st.integers(0, max_identity))
    else:
        code = draw(st.sampled_from(sorted(SIZED_HASHES)))
        size = SIZED_HASHES[code]
    digest = draw(st.binary(min_size=size, max_size=size))
    codec = draw(st.sampled_from(CODECS))
    return varint(1) + varint(codec) + varint(code) + varint(size) + digest


links = cid_bytes().map(Link)
# Links that `Link.parse` can read back (libipld's limit: digests of at most 64 bytes).
parsable_links = cid_bytes(max_identity=64).map(Link)

# Byte strings that look like CIDs: most of them libipld would write as a link (tag 42).
CID_LIKE_BYTES = st.one_of(
    SHA.map(lambda d: b"\x01\x71\x12\x20" + d),  # CIDv1 dag-cbor sha2-256
    SHA.map(lambda d: b"\x01\x55\x12\x20" + d),  # CIDv1 raw sha2-256
    st.just(b"\x01\x55\x00\x03abc"),  # CIDv1 raw, identity multihash
    SHA.map(lambda d: b"\x12\x20" + d),  # CIDv0: a bare sha2-256 multihash
    cid_bytes(),  # any CID's binary form
    st.builds(bytes.__add__, cid_bytes(), st.binary(min_size=1, max_size=4)),  # + a tail
    st.builds(lambda c, cut: c[:cut], cid_bytes(), st.integers(1, 40)),  # truncated
    st.binary(max_size=40).map(lambda b: b"\x01" + b),
    st.binary(max_size=40).map(lambda b: b"\x12\x20" + b),
)
BYTES = st.one_of(st.binary(max_size=64), CID_LIKE_BYTES)

# --- values and jobs ----------------------------------------------------------------------

TEXT = st.text(max_size=8)
KEYS = st.one_of(TEXT, st.sampled_from(["a", "b", "aa", "ab", "é", "z", "engine", "/", "bytes"]))
INTS = st.one_of(
    st.integers(-(2**64), 2**64 - 1),
    st.integers(-30, 30),
    st.sampled_from([23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63]),
    st.sampled_from([-24, -25, -256, -257, -(2**32), -(2**32) - 1, -(2**63), -(2**63) - 1]),
)
STR_MAPS = st.dictionaries(KEYS, TEXT, max_size=3).map(FrozenMap)
STR_TUPLES = st.lists(TEXT, max_size=3).map(tuple)
DIGESTS = SHA.map(lambda d: ImageDigest("sha256:" + d.hex()))
NETWORKS = st.one_of(
    st.none(),
    st.builds(Network, mode=st.sampled_from(["http", "full"]), domains=STR_TUPLES),
)


def frozen_maps(children: st.SearchStrategy[Any]) -> st.SearchStrategy[FrozenMap[Any]]:
    """Maps with string keys, as `FrozenMap`s."""
    return st.dictionaries(KEYS, children, max_size=5).map(FrozenMap)


def values_with(link: st.SearchStrategy[Link]) -> st.SearchStrategy[Value]:
    """Any IR value: scalars, bytes (CID-like ones often), links, tuples and maps."""
    leaves = st.one_of(st.none(), st.booleans(), INTS, TEXT, BYTES, link)
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=5).map(tuple), frozen_maps(children)
        ),
        max_leaves=12,
    )


def jobs_with(link: st.SearchStrategy[Link]) -> st.SearchStrategy[Job]:
    """Jobs of every task kind, every field drawn (defaults included now and then)."""
    value = values_with(link)
    content = st.one_of(TEXT, link)
    docker = st.builds(
        DockerTask,
        image=st.one_of(TEXT, DIGESTS),
        entrypoint=STR_TUPLES,
        args=STR_TUPLES,
        env=STR_MAPS,
        workdir=TEXT,
        platform=st.one_of(st.just(""), st.sampled_from(["linux/amd64", "linux/arm64/v8"]), TEXT),
    )
    wasm = st.builds(
        WasmTask,
        module=content,
        entrypoint=st.one_of(st.just("_start"), TEXT),
        args=st.lists(value, max_size=4).map(tuple),
        env=STR_MAPS,
        imports=frozen_maps(content),
        stdin=st.one_of(st.none(), content),
    )
    source = st.builds(
        SourceTask,
        engine=st.sampled_from(["rust", "c"]),
        source=content,
        edition=st.one_of(st.sampled_from(["", "2015", "2018", "2021", "2024"]), TEXT),
        args=STR_TUPLES,
        env=STR_MAPS,
    )
    other = st.builds(
        OtherTask,
        engine=TEXT.filter(lambda e: e not in BUILTIN_ENGINES),
        params=frozen_maps(value),
    )
    an_input = st.builds(
        Input,
        target=st.one_of(TEXT, st.sampled_from(["/data", "/data/a", "/in", "/a"])),
        source=st.one_of(content, st.builds(Await, job=link, path=TEXT)),
    )
    return st.builds(
        Job,
        task=st.one_of(docker, wasm, source, other),
        inputs=st.lists(an_input, max_size=3).map(tuple),
        outputs=STR_TUPLES,
        determinism=st.sampled_from(["strict", "unordered", "none"]),
        network=NETWORKS,
        nonce=st.one_of(st.just(""), TEXT),
        x=frozen_maps(value),
    )


values = values_with(links)
jobs = jobs_with(links)


# --- the reference encoding ---------------------------------------------------------------


def to_reference(tree: Any) -> Any:
    """A jobc tree (identity map, or IR value) for `dag_cbor`: links as `CID`."""
    if isinstance(tree, Link):
        return CID.decode(tree.raw)
    if isinstance(tree, dict | FrozenMap):
        return {k: to_reference(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [to_reference(v) for v in tree]
    assert tree is None or isinstance(tree, bool | int | str | bytes), type(tree)
    return tree


def reference_cid(block: bytes) -> str:
    """The CIDv1 of a DAG-CBOR block, computed by `multiformats`."""
    return str(CID("base32", 1, "dag-cbor", multihash.digest(block, "sha2-256")))


def leaves(tree: Any, kind: type) -> list[Any]:
    """Every leaf of type `kind` in a jobc tree."""
    if isinstance(tree, kind):
        return [tree]
    if isinstance(tree, dict | FrozenMap):
        return [b for v in tree.values() for b in leaves(v, kind)]
    if isinstance(tree, list | tuple):
        return [b for v in tree for b in leaves(v, kind)]
    return []


def encode_bytes_head(data: bytes) -> bytes:
    """The shortest CBOR header of a byte string of `len(data)` bytes."""
    n = len(data)
    if n < 24:
        return bytes([0x40 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([0x40 | info]) + n.to_bytes(size, "big")
    raise AssertionError("too long")


def assert_bytes_stay_bytes(block: bytes, tree: Any) -> None:
    """Each bytes leaf is a byte string (major type 2) in `block`, never a tag-42 link."""
    assert same(dag_cbor.decode(block), to_reference(tree))
    link_raws = {link.raw for link in leaves(tree, Link)}
    for data in leaves(tree, bytes):
        assert encode_bytes_head(data) + data in block
        if data not in link_raws:  # else the same bytes legitimately appear as a link
            assert b"\xd8\x2a" + encode_bytes_head(b"\x00" + data) + b"\x00" + data not in block


# --- properties ---------------------------------------------------------------------------


@pytest.mark.slow
@MANY
@given(jobs)
def test_job_encoding_matches_reference(job: Job) -> None:
    tree = identity.identity_map(job)
    expected = dag_cbor.encode(to_reference(tree))
    block = identity.encode_job(job)
    assert block == expected
    assert str(identity.job_cid(job)) == reference_cid(expected)
    assert str(identity.cid_of_block(block)) == reference_cid(expected)
    assert_bytes_stay_bytes(block, tree)


@pytest.mark.slow
@MANY
@given(values)
def test_value_encoding_matches_reference(value: Value) -> None:
    expected = dag_cbor.encode(to_reference(value))
    block = identity.encode_value(value)
    assert block == expected
    assert str(identity.value_cid(value)) == reference_cid(expected)
    assert_bytes_stay_bytes(block, value)


@pytest.mark.slow
@MANY
@given(CID_LIKE_BYTES, links)
def test_cid_like_bytes_are_byte_strings(data: bytes, link: Link) -> None:
    block = identity.encode_value(data)
    assert block == encode_bytes_head(data) + data  # major type 2, the bytes verbatim
    assert block[0] >> 5 == 2
    assert block[:2] != b"\xd8\x2a"
    # Inside a structure too, next to a genuine link (which must stay a link).
    value = (data, link, FrozenMap({"nonce": data, "job": link}))
    both = identity.encode_value(value)
    assert both == dag_cbor.encode(to_reference(value))
    decoded = dag_cbor.decode(both)
    assert type(decoded[0]) is bytes
    assert type(decoded[2]["nonce"]) is bytes
    assert isinstance(decoded[1], CID)
    assert isinstance(decoded[2]["job"], CID)
    link_item = b"\xd8\x2a" + encode_bytes_head(b"\x00" + link.raw) + b"\x00" + link.raw
    assert both.count(link_item) >= 2
    assert both.count(encode_bytes_head(data) + data) >= 2


@pytest.mark.parametrize(
    "data",
    [
        b"\x01\x71\x12\x20" + bytes(range(32)),
        b"\x01\x55\x00\x03abc",
        b"\x12\x20" + bytes(range(32)),
    ],
    ids=["cidv1-dag-cbor", "cidv1-raw-identity", "cidv0"],
)
def test_known_cid_like_bytes(data: bytes) -> None:
    """The three shapes DESIGN §3 names, as a WASM argument, a nonce-like `x` and a param."""
    # libipld alone would write these as links: that is the pitfall being guarded against.
    assert libipld.encode_dag_cbor(data)[:2] == b"\xd8\x2a"
    item = encode_bytes_head(data) + data
    assert identity.encode_value(data) == item
    assert item[0] >> 5 == 2
    for task in (
        WasmTask(module="file:m.wasm", args=(data,)),
        OtherTask(engine="homestar", params=FrozenMap({"nnc": data})),
    ):
        job = Job(task=task, determinism="strict", x=FrozenMap({"salt": data}))
        block = identity.encode_job(job)
        assert block == dag_cbor.encode(to_reference(identity.identity_map(job)))
        assert block.count(item) == 2
        assert b"\xd8\x2a" not in block  # no link at all in these jobs
        back = identity.job_from_identity(
            identity.from_dag_json(json.loads(json.dumps(identity.identity_dag_json(job))))
        )
        assert identity.job_cid(back) == identity.job_cid(job)


def test_long_identity_cid_is_still_a_link() -> None:
    """A CID whose multihash digest is over 64 bytes is a link, though libipld can't parse it."""
    cid = CID("base32", 1, "raw", multihash.wrap(bytes(range(65)), "identity"))
    link = Link(bytes(cid))
    assert bytes(cid) == varint(1) + varint(0x55) + varint(IDENTITY) + varint(65) + bytes(range(65))
    assert libipld.encode_dag_cbor(bytes(cid))[:2] != b"\xd8\x2a"  # libipld: plain bytes
    block = identity.encode_value(link)
    assert block == dag_cbor.encode(cid)
    assert block[:2] == b"\xd8\x2a"
    job = Job(task=WasmTask(module=link), determinism="strict")
    assert identity.encode_job(job) == dag_cbor.encode(to_reference(identity.identity_map(job)))


def dag_json_safe(job: Job) -> bool:
    """Whether a job survives DAG-JSON: no map in its identity is a lone "/" key.

    DAG-JSON reserves such maps for links and bytes (see the test below), so a value like
    `{"/": "x"}` in `x`, a WASM argument, a parameter or an env map cannot be written.
    """
    return not any(
        isinstance(n, dict) and list(n) == ["/"] for n in nodes(identity.identity_map(job))
    )


def nodes(tree: Any) -> list[Any]:
    """Every node of a plain tree, depth first."""
    out = [tree]
    if isinstance(tree, dict):
        for v in tree.values():
            out.extend(nodes(v))
    elif isinstance(tree, list):
        for v in tree:
            out.extend(nodes(v))
    return out


@pytest.mark.slow
@MANY
@given(jobs_with(parsable_links).filter(dag_json_safe))
def test_dag_json_round_trip(job: Job) -> None:
    text = json.dumps(identity.identity_dag_json(job))
    back = identity.job_from_identity(identity.from_dag_json(json.loads(text)))
    assert identity.job_cid(back) == identity.job_cid(job)
    assert identity.encode_job(back) == identity.encode_job(job)


def test_dag_json_cannot_carry_a_lone_slash_map() -> None:
    """DAG-JSON reserves single-key "/" maps for links and bytes, so such a map in `x`
    does not survive the DAG-JSON form of the identity map (DAG-CBOR is unaffected)."""
    cid = "bafkreiebzrnroamgos2adnbpgw5apo3z4iishhbdx77gldnbk57d4zdio4"
    as_map = Job(task=OtherTask(engine="e"), x=FrozenMap({"k": FrozenMap({"/": cid})}))
    back = identity.job_from_identity(identity.from_dag_json(identity.identity_dag_json(as_map)))
    assert back.x["k"] == Link.parse(cid)  # read back as a link: another CID
    assert identity.job_cid(back) != identity.job_cid(as_map)
    not_a_cid = Job(task=OtherTask(engine="e"), x=FrozenMap({"k": FrozenMap({"/": "hi"})}))
    with pytest.raises(ValueError, match="not a valid CID"):
        identity.from_dag_json(identity.identity_dag_json(not_a_cid))


@pytest.mark.slow
@MANY
@given(values)
def test_decoding_gives_the_value_back(value: Value) -> None:
    """`decode_value` (libipld when exact, else the reference decoder) inverts encoding,
    links and CID-like byte strings kept apart."""
    assert identity.decode_value(identity.encode_value(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        FrozenMap(
            {
                "nonce": b"\x01\x71\x12\x20" + bytes(range(32)),
                "job": Link(b"\x01\x71\x12\x20" + bytes(32)),
            }
        ),
        (b"\x12\x20" + bytes(range(32)), Link(b"\x12\x20" + bytes(range(32)))),
        Link(varint(1) + varint(0x55) + varint(IDENTITY) + varint(65) + bytes(range(65))),
        FrozenMap({"a": (1, -2, "x", None, True, b"")}),
    ],
    ids=["cid-like-nonce", "cidv0-bytes-and-link", "long-identity-link", "scalars"],
)
def test_decoding_keeps_links_and_bytes_apart(value: Value) -> None:
    assert identity.decode_value(identity.encode_value(value)) == value
