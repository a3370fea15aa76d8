"""Memoization (DESIGN §6): reuse a trusted receipt instead of running a job again.

A `strict` or `unordered` job that has a receipt signed by a trusted node is not run
again: its receipt says what it produced. Trusted nodes are this node and those listed
in the data dir's `trusted-nodes` (`receipts.trusted_nodes`); a gateway passes its own
set. A rerun (`jobc run --rerun`) checks that the new outputs equal the old ones, up to
what the job's determinism allows: byte for byte for `strict`, up to the order of lines
in each file for `unordered` (UnixFS directories list their entries sorted already).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

from compiler import unixfs_read
from compiler.ir import Job, Link
from compiler.runtime.receipts import Receipt, ReceiptError

if TYPE_CHECKING:
    from compiler.store import Store

REUSABLE = ("strict", "unordered")


def reusable(job: Job) -> bool:
    """Whether a receipt of `job` may stand for running it (its determinism says so)."""
    return job.determinism in REUSABLE


def find_trusted_receipt(store: Store, job: Link, nodes: Collection[str]) -> Receipt | None:
    """The oldest stored receipt of `job` signed by one of `nodes` whose signature holds,
    or None. (The oldest, so every later run is checked against the same one.)"""
    for ref in store.receipt_refs([job]):
        if ref.node not in nodes:
            continue
        block = store.get_block(ref.cid)
        if block is None:
            continue
        try:
            receipt = Receipt.decode(block)
            receipt.verify()
        except ReceiptError:
            continue  # a store that took it should not have: never reuse it
        return receipt
    return None


def differences(store: Store, old: Receipt, new: Receipt, determinism: str) -> list[str]:
    """How two receipts of one job disagree about its results (empty: they agree), up to
    what `determinism` allows. Comparing `unordered` outputs whose CIDs differ needs
    their blocks in `store`; without them the difference stands."""
    out: list[str] = []
    if old.exit != new.exit:
        out.append(f"exit code {old.exit} then {new.exit}")
    pairs = [("stdout", old.stdout, new.stdout), ("stderr", old.stderr, new.stderr)]
    for path in sorted(set(old.outputs) | set(new.outputs)):
        a, b = old.outputs.get(path), new.outputs.get(path)
        if a is None or b is None:
            out.append(f"output {path} is only in the {'new' if a is None else 'old'} receipt")
            continue
        pairs.append((f"output {path}", a, b))
    for what, a, b in pairs:
        if a == b:
            continue
        if determinism == "unordered":
            problem = _unordered_difference(store, a, b)
            if problem is None:
                continue
            out.append(f"{what}: {a} then {b} ({problem})")
        else:
            out.append(f"{what}: {a} then {b}")
    return out


def _unordered_difference(store: Store, a: Link, b: Link) -> str | None:
    """None when `a` and `b` hold the same files with the same lines in any order."""

    from compiler.oracles.content import block_getter

    get = block_getter(store)
    try:
        left, right = dict(_walk(a.raw, get, "")), dict(_walk(b.raw, get, ""))
    except (unixfs_read.BlockMissing, unixfs_read.UnixFSError) as exc:
        return f"cannot compare their contents: {exc.__class__.__name__}"
    if left.keys() != right.keys():
        return "they hold different files"
    for name in sorted(left):
        if left[name] != right[name]:
            return f"{name or 'the file'} differs beyond the order of its lines"
    return None


def unordered_digest(store: Store, cid: Link) -> bytes | None:
    """A digest of what `cid` holds up to the order of the lines in each file (UnixFS
    lists a directory's entries sorted already): two CIDs whose contents are equal up
    to that order, as DESIGN §3 defines `unordered`, have equal digests. None when the
    store lacks a block of it (then only the CID itself can be compared)."""
    from compiler.oracles.content import block_getter

    try:
        entries = sorted(_walk(cid.raw, block_getter(store), ""), key=lambda e: e[0])
    except (unixfs_read.BlockMissing, unixfs_read.UnixFSError):
        return None
    digest = hashlib.sha256()

    def feed(data: bytes) -> None:  # length-prefixed: no two sequences feed alike
        digest.update(len(data).to_bytes(8, "big") + data)

    for path, value in entries:
        feed(path.encode())
        if value is None:
            feed(b"directory")
        elif isinstance(value, tuple):
            feed(b"symlink")
            feed(value[1])
        else:
            assert isinstance(value, list)
            feed(b"file %d" % len(value))
            for line in value:
                feed(line)
    return digest.digest()


def _walk(cid: bytes, get: unixfs_read.GetBlock, prefix: str) -> Iterator[tuple[str, object]]:
    """(path, sorted lines, or the symlink's target) of every file under `cid`."""
    node = unixfs_read.read_node(cid, get)
    if node.kind in (unixfs_read.KIND_DIRECTORY, unixfs_read.KIND_HAMT):
        yield prefix + "/", None
        for name, child in unixfs_read.directory_links(node, get):
            yield from _walk(child, get, f"{prefix}/{name}")
    elif node.kind == unixfs_read.KIND_SYMLINK:
        yield prefix, ("symlink", node.data)
    else:
        data = b"".join(unixfs_read.file_chunks(cid, get, node))
        yield prefix, sorted(data.splitlines(keepends=False))
