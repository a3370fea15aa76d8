"""Receipts (DESIGN §6): what one run of a job produced, signed by the node that ran it.

```
Receipt = {"receipt": 1, "job": Link, "outputs": {path: Link}, "exit": int,
           "stdout": Link, "stderr": Link, "runner": {name, version, engine, …},
           "node": "z6Mk…", "meta": {started, finished, fuel, …}, "sig": bytes}
```

`node` is the node's ed25519 public key as a multibase string (base58btc of the
multicodec `ed25519-pub` prefix and the 32 key bytes: a `did:key` without its scheme).
`sig` is the ed25519 signature over the strict DAG-CBOR bytes of the receipt without
`sig`; the receipt's CID is that of the whole map, signature included. Timestamps are
RFC 3339 strings in UTC (identity has no floats).

A node's key is made on first use and kept in the data dir (`node.key`, mode 0600).
A node trusts its own receipts and those of the nodes listed in `trusted-nodes` in the
data dir (one key per line, `#` comments): only trusted receipts are reused (memoization).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler import identity
from compiler.ir import FrozenMap, Link, Value

RECEIPT_VERSION = 1
_ED25519_PUB = b"\xed\x01"
"""The multicodec of an ed25519 public key, as a varint."""
KEY_FILE = "node.key"
TRUST_FILE = "trusted-nodes"
_FIELDS = frozenset(
    ("receipt", "job", "outputs", "exit", "stdout", "stderr", "runner", "node", "meta", "sig")
)


class ReceiptError(ValueError):
    """A receipt that is malformed, or whose signature does not verify."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """One run of `job`: its outputs by path, exit code, stdout/stderr, who ran it and how."""

    job: Link
    outputs: FrozenMap[Link]
    exit: int
    stdout: Link
    stderr: Link
    runner: FrozenMap[Value]
    node: str
    meta: FrozenMap[Value]
    sig: bytes = b""

    def unsigned(self) -> FrozenMap[Value]:
        """The map the signature covers: the receipt without `sig`."""
        return FrozenMap(
            {
                "receipt": RECEIPT_VERSION,
                "job": self.job,
                "outputs": self.outputs,  # type: ignore[dict-item]
                "exit": self.exit,
                "stdout": self.stdout,
                "stderr": self.stderr,
                "runner": self.runner,
                "node": self.node,
                "meta": self.meta,
            }
        )

    def to_value(self) -> FrozenMap[Value]:
        """The whole receipt map, as stored and hashed."""
        return self.unsigned().set("sig", self.sig)

    def encode(self) -> bytes:
        """The receipt's block: strict DAG-CBOR of `to_value()`."""
        return identity.encode_value(self.to_value())

    @property
    def cid(self) -> Link:
        """The receipt's CID (over the signed map)."""
        return identity.cid_of_block(self.encode())

    def to_dag_json(self) -> dict[str, Any]:
        """The receipt in DAG-JSON data forms, with its `cid` beside it for readers."""
        out: dict[str, Any] = identity.value_dag_json(self.to_value())
        out["cid"] = {"/": str(self.cid)}
        return out

    def verify(self) -> None:
        """Check the signature against `node`; raises ReceiptError if it does not hold."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = Ed25519PublicKey.from_public_bytes(public_key_bytes(self.node))
        if len(self.sig) != 64:
            raise ReceiptError(f"receipt for {self.job} is not signed")
        try:
            key.verify(self.sig, identity.encode_value(self.unsigned()))
        except InvalidSignature:
            raise ReceiptError(
                f"receipt for {self.job}: the signature does not match node {self.node}"
            ) from None

    @classmethod
    def from_value(cls, value: Value) -> Receipt:
        """Read a receipt map; raises ReceiptError if it is not one (the signature is not
        checked here: `verify` does that)."""
        if not isinstance(value, FrozenMap):
            raise ReceiptError("a receipt must be a map")
        if value.get("receipt") != RECEIPT_VERSION:
            raise ReceiptError(f"unsupported receipt version {value.get('receipt')!r}")
        extra = set(value) - _FIELDS
        if extra:
            raise ReceiptError(f"unknown receipt fields: {', '.join(sorted(extra))}")
        job, outputs, exit_ = value.get("job"), value.get("outputs"), value.get("exit")
        stdout, stderr, node = value.get("stdout"), value.get("stderr"), value.get("node")
        runner, meta, sig = value.get("runner"), value.get("meta"), value.get("sig")
        if not (
            isinstance(job, Link)
            and isinstance(outputs, FrozenMap)
            and all(isinstance(v, Link) for v in outputs.values())
            and isinstance(exit_, int)
            and not isinstance(exit_, bool)
            and isinstance(stdout, Link)
            and isinstance(stderr, Link)
            and isinstance(runner, FrozenMap)
            and isinstance(node, str)
            and isinstance(meta, FrozenMap)
            and isinstance(sig, bytes)
        ):
            raise ReceiptError(
                "a receipt needs job, outputs (path → CID), exit, stdout, stderr, runner, "
                "node, meta and sig of their types"
            )
        public_key_bytes(node)
        return cls(
            job=job,
            outputs=outputs,  # type: ignore[arg-type]
            exit=exit_,
            stdout=stdout,
            stderr=stderr,
            runner=runner,
            node=node,
            meta=meta,
            sig=sig,
        )

    @classmethod
    def decode(cls, block: bytes) -> Receipt:
        """Read a receipt block; raises ReceiptError if malformed."""
        try:
            value = identity.decode_value(block)
        except identity.IdentityError as exc:
            raise ReceiptError(str(exc)) from None
        return cls.from_value(value)


def public_key_bytes(node: str) -> bytes:
    """The 32 bytes of an ed25519 public key written as `node` (`z6Mk…`)."""
    import libipld

    try:
        base, data = libipld.decode_multibase(node)
    except Exception:  # libipld raises ValueError subclasses of its own
        raise ReceiptError(f"node {node!r} is not a multibase public key") from None
    if base != "z":  # one spelling per key, so receipts of one node group together
        raise ReceiptError(f"node {node!r} must be written in base58btc (`z…`)")
    if not (data.startswith(_ED25519_PUB) and len(data) == 34):
        raise ReceiptError(f"node {node!r} is not an ed25519 public key")
    return bytes(data[2:])


def timestamp(moment: datetime.datetime | None = None) -> str:
    """An RFC 3339 UTC timestamp with microseconds, as receipts' `meta` holds them."""
    moment = moment or datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeKey:
    """This node's ed25519 key pair: signs the receipts of the jobs it runs."""

    def __init__(self, seed: bytes) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        if len(seed) != 32:
            raise ReceiptError("an ed25519 private key is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        import libipld

        self.node: str = libipld.encode_multibase("z", _ED25519_PUB + public)
        """The public key as receipts name it (`z6Mk…`)."""

    @classmethod
    def generate(cls) -> NodeKey:
        """A new random key (not saved)."""
        return cls(os.urandom(32))

    @classmethod
    def load_or_create(cls, path: Path | None = None) -> NodeKey:
        """The key in `path` (default: `node.key` in the data dir), made there on first use
        with mode 0600."""
        if path is None:
            from compiler.home import data_dir

            path = data_dir(create=True) / KEY_FILE
        try:
            return cls(_read_seed(path))
        except FileNotFoundError:
            pass
        seed = os.urandom(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes making the key at once agree on the first one written.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls(_read_seed(path))
        with os.fdopen(fd, "w") as file:
            file.write(seed.hex() + "\n")
        return cls(seed)

    def sign(self, receipt: Receipt) -> Receipt:
        """`receipt` made by this node and signed (its `node` and `sig` are replaced)."""
        from dataclasses import replace

        named = replace(receipt, node=self.node, sig=b"")
        sig = self._key.sign(identity.encode_value(named.unsigned()))
        return replace(named, sig=sig)


def _read_seed(path: Path) -> bytes:
    text = path.read_text().strip()
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise ReceiptError(f"{path} is not a node key (64 hex digits)") from None
    if len(seed) != 32:
        raise ReceiptError(f"{path} is not a node key (64 hex digits)")
    return seed


def trusted_nodes(extra: Iterable[str] = ()) -> frozenset[str]:
    """The nodes whose receipts this node reuses: itself, the keys listed in the data
    dir's `trusted-nodes` file, and `extra`. Raises ReceiptError on a malformed key."""
    from compiler.home import data_dir

    nodes = {NodeKey.load_or_create().node}
    listed: list[str] = list(extra)
    try:
        text = (data_dir() / TRUST_FILE).read_text()
    except FileNotFoundError:
        text = ""
    for line in text.splitlines():
        entry = line.partition("#")[0].strip()
        if entry:
            listed.append(entry)
    for node in listed:
        public_key_bytes(node)  # validates
        nodes.add(node)
    return frozenset(nodes)
