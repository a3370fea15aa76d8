"""The store interface on its embedded backend (SQLite)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.identity import cid_of_raw
from compiler.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store.sqlite")
    yield s
    s.close()


def test_blocks_round_trip(store: Store) -> None:
    data = b"hello"
    cid = cid_of_raw(data)
    assert not store.has_block(cid)
    assert store.get_block(cid) is None
    store.put_block(cid, data)
    store.put_block(cid, data)  # idempotent
    assert store.has_block(cid)
    assert store.get_block(cid) == data
    assert list(store.blocks()) == [cid]


def test_default_location_is_the_data_dir(jobc_home: Path) -> None:
    s = open_store()
    try:
        s.cache_put("t", "k", 1, ttl=None)
    finally:
        s.close()
    assert (jobc_home / "store.sqlite").exists()


def test_cache_expiry(store: Store) -> None:
    store.cache_put("image", "docker.io/library/ubuntu:latest", {"d": "x"}, ttl=60, now=1000)
    assert store.cache_get("image", "docker.io/library/ubuntu:latest", now=1059) == {"d": "x"}
    assert store.cache_get("image", "docker.io/library/ubuntu:latest", now=1060) is None
    store.cache_put("image", "forever", [1, 2], ttl=None, now=0)
    assert store.cache_get("image", "forever", now=1e12) == [1, 2]
    assert store.cache_get("other", "forever") is None
    store.cache_delete("image", "forever")
    assert store.cache_get("image", "forever") is None


def test_cache_purge(store: Store) -> None:
    for namespace in ("image", "content-file"):
        for key in ("a", "b"):
            store.cache_put(namespace, key, 1, ttl=None)
    assert store.cache_purge("image") == 2
    assert store.cache_get("image", "a") is None
    assert store.cache_get("content-file", "a") == 1
    assert store.cache_purge("nothing-here") == 0
    assert store.cache_purge() == 2
    assert store.cache_get("content-file", "b") is None


def test_transaction_rolls_back_on_failure(store: Store) -> None:
    cid = cid_of_raw(b"x")

    class Boom(Exception):
        pass

    def write_then_fail() -> None:
        with store.transaction():
            store.put_block(cid, b"x")
            store.cache_put("n", "k", 1, ttl=None)
            with store.transaction():  # nested: joins the outer one
                store.cache_put("n", "k2", 2, ttl=None)
            raise Boom

    with pytest.raises(Boom):
        write_then_fail()
    assert not store.has_block(cid)
    assert store.cache_get("n", "k") is None
    assert store.cache_get("n", "k2") is None


def test_reopen_keeps_data_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    s = open_store(path)
    s.cache_put("n", "k", "v", ttl=None)
    s.close()
    s = open_store(path)
    try:
        assert s.cache_get("n", "k") == "v"
    finally:
        s.close()


def test_threads_get_their_own_connections(store: Store) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(50):
                store.cache_put("t", f"{i}-{j}", j, ttl=None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(store.cache_get("t", f"{i}-49") == 49 for i in range(4))


def test_postgres_is_not_there_yet(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError):
        open_store("postgresql://localhost/jobc")


def test_aliases_map_foreign_names_to_jobs(store: Store) -> None:
    job = cid_of_raw(b"job")
    other = cid_of_raw(b"other")
    store.put_alias("homestar", "bafyrmi-instruction", job)
    store.put_alias("bacalhau", "j-123", job)
    store.put_alias("bacalhau", "j-123", other)  # a name keeps its first meaning
    assert store.alias("bacalhau", "j-123") == job
    assert store.alias("bacalhau", "j-999") is None
    assert store.aliases(job) == [("bacalhau", "j-123"), ("homestar", "bafyrmi-instruction")]
    assert store.aliases(other) == []
