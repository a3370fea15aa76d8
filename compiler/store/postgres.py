"""The shared store: PostgreSQL through psycopg 3 and a connection pool.

For gateways that run as several replicas over one database. Same semantics and the
same test suite as the SQLite store; the queries are shared (`sql.py`).

- Migrations are versioned in this module (`MIGRATIONS`, append only) and recorded in
  the `jobc_schema` table; a session advisory lock makes replicas that start together
  migrate one after the other.
- A transaction holds one pooled connection for its duration (the thread's own, so
  nested blocks join it); a statement outside any transaction borrows a connection in
  autocommit mode and gives it back at once.
- Call-tree edges come from two sides (a job that reads a content CID; a receipt that
  says a job made it). Under READ COMMITTED two transactions adding either side at
  once would each miss the other's row, so both take one transaction-scoped advisory
  lock first: the second then sees what the first committed.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from compiler.ir import Link
from compiler.store import StoreError
from compiler.store.sql import Migration, Row, SQLStore

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

MIGRATE_LOCK = 0x6A6F6263_0001
"""Advisory lock key held while migrating ("jobc", 1)."""
CALL_TREE_LOCK = 0x6A6F6263_0002
"""Advisory lock key held by transactions that add call-tree edges ("jobc", 2)."""

MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE blocks (
        cid  bytea PRIMARY KEY,
        data bytea NOT NULL
    );
    CREATE TABLE cache (
        namespace  text NOT NULL,
        key        text NOT NULL,
        value      text NOT NULL,
        expires_at double precision,
        PRIMARY KEY (namespace, key)
    );
    CREATE TABLE receipts (
        cid     bytea PRIMARY KEY,
        job     bytea NOT NULL,
        node    text NOT NULL,
        exit    integer NOT NULL,
        outcome bytea NOT NULL,
        seq     bigint GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX receipts_by_job ON receipts (job, seq);
    CREATE TABLE aliases (
        namespace text NOT NULL,
        name      text NOT NULL,
        job       bytea NOT NULL,
        PRIMARY KEY (namespace, name)
    );
    CREATE INDEX aliases_by_job ON aliases (job);
    CREATE TABLE records (
        cid     bytea PRIMARY KEY,
        pass    text NOT NULL,
        version integer NOT NULL,
        src     bytea NOT NULL,
        dst     bytea NOT NULL
    );
    CREATE INDEX records_by_src ON records (src);
    CREATE INDEX records_by_dst ON records (dst);
    CREATE TABLE finals (
        cid bytea PRIMARY KEY
    );
    CREATE TABLE disowned (
        pass    text NOT NULL,
        version integer NOT NULL,
        reason  text NOT NULL,
        since   double precision NOT NULL,
        PRIMARY KEY (pass, version)
    );
    CREATE TABLE jobs (
        cid         bytea PRIMARY KEY,
        determinism text NOT NULL
    );
    CREATE TABLE job_refs (
        job     bytea NOT NULL,
        place   text NOT NULL,
        content bytea NOT NULL,
        PRIMARY KEY (job, place)
    );
    CREATE INDEX job_refs_by_content ON job_refs (content, job);
    CREATE TABLE job_awaits (
        job      bytea NOT NULL,
        place    text NOT NULL,
        upstream bytea NOT NULL,
        path     text NOT NULL,
        PRIMARY KEY (job, place)
    );
    CREATE INDEX job_awaits_by_upstream ON job_awaits (upstream);
    CREATE TABLE job_edges (
        upstream   bytea NOT NULL,
        downstream bytea NOT NULL,
        PRIMARY KEY (upstream, downstream)
    );
    CREATE TABLE receipt_outputs (
        receipt bytea NOT NULL,
        path    text NOT NULL,
        job     bytea NOT NULL,
        content bytea NOT NULL,
        PRIMARY KEY (receipt, path)
    );
    CREATE INDEX receipt_outputs_by_content ON receipt_outputs (content)
    """,
)
"""Migration N (1-based) brings the schema from version N-1 to N. Append only."""

FEW = 64
"""Lookups of this many CIDs or fewer are prepared statements of their own (see `_chunked`)."""
COPY_AFTER = 500
"""Batches of this many rows or more go through COPY."""
COPY_TABLES = frozenset(
    ("blocks", "records", "finals", "jobs", "job_refs", "job_awaits", "receipt_outputs")
)
"""Tables whose rows may arrive by COPY (not `receipts`: its order of arrival is kept)."""
_PLAIN_INSERT = re.compile(
    r"^INSERT INTO (\w+) \(([\w, ]+)\) VALUES \([?, ]+\) (ON CONFLICT \([\w, ]+\) DO NOTHING)$"
)

SESSION = (
    # The store's statements are index lookups and walks of a few thousand rows:
    # compiling them to machine code costs more than it saves (10-100 ms a statement
    # once a recursive walk's estimate passes jit_above_cost).
    "SET jit = off",
    # A refcount walk of 100,000 jobs hashes and sorts a few MiB; the default 4 MiB
    # spills it to temporary files.
    "SET work_mem = '64MB'",
    # A lookup of many CIDs at once may scan a table: in one process, not in workers
    # started for it (on two cores, shared, they made it slower: 0.43 s, not 0.27 s).
    "SET max_parallel_workers_per_gather = 0",
)
"""Settings of every pooled session."""


def _configure(conn: psycopg.Connection[Any]) -> None:
    for statement in SESSION:
        conn.execute(statement)


_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def redact(url: str) -> str:
    """A connection URL without its password, for messages and `location`."""
    return _PASSWORD.sub(r"\1***@", url)


class PostgresStore(SQLStore):
    """`Store` over a PostgreSQL database."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = MIGRATIONS
    INSERT_RECEIPT: ClassVar[str] = (
        "INSERT INTO receipts (cid, job, node, exit, outcome) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (cid) DO NOTHING"
    )

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 8, timeout: float = 30.0
    ) -> None:
        import psycopg_pool

        self.url = url
        self.location = redact(url)
        self._local = threading.local()
        self._sql_cache: dict[str, str] = {}
        self._staged: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[str, list[str]]] = (
            weakref.WeakKeyDictionary()
        )
        """Each pooled session's staging tables, with their column types."""
        self._migrate(timeout)
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = (
            psycopg_pool.ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=timeout,
                kwargs={"autocommit": True},
                configure=_configure,
                name="jobc-store",
                open=True,
            )
        )

    # --- connections and transactions ---------------------------------------------------

    def _sql(self, sql: str) -> str:
        translated = self._sql_cache.get(sql)
        if translated is None:
            translated = sql.replace("?", "%s").replace("BLOB_TYPE", "bytea")
            self._sql_cache[sql] = translated
        return translated

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self._pool.connection() as pooled:
            yield pooled

    def _query(self, sql: str, params: Sequence[Any] = (), *, planned: bool = False) -> list[Row]:
        """Run a statement; `planned` (for large arrays) plans it for these parameters
        instead of preparing it, and moves bytes both ways as they are, not in hex."""
        with self._connection() as conn:
            if planned:
                # Binary parameters too (`%b`): an array of 10,000 CIDs in text is
                # escaped element by element, with a regular expression each.
                binary = self._sql(sql).replace("%s", "%b")
                cursor = conn.execute(binary, params, prepare=False, binary=True)
            else:
                cursor = conn.execute(self._sql(sql), params)
            return cursor.fetchall() if cursor.description else []

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._connection() as conn:
            conn.execute(self._sql(sql), params)

    def _step(self, columns: str, table: str, condition: str, walk: str = "reach") -> str:
        """The recursive step as a LATERAL subquery behind `OFFSET 0`, which the planner
        cannot flatten into a join: each row of `reach` probes `table`'s index. Joined,
        a planner that guesses a recursion large hashes all of `table` at each step
        (the chains of 2,000 jobs read a million records nine times: 3 s, not 0.2 s)."""
        return (
            f"SELECT x.* FROM {walk}, LATERAL (SELECT {columns} FROM {table} r"
            f" WHERE {condition} OFFSET 0) x"
        )

    def _chunked(
        self, sql: str, values: Sequence[Any], extra: Sequence[Any] = (), *, times: int = 1
    ) -> list[Row]:
        """Run `sql` over `values`. A few values go in an `IN (…)` list of their own
        length, a statement that psycopg prepares once it has run a few times (a trace
        or a lookup then costs no planning). Many go in one round trip: the list becomes
        one array parameter, in a statement planned for that array (a prepared
        statement's generic plan guesses its length, and may scan the table instead)."""
        if len(values) <= FEW:
            return super()._chunked(sql, values, extra, times=times)
        array = sql.replace("IN ({marks})", "= ANY(?)")
        return self._query(array, [*[list(values)] * times, *extra], planned=True)

    def _exec_batch(self, sql: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Run `sql` once for all `rows`: `batch` unnests one array a column, so a batch
        costs one statement (a statement a row costs a round trip each)."""
        if not rows:
            return
        arrays = [list(column) for column in zip(*rows, strict=True)]
        marks = ", ".join("?::bytea[]" for _ in columns)
        batch = f"unnest({marks}) AS batch({', '.join(columns)})"
        self._query(sql.format(batch=batch), arrays, planned=True)

    def _exec_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if not batch:
            return
        if len(batch) == 1:  # one round trip, without a pipeline's synchronisation
            self._exec(sql, batch[0])
            return
        plain = _PLAIN_INSERT.match(sql)
        if len(batch) >= COPY_AFTER and plain and plain.group(1) in COPY_TABLES:
            self._copy(plain.group(1), plain.group(2), plain.group(3), batch)
            return
        with self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(self._sql(sql), batch)

    def _copy(self, table: str, columns: str, conflict: str, rows: list[Sequence[Any]]) -> None:
        """Insert many rows through a binary COPY into a temporary table, then one
        INSERT … SELECT that keeps `ON CONFLICT` (COPY alone cannot skip rows that are
        there)."""
        staging = f"staging_{table}"
        with self.transaction():
            conn = self._local.conn
            types = self._staging(conn, staging, table, columns)
            with conn.cursor() as cursor:
                with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types)
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} {conflict}"
                )
                # Not TRUNCATE: that makes the table a new file, each batch.
                cursor.execute(f"DELETE FROM {staging}")

    def _staging(
        self, conn: psycopg.Connection[Any], staging: str, table: str, columns: str
    ) -> list[str]:
        """Make the session's temporary table `staging` (rows like `table`'s, emptied at
        commit) unless it has one; returns its column types, as binary COPY needs them."""
        made = self._staged.setdefault(conn, {})
        types = made.get(staging)
        if types is None:
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging}"
                f" ON COMMIT DELETE ROWS AS SELECT {columns} FROM {table} WITH NO DATA"
            )
            rows = conn.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
                " ORDER BY attnum",
                (f"pg_temp.{staging}",),
            ).fetchall()
            types = made[staging] = [str(t) for (t,) in rows]
        return types

    def blocks(self) -> Iterator[Link]:
        """Every stored block's CID, in CID order (streamed by a server-side cursor)."""
        with (
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="jobc_blocks") as cursor,
        ):
            cursor.itersize = 10_000
            cursor.execute("SELECT cid FROM blocks ORDER BY cid")
            for (raw,) in cursor:
                yield Link(bytes(raw))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything inside together (nested blocks join the outer one)."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._pool.connection() as conn:
            self._local.conn = conn
            self._local.depth = 1
            try:
                with conn.transaction():
                    yield
            except BaseException:
                self._staged.pop(conn, None)  # staging tables it made are rolled back too
                raise
            finally:
                self._local.conn = None
                self._local.depth = 0

    def _lock_call_tree(self) -> None:
        self._exec("SELECT pg_advisory_xact_lock(?)", (CALL_TREE_LOCK,))

    def _migrate(self, timeout: float) -> None:
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(timeout)))
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot open the store {self.location}: {message}") from None
        with conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS jobc_schema (version integer NOT NULL)")
                row = conn.execute("SELECT max(version) FROM jobc_schema").fetchone()
                version = int(row[0]) if row and row[0] is not None else 0
                for number, migration in enumerate(self.MIGRATIONS[version:], start=version + 1):
                    with conn.transaction():
                        self._local.conn, self._local.depth = conn, 1
                        try:
                            self._apply(migration)
                        finally:
                            self._local.conn, self._local.depth = None, 0
                        conn.execute("INSERT INTO jobc_schema (version) VALUES (%s)", (number,))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))

    def close(self) -> None:
        """Close the pool and its connections."""
        self._pool.close()
