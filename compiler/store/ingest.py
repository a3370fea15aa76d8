"""Putting things into the store with their indexes: a compile, or any block.

`store_compiled` keeps what `jobc compile` made: the document as written, the original
and final jobs, every record of the chain, and the final CID as a chain end. `Ingest`
takes blocks one by one (a CAR import), recognises the ones the indexes need (records,
receipts, jobs, export manifests) by their shape, and indexes them in batches; it
verifies every receipt's signature and refuses the batch on the first bad one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import libipld

from compiler import identity
from compiler.ir import FrozenMap, Job, Link, Value
from compiler.records import RECORD_VERSION
from compiler.store import ReceiptEntry, RecordRef, Store
from compiler.unixfs_read import codec_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from compiler.driver import Compiled

DAG_CBOR = 0x71
MANIFEST_KEY = "jobc-export"
MANIFEST_VERSION = 1
BATCH = 10_000
"""Blocks indexed together (one statement batch per table) …"""
BATCH_BYTES = 32 << 20
"""… or fewer, when they are this large together (content blocks)."""


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
        tree = self._tree(Link)
        tree["aliases"] = tuple(FrozenMap(alias) for alias in tree["aliases"])
        return FrozenMap({k: tuple(v) if isinstance(v, list) else v for k, v in tree.items()})

    def encode(self) -> bytes:
        """The manifest block: `to_value()` in DAG-CBOR, written by libipld from the
        binary CIDs (it writes a byte string that is a CID as a link, and here every
        one is), without making IR values of an export's many links."""
        block: bytes = libipld.encode_dag_cbor(self._tree(bytes))
        return block

    def _tree(self, link: Callable[[bytes], Any]) -> dict[str, Any]:
        """The manifest's map, each link written by `link` from its binary CID."""

        def links(items: Iterable[Link]) -> list[Any]:
            return [link(raw) for raw in sorted({i.raw for i in items})]

        return {
            MANIFEST_KEY: MANIFEST_VERSION,
            "finals": links(self.finals),
            "records": links(self.records),
            # In the order the store holds them (by job, oldest first), so the
            # importing store keeps that order.
            "receipts": [link(raw) for raw in dict.fromkeys(r.raw for r in self.receipts)],
            "jobs": links(self.jobs),
            "aliases": [
                {"namespace": ns, "name": name, "job": link(job.raw)}
                for ns, name, job in sorted(set(self.aliases), key=_alias_key)
            ],
        }

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

    @classmethod
    def from_plain(cls, cid: Link, tree: dict[str, Any]) -> Manifest | None:
        """`from_value` for libipld's exact tree of a well-formed manifest, without
        making IR values of its many links; None when anything is off (then `from_value`
        says what)."""
        if tree.get(MANIFEST_KEY) != MANIFEST_VERSION or not _float_free(tree):
            return None
        manifest = cls()
        for key in ("finals", "records", "receipts", "jobs"):
            items = tree.get(key, [])
            if type(items) is not list or not all(_is_link(i) for i in items):
                return None
            getattr(manifest, key).extend(map(Link, items))
        aliases = tree.get("aliases", [])
        if type(aliases) is not list:
            return None
        for alias in aliases:
            if type(alias) is not dict:
                return None
            ns, name, job = alias.get("namespace"), alias.get("name"), alias.get("job")
            if not (type(ns) is str and type(name) is str and type(job) is bytes):
                return None
            if not identity.is_link_bytes(job):
                return None
            manifest.aliases.append((ns, name, Link(job)))
        return manifest


def _alias_key(alias: tuple[str, str, Link]) -> tuple[str, str, bytes]:
    return alias[0], alias[1], alias[2].raw


def codec(cid: Link) -> int:
    """The multicodec of a CID (CIDv0 is dag-pb)."""
    return raw_codec(cid.raw)


def raw_codec(raw: bytes) -> int:
    """The multicodec of a binary CID (CIDv0 is dag-pb)."""
    if raw[:1] == b"\x01" and raw[1] < 0x80:  # CIDv1 with a one-byte codec: the usual
        return raw[1]
    return codec_of(raw)


@dataclass
class Ingest:
    """Blocks in, indexes out: `add` each block (hash already verified), then `finish`.

    Everything happens in the caller's transaction; a bad receipt or a malformed record,
    job or manifest raises IngestError naming the block, and the caller rolls back.

    Records, receipts and manifests, the bulk of an export, are read from libipld's
    exact tree (`identity.decode_plain`) without making IR values; whatever that fast
    reading does not take whole (a block that is not exact, a float, a bad signature)
    goes the IR way, which takes the same blocks and names the fault of the others.
    """

    store: Store
    manifests: list[Manifest] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("blocks", "records", "receipts", "jobs"), 0)
    )
    _blocks: list[tuple[Link, bytes]] = field(default_factory=list)
    _records: list[RecordRef] = field(default_factory=list)
    _receipts: list[ReceiptEntry] = field(default_factory=list)
    _jobs: list[tuple[Link, Job]] = field(default_factory=list)
    _seen_records: list[RecordRef] = field(default_factory=list)
    _pending: int = 0
    """Bytes of the blocks not yet written."""
    _keys: dict[str, Ed25519PublicKey | None] = field(default_factory=dict)
    """Nodes' public keys, each decoded once (an export holds a few nodes' receipts)."""

    def add(self, cid: Link, block: bytes) -> None:
        """Take one block whose hash the caller checked."""
        self._blocks.append((cid, block))
        self._pending += len(block)
        self.counts["blocks"] += 1
        if codec(cid) == DAG_CBOR:
            self._classify(cid, block)
        if len(self._blocks) >= BATCH or self._pending >= BATCH_BYTES:
            self.flush()

    def _classify(self, cid: Link, block: bytes) -> None:
        plain = identity.decode_plain(block)
        if isinstance(plain, dict):
            if "record" in plain and "pass" in plain:
                self._records.append(_plain_record_ref(cid, plain))
                return
            if "receipt" in plain and "sig" in plain:
                entry = self._plain_receipt(cid, plain)
                if entry is not None:
                    self._receipts.append(entry)
                    return
            elif "ir" in plain and "task" in plain:
                try:
                    self._job(cid, identity.value_from_plain(plain))
                    return
                except identity.IdentityError:
                    pass  # the IR way below says what is wrong
            elif MANIFEST_KEY in plain:
                manifest = Manifest.from_plain(cid, plain)
                if manifest is not None:
                    self.manifests.append(manifest)
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
            self._receipts.append(_verified_receipt(cid, value))
        elif "ir" in value and "task" in value:
            self._job(cid, value)
        elif MANIFEST_KEY in value:
            self.manifests.append(Manifest.from_value(cid, value))

    def _job(self, cid: Link, value: Value) -> None:
        """Take a job's identity map; raises IngestError if it is not a valid job."""
        try:
            job = identity.job_from_identity(value)
        except (identity.IdentityError, ValueError) as exc:
            raise IngestError(cid, f"not a valid job: {exc}") from None
        self._jobs.append((cid, job))

    def _plain_receipt(self, cid: Link, tree: dict[str, Any]) -> ReceiptEntry | None:
        """A receipt's entry from libipld's exact tree, when it is well formed and its
        signature holds; else None. The signed bytes are the tree without `sig`,
        encoded again: in an exact tree that is the receipt's unsigned map, byte for
        byte (`Receipt.verify` encodes the same map from IR values)."""
        from compiler.runtime.receipts import RECEIPT_VERSION

        if tree.keys() != _RECEIPT_KEYS:
            return None
        job, outputs, exit_ = tree["job"], tree["outputs"], tree["exit"]
        stdout, stderr, node, sig = tree["stdout"], tree["stderr"], tree["node"], tree["sig"]
        if not (
            type(tree["receipt"]) is int
            and tree["receipt"] == RECEIPT_VERSION
            and _is_link(job)
            and type(outputs) is dict
            and all(_is_link(c) for c in outputs.values())
            and type(exit_) is int
            and _is_link(stdout)
            and _is_link(stderr)
            and type(node) is str
            and type(sig) is bytes
            and len(sig) == 64
            and type(tree["runner"]) is dict
            and type(tree["meta"]) is dict
            and _float_free(tree["runner"])
            and _float_free(tree["meta"])
        ):
            return None
        key = self._key(node)
        if key is None:
            return None
        from cryptography.exceptions import InvalidSignature

        unsigned = {k: v for k, v in tree.items() if k != "sig"}
        try:
            key.verify(sig, libipld.encode_dag_cbor(unsigned))
        except InvalidSignature:
            return None
        # As `sql.outcome` hashes it: exit, outputs and stdout, in DAG-CBOR.
        claimed = libipld.encode_dag_cbor({"exit": exit_, "outputs": outputs, "stdout": stdout})
        started = tree["meta"].get("started")
        return ReceiptEntry(
            cid,
            Link(job),
            node,
            exit_,
            hashlib.sha256(claimed).digest(),
            (
                *((path, Link(c)) for path, c in outputs.items()),
                ("stdout", Link(stdout)),
                ("stderr", Link(stderr)),
            ),
            started if type(started) is str else "",
        )

    def _key(self, node: str) -> Ed25519PublicKey | None:
        """The public key `node` names, or None if it names none."""
        if node not in self._keys:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            from compiler.runtime.receipts import ReceiptError, public_key_bytes

            try:
                self._keys[node] = Ed25519PublicKey.from_public_bytes(public_key_bytes(node))
            except ReceiptError:
                self._keys[node] = None
        return self._keys[node]

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
        self._pending = 0

    def finish(self) -> None:
        """Write what is pending, then the chain ends and aliases the blocks imply.

        A manifest names the chain ends; without one (a CAR another tool wrote), every
        CID a record leads to and none leads on from is a chain end.
        """
        self.flush()
        store = self.store
        store.index_receipt_entries(self._ordered_receipts())
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

    def _ordered_receipts(self) -> list[ReceiptEntry]:
        """Receipts in the order the manifests list them (the exporting store's, oldest
        first), then the others by their start time: a job's receipts keep their order."""
        rank = {cid: i for m in self.manifests for i, cid in enumerate(m.receipts)}
        last = len(rank)

        def key(entry: ReceiptEntry) -> tuple[int, str, bytes]:
            return rank.get(entry.cid, last), entry.started, entry.cid.raw

        return sorted(self._receipts, key=key)


def _is_link(data: object) -> bool:
    """Whether a value of libipld's exact tree is a link."""
    return type(data) is bytes and identity.is_link_bytes(data)


def _float_free(tree: object) -> bool:
    """Whether libipld's tree holds no float (identity has none: `decode_value` refuses
    the block, and it is not indexed)."""
    stack = [tree]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is dict:
            stack.extend(v.values())  # type: ignore[attr-defined]
        elif t is list:
            stack.extend(v)  # type: ignore[arg-type]
        elif t is float:
            return False
    return True


def _receipt_keys() -> frozenset[str]:
    from dataclasses import fields

    from compiler.runtime.receipts import Receipt

    return frozenset({"receipt", *(f.name for f in fields(Receipt))})


_RECEIPT_KEYS = _receipt_keys()
"""A receipt map's keys: the version and `Receipt`'s fields."""


_RECORD_KEYS = frozenset(("record", "pass", "version", "from", "to", "facts"))


def _plain_record_ref(cid: Link, tree: dict[str, object]) -> RecordRef:
    """A record's edge from an exact libipld tree; raises IngestError if malformed."""
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


def _verified_receipt(cid: Link, value: FrozenMap[Value]) -> ReceiptEntry:
    """The entry of a receipt map whose signature holds; raises IngestError naming it."""
    from compiler.runtime.receipts import Receipt, ReceiptError
    from compiler.store.sql import receipt_entry

    try:
        receipt = Receipt.from_value(value)
        receipt.verify()
    except ReceiptError as exc:
        raise IngestError(cid, f"receipt rejected: {exc}") from None
    return receipt_entry(cid, receipt)
