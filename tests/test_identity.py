"""The identity-map rules of DESIGN §1 to §3, one explicit test each.

What is hashed (defaults omitted, `determinism` always present, inputs and outputs
sorted), how it is encoded (strict DAG-CBOR: length-first keys, shortest integers, no
floats, 64-bit integers, links as tag 42 over 0x00 + CID), which CIDs come out
(`bafyrei…` jobs and records, `bafkrei…` documents), and what never changes a job CID
(names, labels, execution options).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import unicodedata

import dag_cbor
import pytest
from multiformats import CID, multihash

from compiler import identity
from compiler.diagnostics import SpecError
from compiler.driver import compile_bytes
from compiler.identity import IdentityError, encode_job, encode_value, identity_map, job_cid
from compiler.ir import (
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
    freeze,
)
from compiler.oracles import fact
from compiler.records import Record

MODULE = identity.cid_of_raw(b"\0asm\x01\0\0\0")
DATA = identity.cid_of_raw(b"hello\n")
OTHER_JOB = identity.cid_of_block(b"\xa0")
UBUNTU = "docker.io/library/ubuntu:22.04"
DIGEST = "sha256:" + hashlib.sha256(b"manifest").hexdigest()


def text(s: str) -> bytes:
    """A CBOR text string of fewer than 24 bytes."""
    raw = s.encode()
    assert len(raw) < 24
    return bytes([0x60 | len(raw)]) + raw


def link_item(link: Link) -> bytes:
    """A link as DAG-CBOR writes it: tag 42, a byte string of 0x00 + the binary CID."""
    body = b"\x00" + link.raw
    assert 24 <= len(body) < 256
    return b"\xd8\x2a\x58" + bytes([len(body)]) + body


# --- defaults are omitted -----------------------------------------------------------------


def test_minimal_job_is_exactly_three_fields() -> None:
    job = Job(task=WasmTask(module=MODULE), determinism="strict")
    assert identity_map(job) == {
        "ir": 1,
        "task": {"engine": "wasm", "module": MODULE},
        "determinism": "strict",
    }
    # Byte for byte: keys length first ("ir", "task", "determinism"; "engine" < "module").
    expected = (
        b"\xa3"
        + text("ir")
        + b"\x01"
        + text("task")
        + b"\xa2"
        + text("engine")
        + text("wasm")
        + text("module")
        + link_item(MODULE)
        + text("determinism")
        + text("strict")
    )
    assert encode_job(job) == expected


def test_explicit_defaults_give_the_same_cid() -> None:
    minimal = Job(task=WasmTask(module=MODULE), determinism="strict")
    spelled_out = Job(
        task=WasmTask(
            module=MODULE,
            entrypoint="_start",
            args=(),
            env=FrozenMap(),
            imports=FrozenMap(),
            stdin=None,
        ),
        inputs=(),
        outputs=(),
        determinism="strict",
        network=None,
        nonce="",
        x=FrozenMap(),
    )
    assert encode_job(spelled_out) == encode_job(minimal)
    assert job_cid(spelled_out) == job_cid(minimal)


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (WasmTask(module=MODULE, entrypoint="_start"), {"engine": "wasm", "module": MODULE}),
        (
            WasmTask(module=MODULE, entrypoint="main"),
            {"engine": "wasm", "module": MODULE, "entrypoint": "main"},
        ),
        (
            WasmTask(module=MODULE, stdin=DATA, imports=FrozenMap({"lib": "file:lib.wasm"})),
            {
                "engine": "wasm",
                "module": MODULE,
                "stdin": DATA,
                "imports": {"lib": "file:lib.wasm"},
            },
        ),
        (SourceTask(engine="rust", source="file:src/"), {"engine": "rust", "source": "file:src/"}),
        (
            SourceTask(engine="rust", source="file:src/", edition="2021"),
            {"engine": "rust", "source": "file:src/"},
        ),
        (
            SourceTask(engine="rust", source="file:src/", edition="2018"),
            {"engine": "rust", "source": "file:src/", "edition": "2018"},
        ),
        (
            SourceTask(engine="c", source="file:main.c", edition="2018"),
            {"engine": "c", "source": "file:main.c"},
        ),
        (DockerTask(image=UBUNTU), {"engine": "docker", "image": UBUNTU}),
        (
            DockerTask(image=UBUNTU, entrypoint=(), args=(), env=FrozenMap(), workdir=""),
            {"engine": "docker", "image": UBUNTU},
        ),
        (
            DockerTask(image=UBUNTU, platform="linux/arm64"),
            {"engine": "docker", "image": UBUNTU, "platform": "linux/arm64"},
        ),
        (
            # A digest already says which platform: the platform is not identity then.
            DockerTask(image=ImageDigest(DIGEST), platform="linux/arm64"),
            {"engine": "docker", "image": {"digest": DIGEST}},
        ),
        (
            DockerTask(image=UBUNTU, args=("echo", "hi"), env=FrozenMap({"A": "1"}), workdir="/w"),
            {
                "engine": "docker",
                "image": UBUNTU,
                "args": ["echo", "hi"],
                "env": {"A": "1"},
                "workdir": "/w",
            },
        ),
        (OtherTask(engine="gpu-sim"), {"engine": "gpu-sim"}),
        (
            OtherTask(engine="gpu-sim", params=FrozenMap({"steps": 3})),
            {"engine": "gpu-sim", "steps": 3},
        ),
    ],
    ids=[
        "wasm-default-entrypoint",
        "wasm-entrypoint",
        "wasm-stdin-imports",
        "rust-no-edition",
        "rust-default-edition",
        "rust-edition",
        "c-never-edition",
        "docker-bare",
        "docker-empty-fields",
        "docker-platform-tag",
        "docker-platform-digest",
        "docker-fields",
        "other-bare",
        "other-params",
    ],
)
def test_task_defaults_omitted(
    task: DockerTask | WasmTask | SourceTask | OtherTask, expected: dict[str, Value]
) -> None:
    assert identity_map(Job(task=task))["task"] == expected


def test_rust_default_edition_is_2021() -> None:
    unset = Job(task=SourceTask(engine="rust", source="file:src/"))
    explicit = Job(task=SourceTask(engine="rust", source="file:src/", edition="2021"))
    other = Job(task=SourceTask(engine="rust", source="file:src/", edition="2024"))
    assert job_cid(unset) == job_cid(explicit)
    assert job_cid(other) != job_cid(unset)


@pytest.mark.parametrize("determinism", ["strict", "unordered", "none"])
def test_determinism_always_present(determinism: str) -> None:
    job = Job(task=OtherTask(engine="e"), determinism=determinism)  # type: ignore[arg-type]
    assert identity_map(job) == {"ir": 1, "task": {"engine": "e"}, "determinism": determinism}
    assert text("determinism") + text(determinism) in encode_job(job)


def test_optional_fields_appear_only_when_set() -> None:
    job = Job(
        task=OtherTask(engine="e"),
        inputs=(Input("/in", DATA),),
        outputs=("/out",),
        network=Network(mode="http"),
        nonce="rerun",
        x=FrozenMap({"k": "v"}),
    )
    assert identity_map(job) == {
        "ir": 1,
        "task": {"engine": "e"},
        "inputs": [{"target": "/in", "content": DATA}],
        "outputs": ["/out"],
        "determinism": "none",
        "network": {"mode": "http"},
        "nonce": "rerun",
        "x": {"k": "v"},
    }
    with_domains = Job(task=OtherTask(engine="e"), network=Network("full", ("a.example",)))
    assert identity_map(with_domains)["network"] == {"mode": "full", "domains": ["a.example"]}
    # Each of them changes the CID.
    base = job_cid(Job(task=OtherTask(engine="e")))
    for field in ("inputs", "outputs", "network", "nonce", "x"):
        single = Job(task=OtherTask(engine="e"), **{field: getattr(job, field)})
        assert job_cid(single) != base, field


# --- inputs and outputs are sorted --------------------------------------------------------


def test_inputs_sorted_by_target() -> None:
    inputs = (
        Input("/b", DATA),
        Input("/a/b", "file:x"),
        Input("/ab", Await(OTHER_JOB, "/outputs/r")),
        Input("/a", "https://example.org/data.csv"),
    )
    cids = {
        job_cid(Job(task=OtherTask(engine="e"), inputs=p)) for p in itertools.permutations(inputs)
    }
    assert len(cids) == 1
    tree = identity_map(Job(task=OtherTask(engine="e"), inputs=inputs))
    assert [i["target"] for i in tree["inputs"]] == ["/a", "/a/b", "/ab", "/b"]
    assert tree["inputs"][2] == {"target": "/ab", "await": {"job": OTHER_JOB, "path": "/outputs/r"}}


def test_outputs_sorted() -> None:
    outputs = ("/outputs/z", "/outputs", "/outputs/a.txt", "/logs")
    cids = {
        job_cid(Job(task=OtherTask(engine="e"), outputs=p)) for p in itertools.permutations(outputs)
    }
    assert len(cids) == 1
    tree = identity_map(Job(task=OtherTask(engine="e"), outputs=outputs))
    assert tree["outputs"] == ["/logs", "/outputs", "/outputs/a.txt", "/outputs/z"]


# --- strict DAG-CBOR ----------------------------------------------------------------------


def test_map_keys_length_first() -> None:
    value = FrozenMap({"bb": 1, "a": 2, "c": 3, "aaa": 4, "é": 5, "ab": 6})
    # Length of the UTF-8 bytes first ("é" is 2 bytes), then bytewise.
    assert encode_value(value) == bytes.fromhex(
        "a6"
        "6161"
        "02"  # a
        "6163"
        "03"  # c
        "626162"
        "06"  # ab
        "626262"
        "01"  # bb
        "62c3a9"
        "05"  # é
        "63616161"
        "04"  # aaa
    )
    # The job map too: "x" < "ir" < "task" < "nonce" < "inputs" < "network" < "outputs"
    # < "determinism".
    job = Job(
        task=OtherTask(engine="e"),
        inputs=(Input("/i", "file:i"),),
        outputs=("/o",),
        network=Network("http"),
        nonce="n",
        x=FrozenMap({"k": 1}),
    )
    keys = list(dag_cbor.decode(encode_job(job)))
    assert keys == ["x", "ir", "task", "nonce", "inputs", "network", "outputs", "determinism"]
    block = encode_job(job)
    offsets = [block.index(text(k)) for k in keys]
    assert offsets == sorted(offsets)


@pytest.mark.parametrize(
    ("n", "hex_"),
    [
        (0, "00"),
        (1, "01"),
        (23, "17"),
        (24, "1818"),
        (255, "18ff"),
        (256, "190100"),
        (65535, "19ffff"),
        (65536, "1a00010000"),
        (2**32 - 1, "1affffffff"),
        (2**32, "1b0000000100000000"),
        (2**63 - 1, "1b7fffffffffffffff"),
        (2**64 - 1, "1bffffffffffffffff"),
        (-1, "20"),
        (-24, "37"),
        (-25, "3818"),
        (-256, "38ff"),
        (-257, "390100"),
        (-65537, "3a00010000"),
        (-(2**32) - 1, "3b0000000100000000"),
        (-(2**63), "3b7fffffffffffffff"),
        (-(2**64), "3bffffffffffffffff"),
    ],
)
def test_shortest_integer_forms(n: int, hex_: str) -> None:
    assert encode_value(n) == bytes.fromhex(hex_)
    job = Job(task=OtherTask(engine="e"), x=FrozenMap({"n": n}))
    assert text("n") + bytes.fromhex(hex_) in encode_job(job)


def test_booleans_are_not_integers() -> None:
    assert encode_value(True) == b"\xf5"
    assert encode_value(False) == b"\xf4"
    assert encode_value(None) == b"\xf6"
    assert encode_value(1) == b"\x01"


@pytest.mark.parametrize("n", [2**64, -(2**64) - 1, 2**100, -(2**100)])
def test_integers_beyond_64_bits_rejected(n: int) -> None:
    with pytest.raises(IdentityError, match="64 bits"):
        encode_value(n)
    with pytest.raises(IdentityError, match="64 bits"):
        job_cid(Job(task=OtherTask(engine="e"), x=FrozenMap({"n": n})))


@pytest.mark.parametrize("f", [0.5, 1.0, 0.0, -0.0, math.inf, -math.inf, math.nan])
def test_floats_rejected(f: float) -> None:
    # Floats are not IR values at all (freeze refuses them) ...
    with pytest.raises(TypeError, match="float"):
        freeze({"f": f})
    # ... and identity refuses one that got in anyway, wherever it is.
    smuggled: Value = f  # type: ignore[assignment]
    with pytest.raises(IdentityError, match="float"):
        encode_value(smuggled)
    nested: Value = FrozenMap({"a": (1, FrozenMap({"b": smuggled}))})
    for job in (
        Job(task=OtherTask(engine="e"), x=FrozenMap({"ratio": smuggled})),
        Job(task=WasmTask(module=MODULE, args=("--scale", smuggled))),
        Job(task=OtherTask(engine="e", params=FrozenMap({"deep": nested}))),
    ):
        with pytest.raises(IdentityError, match="float"):
            job_cid(job)
        with pytest.raises(IdentityError, match="float"):
            identity.identity_dag_json(job)
    with pytest.raises(IdentityError, match="float"):
        identity.from_dag_json({"x": [f]})


def test_float_in_a_spec_is_an_error() -> None:
    spec = b"jobspec: 1\ntask: {engine: docker, image: ubuntu:22.04}\nx: {ratio: 0.5}\n"
    with pytest.raises(SpecError, match="cannot be part of a job's identity"):
        compile_bytes(spec, "x.yaml")


def test_strings_as_written() -> None:
    """No Unicode normalisation: arguments are bytes to the program."""
    composed = unicodedata.normalize("NFC", "café")
    decomposed = unicodedata.normalize("NFD", "café")
    assert composed != decomposed
    a = Job(task=DockerTask(image=UBUNTU, args=(composed,)))
    b = Job(task=DockerTask(image=UBUNTU, args=(decomposed,)))
    assert job_cid(a) != job_cid(b)
    assert composed.encode() in encode_job(a)
    assert decomposed.encode() in encode_job(b)


# --- links --------------------------------------------------------------------------------


def test_links_are_tag_42_with_a_zero_prefix() -> None:
    block = encode_value(DATA)
    assert block[:2] == b"\xd8\x2a"  # tag 42
    assert block[2:4] == b"\x58\x25"  # byte string of 37 bytes
    assert block[4] == 0x00  # the multibase identity prefix
    assert block[5:] == DATA.raw
    assert block == link_item(DATA)
    assert block == dag_cbor.encode(CID.decode(DATA.raw))


def test_cidv0_link_encoding() -> None:
    v0 = Link.parse("QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY")
    assert v0.version == 0
    assert encode_value(v0) == b"\xd8\x2a\x58\x23\x00" + v0.raw


def test_links_in_jobs_are_tag_42_and_bytes_are_not() -> None:
    job = Job(
        task=WasmTask(module=MODULE, args=(DATA.raw, DATA)),
        inputs=(Input("/in", DATA), Input("/prev", Await(OTHER_JOB, "/out"))),
        determinism="strict",
    )
    block = encode_job(job)
    assert block.count(link_item(DATA)) == 2  # the input and the link argument
    assert block.count(link_item(MODULE)) == 1
    assert block.count(link_item(OTHER_JOB)) == 1
    # The argument that is DATA's bytes, not DATA, is a byte string: 0x58 0x24 + raw.
    assert b"\x58\x24" + DATA.raw in block
    assert block == dag_cbor.encode(
        {
            "ir": 1,
            "task": {
                "engine": "wasm",
                "module": CID.decode(MODULE.raw),
                "args": [DATA.raw, CID.decode(DATA.raw)],
            },
            "inputs": [
                {"target": "/in", "content": CID.decode(DATA.raw)},
                {"target": "/prev", "await": {"job": CID.decode(OTHER_JOB.raw), "path": "/out"}},
            ],
            "determinism": "strict",
        }
    )


def test_link_parse_cidv0_to_v1() -> None:
    text_v0 = "QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY"
    v0 = Link.parse(text_v0)
    assert str(v0) == text_v0
    v1 = v0.v1()
    reference = CID.decode(text_v0).set(version=1, base="base32")
    assert str(v1) == str(reference)
    assert str(v1).startswith("bafybei")
    assert v1.raw == bytes(reference)
    assert v1.raw == b"\x01\x70" + v0.raw  # dag-pb, same multihash
    assert Link.parse(str(v1)) == v1
    assert v1.v1() == v1


# --- the three kinds of identity ----------------------------------------------------------


def test_job_cid_form() -> None:
    job = Job(task=WasmTask(module=MODULE), determinism="strict")
    cid = job_cid(job)
    assert str(cid).startswith("bafyrei")
    reference = CID("base32", 1, "dag-cbor", multihash.digest(encode_job(job), "sha2-256"))
    assert str(cid) == str(reference)
    assert cid.raw == bytes(reference)
    assert identity.verify_block(cid, encode_job(job))
    assert not identity.verify_block(cid, encode_job(job) + b"\x00")


def test_document_cid_form() -> None:
    raw = b"jobspec: 1\n"
    cid = identity.cid_of_raw(raw)
    assert str(cid).startswith("bafkrei")
    assert str(cid) == str(CID("base32", 1, "raw", multihash.digest(raw, "sha2-256")))
    doc = b"jobspec: 1\ntask: {engine: docker, image: ubuntu:22.04, args: ['true']}\n"
    compiled = compile_bytes(doc, "x.yaml")
    assert compiled.document == identity.cid_of_raw(doc)
    assert str(compiled.document).startswith("bafkrei")
    assert str(compiled.cid).startswith("bafyrei")
    assert str(compiled.original).startswith("bafyrei")


def test_value_and_record_cids_form() -> None:
    value = FrozenMap({"a": 1})
    assert identity.value_cid(value) == identity.cid_of_block(encode_value(value))
    assert str(identity.value_cid(value)).startswith("bafyrei")


# --- what never changes a job CID ---------------------------------------------------------

BASE_SPEC = """\
jobspec: 1
name: {name}
labels: {labels}
task:
  engine: docker
  image: ubuntu:22.04
  args: [sh, -c, "wc -l /data/words.txt > /outputs/count"]
  env: [LC_ALL=C]
inputs:
  - name: {input_name}
    source: ipfs://bafkreiebzrnroamgos2adnbpgw5apo3z4iishhbdx77gldnbk57d4zdio4
    target: /data/words.txt
outputs:
  - {{name: {output_name}, path: /outputs}}
deterministic: true
execution: {execution}
"""


def spec(**overrides: str) -> bytes:
    """The base spec with some of its non-identity fields replaced."""
    fields = {
        "name": "word-count",
        "labels": "{team: data}",
        "input_name": "words",
        "output_name": "count",
        "execution": "{timeout: 10m, resources: {cpu: '1', memory: 1Gi}, retries: 2}",
    }
    fields.update(overrides)
    return BASE_SPEC.format(**fields).encode()


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "something-else"},
        {"labels": "{team: science, stage: prod}"},
        {"labels": "{}"},
        {"input_name": "corpus"},
        {"output_name": "result"},
        {"execution": "{timeout: 2h, resources: {cpu: '8', memory: 64Gi, gpu: '1'}, retries: 0}"},
        {"execution": "{}"},
        {
            "name": "renamed",
            "labels": "{x: y}",
            "input_name": "w",
            "output_name": "c",
            "execution": "{publisher: ipfs, priority: 9}",
        },
    ],
    ids=[
        "name",
        "labels",
        "no-labels",
        "input-name",
        "output-name",
        "execution",
        "no-execution",
        "all",
    ],
)
def test_names_labels_execution_do_not_change_the_job_cid(overrides: dict[str, str]) -> None:
    base_raw, other_raw = spec(), spec(**overrides)
    assert base_raw != other_raw
    base = compile_bytes(base_raw, "x.yaml")
    other = compile_bytes(other_raw, "x.yaml")
    assert other.cid == base.cid
    assert other.original == base.original
    assert job_cid(other.job) == job_cid(base.job)
    # The documents differ, and so does what is kept beside the job.
    assert other.document != base.document
    assert (other.meta, other.execution) != (base.meta, base.execution)


def test_identity_fields_do_change_the_job_cid() -> None:
    """The control for the test above: a change of meaning is a change of CID."""
    base = compile_bytes(spec(), "x.yaml")
    changed = compile_bytes(spec().replace(b"LC_ALL=C", b"LC_ALL=C.UTF-8"), "x.yaml")
    assert changed.cid != base.cid


def test_entrypoint_joined_and_split_agree() -> None:
    """DESIGN §3: `entrypoint + args` is the whole argv; how it is split is syntax."""
    joined = (
        b"jobspec: 1\ntask: {engine: docker, image: busybox:1.36, entrypoint: [sh, -c, 'ls /']}\n"
    )
    split = (
        b"jobspec: 1\n"
        b"task: {engine: docker, image: busybox:1.36, entrypoint: [sh], args: [-c, 'ls /']}\n"
    )
    assert compile_bytes(joined, "a.yaml").cid == compile_bytes(split, "b.yaml").cid


def test_env_list_and_map_agree() -> None:
    as_list = b"jobspec: 1\ntask: {engine: docker, image: busybox:1.36, env: [A=1, B=two]}\n"
    as_map = b"jobspec: 1\ntask: {engine: docker, image: busybox:1.36, env: {B: two, A: 1}}\n"
    assert compile_bytes(as_list, "a.yaml").cid == compile_bytes(as_map, "b.yaml").cid


# --- records ------------------------------------------------------------------------------


def test_record_cid_independent_of_fact_order() -> None:
    facts = [
        fact({"ref": "docker.io/library/ubuntu:22.04"}, {"digest": DIGEST}),
        fact({"ref": "docker.io/library/busybox:1.36"}, {"digest": "sha256:" + "0" * 64}),
        fact({"source": "file:data/"}, {"cid": DATA}),
        fact({"source": "file:raw"}, {"cid": DATA, "bytes": DATA.raw}),
    ]
    records = [
        Record.make("resolve-images", 1, OTHER_JOB, MODULE, list(order))
        for order in itertools.permutations(facts)
    ]
    assert len({r.cid for r in records}) == 1
    assert len(set(records)) == 1
    # Duplicates are dropped, so repeating a fact does not change the record either.
    assert (
        Record.make("resolve-images", 1, OTHER_JOB, MODULE, facts + facts[:2]).cid == records[0].cid
    )
    # The CID is that of the record map (DESIGN §5), in DAG-CBOR.
    record = records[0]
    assert record.cid == identity.value_cid(record.to_value())
    assert str(record.cid).startswith("bafyrei")
    decoded = dag_cbor.decode(encode_value(record.to_value()))
    assert list(decoded) == ["to", "from", "pass", "facts", "record", "version"]
    assert decoded["record"] == 1
    assert decoded["from"] == CID.decode(OTHER_JOB.raw)
    # A fact-less and a different-fact record are other records.
    assert Record.make("resolve-images", 1, OTHER_JOB, MODULE, facts[:1]).cid != record.cid


def test_record_round_trips_through_dag_json() -> None:
    record = Record.make(
        "resolve-content", 1, OTHER_JOB, MODULE, [fact({"source": "file:data/"}, {"cid": DATA})]
    )
    back = Record.from_dag_json(record.to_dag_json())
    assert back == record
    assert back.cid == record.cid


# --- back from the identity map -----------------------------------------------------------


def test_job_from_identity_round_trip() -> None:
    job = Job(
        task=DockerTask(
            image=ImageDigest(DIGEST), entrypoint=("sh", "-c", "true"), env=FrozenMap({"A": "1"})
        ),
        inputs=(Input("/in", DATA), Input("/prev", Await(OTHER_JOB, "/out"))),
        outputs=("/outputs",),
        determinism="unordered",
        network=Network("http", ("example.org",)),
        nonce="n",
        x=FrozenMap({"b": b"\x01\x55\x00\x03abc", "l": DATA}),
    )
    back = identity.job_from_identity(identity.from_dag_json(identity.identity_dag_json(job)))
    assert back == job
    assert job_cid(back) == job_cid(job)


def test_job_from_identity_rejects_unknown_versions_and_fields() -> None:
    tree = identity.identity_dag_json(Job(task=OtherTask(engine="e")))
    with pytest.raises(IdentityError, match="IR version"):
        identity.job_from_identity(identity.from_dag_json({**tree, "ir": 2}))
    with pytest.raises(IdentityError, match="unknown identity fields"):
        identity.job_from_identity(identity.from_dag_json({**tree, "name": "x"}))
