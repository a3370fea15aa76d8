"""The store's queries, shared by both backends: one SQL text, two databases.

SQLite and PostgreSQL agree on everything these statements use (`ON CONFLICT … DO
NOTHING`, `WITH RECURSIVE`, byte-string keys that compare as bytes), so a backend only
says how to connect, how to run a statement (`_query`, `_exec`, `_exec_many`: `?`
placeholders), how to group statements in a transaction, and its schema migrations.
The schema is described in docs/store.md.

Graph walks run inside the database as recursive queries, so a lookup costs a few index
probes whatever the size of the store: the chain index is the `records` table indexed
by `src` and by `dst`, plus `finals`; the call tree is `job_edges`, kept up to date as
jobs and receipts arrive (a job that reads a content CID some receipt says a job made
has an edge from that job; an await is an edge from the awaited job).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from compiler import identity
from compiler.ir import FrozenMap, Job, Link, Value
from compiler.store import (
    AwaitRef,
    ContentRef,
    Direction,
    Disowned,
    OutputRef,
    ReceiptEntry,
    ReceiptRef,
    RecordRef,
    UsageGraph,
)

if TYPE_CHECKING:
    from compiler.records import Record
    from compiler.runtime.receipts import Receipt

Row = tuple[Any, ...]
Migration = str | Callable[["SQLStore"], None]
"""A migration is SQL (statements separated by `;`) or a function of the store (for
what SQL cannot do, such as decoding blocks to fill a new index)."""

CHUNK = 500
"""Most values in one `IN (…)` list (SQLite allows 32,766 parameters; PostgreSQL 65,535)."""

COUNTED = {
    "blocks": "blocks",
    "records": "records",
    "finals": "finals",
    "jobs": "jobs",
    "receipts": "receipts",
    "aliases": "aliases",
    "disowned": "disowned",
}
"""What `count` may count: names → tables (never a table name from outside)."""

_WALKS: dict[Direction, str] = {"forward": "fwd", "backward": "bwd"}
"""The name of each direction's recursion in a walk's statement."""

_TRUSTED = "NOT EXISTS (SELECT 1 FROM disowned d WHERE d.pass = r.pass AND d.version = r.version)"
"""A record `r` is followed unless its pass version is disowned."""


def outcome(receipt: Receipt) -> bytes:
    """What a receipt claims a job produced (exit code, outputs, stdout), hashed: two
    receipts agree when their outcomes are equal. stderr is left out: it carries a
    runner's diagnostics, which deterministic jobs need not agree on."""
    claimed: FrozenMap[Value] = FrozenMap(
        {
            "exit": receipt.exit,
            "outputs": receipt.outputs,  # type: ignore[dict-item]
            "stdout": receipt.stdout,
        }
    )
    return hashlib.sha256(identity.encode_value(claimed)).digest()


def receipt_outputs(receipt: Receipt) -> list[tuple[str, Link]]:
    """A receipt's outputs by path, with `stdout` and `stderr` as outputs of those names."""
    return [*receipt.outputs.items(), ("stdout", receipt.stdout), ("stderr", receipt.stderr)]


def receipt_entry(cid: Link, receipt: Receipt) -> ReceiptEntry:
    """What the indexes keep of a verified receipt."""
    started = receipt.meta.get("started")
    return ReceiptEntry(
        cid,
        receipt.job,
        receipt.node,
        receipt.exit,
        outcome(receipt),
        tuple(receipt_outputs(receipt)),
        started if isinstance(started, str) else "",
    )


def job_references(job: Job) -> tuple[list[tuple[str, Link]], list[tuple[str, Link, str]]]:
    """What a job reads: (place, content CID) for every pinned content, and (place,
    upstream job, output path) for every await input. Places are IR paths."""
    from compiler.ir import Await, SourceTask, WasmTask

    contents: list[tuple[str, Link]] = []
    awaits: list[tuple[str, Link, str]] = []
    task = job.task
    if isinstance(task, WasmTask):
        if isinstance(task.module, Link):
            contents.append(("/task/module", task.module))
        for name, content in task.imports.items():
            if isinstance(content, Link):
                contents.append((f"/task/imports/{name}", content))
        if isinstance(task.stdin, Link):
            contents.append(("/task/stdin", task.stdin))
    elif isinstance(task, SourceTask) and isinstance(task.source, Link):
        contents.append(("/task/source", task.source))
    for inp in job.inputs:
        place = f"/inputs/{inp.target}"
        if isinstance(inp.source, Link):
            contents.append((place, inp.source))
        elif isinstance(inp.source, Await):
            awaits.append((place, inp.source.job, inp.source.path))
    return contents, awaits


class SQLStore:
    """`Store` over a SQL database; subclasses connect and migrate."""

    location: str
    MIGRATIONS: ClassVar[tuple[Migration, ...]] = ()
    INSERT_RECEIPT: ClassVar[str] = ""
    """How a receipt's index row is written (backends keep their order differently)."""

    # --- what a backend provides ----------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def _exec_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _exec_batch(self, sql: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Run `sql` over `rows` of CIDs, which it reads as the relation `{batch}` with
        `columns`. SQLite runs it once a row, `batch` a row of parameters (in-process,
        there is no round trip to save); PostgreSQL overrides this."""
        if rows:
            batch = "(SELECT " + ", ".join(f"? AS {c}" for c in columns) + ") AS batch"
            self._exec_many(sql.format(batch=batch), rows)

    def transaction(self) -> AbstractContextManager[None]:
        """Everything written inside is committed together, or not at all."""
        raise NotImplementedError

    def close(self) -> None:
        """Close every connection."""
        raise NotImplementedError

    def _step(self, columns: str, table: str, condition: str, walk: str = "reach") -> str:
        """The recursive step of the walk `walk`: `columns` of the rows of `table` (as
        `r`) that meet `condition` for a row of `walk`. SQLite joins them, probing
        `table`'s index for each row of `walk` (PostgreSQL overrides this)."""
        return f"SELECT {columns} FROM {walk} JOIN {table} r ON {condition}"

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self._query(sql, params)
        return rows[0] if rows else None

    def _chunked(
        self, sql: str, values: Sequence[Any], extra: Sequence[Any] = (), *, times: int = 1
    ) -> list[Row]:
        """Run `sql` (holding `{marks}` where an `IN (…)` list goes, `times` times) over
        `values` in chunks. The values are sorted first, so each chunk's lookups fall in
        one stretch of the index (CIDs are hashes: unsorted, each lookup lands anywhere)."""
        out: list[Row] = []
        if len(values) > CHUNK:
            values = sorted(values)
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            out.extend(self._query(sql.format(marks=marks), [*list(chunk) * times, *extra]))
        return out

    # --- blocks ---------------------------------------------------------------------------

    def put_block(self, cid: Link, data: bytes) -> None:
        """Store a block (idempotent)."""
        self._exec(
            "INSERT INTO blocks (cid, data) VALUES (?, ?) ON CONFLICT (cid) DO NOTHING",
            (cid.raw, data),
        )

    def put_blocks(self, blocks: Iterable[tuple[Link, bytes]]) -> None:
        """Store many blocks at once (idempotent)."""
        self._exec_many(
            "INSERT INTO blocks (cid, data) VALUES (?, ?) ON CONFLICT (cid) DO NOTHING",
            ((cid.raw, data) for cid, data in blocks),
        )

    def get_blocks(self, cids: Iterable[Link]) -> dict[Link, bytes]:
        """The stored blocks among `cids`, by CID."""
        rows = self._chunked("SELECT cid, data FROM blocks WHERE cid IN ({marks})", _raws(cids))
        return {Link(bytes(c)): bytes(d) for c, d in rows}

    def get_block(self, cid: Link) -> bytes | None:
        """A block's bytes, or None."""
        row = self._one("SELECT data FROM blocks WHERE cid = ?", (cid.raw,))
        return bytes(row[0]) if row else None

    def has_block(self, cid: Link) -> bool:
        """Whether the block is stored."""
        return self._one("SELECT 1 FROM blocks WHERE cid = ?", (cid.raw,)) is not None

    def missing_blocks(self, cids: Iterable[Link]) -> set[Link]:
        """Those of `cids` that are not stored."""
        wanted = {c.raw: c for c in cids}
        found = self._chunked("SELECT cid FROM blocks WHERE cid IN ({marks})", list(wanted))
        for (raw,) in found:
            wanted.pop(bytes(raw), None)
        return set(wanted.values())

    def blocks(self) -> Iterator[Link]:
        """Every stored block's CID, in CID order."""
        for (raw,) in self._query("SELECT cid FROM blocks ORDER BY cid"):
            yield Link(bytes(raw))

    def count(self, what: str) -> int:
        """How many rows an index holds (`blocks`, `records`, `finals`, `jobs`, …)."""
        table = COUNTED.get(what)
        if table is None:
            raise ValueError(f"cannot count {what!r}: one of {', '.join(COUNTED)}")
        row = self._one(f"SELECT COUNT(*) FROM {table}")  # a name from COUNTED only
        return int(row[0]) if row else 0

    # --- the chain index ------------------------------------------------------------------

    def put_record(self, record: Record) -> None:
        """Store a record's block and its edge in the chain index."""
        block = identity.encode_value(record.to_value())
        with self.transaction():
            self.put_block(record.cid, block)
            self.index_record(
                RecordRef(
                    record.cid, record.pass_name, record.version, record.source, record.target
                )
            )

    def index_record(self, ref: RecordRef) -> None:
        """Add a record's edge to the chain index."""
        self.index_records([ref])

    def index_records(self, refs: Iterable[RecordRef]) -> None:
        """Add records' edges to the chain index (their blocks are stored by the caller)."""
        self._exec_many(
            "INSERT INTO records (cid, pass, version, src, dst) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (cid) DO NOTHING",
            [(r.cid.raw, r.pass_name, r.version, r.source.raw, r.target.raw) for r in refs],
        )

    def mark_finals(self, cids: Iterable[Link]) -> None:
        """Note that compiles ended at `cids`."""
        self._exec_many(
            "INSERT INTO finals (cid) VALUES (?) ON CONFLICT (cid) DO NOTHING",
            [(c.raw,) for c in cids],
        )

    def mark_final(self, cid: Link) -> None:
        """Note that a compile ended at `cid`."""
        self.mark_finals([cid])

    def is_final(self, cid: Link) -> bool:
        """Whether some compile ended at `cid`."""
        return self._one("SELECT 1 FROM finals WHERE cid = ?", (cid.raw,)) is not None

    def finals(self, cid: Link) -> list[Link]:
        """The final CIDs `cid` leads to through trusted records (itself if final)."""
        rows = self._query(
            "WITH RECURSIVE reach(cid) AS ("
            " SELECT CAST(? AS BLOB_TYPE)"
            " UNION"
            f" {self._step('r.dst', 'records', f'r.src = reach.cid AND {_TRUSTED}')}"
            ") SELECT reach.cid FROM reach"
            " WHERE EXISTS (SELECT 1 FROM finals f WHERE f.cid = reach.cid) ORDER BY reach.cid",
            (cid.raw,),
        )
        return [Link(bytes(raw)) for (raw,) in rows]

    def walk(self, cid: Link | Iterable[Link], direction: Direction) -> list[RecordRef]:
        """Every record reachable from `cid` (or from any of several CIDs) forward,
        trusted records followed, or backward; sorted by source, pass and CID."""
        forward, backward, _ = self._walk(cid, (direction,))
        return forward if direction == "forward" else backward

    def walks(self, cid: Link | Iterable[Link]) -> tuple[list[RecordRef], list[RecordRef]]:
        """`walk` forward and backward, in one statement."""
        forward, backward, _ = self._walk(cid, ("forward", "backward"))
        return forward, backward

    def chain_of(self, cid: Link) -> tuple[list[RecordRef], list[RecordRef], dict[Link, int]]:
        """`walks`, and `final_receipts` of `cid` and of every CID the records lead to,
        in one statement (a trace: one round trip to the database)."""
        return self._walk(cid, ("forward", "backward"), finals=True)

    def _walk(
        self, cid: Link | Iterable[Link], directions: tuple[Direction, ...], *, finals: bool = False
    ) -> tuple[list[RecordRef], list[RecordRef], dict[Link, int]]:
        seeds = [cid.raw] if isinstance(cid, Link) else _raws(cid)
        # The recursions carry the records themselves, so no join follows them: a
        # planner that cannot tell how many rows a recursion makes may choose to scan
        # the whole table for one.
        columns = (
            "r.cid, r.pass, r.version, r.src, r.dst,"
            " EXISTS (SELECT 1 FROM disowned d WHERE d.pass = r.pass AND d.version = r.version)"
        )
        walks, selects = [], []
        for direction in directions:
            w = _WALKS[direction]
            if direction == "forward":
                end, other, follow = "src", "dst", f" AND NOT {w}.disowned"
            else:
                end, other, follow = "dst", "src", ""
            step = self._step(columns, "records", f"r.{end} = {w}.{other}{follow}", w)
            walks.append(
                f"{w}(cid, pass, version, src, dst, disowned) AS ("
                f" SELECT {columns} FROM records r WHERE r.{end} IN ({{marks}}) UNION {step})"
            )
            selects.append(f"SELECT '{w}', cid, pass, version, src, dst, disowned FROM {w}")
        if finals:
            # The finals among the seeds and among the CIDs the walks lead to, each
            # with its receipts counted (in the `version` column); a CID in both comes
            # twice. Each end probes the finals' index (in one statement with `OR`, or
            # joined, PostgreSQL scanned all the finals instead).
            count = "(SELECT COUNT(*) FROM receipts c WHERE c.job = r.cid)"
            ends = " UNION ".join(f"SELECT dst FROM {_WALKS[d]}" for d in directions)
            probe = self._step(
                f"r.cid, {count} AS n", "finals", "r.cid = ends.dst", f"({ends}) ends"
            )
            selects += [
                f"SELECT 'fin', r.cid, '', {count}, NULL, NULL, FALSE"
                " FROM finals r WHERE r.cid IN ({marks})",
                f"SELECT 'fin', e.cid, '', e.n, NULL, NULL, FALSE FROM ({probe}) e",
            ]
        sql = f"WITH RECURSIVE {', '.join(walks)} {' UNION ALL '.join(selects)}"
        times = len(directions) + finals
        rows = self._chunked(sql, seeds, times=times) if seeds else []
        found: dict[str, dict[bytes, RecordRef]] = {w: {} for w in _WALKS.values()}
        counts: dict[Link, int] = {}
        for w, c, p, v, s, d, disowned in rows:
            if w == "fin":
                counts[Link(bytes(c))] = int(v)
                continue
            found[str(w)][bytes(c)] = RecordRef(
                Link(bytes(c)), str(p), int(v), Link(bytes(s)), Link(bytes(d)), bool(disowned)
            )
        forward, backward = (
            sorted(found[w].values(), key=lambda r: (r.source.raw, r.pass_name, r.cid.raw))
            for w in (_WALKS["forward"], _WALKS["backward"])
        )
        return forward, backward, counts

    def finals_among(self, cids: Iterable[Link]) -> set[Link]:
        """Those of `cids` some compile ended at."""
        rows = self._chunked("SELECT cid FROM finals WHERE cid IN ({marks})", _raws(cids))
        return {Link(bytes(c)) for (c,) in rows}

    def disown(self, pass_name: str, version: int, reason: str = "") -> int:
        """Mark `pass_name@version` untrusted; returns how many stored records it made."""
        with self.transaction():
            self._exec(
                "INSERT INTO disowned (pass, version, reason, since) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (pass, version) DO NOTHING",
                (pass_name, version, reason, time.time()),
            )
            row = self._one(
                "SELECT COUNT(*) FROM records WHERE pass = ? AND version = ?", (pass_name, version)
            )
        return int(row[0]) if row else 0

    def undisown(self, pass_name: str, version: int) -> bool:
        """Trust `pass_name@version` again; False if it was not disowned."""
        with self.transaction():
            found = self._one(
                "SELECT 1 FROM disowned WHERE pass = ? AND version = ?", (pass_name, version)
            )
            self._exec("DELETE FROM disowned WHERE pass = ? AND version = ?", (pass_name, version))
        return found is not None

    def disowned(self) -> list[Disowned]:
        """Every disowned pass version, sorted."""
        rows = self._query("SELECT pass, version, reason FROM disowned ORDER BY pass, version")
        return [Disowned(str(p), int(v), str(r)) for p, v, r in rows]

    # --- jobs and the call tree -----------------------------------------------------------

    def put_job(self, job: Job) -> Link:
        """Store a job's identity block and index it; returns its CID."""
        block = identity.encode_job(job)
        cid = identity.cid_of_block(block)
        with self.transaction():
            self.put_block(cid, block)
            self.index_job(cid, job)
        return cid

    def index_job(self, cid: Link, job: Job) -> None:
        """Index a stored job: determinism, content read, awaits, call-tree edges."""
        self.index_jobs([(cid, job)])

    def index_jobs(self, jobs: Iterable[tuple[Link, Job]]) -> None:
        """Index stored jobs (see `index_job`), in one batch."""
        rows: list[tuple[bytes, str]] = []
        refs: list[tuple[bytes, str, bytes]] = []
        awaited: list[tuple[bytes, str, bytes, str]] = []
        for cid, job in jobs:
            contents, awaits = job_references(job)
            rows.append((cid.raw, job.determinism))
            refs.extend((cid.raw, place, content.raw) for place, content in contents)
            awaited.extend((cid.raw, place, up.raw, path) for place, up, path in awaits)
        with self.transaction():
            self._lock_call_tree()
            self._exec_many(
                "INSERT INTO jobs (cid, determinism) VALUES (?, ?) ON CONFLICT (cid) DO NOTHING",
                rows,
            )
            self._exec_many(
                "INSERT INTO job_refs (job, place, content) VALUES (?, ?, ?)"
                " ON CONFLICT (job, place) DO NOTHING",
                refs,
            )
            self._exec_many(
                "INSERT INTO job_awaits (job, place, upstream, path) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (job, place) DO NOTHING",
                awaited,
            )
            # Call-tree edges: from the jobs receipts say made what these jobs read …
            self._exec_batch(
                "INSERT INTO job_edges (upstream, downstream)"
                " SELECT DISTINCT o.job, batch.job"
                " FROM {batch} JOIN receipt_outputs o ON o.content = batch.content"
                " WHERE o.job <> batch.job"
                " ON CONFLICT (upstream, downstream) DO NOTHING",
                ("job", "content"),
                sorted({(job, content) for job, _, content in refs}),
            )
            # … and from the jobs they await.
            self._exec_many(
                "INSERT INTO job_edges (upstream, downstream) VALUES (?, ?)"
                " ON CONFLICT (upstream, downstream) DO NOTHING",
                [(up, job) for job, _, up, _ in awaited if up != job],
            )

    def _lock_call_tree(self) -> None:
        """Serialise the transactions that add call-tree edges, where the database would
        not (PostgreSQL: see `postgres.py`); SQLite's writers are serialised already."""

    def jobs_among(self, cids: Iterable[Link]) -> set[Link]:
        """Those of `cids` that are indexed jobs."""
        rows = self._chunked("SELECT cid FROM jobs WHERE cid IN ({marks})", _raws(cids))
        return {Link(bytes(c)) for (c,) in rows}

    def determinism(self, job: Link) -> str | None:
        """The determinism of an indexed job, or None."""
        row = self._one("SELECT determinism FROM jobs WHERE cid = ?", (job.raw,))
        return str(row[0]) if row else None

    def content_refs(self, job: Link) -> list[ContentRef]:
        """The content CIDs `job` reads, by place."""
        rows = self._query(
            "SELECT place, content FROM job_refs WHERE job = ? ORDER BY place", (job.raw,)
        )
        return [ContentRef(job, str(p), Link(bytes(c))) for p, c in rows]

    def awaits(self, job: Link) -> list[AwaitRef]:
        """The outputs of other jobs `job` reads, by place."""
        rows = self._query(
            "SELECT place, upstream, path FROM job_awaits WHERE job = ? ORDER BY place",
            (job.raw,),
        )
        return [AwaitRef(job, str(p), Link(bytes(u)), str(path)) for p, u, path in rows]

    def users(self, content: Link) -> list[ContentRef]:
        """The indexed jobs that read `content` directly."""
        rows = self._query(
            "SELECT job, place FROM job_refs WHERE content = ? ORDER BY job, place",
            (content.raw,),
        )
        return [ContentRef(Link(bytes(j)), str(p), content) for j, p in rows]

    def refcount(self, content: Link) -> tuple[int, int]:
        """Final jobs that use `content`: directly, and in all (transitively)."""
        direct = self._one(
            "SELECT COUNT(DISTINCT r.job) FROM job_refs r JOIN finals f ON f.cid = r.job"
            " WHERE r.content = ?",
            (content.raw,),
        )
        total = self._one(
            "WITH RECURSIVE reach(job) AS ("
            " SELECT job FROM job_refs WHERE content = ?"
            " UNION"
            # Joined, not a probe per row (`_step`): this walk may cover most of the call
            # tree, and PostgreSQL then hashes job_edges once (the hash is kept across
            # the recursion's steps: its side has no parameter) instead of probing the
            # index for each of 100,000 jobs (half the time at 20,000 jobs).
            " SELECT r.downstream FROM reach JOIN job_edges r ON r.upstream = reach.job"
            ") SELECT COUNT(*) FROM reach JOIN finals f ON f.cid = reach.job",
            (content.raw,),
        )
        return (int(direct[0]) if direct else 0, int(total[0]) if total else 0)

    def most_used(self, limit: int) -> list[tuple[Link, int]]:
        """The content CIDs read directly by the most final jobs."""
        rows = self._query(
            "SELECT r.content, COUNT(DISTINCT r.job) AS n FROM job_refs r"
            " JOIN finals f ON f.cid = r.job GROUP BY r.content ORDER BY n DESC, r.content"
            " LIMIT ?",
            (limit,),
        )
        return [(Link(bytes(c)), int(n)) for c, n in rows]

    def usage_graph(self) -> UsageGraph:
        """The whole call tree as `refcount` walks it: job_refs, job_edges, finals."""
        refs = [(bytes(j), bytes(c)) for j, c in self._query("SELECT job, content FROM job_refs")]
        edges = [
            (bytes(u), bytes(d))
            for u, d in self._query("SELECT upstream, downstream FROM job_edges")
        ]
        finals = {bytes(f) for (f,) in self._query("SELECT cid FROM finals")}
        return UsageGraph(refs, edges, finals)

    # --- receipts -------------------------------------------------------------------------

    def put_receipt(self, receipt: Receipt) -> Link:
        """Store a verified receipt and index it; returns its CID."""
        receipt.verify()
        block = receipt.encode()
        cid = identity.cid_of_block(block)
        with self.transaction():
            self.put_block(cid, block)
            self.index_receipt(cid, receipt)
        return cid

    def index_receipt(self, cid: Link, receipt: Receipt) -> None:
        """Index a stored receipt (verified by the caller): by job, outputs by content,
        and the call-tree edges its outputs make to the jobs that read them."""
        self.index_receipts([(cid, receipt)])

    def index_receipts(self, receipts: Iterable[tuple[Link, Receipt]]) -> None:
        """Index stored receipts (see `index_receipt`), in one batch."""
        self.index_receipt_entries(receipt_entry(cid, receipt) for cid, receipt in receipts)

    def index_receipt_entries(self, entries: Iterable[ReceiptEntry]) -> None:
        """Index verified receipts read into entries, in the order given."""
        rows: list[tuple[bytes, bytes, str, int, bytes]] = []
        outputs: list[tuple[bytes, str, bytes, bytes]] = []
        for e in entries:
            rows.append((e.cid.raw, e.job.raw, e.node, e.exit, e.outcome))
            outputs.extend((e.cid.raw, path, e.job.raw, content.raw) for path, content in e.outputs)
        with self.transaction():
            self._lock_call_tree()
            self._exec_many(self.INSERT_RECEIPT, rows)
            self._exec_many(
                "INSERT INTO receipt_outputs (receipt, path, job, content) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (receipt, path) DO NOTHING",
                outputs,
            )
            self._exec_batch(
                "INSERT INTO job_edges (upstream, downstream)"
                " SELECT DISTINCT batch.job, r.job"
                " FROM {batch} JOIN job_refs r ON r.content = batch.content"
                " WHERE r.job <> batch.job"
                " ON CONFLICT (upstream, downstream) DO NOTHING",
                ("job", "content"),
                sorted({(job, content) for _, _, job, content in outputs}),
            )

    def receipts(self, job: Link) -> list[Receipt]:
        """Every stored receipt of `job`, oldest first."""
        from compiler.runtime.receipts import Receipt

        rows = self._query(
            "SELECT b.data FROM receipts r JOIN blocks b ON b.cid = r.cid"
            " WHERE r.job = ? ORDER BY r.seq, r.cid",
            (job.raw,),
        )
        return [Receipt.decode(bytes(data)) for (data,) in rows]

    def receipt_refs(self, jobs: Iterable[Link] | None = None) -> list[ReceiptRef]:
        """The index rows of the receipts of `jobs` (None: every job), oldest first."""
        columns = "SELECT cid, job, node, exit, outcome FROM receipts"
        if jobs is None:
            rows = self._query(f"{columns} ORDER BY job, seq, cid")
        else:
            wanted = [j.raw for j in jobs]
            where = "WHERE job IN ({marks}) ORDER BY job, seq, cid"
            rows = self._chunked(f"{columns} {where}", wanted)
        return [
            ReceiptRef(Link(bytes(c)), Link(bytes(j)), str(n), int(e), bytes(o))
            for c, j, n, e, o in rows
        ]

    def final_receipts(self, cids: Iterable[Link]) -> dict[Link, int]:
        """The finals among `cids`, each with how many receipts it has."""
        rows = self._chunked(
            "SELECT f.cid, (SELECT COUNT(*) FROM receipts r WHERE r.job = f.cid)"
            " FROM finals f WHERE f.cid IN ({marks})",
            _raws(cids),
        )
        return {Link(bytes(c)): int(n) for c, n in rows}

    def receipt_counts(self, jobs: Iterable[Link]) -> dict[Link, int]:
        """How many receipts each of `jobs` has (jobs without any are left out)."""
        rows = self._chunked(
            "SELECT job, COUNT(*) FROM receipts WHERE job IN ({marks}) GROUP BY job", _raws(jobs)
        )
        return {Link(bytes(j)): int(n) for j, n in rows}

    def contested_jobs(self) -> list[Link]:
        """Deterministic jobs with receipts from at least two nodes."""
        rows = self._query(
            "SELECT r.job FROM receipts r JOIN jobs j ON j.cid = r.job"
            " WHERE j.determinism <> 'none'"
            " GROUP BY r.job HAVING COUNT(DISTINCT r.node) >= 2 ORDER BY r.job"
        )
        return [Link(bytes(j)) for (j,) in rows]

    def makers(self, content: Link) -> list[OutputRef]:
        """Every receipt output that is `content`."""
        rows = self._query(
            "SELECT o.receipt, o.job, o.path, r.node, r.exit FROM receipt_outputs o"
            " JOIN receipts r ON r.cid = o.receipt WHERE o.content = ?"
            " ORDER BY o.job, r.seq, o.receipt, o.path",
            (content.raw,),
        )
        return [
            OutputRef(Link(bytes(rc)), Link(bytes(j)), str(p), content, str(n), int(e))
            for rc, j, p, n, e in rows
        ]

    # --- aliases --------------------------------------------------------------------------

    def put_alias(self, namespace: str, name: str, cid: Link) -> None:
        """Record that a foreign `name` means the job `cid`; a name keeps its first meaning."""
        self._exec(
            "INSERT INTO aliases (namespace, name, job) VALUES (?, ?, ?)"
            " ON CONFLICT (namespace, name) DO NOTHING",
            (namespace, name, cid.raw),
        )

    def alias(self, namespace: str, name: str) -> Link | None:
        """The job a foreign name means, or None."""
        row = self._one(
            "SELECT job FROM aliases WHERE namespace = ? AND name = ?", (namespace, name)
        )
        return Link(bytes(row[0])) if row else None

    def aliases_among(self, jobs: Iterable[Link]) -> list[tuple[str, str, Link]]:
        """Every (namespace, name, job) whose job is one of `jobs`, sorted."""
        rows = self._chunked(
            "SELECT namespace, name, job FROM aliases WHERE job IN ({marks})", _raws(jobs)
        )
        return sorted((str(ns), str(name), Link(bytes(j))) for ns, name, j in rows)

    def aliases(self, cid: Link) -> list[tuple[str, str]]:
        """Every (namespace, name) that means `cid`, sorted."""
        rows = self._query(
            "SELECT namespace, name FROM aliases WHERE job = ? ORDER BY namespace, name",
            (cid.raw,),
        )
        return [(str(ns), str(name)) for ns, name in rows]

    # --- caches ---------------------------------------------------------------------------

    def cache_get(self, namespace: str, key: str, *, now: float | None = None) -> Any | None:
        """A cached value, or None when absent or expired at `now`."""
        row = self._one(
            "SELECT value, expires_at FROM cache WHERE namespace = ? AND key = ?",
            (namespace, key),
        )
        if row is None:
            return None
        value, expires_at = row
        if expires_at is not None and expires_at <= (time.time() if now is None else now):
            return None
        return json.loads(value)

    def cache_put(
        self, namespace: str, key: str, value: Any, *, ttl: float | None, now: float | None = None
    ) -> None:
        """Cache `value` for `ttl` seconds from `now` (None: forever)."""
        expires_at = None if ttl is None else (time.time() if now is None else now) + ttl
        self._exec(
            "INSERT INTO cache (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (namespace, key) DO UPDATE"
            " SET value = excluded.value, expires_at = excluded.expires_at",
            (namespace, key, json.dumps(value, sort_keys=True, separators=(",", ":")), expires_at),
        )

    def cache_delete(self, namespace: str, key: str) -> None:
        """Forget a cached value."""
        self._exec("DELETE FROM cache WHERE namespace = ? AND key = ?", (namespace, key))

    def cache_purge(self, namespace: str | None = None) -> int:
        """Forget a namespace's cached values (None: all); returns how many."""
        where, params = ("WHERE namespace = ?", (namespace,)) if namespace else ("", ())
        with self.transaction():
            row = self._one(f"SELECT COUNT(*) FROM cache {where}", params)
            self._exec(f"DELETE FROM cache {where}", params)
        return int(row[0]) if row else 0

    PLANNED_TABLES: ClassVar[tuple[str, ...]] = (
        "records",
        "finals",
        "disowned",
        "jobs",
        "job_refs",
        "job_awaits",
        "job_edges",
        "receipts",
        "receipt_outputs",
        "aliases",
    )
    """The tables whose statistics steer a plan: not `blocks` (only ever read by primary
    key, and the largest: sampling it was half of an import's ANALYZE) nor `cache`."""

    def optimize(self) -> None:
        """Refresh the query planner's statistics (after a large import)."""
        self._exec(f"ANALYZE {', '.join(self.PLANNED_TABLES)}")

    # --- migrations -----------------------------------------------------------------------

    def _apply(self, migration: Migration) -> None:
        """Run one migration (inside the caller's transaction)."""
        if callable(migration):
            migration(self)
            return
        for statement in filter(str.strip, migration.split(";")):
            self._exec(statement)


def _raws(cids: Iterable[Link]) -> list[bytes]:
    """The binary CIDs, each once, in order."""
    return list(dict.fromkeys(c.raw for c in cids))


def backfill_receipts(store: SQLStore) -> None:
    """Index the outputs and outcomes of receipts stored before they were indexed."""
    from compiler.runtime.receipts import Receipt

    rows = store._query(
        "SELECT r.cid, b.data FROM receipts r JOIN blocks b ON b.cid = r.cid"
        " WHERE r.outcome IS NULL"
    )
    for raw, data in rows:
        receipt = Receipt.decode(bytes(data))
        store._exec(
            "UPDATE receipts SET exit = ?, outcome = ? WHERE cid = ?",
            (receipt.exit, outcome(receipt), bytes(raw)),
        )
        store._exec_many(
            "INSERT INTO receipt_outputs (receipt, path, job, content) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (receipt, path) DO NOTHING",
            [(bytes(raw), p, receipt.job.raw, c.raw) for p, c in receipt_outputs(receipt)],
        )
