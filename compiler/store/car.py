"""CARv1 files: moving jobs, chains and receipts between stores (and to IPFS).

A CARv1 (https://ipld.io/specs/transport/car/carv1/) is a varint-prefixed DAG-CBOR header
`{"roots": [CID], "version": 1}` followed by sections, each a varint length and a CID
followed by its block. jobc writes them itself: the framing is three rules, and no
Python library reads and writes every codec while streaming (libipld's reader takes
DAG-CBOR blocks only); the npm `@ipld/car` checks jobc's files in the tests, both ways.

**Export** (`export`) starts from CIDs and gathers everything reachable: the chains
through them (records, the documents, the jobs stored), the receipts of their jobs, the
jobs they await (the call tree upward) with their chains and receipts, every DAG-CBOR
block linked from those (toolchain descriptors), and, `with_content`, the content
blocks their jobs read and their receipts' outputs, DAG and all. The CAR's one root is
a manifest block that links the final jobs, records, receipts and jobs and lists the
aliases, so `ipfs dag import` sees one DAG, and another store knows the chain ends.
Blocks are written in CID order after the manifest: the same export gives the same bytes.

**Import** (`import_car`) reads a CAR in one transaction: it checks every block's hash
(sha2-256, or the identity hash), every receipt's signature, and the shape of every
record, job and manifest; the first failure names the block's CID and nothing is kept.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from compiler import identity, unixfs_read
from compiler.ir import Link
from compiler.store import Store
from compiler.store.ingest import DAG_CBOR, Ingest, IngestError, Manifest, raw_codec
from compiler.unixfs import varint
from compiler.unixfs_read import UnixFSError, read_varint

MAX_SECTION = 1 << 30
"""The largest section jobc reads (a block of 1 GiB is surely not ours)."""
MAX_HEADER = 1 << 20
OPTIMIZE_AFTER = 10_000
"""An import of this many blocks or more refreshes the planner's statistics."""


class CarError(ValueError):
    """A CAR file that cannot be read or imported; `cid` names the block when one is at fault."""

    def __init__(self, message: str, *, cid: Link | None = None, offset: int | None = None) -> None:
        where = f"block {cid}: " if cid is not None else ""
        at = f" (at byte {offset})" if offset is not None and cid is None else ""
        super().__init__(f"{where}{message}{at}")
        self.cid = cid
        self.offset = offset


# --- the format ---------------------------------------------------------------------------


def header(roots: Iterable[Link]) -> bytes:
    """The CARv1 header: `{"roots": [...], "version": 1}` in DAG-CBOR, varint-prefixed."""
    from compiler.ir import FrozenMap

    body = identity.encode_value(FrozenMap({"roots": tuple(roots), "version": 1}))
    return varint(len(body)) + body


def section(cid: Link, block: bytes) -> bytes:
    """One CARv1 section: varint(length of CID + block), the binary CID, the block."""
    return varint(len(cid.raw) + len(block)) + cid.raw + block


def write_car(out: BinaryIO, roots: Iterable[Link], blocks: Iterable[tuple[Link, bytes]]) -> int:
    """Write a CARv1; returns the number of blocks written."""
    out.write(header(roots))
    count = 0
    for cid, block in blocks:
        out.write(section(cid, block))
        count += 1
    return count


READ_CHUNK = 1 << 20
"""The reader takes the stream in pieces of this size (sections are parsed from memory)."""


class _Reader:
    """Reads a CAR stream through a buffer, counting bytes for error messages."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.buf = b""
        self.pos = 0
        self.base = 0  # where `buf` starts in the stream

    @property
    def offset(self) -> int:
        """How many bytes of the stream have been consumed."""
        return self.base + self.pos

    def _fill(self, n: int) -> bool:
        """Make `n` bytes available at `pos`; False if the stream ends first."""
        if len(self.buf) - self.pos >= n:
            return True
        parts = [self.buf[self.pos :]]
        have, want = len(parts[0]), max(n, READ_CHUNK)
        while have < n:  # a pipe may give less than asked for
            more = self.stream.read(want - have)
            if not more:
                break
            parts.append(more)
            have += len(more)
        self.base += self.pos
        self.buf, self.pos = b"".join(parts), 0
        return have >= n

    def read(self, n: int) -> bytes:
        """Up to `n` bytes (fewer only at the end of the stream)."""
        self._fill(n)
        data = self.buf[self.pos : self.pos + n]
        self.pos += len(data)
        return data

    def varint(self) -> int | None:
        """A varint, or None at a clean end of the stream."""
        start = self.offset
        if not self._fill(10) and len(self.buf) == self.pos:
            return None
        buf, pos = self.buf, self.pos
        if pos < len(buf) and buf[pos] < 0x80:  # the usual case: one byte
            self.pos = pos + 1
            return buf[pos]
        value = shift = 0
        while True:
            if pos >= len(buf):
                self.pos = pos
                raise CarError("the file ends inside a length", offset=start)
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return value
            shift += 7
            if shift > 63:
                raise CarError("a length is too long", offset=start)


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it; ValueError past the end."""
    try:
        return read_varint(buf, pos)
    except UnixFSError:
        raise ValueError("the section ends inside its CID") from None


def _cid_length(data: bytes) -> int:
    """How many bytes of `data` (a section) are its CID."""
    if data[:2] == b"\x12\x20":
        return 34  # CIDv0: a bare sha2-256 multihash
    if len(data) > 3 and data[0] == 1 and data[1] < 0x80 and data[2] < 0x80 and data[3] < 0x80:
        return 4 + data[3]  # CIDv1 with a one-byte codec, hash function and length
    version, pos = _uvarint(data, 0)
    if version != 1:
        raise ValueError(f"CID version {version}")
    _, pos = _uvarint(data, pos)  # codec
    _, pos = _uvarint(data, pos)  # hash function
    length, pos = _uvarint(data, pos)
    return pos + length


def read_car(stream: BinaryIO) -> tuple[list[Link], Iterator[tuple[Link, bytes]]]:
    """The roots of a CARv1 and an iterator over its (CID, block) sections, as stored
    (hashes are not checked here: see `check_block`). Raises CarError when malformed."""
    reader = _Reader(stream)
    size = reader.varint()
    if size is None or size == 0 or size > MAX_HEADER:
        raise CarError("not a CAR file (no header)", offset=0)
    raw_header = reader.read(size)
    if len(raw_header) != size:
        raise CarError("the file ends inside its header", offset=reader.offset)
    try:
        value = identity.decode_value(raw_header)
    except identity.IdentityError as exc:
        raise CarError(f"the header is not DAG-CBOR: {exc}", offset=0) from None
    from compiler.ir import FrozenMap

    roots = value.get("roots") if isinstance(value, FrozenMap) else None
    version = value.get("version") if isinstance(value, FrozenMap) else None
    if version != 1:
        raise CarError(f"only CARv1 is read here (this file says version {version!r})", offset=0)
    if not isinstance(roots, tuple) or not all(isinstance(r, Link) for r in roots):
        raise CarError("the header's roots must be a list of CIDs", offset=0)

    def sections() -> Iterator[tuple[Link, bytes]]:
        while True:
            start = reader.offset
            length = reader.varint()
            if length is None:
                return
            if length == 0 or length > MAX_SECTION:
                raise CarError(f"a section of {length} bytes", offset=start)
            data = reader.read(length)
            if len(data) != length:
                raise CarError("the file ends inside a block", offset=start)
            try:
                cut = _cid_length(data)
            except ValueError as exc:
                raise CarError(
                    f"a section does not start with a CID: {exc}", offset=start
                ) from None
            if cut > length:
                raise CarError("a section shorter than its CID", offset=start)
            yield Link(data[:cut]), data[cut:]

    return list(roots), sections()  # type: ignore[arg-type]


def check_block(cid: Link, block: bytes) -> None:
    """Raise CarError (naming `cid`) unless `block` hashes to `cid`."""
    raw = cid.raw
    if raw[2:4] == b"\x12\x20" and raw[0] == 1 and raw[1] < 0x80:  # the usual CIDv1
        if hashlib.sha256(block).digest() != raw[4:]:
            raise CarError("its bytes do not hash to its CID (corrupted)", cid=cid)
        return
    pos = 0
    if cid.version == 1:
        _, pos = _uvarint(raw, 0)  # version
        _, pos = _uvarint(raw, pos)  # codec
    function, pos = _uvarint(raw, pos)
    _, pos = _uvarint(raw, pos)  # digest length
    digest = raw[pos:]
    if function == 0x12:  # sha2-256
        if hashlib.sha256(block).digest() != digest:
            raise CarError("its bytes do not hash to its CID (corrupted)", cid=cid)
    elif function == 0x00:  # identity: the CID holds the bytes
        if digest != block:
            raise CarError("its bytes differ from those its CID holds", cid=cid)
    else:
        raise CarError(
            f"its hash function (0x{function:x}) is not one jobc checks (sha2-256, identity)",
            cid=cid,
        )


# --- import -------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import added: blocks, and how many of them the indexes took."""

    roots: list[Link]
    blocks: int
    records: int
    receipts: int
    jobs: int
    finals: int

    def to_json(self) -> dict[str, object]:
        """The counts as data."""
        return {
            "roots": [str(r) for r in self.roots],
            "blocks": self.blocks,
            "records": self.records,
            "receipts": self.receipts,
            "jobs": self.jobs,
            "finals": self.finals,
        }


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: an import or an export makes a few
    objects a block (tuples, CIDs, decoded maps), none of them in a cycle, and the
    collections their number triggers walk every live object again and again (a sixth
    of an import's time). Reference counting still frees them; the collector runs again
    afterwards, as it was."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def import_car(store: Store, stream: BinaryIO) -> ImportResult:
    """Import a CARv1 into `store`, all or nothing (see the module's docstring)."""
    with collector_paused():
        return _import_car(store, stream)


def _import_car(store: Store, stream: BinaryIO) -> ImportResult:
    roots, sections = read_car(stream)
    ingest = Ingest(store)
    with store.transaction():
        for cid, block in sections:
            check_block(cid, block)
            try:
                ingest.add(cid, block)
            except IngestError as exc:
                raise CarError(exc.message, cid=exc.cid) from None
        ingest.finish()
    if ingest.counts["blocks"] >= OPTIMIZE_AFTER:
        store.optimize()  # the planner's statistics, for the much larger tables
    finals = sum(len(m.finals) for m in ingest.manifests)
    counts = ingest.counts
    return ImportResult(
        roots, counts["blocks"], counts["records"], counts["receipts"], counts["jobs"], finals
    )


# --- export -------------------------------------------------------------------------------


@dataclass
class Export:
    """What an export gathered, before it is written."""

    manifest: Manifest
    blocks: dict[Link, bytes] = field(default_factory=dict)
    missing_content: int = 0
    """Content blocks that were wanted (`with_content`) but are not in the store."""


def gather(store: Store, roots: Iterable[Link], *, with_content: bool = False) -> Export:
    """Everything reachable from `roots` (see the module's docstring), gathered level by
    level with a few batched queries per level, whatever the number of roots. CIDs are
    kept binary here (an export holds tens of thousands, each in several sets)."""
    with collector_paused():
        return _gather(store, roots, with_content=with_content)


def _gather(store: Store, roots: Iterable[Link], *, with_content: bool) -> Export:
    blocks: dict[bytes, bytes] = {}
    walked: set[bytes] = set()  # CIDs whose chains are gathered
    examined: set[bytes] = set()  # DAG-CBOR CIDs whose blocks were looked at
    job_receipts: dict[bytes, list[Link]] = {}
    records: dict[bytes, tuple[Link, ...]] = {}  # each record's source and target
    content: set[bytes] = set()
    finals: set[bytes] = set()
    jobs: set[bytes] = set()
    chain_todo: set[bytes] = {r.raw for r in roots}
    link_todo: set[bytes] = set()
    while chain_todo or link_todo:
        seeds = [Link(raw) for raw in chain_todo - walked]
        chain_todo = set()
        if seeds:
            # The chains through the seeds, forward and backward.
            forward, backward = store.walks(seeds)
            refs = [*forward, *backward]
            ends = {s.raw for s in seeds}
            for ref in refs:
                ends.add(ref.source.raw)
                ends.add(ref.target.raw)
                records[ref.cid.raw] = (ref.source, ref.target)
                link_todo.add(ref.cid.raw)
            walked |= ends
            documents = {r.source.raw for r in refs if r.pass_name == "parse"}
            blocks.update(_get_blocks(store, documents - blocks.keys()))
            finals.update(f.raw for f in store.finals_among(map(Link, ends)))
            link_todo.update(e for e in ends if raw_codec(e) == DAG_CBOR)
        todo = link_todo - examined
        link_todo = set()
        if not todo:
            continue
        examined |= todo
        blocks.update(_get_blocks(store, todo - blocks.keys()))
        # Jobs are indexed from their blocks (and records are not jobs): only a block
        # that is not a record may be a job.
        maybe_jobs = (todo & blocks.keys()) - records.keys()
        new_jobs = {j.raw for j in store.jobs_among(map(Link, maybe_jobs))} - jobs
        jobs |= new_jobs
        if new_jobs:
            for receipt in store.receipt_refs([Link(raw) for raw in new_jobs]):
                job_receipts.setdefault(receipt.job.raw, []).append(receipt.cid)
                link_todo.add(receipt.cid.raw)
        for cid in todo:
            block = blocks.get(cid)
            if block is None:
                continue  # an intermediate job: replaying the chain makes it again
            for link in _links(block, records.get(cid, ())):
                raw = link.raw
                if raw_codec(raw) == DAG_CBOR:
                    if raw not in examined:
                        link_todo.add(raw)
                        chain_todo.add(raw)  # an awaited job: its chain too
                elif with_content:
                    content.add(raw)
    manifest = Manifest(
        finals=[Link(raw) for raw in sorted(finals)],
        jobs=[Link(raw) for raw in sorted(jobs & blocks.keys())],
        records=[Link(raw) for raw in sorted(records.keys() & blocks.keys())],
    )
    for job in sorted(job_receipts):
        manifest.receipts.extend(job_receipts[job])  # by job, oldest first
    manifest.aliases = store.aliases_among(manifest.jobs)
    missing = _gather_content(store, sorted(content), blocks) if with_content else 0
    return Export(manifest, {Link(raw): block for raw, block in blocks.items()}, missing)


def _get_blocks(store: Store, cids: set[bytes]) -> dict[bytes, bytes]:
    """`store.get_blocks` by binary CIDs."""
    if not cids:
        return {}
    return {link.raw: block for link, block in store.get_blocks(map(Link, cids)).items()}


def _gather_content(store: Store, roots: list[bytes], blocks: dict[bytes, bytes]) -> int:
    """Add every block of the content DAGs under `roots`; returns how many are missing."""
    missing = 0
    stack = list(roots)
    while stack:
        cid = stack.pop()
        if cid in blocks:
            continue
        block = store.get_block(Link(cid))
        if block is None:
            missing += 1
            continue
        blocks[cid] = block
        try:
            stack.extend(unixfs_read.links(cid, block))
        except unixfs_read.UnixFSError:
            continue
    return missing


LINK_TAG = b"\xd8\x2a"
"""How DAG-CBOR starts a link (tag 42): a block holds at most as many links as these."""


def _links(block: bytes, known: tuple[Link, ...]) -> Iterable[Link]:
    """The links of a DAG-CBOR block that holds the links `known` (a record: its source
    and target), without decoding it when it has no other tag 42 (most records)."""
    if block.count(LINK_TAG) == len(known):
        return known
    return identity.block_links(block)


def export_car(out: BinaryIO, export: Export) -> tuple[Link, int]:
    """Write a gathered export as a CARv1; returns the manifest's CID and the block count."""
    manifest_block = export.manifest.encode()
    manifest_cid = identity.cid_of_block(manifest_block)
    ordered = sorted(export.blocks.items(), key=lambda item: item[0].raw)
    count = write_car(out, [manifest_cid], [(manifest_cid, manifest_block), *ordered])
    return manifest_cid, count
