"""The embedded store: one SQLite file in WAL mode.

Schema migrations are numbered and applied in order inside a transaction; the
database's `user_version` says how far it is. One connection per thread (SQLite
connections must not be shared across threads); WAL lets readers run beside a writer,
and `BEGIN IMMEDIATE` makes writers queue for the lock (up to `busy_timeout_ms`) instead
of failing halfway. With `synchronous = NORMAL` a commit survives a crash of the process
(what the tests kill); only a power loss may take back the last commits, never leaving
one half-written.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from compiler.store.sql import Migration, Row, SQLStore, backfill_receipts

MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE blocks (
        cid  BLOB PRIMARY KEY,
        data BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE cache (
        namespace  TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        expires_at REAL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;
    """,
    """
    CREATE TABLE receipts (
        cid  BLOB PRIMARY KEY,
        job  BLOB NOT NULL,
        node TEXT NOT NULL,
        seq  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX receipts_by_job ON receipts (job, seq);
    CREATE TABLE aliases (
        namespace TEXT NOT NULL,
        name      TEXT NOT NULL,
        job       BLOB NOT NULL,
        PRIMARY KEY (namespace, name)
    ) WITHOUT ROWID;
    CREATE INDEX aliases_by_job ON aliases (job);
    """,
    """
    CREATE TABLE records (
        cid     BLOB PRIMARY KEY,
        pass    TEXT NOT NULL,
        version INTEGER NOT NULL,
        src     BLOB NOT NULL,
        dst     BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX records_by_src ON records (src);
    CREATE INDEX records_by_dst ON records (dst);
    CREATE TABLE finals (
        cid BLOB PRIMARY KEY
    ) WITHOUT ROWID;
    CREATE TABLE disowned (
        pass    TEXT NOT NULL,
        version INTEGER NOT NULL,
        reason  TEXT NOT NULL,
        since   REAL NOT NULL,
        PRIMARY KEY (pass, version)
    ) WITHOUT ROWID;
    CREATE TABLE jobs (
        cid         BLOB PRIMARY KEY,
        determinism TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE job_refs (
        job     BLOB NOT NULL,
        place   TEXT NOT NULL,
        content BLOB NOT NULL,
        PRIMARY KEY (job, place)
    ) WITHOUT ROWID;
    CREATE INDEX job_refs_by_content ON job_refs (content, job);
    CREATE TABLE job_awaits (
        job      BLOB NOT NULL,
        place    TEXT NOT NULL,
        upstream BLOB NOT NULL,
        path     TEXT NOT NULL,
        PRIMARY KEY (job, place)
    ) WITHOUT ROWID;
    CREATE INDEX job_awaits_by_upstream ON job_awaits (upstream);
    CREATE TABLE job_edges (
        upstream   BLOB NOT NULL,
        downstream BLOB NOT NULL,
        PRIMARY KEY (upstream, downstream)
    ) WITHOUT ROWID;
    CREATE TABLE receipt_outputs (
        receipt BLOB NOT NULL,
        path    TEXT NOT NULL,
        job     BLOB NOT NULL,
        content BLOB NOT NULL,
        PRIMARY KEY (receipt, path)
    ) WITHOUT ROWID;
    CREATE INDEX receipt_outputs_by_content ON receipt_outputs (content);
    ALTER TABLE receipts ADD COLUMN exit INTEGER;
    ALTER TABLE receipts ADD COLUMN outcome BLOB;
    """,
    backfill_receipts,
    # Blocks move to a table with rowids: the rows live in the table's B-tree, a
    # unique index maps CID → row. WITHOUT ROWID kept each whole block in the index's
    # own B-tree, where one large block (an export's manifest links every block of
    # it: a megabyte) made every insert after it 20 times slower, and ten blocks fill
    # a page (SQLite advises WITHOUT ROWID for rows under a twentieth of a page).
    """
    CREATE TABLE blocks_by_row (
        cid  BLOB PRIMARY KEY,
        data BLOB NOT NULL
    );
    INSERT INTO blocks_by_row (cid, data) SELECT cid, data FROM blocks ORDER BY cid;
    DROP TABLE blocks;
    ALTER TABLE blocks_by_row RENAME TO blocks
    """,
)
"""Migration N (1-based) brings the schema from user_version N-1 to N. Append only."""


CACHE_KIB = 64 * 1024
"""Page cache per connection."""
MMAP_BYTES = 1 << 30
"""How much of the file reads map instead of copying (a lookup by CID lands on a page
of its own, anywhere in the file: mapped, it costs no system call and no copy)."""


class SQLiteStore(SQLStore):
    """`Store` over one SQLite file."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = MIGRATIONS
    INSERT_RECEIPT: ClassVar[str] = (
        # `seq` orders a job's receipts (oldest first): one more than the job's last.
        "INSERT INTO receipts (cid, job, node, exit, outcome, seq)"
        " SELECT ?1, ?2, ?3, ?4, ?5, COALESCE(MAX(seq), 0) + 1 FROM receipts WHERE job = ?2"
        " ON CONFLICT (cid) DO NOTHING"
    )

    def __init__(
        self, path: Path, *, busy_timeout_ms: int = 30_000, wal_autocheckpoint: int | None = None
    ) -> None:
        self.path = path
        self.location = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.wal_autocheckpoint = wal_autocheckpoint
        """Pages in the write-ahead log past which a commit copies it into the database
        (SQLite's default, 1000, when None; 0: never, another connection does it)."""
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    # --- connections and transactions ---------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            if self.wal_autocheckpoint is not None:
                db.execute(f"PRAGMA wal_autocheckpoint = {int(self.wal_autocheckpoint)}")
            self._wal(db)
            db.execute("PRAGMA synchronous = NORMAL")
            # Indexes of a large store stay in memory (the default is 2 MiB).
            db.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
            db.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            # A walk's recursion queue and its UNION's index are temporary tables: in
            # memory, not in a temporary file whose pager allocates and frees a fresh
            # page cache for each statement (111 page faults a trace, 60% of its time).
            db.execute("PRAGMA temp_store = MEMORY")
            self._local.db = db
            self._local.depth = 0
            with self._lock:
                self._connections.append(db)
        return db

    def _wal(self, db: sqlite3.Connection) -> None:
        """Put the database in WAL mode (it stays in it). Switching needs an exclusive
        lock that SQLite takes without waiting on the busy handler (to avoid a deadlock),
        so processes opening a new store at once can get "database is locked": tried
        again until the busy timeout."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.001
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def optimize(self) -> None:
        """Let SQLite refresh the statistics it finds worth refreshing."""
        self._exec("PRAGMA optimize")

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("BLOB_TYPE", "BLOB")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._db().execute(self._sql(sql), params).fetchall()

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._db().execute(self._sql(sql), params)

    def _exec_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db().executemany(self._sql(sql), rows)

    def blocks(self) -> Iterator[Any]:
        """Every stored block's CID, in CID order (streamed from the database)."""
        from compiler.ir import Link

        for (raw,) in self._db().execute("SELECT cid FROM blocks ORDER BY cid"):
            yield Link(bytes(raw))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything inside together (nested blocks join the outer one)."""
        db = self._db()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        db.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")
        finally:
            self._local.depth = 0

    def _migrate(self) -> None:
        db = self._db()
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version >= len(self.MIGRATIONS):
            return  # the usual case: no write lock taken
        with self.transaction():
            (version,) = db.execute("PRAGMA user_version").fetchone()
            for number, migration in enumerate(self.MIGRATIONS[version:], start=version + 1):
                self._apply(migration)
                db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        """Close every connection (of every thread)."""
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
