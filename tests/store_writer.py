"""A process that writes records into a store, for the crash and concurrency tests.

    python -m tests.store_writer LOCATION WRITER BATCHES SIZE [--stop-midway] [--open-on GO]

writes BATCHES batches of SIZE records (each batch in one transaction, with a marker in
the cache saying it is complete); the records of writer W, batch B, item I link the raw
CIDs of `W/B/I` and `W/B/I'`, so a reader can tell which are there. With
`--stop-midway`, after the last full batch it starts one more, writes half of it, says
`midway` on stdout and waits to be killed. With `--open-on GO`, it says `ready` and
opens the store only once the file GO exists (so that processes open it at once).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from compiler.identity import cid_of_raw, encode_value
from compiler.records import Record
from compiler.store import RecordRef, Store, open_store


def record(writer: int, batch: int, item: int) -> Record:
    name = f"{writer}/{batch}/{item}".encode()
    return Record.make("writer", 1, cid_of_raw(name), cid_of_raw(name + b"'"), [])


def write_batch(store: Store, writer: int, batch: int, items: range, *, one_by_one: bool) -> None:
    records = [record(writer, batch, i) for i in items]
    if one_by_one:
        for r in records:
            store.put_record(r)
            store.mark_final(r.target)
    else:
        store.put_blocks((r.cid, encode_value(r.to_value())) for r in records)
        store.index_records(
            RecordRef(r.cid, r.pass_name, r.version, r.source, r.target) for r in records
        )
        store.mark_finals(r.target for r in records)


def main(argv: list[str]) -> int:
    location, writer, batches, size = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    stop_midway = "--stop-midway" in argv
    if "--open-on" in argv:
        go = Path(argv[argv.index("--open-on") + 1])
        print("ready", flush=True)
        while not go.exists():
            time.sleep(0.0005)
    store = open_store(location)
    one_by_one = writer % 2 == 1  # half the writers use the batch calls, half the single ones
    for batch in range(batches):
        with store.transaction():
            write_batch(store, writer, batch, range(size), one_by_one=one_by_one)
            store.cache_put("batches", f"{writer}/{batch}", size, ttl=None)
    if stop_midway:
        with store.transaction():
            write_batch(store, writer, batches, range(size // 2), one_by_one=one_by_one)
            print("midway", flush=True)
            time.sleep(600)  # killed here, inside the transaction
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
