"""The store (DESIGN §8): blocks by CID, the indexes the queries need, and caches.

Two backends implement the one `Store` protocol with the same semantics and the same
test suite: SQLite (`sqlite.py`, the embedded default: `store.sqlite` in the data dir,
WAL mode) and PostgreSQL (`postgres.py`, for gateways that run as several replicas).
Both share their queries (`sql.py`); `docs/store.md` describes the schema.

What it holds:
- **blocks**: IR (jobs), transformation records, receipts, toolchain descriptors,
  documents, and content when asked (`--store-content`);
- **the chain index**: every record's `from → to` edge, indexed both ways, and the set of
  *finals* (the CIDs compiles ended at), so any CID on a chain leads to its final CIDs
  (`finals`) and a chain can be walked either way (`walk`);
- **disowned pass versions**: records made by them are not followed (`disown`);
- **jobs**: each stored job's determinism, the content CIDs it reads (by place) and the
  jobs whose outputs it awaits, and the job → job edges of the call tree;
- **receipts by job** (DESIGN §6), with their outputs indexed by content CID;
- **aliases**: foreign identifiers (a Bacalhau job ID, a Homestar instruction CID) → jobs;
- **caches**: namespaced key → JSON value maps with an optional expiry (the image
  resolution cache `image`, the file-hash cache `content-file`, lowering memos). A cache
  entry is a hint that saves work, never identity: losing it changes no CID.

Writes that belong together go in one `with store.transaction():` block, so a failure
(or a crash) leaves nothing half-written. Every write is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from compiler.ir import Link

if TYPE_CHECKING:
    from compiler.ir import Job
    from compiler.records import Record
    from compiler.runtime.receipts import Receipt

Direction = Literal["forward", "backward"]


@dataclass(frozen=True, slots=True)
class RecordRef:
    """A record as the chain index holds it: who made it, and the edge it adds."""

    cid: Link
    pass_name: str
    version: int
    source: Link
    target: Link
    disowned: bool = False
    """Made by a pass version that was disowned: lookups do not follow it."""


@dataclass(frozen=True, slots=True)
class Disowned:
    """A pass version whose records are not trusted."""

    pass_name: str
    version: int
    reason: str


@dataclass(frozen=True, slots=True)
class ContentRef:
    """A job reads `content` at `place` (an IR path: `/inputs/<target>`, `/task/module`…)."""

    job: Link
    place: str
    content: Link


@dataclass(frozen=True, slots=True)
class AwaitRef:
    """A job reads, at `place`, the output `path` of the job `upstream`."""

    job: Link
    place: str
    upstream: Link
    path: str


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A receipt says that `job`, run by `node`, made `content` at `path` (`stdout` and
    `stderr` are outputs too, under those names)."""

    receipt: Link
    job: Link
    path: str
    content: Link
    node: str
    exit: int


@dataclass(frozen=True, slots=True)
class ReceiptRef:
    """A receipt as the index holds it: `outcome` is the hash of what it claims the job
    produced (exit, outputs, stdout), so receipts that agree have equal outcomes."""

    cid: Link
    job: Link
    node: str
    exit: int
    outcome: bytes


@dataclass(frozen=True, slots=True)
class ReceiptEntry:
    """What the indexes keep of a verified receipt: its `ReceiptRef` row, and its outputs
    by path (`stdout` and `stderr` among them). `started` orders receipts that arrive
    together without an order of their own (a CAR another tool wrote)."""

    cid: Link
    job: Link
    node: str
    exit: int
    outcome: bytes
    outputs: tuple[tuple[str, Link], ...]
    started: str = ""


@dataclass(frozen=True, slots=True)
class UsageGraph:
    """The call tree as binary CIDs: which job reads which content (`refs`), which job
    feeds which (`edges`: upstream, downstream), and which jobs are final."""

    refs: list[tuple[bytes, bytes]]
    edges: list[tuple[bytes, bytes]]
    finals: set[bytes]


class Store(Protocol):
    """What every backend provides."""

    location: str
    """Where it is: a file path, or a `postgresql://` URL (without its password)."""

    # --- blocks ---------------------------------------------------------------------------

    def put_block(self, cid: Link, data: bytes) -> None:
        """Store a block (idempotent). The caller vouches that `cid` hashes `data`."""
        ...

    def put_blocks(self, blocks: Iterable[tuple[Link, bytes]]) -> None:
        """Store many blocks at once (idempotent)."""
        ...

    def get_block(self, cid: Link) -> bytes | None:
        """A block's bytes, or None."""
        ...

    def get_blocks(self, cids: Iterable[Link]) -> dict[Link, bytes]:
        """The stored blocks among `cids`, by CID."""
        ...

    def has_block(self, cid: Link) -> bool:
        """Whether the block is stored."""
        ...

    def missing_blocks(self, cids: Iterable[Link]) -> set[Link]:
        """Those of `cids` that are not stored."""
        ...

    def blocks(self) -> Iterator[Link]:
        """Every stored block's CID, in CID order."""
        ...

    def count(self, what: str) -> int:
        """How many rows an index holds: `blocks`, `records`, `finals`, `jobs`,
        `receipts`, `aliases`."""
        ...

    # --- the chain index ------------------------------------------------------------------

    def put_record(self, record: Record) -> None:
        """Store a record's block and its edge `from → to` in the chain index."""
        ...

    def index_record(self, ref: RecordRef) -> None:
        """Add a record's edge to the chain index (its block is stored by the caller)."""
        ...

    def index_records(self, refs: Iterable[RecordRef]) -> None:
        """`index_record` for many, in one batch."""
        ...

    def mark_final(self, cid: Link) -> None:
        """Note that a compile ended at `cid` (a final job CID)."""
        ...

    def mark_finals(self, cids: Iterable[Link]) -> None:
        """`mark_final` for many, in one batch."""
        ...

    def is_final(self, cid: Link) -> bool:
        """Whether some compile ended at `cid`."""
        ...

    def finals(self, cid: Link) -> list[Link]:
        """The final CIDs `cid` leads to through trusted records (itself when it is one),
        in CID order: the chain index lookup."""
        ...

    def walk(self, cid: Link | Iterable[Link], direction: Direction) -> list[RecordRef]:
        """Every record reachable from `cid` (or from any of several CIDs) going
        `forward` (from → to) or `backward`. Forward, disowned records are listed
        (marked) but not followed; backward, every record that leads there is listed."""
        ...

    def walks(self, cid: Link | Iterable[Link]) -> tuple[list[RecordRef], list[RecordRef]]:
        """`walk` forward and `walk` backward, at once."""
        ...

    def chain_of(self, cid: Link) -> tuple[list[RecordRef], list[RecordRef], dict[Link, int]]:
        """`walks(cid)`, and `final_receipts` of `cid` and of every CID those records
        lead to, at once (what a trace needs, in one round trip)."""
        ...

    def final_receipts(self, cids: Iterable[Link]) -> dict[Link, int]:
        """The finals among `cids`, each with how many receipts it has (maybe none)."""
        ...

    def finals_among(self, cids: Iterable[Link]) -> set[Link]:
        """Those of `cids` some compile ended at."""
        ...

    def disown(self, pass_name: str, version: int, reason: str = "") -> int:
        """Mark `pass_name@version` untrusted; returns how many stored records it made."""
        ...

    def undisown(self, pass_name: str, version: int) -> bool:
        """Trust `pass_name@version` again; False if it was not disowned."""
        ...

    def disowned(self) -> list[Disowned]:
        """Every disowned pass version, sorted."""
        ...

    # --- jobs and the call tree -----------------------------------------------------------

    def put_job(self, job: Job) -> Link:
        """Store a job's identity block and index what it reads; returns its CID."""
        ...

    def index_job(self, cid: Link, job: Job) -> None:
        """Index a job whose block is stored: its determinism, the content it reads,
        the jobs it awaits, and the call-tree edges these make."""
        ...

    def index_jobs(self, jobs: Iterable[tuple[Link, Job]]) -> None:
        """`index_job` for many, in one batch."""
        ...

    def jobs_among(self, cids: Iterable[Link]) -> set[Link]:
        """Those of `cids` that are indexed jobs."""
        ...

    def determinism(self, job: Link) -> str | None:
        """The determinism of an indexed job (`strict`, `unordered`, `none`), or None."""
        ...

    def content_refs(self, job: Link) -> list[ContentRef]:
        """The content CIDs `job` reads, by place."""
        ...

    def awaits(self, job: Link) -> list[AwaitRef]:
        """The outputs of other jobs `job` reads, by place."""
        ...

    def users(self, content: Link) -> list[ContentRef]:
        """The indexed jobs that read `content` directly."""
        ...

    def refcount(self, content: Link) -> tuple[int, int]:
        """How many final jobs use `content`: directly, and in all (directly or through
        other jobs' outputs and awaits, transitively)."""
        ...

    def most_used(self, limit: int) -> list[tuple[Link, int]]:
        """The content CIDs read directly by the most final jobs, with that count."""
        ...

    def usage_graph(self) -> UsageGraph:
        """The whole call tree as `refcount` walks it, for ranking all content at once."""
        ...

    # --- receipts -------------------------------------------------------------------------

    def put_receipt(self, receipt: Receipt) -> Link:
        """Store a signed receipt (its block, the index by job, its outputs by content);
        returns its CID. Raises ReceiptError if its signature does not verify: nothing is
        stored then."""
        ...

    def index_receipt(self, cid: Link, receipt: Receipt) -> None:
        """Index a stored receipt whose signature the caller verified: by job, its
        outputs by content, and the call-tree edges they make."""
        ...

    def index_receipts(self, receipts: Iterable[tuple[Link, Receipt]]) -> None:
        """`index_receipt` for many, in one batch."""
        ...

    def index_receipt_entries(self, entries: Iterable[ReceiptEntry]) -> None:
        """`index_receipts` for receipts already read into entries (a CAR import reads
        them straight from their blocks), in the order given."""
        ...

    def receipts(self, job: Link) -> list[Receipt]:
        """Every stored receipt of `job`, oldest first."""
        ...

    def receipt_refs(self, jobs: Iterable[Link] | None = None) -> list[ReceiptRef]:
        """The index rows of the receipts of `jobs` (None: of every job), oldest first."""
        ...

    def receipt_counts(self, jobs: Iterable[Link]) -> dict[Link, int]:
        """How many receipts each of `jobs` has (jobs without any are left out)."""
        ...

    def contested_jobs(self) -> list[Link]:
        """Jobs that are deterministic (`strict` or `unordered`) and have receipts from
        at least two nodes: the ones reputation compares."""
        ...

    def makers(self, content: Link) -> list[OutputRef]:
        """Every receipt output that is `content`: which jobs made it, by which node."""
        ...

    # --- aliases --------------------------------------------------------------------------

    def put_alias(self, namespace: str, name: str, cid: Link) -> None:
        """Record that `name` in a foreign `namespace` (a network's job ID, a Homestar
        instruction CID) means the job `cid`. A name keeps its first meaning."""
        ...

    def alias(self, namespace: str, name: str) -> Link | None:
        """The job a foreign name means, or None."""
        ...

    def aliases_among(self, jobs: Iterable[Link]) -> list[tuple[str, str, Link]]:
        """Every (namespace, name, job) whose job is one of `jobs`, sorted."""
        ...

    def aliases(self, cid: Link) -> list[tuple[str, str]]:
        """Every (namespace, name) that means `cid`, sorted."""
        ...

    # --- caches ---------------------------------------------------------------------------

    def cache_get(self, namespace: str, key: str, *, now: float | None = None) -> Any | None:
        """A cached value (JSON data), or None when absent or expired at `now`."""
        ...

    def cache_put(
        self, namespace: str, key: str, value: Any, *, ttl: float | None, now: float | None = None
    ) -> None:
        """Cache `value` (JSON data) for `ttl` seconds from `now`; `ttl=None`: forever."""
        ...

    def cache_delete(self, namespace: str, key: str) -> None:
        """Forget a cached value."""
        ...

    def cache_purge(self, namespace: str | None = None) -> int:
        """Forget a namespace's cached values (None: every cache); returns how many."""
        ...

    def optimize(self) -> None:
        """Refresh the query planner's statistics (after a large import)."""
        ...

    # --- transactions ---------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[None]:
        """Everything written inside is committed together, or not at all."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...


class StoreError(Exception):
    """The store cannot be opened or used (a bad URL, a database that refuses)."""


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def default_path() -> Path:
    """Where the embedded store lives: `store.sqlite` in the data dir."""
    from compiler.home import data_dir

    return data_dir(create=True) / "store.sqlite"


STORE_ENV = "JOBC_STORE"
"""Names the store when no `--store` is given (a path or a `postgresql://` URL)."""


def open_store(location: str | Path | None = None) -> Store:
    """Open a store: a `postgresql://…` URL for PostgreSQL, else the path of a SQLite
    file; None means `$JOBC_STORE`, else `store.sqlite` in the data dir."""
    import os

    text = str(location) if location is not None else os.environ.get(STORE_ENV, "")
    if text.startswith(POSTGRES_SCHEMES):
        from compiler.store.postgres import PostgresStore

        return PostgresStore(text)
    from compiler.store.sqlite import SQLiteStore

    return SQLiteStore(Path(text) if text else default_path())
