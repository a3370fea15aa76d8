"""Group commit: the store writes of concurrent requests share one transaction.

Every accepted submission stores its chain before its answer is released (so a client
that asks about the job at once finds it). One transaction per submission makes the
store's commit the bottleneck: SQLite has a single writer, and each commit waits for
the write-ahead log; a PostgreSQL commit is a round trip and a flush. So writes are
queued, and one request at a time leads: it takes every write queued so far, runs them
in one transaction in a worker thread, and wakes the others. Writes that come while a
batch is being written wait for the next one, which the first of them leads.

When nothing is being written, a write to a SQLite store is done at once, in the event
loop (`inline`): such a transaction takes a fraction of a millisecond, less than the
round trip to a worker thread costs on a loaded machine. It uses a connection of its own
that never waits for SQLite's lock: when another process holds it (a replica, the CLI),
the write goes to a worker thread instead. That connection never checkpoints the
write-ahead log (a checkpoint copies it into the database and syncs: milliseconds the
event loop would stall); every `CHECKPOINT_EVERY`th write goes through a worker thread
instead, whose connection checkpoints as SQLite does by default, so the log stays small
(a PostgreSQL store is always written from a thread: its commit is a round trip).

Nothing acknowledged is lost: a request's `write` returns only after the transaction
holding its write has committed. A write that fails does not sink its batch: the batch
is rolled back and each of its writes done again in a transaction of its own, so only
the failing one reports its error.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from compiler.store import Store

log = logging.getLogger("jobc.gateway")

CHECKPOINT_EVERY = 64
"""Inline writes between two writes sent through a worker thread (which checkpoints)."""

Write = Callable[["Store"], None]
"""One request's writes, done inside the batch's transaction."""


@dataclass(eq=False)
class _Queued:
    write: Write
    wake: anyio.Event = field(default_factory=anyio.Event)
    leads: bool = False
    done: bool = False
    error: BaseException | None = None


class GroupCommitter:
    """Batches the writes of concurrent requests into shared transactions on `store`
    (a callable, so the store may be opened lazily). Used from one event loop."""

    def __init__(
        self,
        store: Callable[[], Store],
        *,
        inline: Callable[[], Store | None] | None = None,
        max_batch: int = 256,
    ) -> None:
        self._store = store
        self._inline = inline
        self.max_batch = max_batch
        self._queue: list[_Queued] = []
        self._writing = False
        self.batches = 0
        """Transactions committed (for the benchmark: writes per transaction)."""
        self.writes = 0
        self.inline_writes = 0
        self._inline_since = 0

    async def write(self, write: Write) -> None:
        """Do `write` in a transaction shared with the writes queued beside it; returns
        once that transaction has committed, or raises what `write` raised."""
        if not self._writing and self._write_inline(write):
            return
        item = _Queued(write)
        self._queue.append(item)
        if not self._writing:
            self._writing = True
            item.leads = True
        else:
            try:
                await item.wake.wait()
            except BaseException:
                # Cancelled while queued: leave the queue, or pass on the lead if it
                # had just been handed to us, so the writes behind are not stranded.
                with anyio.CancelScope(shield=True):
                    if item in self._queue:
                        self._queue.remove(item)
                    if item.leads and not item.done:
                        self._hand_on()
                raise
        if item.leads and not item.done:
            await self._lead()
        if item.error is not None:
            raise item.error

    def _write_inline(self, write: Write) -> bool:
        """Do `write` now, in this thread, if the inline store takes it without waiting;
        whether it was done (raises what `write` raised)."""
        store = self._inline() if self._inline is not None else None
        if store is None:
            return False
        if self._inline_since >= CHECKPOINT_EVERY:
            self._inline_since = 0  # this one through a thread: it may checkpoint
            return False
        try:
            with store.transaction():
                write(store)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            log.debug("jobc gateway: the store is locked; writing from a thread")
            return False
        self.inline_writes += 1
        self._inline_since += 1
        self.writes += 1
        return True

    async def _lead(self) -> None:
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        try:
            # Not cancellable: the transaction finishes, and its waiters hear of it.
            await anyio.to_thread.run_sync(self._commit, batch)
        finally:
            for queued in batch:
                queued.done = True
                queued.wake.set()
            self._hand_on()

    def _hand_on(self) -> None:
        """Give the lead to the first write still queued, or stop writing."""
        if self._queue:
            first = self._queue[0]
            first.leads = True
            first.wake.set()
        else:
            self._writing = False

    def _commit(self, batch: list[_Queued]) -> None:
        """Write `batch` in one transaction; if that fails, each write in its own."""
        store = self._store()
        try:
            with store.transaction():
                for queued in batch:
                    queued.write(store)
        except Exception:
            for queued in batch:
                try:
                    with store.transaction():
                        queued.write(store)
                except Exception as exc:
                    queued.error = exc
            self.batches += len(batch)
        else:
            self.batches += 1
        self.writes += len(batch)
