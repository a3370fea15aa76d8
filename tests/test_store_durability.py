"""A writer killed in the middle of a batch leaves the store consistent; writers in four
processes at once lose nothing. On both backends, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.store import Store, open_store
from tests.store_writer import record

ROOT = Path(__file__).resolve().parent.parent


def writer(
    location: str, number: int, batches: int, size: int, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.store_writer",
            location,
            str(number),
            str(batches),
            str(size),
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE if extra else subprocess.DEVNULL,
        text=True,
    )


def batch_present(store: Store, number: int, batch: int, size: int) -> int:
    """How many records of a batch the store holds (each with its block and final)."""
    records = [record(number, batch, i) for i in range(size)]
    present = [r for r in records if store.finals(r.source) == [r.target]]
    assert store.missing_blocks(r.cid for r in present) == set()
    return len(present)


def test_a_writer_killed_midway_leaves_whole_batches(store_location: str) -> None:
    size = 200
    proc = writer(store_location, 1, 3, size, "--stop-midway")
    assert proc.stdout is not None
    with proc.stdout:
        assert proc.stdout.readline().strip() == "midway"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = open_store(store_location)
    try:
        for batch in range(3):
            assert store.cache_get("batches", f"1/{batch}") == size
            assert batch_present(store, 1, batch, size) == size
        assert store.cache_get("batches", "1/3") is None
        assert batch_present(store, 1, 3, size) == 0  # the half-written batch left nothing
        assert store.count("records") == 3 * size
        assert store.count("blocks") == 3 * size
        assert store.count("finals") == 3 * size
        if store_location.endswith(".sqlite"):
            assert store._query("PRAGMA integrity_check") == [("ok",)]  # type: ignore[attr-defined]
        # The store takes writes again: no lock is left behind.
        store.put_record(record(9, 0, 0))
        assert store.count("records") == 3 * size + 1
    finally:
        store.close()


@pytest.mark.parametrize(
    "batches",
    [pytest.param(100, marks=pytest.mark.slow, id="10k-each"), pytest.param(10, id="1k-each")],
)
def test_four_writers_at_once_lose_nothing(store_location: str, batches: int) -> None:
    size = 100  # records per batch
    procs = [writer(store_location, n, batches, size) for n in range(4)]
    assert [proc.wait(timeout=600) for proc in procs] == [0] * 4  # none left running
    store = open_store(store_location)
    try:
        assert store.count("records") == 4 * batches * size
        assert store.count("blocks") == 4 * batches * size
        assert store.count("finals") == 4 * batches * size
        for n in range(4):
            for batch in (0, batches // 2, batches - 1):
                assert batch_present(store, n, batch, size) == size
    finally:
        store.close()


def test_processes_opening_a_new_store_at_once(tmp_path: Path) -> None:
    """Six processes open a store that does not exist yet at the same instant (each
    switches it to WAL mode and migrates it), thirty times over: none is refused.
    SQLite takes the lock that switch needs without waiting on the busy timeout: before
    `SQLiteStore._wal` tried again, "database is locked" reached a writer in about one
    run of this test in three (and the four-writers test above failed on it once)."""
    for round_ in range(30):
        location = str(tmp_path / f"r{round_}.sqlite")
        go = tmp_path / f"go{round_}"
        procs = [writer(location, n, 1, 5, "--open-on", str(go)) for n in range(6)]
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        go.touch()
        codes = []
        for proc in procs:
            assert proc.stdout is not None
            with proc.stdout:
                codes.append(proc.wait(timeout=120))
        assert codes == [0] * 6, f"round {round_}"
        store = open_store(location)
        try:
            assert store.count("records") == 6 * 5
        finally:
            store.close()
