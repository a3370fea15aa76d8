"""The store (DESIGN §8): blocks by CID, and caches with expiry, behind one interface.

SQLite is the embedded default (`store.sqlite` in the data dir, WAL mode); the
PostgreSQL backend, the chain index and the queries come with issue 6 and implement
this same `Store` protocol. Receipts (DESIGN §6) are blocks indexed by the job they ran;
aliases map foreign identifiers (a Bacalhau job ID, a Homestar instruction CID) to jobs.

Caches are namespaced key → JSON value maps with an optional expiry: the image
resolution cache (`image`), the file-hash cache (`content-file`), lowering memos. A
cache entry is a hint that saves work, never identity: losing the cache changes no CID.

Writes that belong together go in one `with store.transaction():` block, so a failure
leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from compiler.ir import Link

if TYPE_CHECKING:
    from compiler.runtime.receipts import Receipt


class Store(Protocol):
    """What every backend provides."""

    def put_block(self, cid: Link, data: bytes) -> None:
        """Store a block (idempotent). The caller vouches that `cid` hashes `data`."""
        ...

    def get_block(self, cid: Link) -> bytes | None:
        """A block's bytes, or None."""
        ...

    def has_block(self, cid: Link) -> bool: ...

    def blocks(self) -> Iterator[Link]:
        """Every stored block's CID."""
        ...

    def put_receipt(self, receipt: Receipt) -> Link:
        """Store a signed receipt (its block, and the index by job); returns its CID.
        Raises ReceiptError if its signature does not verify: nothing is stored then."""
        ...

    def receipts(self, job: Link) -> list[Receipt]:
        """Every stored receipt of `job`, oldest first."""
        ...

    def put_alias(self, namespace: str, name: str, cid: Link) -> None:
        """Record that `name` in a foreign `namespace` (a network's job ID, a Homestar
        instruction CID) means the job `cid`. A name keeps its first meaning."""
        ...

    def alias(self, namespace: str, name: str) -> Link | None:
        """The job a foreign name means, or None."""
        ...

    def aliases(self, cid: Link) -> list[tuple[str, str]]:
        """Every (namespace, name) that means `cid`, sorted."""
        ...

    def cache_get(self, namespace: str, key: str, *, now: float | None = None) -> Any | None:
        """A cached value (JSON data), or None when absent or expired at `now`."""
        ...

    def cache_put(
        self, namespace: str, key: str, value: Any, *, ttl: float | None, now: float | None = None
    ) -> None:
        """Cache `value` (JSON data) for `ttl` seconds from `now`; `ttl=None`: forever."""
        ...

    def cache_delete(self, namespace: str, key: str) -> None: ...

    def cache_purge(self, namespace: str | None = None) -> int:
        """Drop every entry of `namespace` (every namespace when None); how many went."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Everything written inside is committed together, or not at all."""
        ...

    def close(self) -> None: ...


def default_path() -> Path:
    """Where the embedded store lives: `store.sqlite` in the data dir."""
    from compiler.home import data_dir

    return data_dir(create=True) / "store.sqlite"


def open_store(location: str | Path | None = None) -> Store:
    """Open a store: None for the default SQLite file, else a SQLite path
    (`postgresql://…` URLs come with the PostgreSQL backend)."""
    from compiler.store.sqlite import SQLiteStore

    text = str(location) if location is not None else ""
    if text.startswith(("postgresql://", "postgres://")):
        raise NotImplementedError("the PostgreSQL store is not built yet (issue 6)")
    return SQLiteStore(Path(text) if text else default_path())
