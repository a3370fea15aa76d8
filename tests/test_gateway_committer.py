"""Group commit (compiler/gateway/committer.py) on a real SQLite store: concurrent writes
share transactions, each returns only once its own has committed, a failing write sinks
no other, and a store locked by another process sends the writes to a thread."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from compiler.gateway.committer import CHECKPOINT_EVERY, GroupCommitter, Write
from compiler.ir import Link
from compiler.store import Store
from compiler.store.sqlite import SQLiteStore

JOB = Link.parse("bafyreigejxkjvre2vgycqv6mj6vp5chbns6ksaq45i4hgmpjs4puyufeti")


def alias_count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (n,) = db.execute("SELECT COUNT(*) FROM aliases").fetchone()
    return int(n)


def put(name: str) -> Write:
    def write(store: Store) -> None:
        store.put_alias("test", name, JOB)

    return write


def test_concurrent_writes_share_transactions_and_return_once_committed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path)
    committer = GroupCommitter(lambda: store)  # no inline store: every write batched
    seen: dict[str, int] = {}

    async def one(name: str) -> None:
        await committer.write(put(name))
        # Committed: another connection (another process) sees it now.
        seen[name] = alias_count(path)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(one, f"j{i}")

    anyio.run(main)
    store.close()
    assert alias_count(path) == 40
    assert all(n >= 1 for n in seen.values())
    assert committer.writes == 40
    assert committer.batches < 40  # the first leads alone, the rest come in batches


def test_a_failing_write_sinks_no_other(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path)
    committer = GroupCommitter(lambda: store)
    errors: list[BaseException] = []

    def bad(store: Store) -> None:
        store.put_alias("test", "half-written", JOB)
        raise ValueError("this write fails")

    async def one(write: Write) -> None:
        try:
            await committer.write(write)
        except ValueError as exc:
            errors.append(exc)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(one, put(f"j{i}"))
                if i == 5:
                    tg.start_soon(one, bad)

    anyio.run(main)
    store.close()
    assert [str(e) for e in errors] == ["this write fails"]
    with sqlite3.connect(path) as db:
        names = {n for (n,) in db.execute("SELECT name FROM aliases")}
    assert names == {f"j{i}" for i in range(10)}  # nothing of the failed one


def test_a_cancelled_waiter_leaves_no_one_stranded(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path)
    committer = GroupCommitter(lambda: store)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(committer.write, put(f"j{i}"))
            with anyio.move_on_after(0):  # cancelled while queued (or leading)
                await committer.write(put("cancelled"))
            for i in range(5, 10):
                tg.start_soon(committer.write, put(f"j{i}"))
        with anyio.fail_after(10):  # the committer still works
            await committer.write(put("after"))

    anyio.run(main)
    store.close()
    with sqlite3.connect(path) as db:
        names = {n for (n,) in db.execute("SELECT name FROM aliases")}
    assert {f"j{i}" for i in range(10)} | {"after"} <= names


@pytest.mark.parametrize("locked", [False, True])
def test_inline_writes_step_aside_for_a_lock_held_elsewhere(tmp_path: Path, locked: bool) -> None:
    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path)
    inline = SQLiteStore(path, busy_timeout_ms=0)
    committer = GroupCommitter(lambda: store, inline=lambda: inline)
    other = sqlite3.connect(path, isolation_level=None)
    if locked:
        other.execute("BEGIN IMMEDIATE")  # another process writing

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(committer.write, put("j"))
            if locked:
                await anyio.sleep(0.2)
                assert alias_count(path) == 0  # waiting for the lock, in a thread
                other.execute("ROLLBACK")

    anyio.run(main)
    other.close()
    store.close()
    inline.close()
    assert alias_count(path) == 1
    assert committer.inline_writes == (0 if locked else 1)


def test_the_log_of_inline_writes_is_checkpointed_from_a_thread(tmp_path: Path) -> None:
    """Inline writes never checkpoint (it would stall the event loop); every
    CHECKPOINT_EVERYth write goes through a thread whose connection does, so the
    write-ahead log does not grow with every write."""
    from compiler import identity

    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path)
    inline = SQLiteStore(path, busy_timeout_ms=0, wal_autocheckpoint=0)
    committer = GroupCommitter(lambda: store, inline=lambda: inline)
    count, size = 8 * CHECKPOINT_EVERY, 40_000

    def block(i: int) -> Write:
        data = i.to_bytes(4, "big") * (size // 4)

        def write(store: Store) -> None:
            store.put_block(identity.cid_of_raw(data), data)

        return write

    async def main() -> None:
        for i in range(count):
            await committer.write(block(i))

    anyio.run(main)
    wal = path.with_name(path.name + "-wal").stat().st_size
    store.close()
    inline.close()
    assert committer.inline_writes == count - count // (CHECKPOINT_EVERY + 1)
    assert wal < count * size / 2  # without checkpoints it would hold every block
