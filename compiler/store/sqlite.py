"""The embedded store: one SQLite file in WAL mode.

Schema migrations are numbered and applied in order inside a transaction; the
database's `user_version` says how far it is. One connection per thread (SQLite
connections must not be shared across threads); WAL lets readers run beside a writer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.ir import Link

if TYPE_CHECKING:
    from compiler.runtime.receipts import Receipt

MIGRATIONS: tuple[str, ...] = (
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
)
"""Migration N (1-based) brings the schema from user_version N-1 to N. Append only."""


class SQLiteStore:
    """`Store` over one SQLite file."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate(self._db())

    # --- connections and transactions ---------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            self._local.db = db
            self._local.depth = 0
            with self._lock:
                self._connections.append(db)
        return db

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

    def _migrate(self, db: sqlite3.Connection) -> None:
        with self.transaction():
            (version,) = db.execute("PRAGMA user_version").fetchone()
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    # --- blocks -------------------------------------------------------------------------

    def put_block(self, cid: Link, data: bytes) -> None:
        self._db().execute(
            "INSERT INTO blocks (cid, data) VALUES (?, ?) ON CONFLICT (cid) DO NOTHING",
            (cid.raw, data),
        )

    def get_block(self, cid: Link) -> bytes | None:
        row = self._db().execute("SELECT data FROM blocks WHERE cid = ?", (cid.raw,)).fetchone()
        return bytes(row[0]) if row else None

    def has_block(self, cid: Link) -> bool:
        row = self._db().execute("SELECT 1 FROM blocks WHERE cid = ?", (cid.raw,)).fetchone()
        return row is not None

    def blocks(self) -> Iterator[Link]:
        for (raw,) in self._db().execute("SELECT cid FROM blocks ORDER BY cid"):
            yield Link(bytes(raw))

    # --- receipts -----------------------------------------------------------------------

    def put_receipt(self, receipt: Receipt) -> Link:
        receipt.verify()
        block = receipt.encode()
        from compiler.identity import cid_of_block

        cid = cid_of_block(block)
        with self.transaction():
            db = self._db()
            self.put_block(cid, block)
            db.execute(
                "INSERT OR IGNORE INTO receipts (cid, job, node, seq)"
                " SELECT ?, ?, ?, COALESCE(MAX(seq), 0) + 1 FROM receipts",
                (cid.raw, receipt.job.raw, receipt.node),
            )
        return cid

    def receipts(self, job: Link) -> list[Receipt]:
        from compiler.runtime.receipts import Receipt

        rows = self._db().execute(
            "SELECT b.data FROM receipts r JOIN blocks b ON b.cid = r.cid"
            " WHERE r.job = ? ORDER BY r.seq",
            (job.raw,),
        )
        return [Receipt.decode(bytes(data)) for (data,) in rows]

    # --- aliases ------------------------------------------------------------------------

    def put_alias(self, namespace: str, name: str, cid: Link) -> None:
        self._db().execute(
            "INSERT OR IGNORE INTO aliases (namespace, name, job) VALUES (?, ?, ?)",
            (namespace, name, cid.raw),
        )

    def alias(self, namespace: str, name: str) -> Link | None:
        row = (
            self._db()
            .execute("SELECT job FROM aliases WHERE namespace = ? AND name = ?", (namespace, name))
            .fetchone()
        )
        return Link(bytes(row[0])) if row else None

    def aliases(self, cid: Link) -> list[tuple[str, str]]:
        rows = self._db().execute(
            "SELECT namespace, name FROM aliases WHERE job = ? ORDER BY namespace, name",
            (cid.raw,),
        )
        return [(str(ns), str(name)) for ns, name in rows]

    # --- caches -------------------------------------------------------------------------

    def cache_get(self, namespace: str, key: str, *, now: float | None = None) -> Any | None:
        row = (
            self._db()
            .execute(
                "SELECT value, expires_at FROM cache WHERE namespace = ? AND key = ?",
                (namespace, key),
            )
            .fetchone()
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
        expires_at = None if ttl is None else (time.time() if now is None else now) + ttl
        self._db().execute(
            "INSERT INTO cache (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (namespace, key) DO UPDATE"
            " SET value = excluded.value, expires_at = excluded.expires_at",
            (namespace, key, json.dumps(value, sort_keys=True, separators=(",", ":")), expires_at),
        )

    def cache_delete(self, namespace: str, key: str) -> None:
        self._db().execute("DELETE FROM cache WHERE namespace = ? AND key = ?", (namespace, key))

    def cache_purge(self, namespace: str | None = None) -> int:
        if namespace is None:
            cursor = self._db().execute("DELETE FROM cache")
        else:
            cursor = self._db().execute("DELETE FROM cache WHERE namespace = ?", (namespace,))
        return cursor.rowcount
