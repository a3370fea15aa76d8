"""Putting things into the store with their indexes: a compile, or any block.

`store_compiled` keeps what `jobc compile` made: the document as written, the original
and final jobs, every record of the chain, and the final CID as a chain end. `Ingest`
takes blocks one by one (a CAR import), recognises the ones the indexes need (records,
receipts, jobs, export manifests) by their shape, and indexes them in batches; it
verifies every receipt's signature and refuses the batch on the first bad one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compiler import identity
from compiler.ir import FrozenMap, Job, Link, Value
from compiler.store import RecordRef, Store

if TYPE_CHECKING:
    from compiler.driver import Compiled
    from compiler.runtime.receipts import Receipt

DAG_CBOR = 0x71
MANIFEST_KEY = "jobc-export"
MANIFEST_VERSION = 1
BATCH = 2_000
"""Blocks indexed together (one statement batch per table)."""


def store_compiled(store: Store, compiled: Compiled) -> None:
    """Keep a compile in the store, all or nothing: document, jobs, chain, final."""
    with store.transaction():
        if compiled.document_bytes and identity.verify_block(
            compiled.document, compiled.document_bytes
        ):
            store.put_block(compiled.document, compiled.document_bytes)
        store.put_job(compiled.original_job)
        if compiled.job is not compiled.original_job:
            store.put_job(compiled.job)
        store.put_blocks(
            (record.cid, identity.encode_value(record.to_value())) for record in compiled.chain
        )
        store.index_records(record_ref(record) for record in compiled.chain)
        store.mark_final(compiled.cid)


def record_ref(record: object) -> RecordRef:
    """The chain index's view of a `Record`."""
    from compiler.records import Record

    assert isinstance(record, Record)
    return RecordRef(record.cid, record.pass_name, record.version, record.source, record.target)


class IngestError(ValueError):
    """A block cannot be taken: `cid` names it."""

    def __init__(self, cid: Link, message: str) -> None:
        super().__init__(f"{cid}: {message}")
        self.cid = cid
        self.message = message


@dataclass
class Manifest:
    """What an export says beyond its blocks: the chain ends and the aliases."""

    finals: list[Link] = field(default_factory=list)
    aliases: list[tuple[str, str, Link]] = field(default_factory=list)
    records: list[Link] = field(default_factory=list)
    receipts: list[Link] = field(default_factory=list)
    jobs: list[Link] = field(default_factory=list)

    def to_value(self) -> FrozenMap[Value]:
        """The manifest block's map (links sorted, so an export is deterministic)."""

        def links(items: Iterable[Link]) -> tuple[Value, ...]:
            return tuple(sorted(set(items), key=lambda link: link.raw))

        return FrozenMap(
            {
                MANIFEST_KEY: MANIFEST_VERSION,
                "finals": links(self.finals),
                "records": links(self.records),
                # In the order the store holds them (by job, oldest first), so the
                # importing store keeps that order.
                "receipts": tuple(dict.fromkeys(self.receipts)),
                "jobs": links(self.jobs),
                "aliases": tuple(
                    FrozenMap({"namespace": ns, "name": name, "job": job})
                    for ns, name, job in sorted(set(self.aliases), key=_alias_key)
                ),
            }
        )

    @classmethod
    def from_value(cls, cid: Link, value: FrozenMap[Value]) -> Manifest:
        """Read a manifest map; raises IngestError if malformed."""
        if value.get(MANIFEST_KEY) != MANIFEST_VERSION:
            raise IngestError(cid, f"unsupported export manifest {value.get(MANIFEST_KEY)!r}")
        manifest = cls()
        for key in ("finals", "records", "receipts", "jobs"):
            items = value.get(key, ())
            if not (isinstance(items, tuple) and all(isinstance(i, Link) for i in items)):
                raise IngestError(cid, f"the manifest's {key} must be a list of links")
            getattr(manifest, key).extend(items)
        aliases = value.get("aliases", ())
        if not isinstance(aliases, tuple):
            raise IngestError(cid, "the manifest's aliases must be a list")
        for alias in aliases:
            ns = alias.get("namespace") if isinstance(alias, FrozenMap) else None
            name = alias.get("name") if isinstance(alias, FrozenMap) else None
            job = alias.get("job") if isinstance(alias, FrozenMap) else None
            if not (isinstance(ns, str) and isinstance(name, str) and isinstance(job, Link)):
                raise IngestError(cid, "an alias needs namespace, name and job")
            manifest.aliases.append((ns, name, job))
        return manifest


def _alias_key(alias: tuple[str, str, Link]) -> tuple[str, str, bytes]:
    return alias[0], alias[1], alias[2].raw


def codec(cid: Link) -> int:
    """The multicodec of a CID (CIDv0 is dag-pb)."""
    raw = cid.raw
    if cid.version == 0:
        return 0x70
    # A CIDv1 is varint(1) varint(codec) multihash; the codecs jobc meets fit in two bytes.
    first = raw[1]
    if first < 0x80:
        return first
    return (first & 0x7F) | (raw[2] << 7)


@dataclass
class Ingest:
    """Blocks in, indexes out: `add` each block (hash already verified), then `finish`.

    Everything happens in the caller's transaction; a bad receipt or a malformed record,
    job or manifest raises IngestError naming the block, and the caller rolls back.
    """

    store: Store
    manifests: list[Manifest] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("blocks", "records", "receipts", "jobs"), 0)
    )
    _blocks: list[tuple[Link, bytes]] = field(default_factory=list)
    _records: list[RecordRef] = field(default_factory=list)
    _receipts: list[tuple[Link, Receipt]] = field(default_factory=list)
    _jobs: list[tuple[Link, Job]] = field(default_factory=list)
    _seen_records: list[RecordRef] = field(default_factory=list)

    def add(self, cid: Link, block: bytes) -> None:
        """Take one block whose hash the caller checked."""
        self._blocks.append((cid, block))
        self.counts["blocks"] += 1
        if codec(cid) == DAG_CBOR:
            self._classify(cid, block)
        if len(self._blocks) >= BATCH:
            self.flush()

    def _classify(self, cid: Link, block: bytes) -> None:
        plain = identity.decode_plain(block)
        if isinstance(plain, dict) and "record" in plain and "pass" in plain:
            # Most blocks are records: read from libipld's tree, no IR values made.
            self._records.append(_plain_record_ref(cid, plain))
            return
        try:
            value = identity.decode_value(block)
        except identity.IdentityError:
            return  # a block of some other application: kept, not indexed
        if not isinstance(value, FrozenMap):
            return
        if "record" in value and "pass" in value:
            self._records.append(_record_ref(cid, value))
        elif "receipt" in value and "sig" in value:
            self._receipts.append((cid, _verified_receipt(cid, value)))
        elif "ir" in value and "task" in value:
            try:
                job = identity.job_from_identity(value)
            except (identity.IdentityError, ValueError) as exc:
                raise IngestError(cid, f"not a valid job: {exc}") from None
            self._jobs.append((cid, job))
        elif MANIFEST_KEY in value:
            self.manifests.append(Manifest.from_value(cid, value))

    def flush(self) -> None:
        """Write what is pending (receipts wait for `finish`, which knows their order)."""
        store = self.store
        store.put_blocks(self._blocks)
        store.index_records(self._records)
        store.index_jobs(self._jobs)
        self.counts["records"] += len(self._records)
        self.counts["jobs"] += len(self._jobs)
        self._seen_records.extend(self._records)
        self._blocks, self._records, self._jobs = [], [], []

    def finish(self) -> None:
        """Write what is pending, then the chain ends and aliases the blocks imply.

        A manifest names the chain ends; without one (a CAR another tool wrote), every
        CID a record leads to and none leads on from is a chain end.
        """
        self.flush()
        store = self.store
        store.index_receipts(self._ordered_receipts())
        self.counts["receipts"] += len(self._receipts)
        if self.manifests:
            for manifest in self.manifests:
                store.mark_finals(manifest.finals)
                for ns, name, job in manifest.aliases:
                    store.put_alias(ns, name, job)
        else:
            sources = {r.source for r in self._seen_records}
            store.mark_finals(
                sorted({r.target for r in self._seen_records} - sources, key=lambda link: link.raw)
            )

    def _ordered_receipts(self) -> list[tuple[Link, Receipt]]:
        """Receipts in the order the manifests list them (the exporting store's, oldest
        first), then the others by their start time: a job's receipts keep their order."""
        rank = {cid: i for m in self.manifests for i, cid in enumerate(m.receipts)}
        last = len(rank)

        def key(item: tuple[Link, Receipt]) -> tuple[int, str, bytes]:
            cid, receipt = item
            started = receipt.meta.get("started")
            return rank.get(cid, last), started if isinstance(started, str) else "", cid.raw

        return sorted(self._receipts, key=key)


_RECORD_KEYS = frozenset(("record", "pass", "version", "from", "to", "facts"))


def _plain_record_ref(cid: Link, tree: dict[str, object]) -> RecordRef:
    """A record's edge from an exact libipld tree; raises IngestError if malformed."""
    from compiler.records import RECORD_VERSION

    src, dst = tree.get("from"), tree.get("to")
    name, version = tree.get("pass"), tree.get("version")
    if not (
        tree.keys() == _RECORD_KEYS
        and tree["record"] == RECORD_VERSION
        and isinstance(src, bytes)
        and identity.is_link_bytes(src)
        and isinstance(dst, bytes)
        and identity.is_link_bytes(dst)
        and isinstance(name, str)
        and type(version) is int
        and isinstance(tree["facts"], list)
    ):
        raise IngestError(cid, "a malformed transformation record")
    return RecordRef(cid, name, version, Link(src), Link(dst))


def _record_ref(cid: Link, value: FrozenMap[Value]) -> RecordRef:
    """A record map's edge; raises IngestError if it is not a record."""
    from compiler.records import RECORD_VERSION

    src, dst = value.get("from"), value.get("to")
    name, version = value.get("pass"), value.get("version")
    if not (
        value.get("record") == RECORD_VERSION
        and isinstance(src, Link)
        and isinstance(dst, Link)
        and isinstance(name, str)
        and isinstance(version, int)
        and isinstance(value.get("facts"), tuple)
        and set(value) == {"record", "pass", "version", "from", "to", "facts"}
    ):
        raise IngestError(cid, "a malformed transformation record")
    return RecordRef(cid, name, version, src, dst)


def _verified_receipt(cid: Link, value: FrozenMap[Value]) -> Receipt:
    """A receipt map whose signature holds; raises IngestError naming the receipt."""
    from compiler.runtime.receipts import Receipt, ReceiptError

    try:
        receipt = Receipt.from_value(value)
        receipt.verify()
    except ReceiptError as exc:
        raise IngestError(cid, f"receipt rejected: {exc}") from None
    return receipt
