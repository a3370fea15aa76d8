"""The store interface, on both backends (SQLite, PostgreSQL): every test here runs twice.

Blocks, caches, transactions, the chain index (finals, walks, disowned pass versions),
jobs and the call tree (content references, awaits, refcount), receipts by job and by
output, aliases.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from compiler import identity
from compiler.identity import cid_of_raw
from compiler.ir import Await, DockerTask, FrozenMap, ImageDigest, Input, Job, Link, WasmTask
from compiler.records import Record
from compiler.runtime.receipts import NodeKey, Receipt, timestamp
from compiler.store import RecordRef, Store, StoreError, open_store


def content(name: str) -> Link:
    return cid_of_raw(name.encode())


def job_reading(*sources: Link | Await, nonce: str = "", determinism: str = "strict") -> Job:
    """A wasm job that reads each source at /in/<i>."""
    return Job(
        task=WasmTask(module=content("module")),
        inputs=tuple(Input(f"/in/{i}", s) for i, s in enumerate(sources)),
        outputs=("/out",),
        determinism=determinism,  # type: ignore[arg-type]
        nonce=nonce,
    )


def receipt_for(job: Link, key: NodeKey, out: Link, exit_: int = 0) -> Receipt:
    return key.sign(
        Receipt(
            job=job,
            outputs=FrozenMap({"/out": out}),
            exit=exit_,
            stdout=content("stdout of " + str(job)),
            stderr=content(""),
            runner=FrozenMap({"name": "test"}),
            node="",
            meta=FrozenMap({"started": timestamp()}),
        )
    )


def chain(*names: str, passes: tuple[str, ...] = ()) -> list[Record]:
    """Records linking CIDs named `names` in order (pass names from `passes`, else p0, p1…)."""
    links = [content(n) for n in names]
    return [
        Record.make(passes[i] if i < len(passes) else f"p{i}", 1, a, b, [])
        for i, (a, b) in enumerate(itertools.pairwise(links))
    ]


# --- blocks, caches, transactions ---------------------------------------------------------


def test_blocks_round_trip(store: Store) -> None:
    data = b"hello"
    cid = cid_of_raw(data)
    assert not store.has_block(cid)
    assert store.get_block(cid) is None
    store.put_block(cid, data)
    store.put_block(cid, data)  # idempotent
    assert store.has_block(cid)
    assert store.get_block(cid) == data
    assert list(store.blocks()) == [cid]
    more = [(cid_of_raw(b"%d" % i), b"%d" % i) for i in range(300)]
    store.put_blocks([*more, (cid, data)])
    assert store.count("blocks") == 301
    assert list(store.blocks()) == sorted([cid, *(c for c, _ in more)], key=lambda c: c.raw)
    absent = [content(f"absent {i}") for i in range(700)]  # over one IN list's worth
    assert store.missing_blocks([cid, *absent, more[5][0]]) == set(absent)


def test_many_rows_at_once(store: Store) -> None:
    """Large batches (PostgreSQL takes them by COPY) skip rows that are there, inside a
    transaction or not, and twice in one transaction."""
    records = [r for i in range(700) for r in chain(f"m{i}", f"m{i}'")]
    store.index_records(
        RecordRef(r.cid, r.pass_name, r.version, r.source, r.target) for r in records[:100]
    )
    with store.transaction():
        for half in (records[:400], records[300:]):
            store.put_blocks((r.cid, b"x") for r in half)
            store.index_records(
                RecordRef(r.cid, r.pass_name, r.version, r.source, r.target) for r in half
            )
    store.mark_finals(r.target for r in records)
    store.mark_finals(r.target for r in records)
    assert store.count("records") == 700
    assert store.count("blocks") == 700
    assert store.count("finals") == 700
    assert store.finals(records[650].source) == [records[650].target]
    assert store.get_blocks(r.cid for r in records[:600]) == {r.cid: b"x" for r in records[:600]}


def test_a_large_batch_after_one_rolled_back(store: Store) -> None:
    """What a rolled-back batch set up for itself (PostgreSQL's staging tables for COPY)
    goes with it, and the next batch sets it up again."""
    blocks = [(content(f"r{i}"), f"r{i}".encode()) for i in range(600)]

    class Boom(Exception):
        pass

    def write_then_fail() -> None:
        with store.transaction():
            store.put_blocks(blocks)
            raise Boom

    with pytest.raises(Boom):
        write_then_fail()
    assert store.count("blocks") == 0
    for _ in range(2):
        with store.transaction():
            store.put_blocks(blocks)
    assert store.count("blocks") == 600


def test_default_location_is_the_data_dir(jobc_home: Path) -> None:
    s = open_store()
    try:
        s.cache_put("t", "k", 1, ttl=None)
    finally:
        s.close()
    assert (jobc_home / "store.sqlite").exists()


def test_cache_expiry(store: Store) -> None:
    store.cache_put("image", "docker.io/library/ubuntu:latest", {"d": "x"}, ttl=60, now=1000)
    assert store.cache_get("image", "docker.io/library/ubuntu:latest", now=1059) == {"d": "x"}
    assert store.cache_get("image", "docker.io/library/ubuntu:latest", now=1060) is None
    store.cache_put("image", "forever", [1, 2], ttl=None, now=0)
    assert store.cache_get("image", "forever", now=1e12) == [1, 2]
    assert store.cache_get("other", "forever") is None
    store.cache_delete("image", "forever")
    assert store.cache_get("image", "forever") is None


def test_cache_purge(store: Store) -> None:
    for i in range(3):
        store.cache_put("image", f"k{i}", i, ttl=None)
    store.cache_put("content-file", "f", 1, ttl=None)
    assert store.cache_purge("image") == 3
    assert store.cache_get("image", "k1") is None
    assert store.cache_get("content-file", "f") == 1
    assert store.cache_purge() == 1


def test_transaction_rolls_back_on_failure(store: Store) -> None:
    cid = cid_of_raw(b"x")
    record = chain("a", "b")[0]

    class Boom(Exception):
        pass

    def write_then_fail() -> None:
        with store.transaction():
            store.put_block(cid, b"x")
            store.cache_put("n", "k", 1, ttl=None)
            store.put_record(record)
            store.put_job(job_reading(content("d")))
            with store.transaction():  # nested: joins the outer one
                store.cache_put("n", "k2", 2, ttl=None)
                store.mark_final(content("b"))
            raise Boom

    with pytest.raises(Boom):
        write_then_fail()
    assert not store.has_block(cid)
    assert store.cache_get("n", "k") is None
    assert store.cache_get("n", "k2") is None
    for what in ("blocks", "records", "finals", "jobs"):
        assert store.count(what) == 0, what
    # The store is usable after a rollback.
    store.put_block(cid, b"x")
    assert store.has_block(cid)


def test_reopen_keeps_data_and_schema(store_location: str) -> None:
    s = open_store(store_location)
    s.cache_put("n", "k", "v", ttl=None)
    s.put_record(chain("a", "b")[0])
    s.close()
    s = open_store(store_location)
    try:
        assert s.cache_get("n", "k") == "v"
        assert s.count("records") == 1
    finally:
        s.close()


def test_threads_share_a_store(store: Store) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(50):
                with store.transaction():
                    store.cache_put("t", f"{i}-{j}", j, ttl=None)
                    store.put_record(chain(f"t{i}-{j}", f"t{i}-{j}'")[0])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(store.cache_get("t", f"{i}-49") == 49 for i in range(4))
    assert store.count("records") == 200


def test_count_names_only_known_indexes(store: Store) -> None:
    with pytest.raises(ValueError, match="cannot count"):
        store.count("blocks; DROP TABLE blocks")


# --- the chain index ----------------------------------------------------------------------


def test_every_cid_on_a_chain_leads_to_its_final(store: Store) -> None:
    records = chain("doc", "original", "normalized", "final")
    for r in records:
        store.put_record(r)
    store.mark_final(content("final"))
    for name in ("doc", "original", "normalized", "final"):
        assert store.finals(content(name)) == [content("final")], name
    assert store.finals(content("elsewhere")) == []
    assert store.is_final(content("final"))
    assert not store.is_final(content("normalized"))
    # The record blocks are stored and decode back to the records.
    for r in records:
        block = store.get_block(r.cid)
        assert block is not None
        assert identity.cid_of_block(block) == r.cid


def test_chains_that_merge_and_branch(store: Store) -> None:
    """Two documents parse to one original; later the image tag moved: two finals."""
    for names in (
        ("doc-yaml", "original", "normalized", "final-1"),
        ("doc-json", "original"),
        ("normalized", "final-2"),
    ):
        for r in chain(*names, passes=(names[0][:3],)):
            store.put_record(r)
    store.mark_finals([content("final-1"), content("final-2")])
    both = sorted([content("final-1"), content("final-2")], key=lambda c: c.raw)
    assert store.finals(content("doc-json")) == both
    assert store.finals(content("final-2")) == [content("final-2")]
    backward = store.walk(content("final-1"), "backward")
    assert {(r.source, r.target) for r in backward} == {
        (content("doc-yaml"), content("original")),
        (content("doc-json"), content("original")),
        (content("original"), content("normalized")),
        (content("normalized"), content("final-1")),
    }
    forward = store.walk(content("doc-yaml"), "forward")
    assert {r.target for r in forward} == {
        content("original"),
        content("normalized"),
        content("final-1"),
        content("final-2"),
    }
    assert all(isinstance(r, RecordRef) and not r.disowned for r in forward)


def test_a_cycle_of_records_ends(store: Store) -> None:
    for r in chain("a", "b", "c", "a"):
        store.put_record(r)
    store.mark_final(content("c"))
    assert store.finals(content("a")) == [content("c")]
    assert len(store.walk(content("a"), "forward")) == 3
    assert len(store.walk(content("a"), "backward")) == 3


def test_disowned_pass_versions_are_not_followed(store: Store) -> None:
    records = chain("doc", "original", "normalized", "final", passes=("parse", "normalize", "bad"))
    for r in records:
        store.put_record(r)
    store.mark_final(content("final"))
    assert store.disown("bad", 1, "pinned the wrong platform") == 1
    assert store.disown("bad", 1) == 1  # again: no change
    assert store.disown("bad", 2) == 0  # a version that made nothing
    assert store.finals(content("doc")) == []  # the only way on is disowned
    assert store.finals(content("final")) == [content("final")]
    forward = store.walk(content("doc"), "forward")
    assert sorted((r.pass_name, r.disowned) for r in forward) == [
        ("bad", True),  # listed, marked, not followed
        ("normalize", False),
        ("parse", False),
    ]
    backward = store.walk(content("final"), "backward")
    assert {r.pass_name: r.disowned for r in backward} == {
        "parse": False,
        "normalize": False,
        "bad": True,
    }
    assert [(d.pass_name, d.version, d.reason) for d in store.disowned()] == [
        ("bad", 1, "pinned the wrong platform"),
        ("bad", 2, ""),
    ]
    assert store.undisown("bad", 1)
    assert not store.undisown("bad", 1)
    assert store.finals(content("doc")) == [content("final")]


# --- jobs and the call tree ---------------------------------------------------------------


def test_a_job_is_stored_and_indexed(store: Store) -> None:
    data = content("data")
    upstream = content("upstream job")
    job = Job(
        task=WasmTask(
            module=content("module"),
            imports=FrozenMap({"env": content("lib")}),
            stdin=content("stdin"),
        ),
        inputs=(Input("/data", data), Input("/prev", Await(upstream, "/outputs/x"))),
        outputs=("/out",),
        determinism="strict",
    )
    cid = store.put_job(job)
    assert cid == identity.job_cid(job)
    assert store.get_block(cid) == identity.encode_job(job)
    assert store.determinism(cid) == "strict"
    assert store.determinism(content("unknown")) is None
    assert [(r.place, r.content) for r in store.content_refs(cid)] == [
        ("/inputs//data", data),
        ("/task/imports/env", content("lib")),
        ("/task/module", content("module")),
        ("/task/stdin", content("stdin")),
    ]
    assert [(a.place, a.upstream, a.path) for a in store.awaits(cid)] == [
        ("/inputs//prev", upstream, "/outputs/x")
    ]
    assert [(u.job, u.place) for u in store.users(data)] == [(cid, "/inputs//data")]
    docker = Job(task=DockerTask(image=ImageDigest("sha256:" + "a" * 64)), inputs=())
    assert store.content_refs(store.put_job(docker)) == []


def test_refcount_direct_and_through_outputs(store: Store) -> None:
    """data → J1 → out1 → J2 → out2 → J3; J4 awaits J1; J5 reads data too but is no final."""
    key = NodeKey.generate()
    data, out1, out2 = content("data"), content("out1"), content("out2")
    j1 = store.put_job(job_reading(data))
    j2 = store.put_job(job_reading(out1))
    # The receipt arrives after J2 (the edge J1 → J2 is made from the receipt's side) …
    store.put_receipt(receipt_for(j1, key, out1))
    store.put_receipt(receipt_for(j2, key, out2))
    # … and J3 after the receipt (the edge J2 → J3 is made from the job's side).
    j3 = store.put_job(job_reading(out2))
    j4 = store.put_job(job_reading(Await(j1, "/out")))
    j5 = store.put_job(job_reading(data, nonce="not compiled to the end"))
    store.mark_finals([j1, j2, j3, j4])
    assert store.refcount(data) == (1, 4)
    assert store.refcount(out1) == (1, 2)
    assert store.refcount(out2) == (1, 1)
    assert store.refcount(content("unused")) == (0, 0)
    store.mark_final(j5)
    assert store.refcount(data) == (2, 5)
    assert store.most_used(2) == [(content("module"), 5), (data, 2)]  # all five run the module
    assert len(store.most_used(10)) == 4  # module, data, out1, out2


def test_refcount_ends_on_a_cycle(store: Store) -> None:
    key = NodeKey.generate()
    a, b = content("a"), content("b")
    ja = store.put_job(job_reading(a))
    jb = store.put_job(job_reading(b))
    store.put_receipt(receipt_for(ja, key, b))  # ja makes b, jb reads b
    store.put_receipt(receipt_for(jb, key, a))  # jb makes a, ja reads a
    store.mark_finals([ja, jb])
    assert store.refcount(a) == (1, 2)


def test_ranking_by_total_use_counts_as_refcount_does(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`most_used(by="total")` counts every content CID at once over the whole call tree;
    each count equals `refcount`'s walk, in a random tree of 60 jobs (content counted a
    few at a time, so several chunks), with a cycle and jobs that are not final."""
    import random

    from compiler.store import queries as q

    monkeypatch.setattr(q, "COUNT_CHUNK", 5)
    rng = random.Random(6)
    key = NodeKey.generate()
    data = [content(f"data {i}") for i in range(8)]
    outputs: list[Link] = []
    made: list[Link] = []
    for i in range(60):
        reads: list[Link | Await] = [*rng.sample(data, rng.randint(0, 2))]
        reads += rng.sample(outputs, min(len(outputs), rng.randint(0, 2)))
        if made and rng.random() < 0.2:
            reads.append(Await(rng.choice(made), "/out"))
        job = store.put_job(job_reading(*reads, nonce=str(i)))
        if rng.random() < 0.8:
            store.mark_final(job)
        out = content(f"output {i}")
        store.put_receipt(receipt_for(job, key, out))
        outputs.append(out)
        made.append(job)
    # A cycle: two jobs each reading what the other made.
    a, b = content("cycle a"), content("cycle b")
    ja, jb = store.put_job(job_reading(a)), store.put_job(job_reading(b, outputs[0]))
    store.put_receipt(receipt_for(ja, key, b))
    store.put_receipt(receipt_for(jb, key, a))
    store.mark_finals([ja, jb])

    counts = q.transitive_counts(store.usage_graph())
    assert len(counts) > 3 * q.COUNT_CHUNK
    for raw, (direct, total) in counts.items():
        assert store.refcount(Link(raw)) == (direct, total), Link(raw)
    assert counts[a.raw] == (1, 2)
    by_total = q.most_used(store, 5, "total")
    assert [r.total for r in by_total] == sorted((t for _, t in counts.values()), reverse=True)[:5]
    assert by_total[0].cid == content("module")  # every job runs it
    by_direct = q.most_used(store, 5, "direct")
    assert [r.direct for r in by_direct] == sorted((d for d, _ in counts.values()), reverse=True)[
        :5
    ]
    # An output read by one job early in the tree is used by more jobs than some data
    # read directly by several: the two rankings differ.
    assert [r.cid for r in by_total] != [r.cid for r in by_direct]


# --- receipts -----------------------------------------------------------------------------


def test_receipts_by_job_and_by_output(store: Store) -> None:
    a, b = NodeKey.generate(), NodeKey.generate()
    job = store.put_job(job_reading(content("in")))
    r1 = receipt_for(job, a, content("result"))
    r2 = receipt_for(job, b, content("other result"), exit_=1)
    for r in (r1, r2, r1):
        assert store.put_receipt(r) == r.cid
    assert store.receipts(job) == [r1, r2]
    assert store.count("receipts") == 2
    refs = store.receipt_refs([job])
    assert [(r.cid, r.node, r.exit) for r in refs] == [(r1.cid, a.node, 0), (r2.cid, b.node, 1)]
    assert refs[0].outcome != refs[1].outcome
    assert store.receipt_refs() == refs
    makers = store.makers(content("result"))
    assert [(m.receipt, m.job, m.path, m.node, m.exit) for m in makers] == [
        (r1.cid, job, "/out", a.node, 0)
    ]
    assert [(m.path, m.node) for m in store.makers(r1.stdout)] == [
        ("stdout", a.node),
        ("stdout", b.node),
    ]


def test_receipts_that_agree_have_equal_outcomes(store: Store) -> None:
    a, b = NodeKey.generate(), NodeKey.generate()
    job = store.put_job(job_reading(content("in")))
    store.put_receipt(receipt_for(job, a, content("same")))
    store.put_receipt(receipt_for(job, b, content("same")))
    first, second = store.receipt_refs([job])
    assert first.node != second.node
    assert first.outcome == second.outcome
    assert store.contested_jobs() == [job]
    loose = store.put_job(job_reading(content("in"), determinism="none"))
    store.put_receipt(receipt_for(loose, a, content("x")))
    store.put_receipt(receipt_for(loose, b, content("y")))
    assert store.contested_jobs() == [job]  # nondeterministic jobs are not compared


def test_a_forged_receipt_is_not_stored(store: Store) -> None:
    import dataclasses

    from compiler.runtime.receipts import ReceiptError

    signed = receipt_for(content("j"), NodeKey.generate(), content("o"))
    forged = dataclasses.replace(signed, exit=9)
    with pytest.raises(ReceiptError):
        store.put_receipt(forged)
    assert store.receipts(forged.job) == []
    assert not store.has_block(forged.cid)
    assert store.makers(content("o")) == []


# --- aliases ------------------------------------------------------------------------------


def test_aliases_map_foreign_names_to_jobs(store: Store) -> None:
    job = cid_of_raw(b"job")
    other = cid_of_raw(b"other")
    store.put_alias("homestar", "bafyrmi-instruction", job)
    store.put_alias("bacalhau", "j-123", job)
    store.put_alias("bacalhau", "j-123", other)  # a name keeps its first meaning
    assert store.alias("bacalhau", "j-123") == job
    assert store.alias("bacalhau", "j-999") is None
    assert store.aliases(job) == [("bacalhau", "j-123"), ("homestar", "bafyrmi-instruction")]
    assert store.aliases(other) == []


# --- opening ------------------------------------------------------------------------------


def test_an_unreachable_postgres_is_a_clear_error() -> None:
    from tests.localpostgres import free_port

    url = f"postgresql://jobc:secret@127.0.0.1:{free_port()}/jobc"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert "cannot open the store" in message
    assert "secret" not in message
    assert "***" in message


def test_sqlite_stores_made_before_the_chain_index_are_migrated(tmp_path: Path) -> None:
    """A store at schema 2 (receipts, no output index) gains the indexes and its receipts'
    outputs are indexed from their blocks."""
    import sqlite3

    from compiler.store.sqlite import MIGRATIONS

    path = tmp_path / "old.sqlite"
    key = NodeKey.generate()
    receipt = receipt_for(content("job"), key, content("made"))
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        assert isinstance(script, str)
        db.executescript(script)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO blocks VALUES (?, ?)", (receipt.cid.raw, receipt.encode()))
    db.execute(
        "INSERT INTO receipts VALUES (?, ?, ?, 1)", (receipt.cid.raw, receipt.job.raw, key.node)
    )
    db.commit()
    db.close()
    s = open_store(path)
    try:
        assert [m.job for m in s.makers(content("made"))] == [content("job")]
        assert s.receipt_refs()[0].exit == 0
    finally:
        s.close()
