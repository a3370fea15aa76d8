"""The resolve-awaits pass: receipts of upstream jobs turn await inputs into content CIDs,
so a downstream job whose upstream output did not change keeps its CID (early cutoff)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from compiler import unixfs
from compiler.diagnostics import Severity
from compiler.driver import Compiled, compile_file
from compiler.identity import cid_of_raw
from compiler.ir import Await, Link
from compiler.passes import PIPELINE
from compiler.records import replay
from compiler.runtime.receipts import NodeKey
from compiler.store import Store
from compiler.store import queries as q
from compiler.store.ingest import store_compiled
from tests.scenario import COUNT, DOUBLE, MODULE, WORDS, receipt


@pytest.fixture
def me(jobc_home: Path) -> NodeKey:
    """This node's key: its receipts are trusted."""
    return NodeKey.load_or_create()


def write(folder: Path, name: str, text: str) -> Path:
    (folder / "m.wasm").write_bytes(MODULE)
    (folder / "words.txt").write_bytes(WORDS)
    path = folder / name
    path.write_text(text)
    return path


def upstream(folder: Path, nonce: str = "") -> Compiled:
    text = COUNT + (f"nonce: {nonce}\n" if nonce else "")
    return compile_file(write(folder, f"count{nonce}.yaml", text))


def downstream(folder: Path, job: Link, path: str = "/outputs") -> Compiled:
    text = DOUBLE.format(j1=job).replace("#/outputs", f"#{path}")
    return compile_file(write(folder, f"double-{str(job)[-6:]}.yaml", text))


def awaits(c: Compiled) -> list[Await]:
    return [i.source for i in c.job.inputs if isinstance(i.source, Await)]


def test_the_pass_comes_right_after_normalize() -> None:
    names = [p.name for p in PIPELINE]
    assert names.index("resolve-awaits") > names.index("normalize")
    assert names.index("resolve-awaits") < names.index("resolve-images")


def test_without_a_receipt_the_input_stays_an_await(tmp_path: Path) -> None:
    up = upstream(tmp_path)
    down = downstream(tmp_path, up.cid)
    assert awaits(down) == [Await(up.cid, "/outputs")]
    assert "resolve-awaits" not in [r.pass_name for r in down.chain]
    (n,) = [d for d in down.diagnostics if d.code == "await-unresolved"]
    assert n.severity is Severity.NOTE
    assert "has not run here" in n.message
    assert n.span is not None
    assert n.span.line == 4  # the input's source, in the spec


def test_a_trusted_receipt_resolves_the_await(
    tmp_path: Path, home_store: Store, me: NodeKey
) -> None:
    up = upstream(tmp_path)
    out = cid_of_raw(b"2\n")
    home_store.put_receipt(receipt(up.cid, me, {"/outputs": out}))
    down = downstream(tmp_path, up.cid)
    assert awaits(down) == []
    assert [i.source for i in down.job.inputs] == [out]
    (record,) = [r for r in down.chain if r.pass_name == "resolve-awaits"]
    assert [f.to_dict() for f in record.facts] == [{"job": up.cid, "path": "/outputs", "cid": out}]
    # The chain replays from its facts alone (jobc verify), with no store.
    assert all(check.ok for check in replay(down.original_job, down.chain))


def test_untrusted_or_failed_runs_do_not_count(
    tmp_path: Path, home_store: Store, me: NodeKey
) -> None:
    up = upstream(tmp_path)
    stranger = NodeKey.generate()
    home_store.put_receipt(receipt(up.cid, stranger, {"/outputs": cid_of_raw(b"9\n")}))
    failed = receipt(up.cid, me, {"/outputs": cid_of_raw(b"")})
    home_store.put_receipt(me.sign(dataclasses.replace(failed, exit=1)))
    assert awaits(downstream(tmp_path, up.cid)) == [Await(up.cid, "/outputs")]


def test_trusted_receipts_that_disagree_leave_the_await_with_a_warning(
    tmp_path: Path, home_store: Store, me: NodeKey, jobc_home: Path
) -> None:
    friend = NodeKey.generate()
    (jobc_home / "trusted-nodes").write_text(friend.node + "\n")
    up = upstream(tmp_path)
    home_store.put_receipt(receipt(up.cid, me, {"/outputs": cid_of_raw(b"2\n")}))
    home_store.put_receipt(receipt(up.cid, friend, {"/outputs": cid_of_raw(b"3\n")}))
    down = downstream(tmp_path, up.cid)
    assert awaits(down) == [Await(up.cid, "/outputs")]
    (w,) = down.warnings
    assert "disagree" in w.message
    assert "jobc reputation" in w.hint


def test_a_path_inside_an_output_directory(tmp_path: Path, home_store: Store, me: NodeKey) -> None:
    """The await names a file inside the output directory: found through its blocks."""
    count = unixfs.file_entry(b"2\n")
    folder = unixfs.directory_entry(
        [(b"count", count)], sink=lambda cid, block: home_store.put_block(Link(cid), block)
    )
    up = upstream(tmp_path)
    home_store.put_receipt(receipt(up.cid, me, {"/outputs": Link(folder.cid)}))
    down = downstream(tmp_path, up.cid, "/outputs/count")
    assert [i.source for i in down.job.inputs] == [Link(count.cid)]
    missing = downstream(tmp_path, up.cid, "/outputs/absent")
    assert awaits(missing) == [Await(up.cid, "/outputs/absent")]
    elsewhere = downstream(tmp_path, up.cid, "/logs/x")
    (w,) = elsewhere.warnings
    assert "no output /logs/x" in w.message


def test_early_cutoff(tmp_path: Path, home_store: Store, me: NodeKey) -> None:
    """Two different upstream jobs with the same output: the downstream job is the same
    job, so the receipt of its first run answers for the second (a memo hit)."""
    out = cid_of_raw(b"2\n")
    first, second = upstream(tmp_path), upstream(tmp_path, nonce="again")
    assert first.cid != second.cid
    for up in (first, second):
        home_store.put_receipt(receipt(up.cid, me, {"/outputs": out}))
    down_first = downstream(tmp_path, first.cid)
    down_second = downstream(tmp_path, second.cid)
    assert down_first.original != down_second.original  # they await different jobs …
    assert down_first.cid == down_second.cid  # … and are the same job once resolved
    store_compiled(home_store, down_first)
    ran = receipt(down_first.cid, me, {"/outputs": cid_of_raw(b"4\n")})
    home_store.put_receipt(ran)
    spec = tmp_path / f"double-{str(second.cid)[-6:]}.yaml"
    found = q.find(home_store, spec.read_bytes(), str(spec))
    assert [f.cid for f in found.found] == [down_first.cid]
    assert [r.cid for r in found.found[0].receipts] == [ran.cid]


def test_a_path_inside_a_sharded_output_directory(
    tmp_path: Path, home_store: Store, me: NodeKey
) -> None:
    """An output folder of 5,000 files is a HAMT-sharded directory (as kubo would store
    it: more than 256 KiB of names and CIDs). An await of a file in it, or in a folder
    inside it, is found by hashing the names down the trie: a block a level, not the
    whole directory."""
    from compiler import unixfs_read
    from compiler.oracles.content import store_path

    out = tmp_path / "outputs"
    (out / "nested").mkdir(parents=True)
    names = [f"result-{i:05d}-of-a-large-sharded-output.txt" for i in range(5000)]
    for name in names:
        (out / name).write_text(f"{name}\n")
    (out / "nested" / "inner.txt").write_text("inner\n")
    folder = store_path(out, home_store)
    root = unixfs_read.read_node(folder.cid, lambda raw: home_store.get_block(Link(raw)))
    assert root.kind == unixfs_read.KIND_HAMT
    up = upstream(tmp_path)
    home_store.put_receipt(receipt(up.cid, me, {"/outputs": Link(folder.cid)}))

    wanted = names[1234]
    down = downstream(tmp_path, up.cid, f"/outputs/{wanted}")
    assert [i.source for i in down.job.inputs] == [
        Link(unixfs.file_entry(f"{wanted}\n".encode()).cid)
    ]
    nested = downstream(tmp_path, up.cid, "/outputs/nested/inner.txt")
    assert [i.source for i in nested.job.inputs] == [Link(unixfs.file_entry(b"inner\n").cid)]
    absent = downstream(tmp_path, up.cid, "/outputs/result-99999-of-a-large-sharded-output.txt")
    assert len(awaits(absent)) == 1

    # The lookup reads the shards on the name's path only.
    read: list[bytes] = []

    def get(raw: bytes) -> bytes | None:
        read.append(raw)
        return home_store.get_block(Link(raw))

    shards = {raw for _, raw in unixfs_read.directory_links(root, get)}
    assert len(read) > 100  # reading the directory whole takes every sub-shard …
    read.clear()
    assert (
        unixfs_read.resolve(folder.cid, wanted, get)
        == unixfs.file_entry(f"{wanted}\n".encode()).cid
    )
    assert 2 <= len(read) <= 3  # … a lookup, the root and a sub-shard or two
    assert len(shards) == 5001
