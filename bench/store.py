"""The store's queries at scale, on SQLite and PostgreSQL, beside a primary-key lookup.

Generates a call tree of `--jobs` final jobs (100k) whose chains hold `--records`
transformation records (1M: each job has two documents that parse to one original, and
a chain of passes after it), every job reading a popular data set (Zipf-distributed) and
the outputs of one to three earlier jobs, with a signed receipt per job (a second one,
from another node, for one job in ten). Into that store goes one real compile of a real
spec. Then, in the same run, on each backend:

- **pk**: `get_block` of a random record (the floor: one primary-key lookup);
- **finals**: the chain index lookup of a random CID on a chain (`Store.finals`);
- **trace**: `queries.trace` of a random CID on a chain, the whole tree (target p99 ≤ 2 ms);
- **find**: `queries.find` of the real spec: an offline compile and the lookup
  (target ≤ 20 ms);
- **refcount**: of the most used content CID, direct and transitive (target ≤ 1 s);
- **export** / **import**: a CAR of the chains, jobs and receipts of 2,000 finals, written
  from the store and read into an empty one (target ≥ 20k blocks/s each).

Run: `.venv/bin/python bench/store.py [--jobs 100000] [--records 1000000] [--backend
sqlite|postgres|both]`. Loading takes minutes; it is not a test: it prints.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import libipld  # noqa: E402

from compiler.identity import cid_of_raw, encode_job  # noqa: E402
from compiler.ir import FrozenMap, Input, Job, Link, WasmTask  # noqa: E402
from compiler.runtime.receipts import NodeKey, Receipt  # noqa: E402
from compiler.store import RecordRef, Store, open_store  # noqa: E402
from compiler.store import queries as q  # noqa: E402
from compiler.store.car import export_car, gather, import_car  # noqa: E402

DAG_CBOR = b"\x01\x71\x12\x20"
RAW = b"\x01\x55\x12\x20"
MODULE = b"\x00asm\x01\x00\x00\x00"
SPEC = """\
jobspec: 1
name: bench
task: {engine: wasm, module: m.wasm, args: [/in/words.txt]}
inputs: [{name: words, source: words.txt, target: /in/words.txt}]
outputs: [/outputs]
"""


def cid(prefix: bytes, text: str) -> Link:
    return Link(prefix + hashlib.sha256(text.encode()).digest())


def record_block(pass_name: str, src: Link, dst: Link) -> tuple[Link, bytes]:
    """A transformation record's block (as `Record` encodes it: libipld writes CID bytes
    as links), and its CID."""
    block: bytes = libipld.encode_dag_cbor(
        {"facts": [], "from": src.raw, "pass": pass_name, "record": 1, "to": dst.raw, "version": 1}
    )
    return Link(DAG_CBOR + hashlib.sha256(block).digest()), block


def generate(store: Store, jobs: int, records: int, seed: int = 6) -> dict[str, Any]:
    """Fill `store` with the call tree (see the module docstring); returns samples."""
    rng = random.Random(seed)
    passes_per_job = max(1, records // jobs - 2)  # two parse records, then the passes
    datasets = [cid(RAW, f"dataset {i}") for i in range(1000)]
    weights = [1 / (i + 1) for i in range(len(datasets))]
    nodes = [NodeKey(hashlib.sha256(f"node {i}".encode()).digest()) for i in range(5)]
    module = cid(RAW, "module")
    outputs: list[Link] = []
    finals: list[Link] = []
    chain_cids: list[Link] = []
    batch_jobs: list[tuple[Link, Job]] = []
    batch_blocks: list[tuple[Link, bytes]] = []
    batch_records: list[RecordRef] = []
    batch_receipts: list[tuple[Link, Receipt]] = []
    started = time.perf_counter()

    def flush() -> None:
        with store.transaction():
            store.put_blocks(batch_blocks)
            store.index_records(batch_records)
            store.index_jobs(batch_jobs)
            store.index_receipts(batch_receipts)
            store.mark_finals(c for c, _ in batch_jobs)
        batch_blocks.clear()
        batch_records.clear()
        batch_jobs.clear()
        batch_receipts.clear()

    for i in range(jobs):
        reads = [rng.choices(datasets, weights)[0]]
        if outputs:
            reads += rng.sample(outputs[-5000:], min(len(outputs), rng.randint(1, 3)))
        job = Job(
            task=WasmTask(module=module, args=(f"step {i}",)),
            inputs=tuple(Input(f"/in/{n}", c) for n, c in enumerate(reads)),
            outputs=("/outputs",),
            determinism="strict",
        )
        block = encode_job(job)
        final = Link(DAG_CBOR + hashlib.sha256(block).digest())
        batch_blocks.append((final, block))
        batch_jobs.append((final, job))
        # The chain: two documents → original → passes … → final.
        original = cid(DAG_CBOR, f"original {i}")
        steps = [cid(DAG_CBOR, f"job {i} after pass {p}") for p in range(passes_per_job - 1)]
        for doc in (cid(RAW, f"doc {i} yaml"), cid(RAW, f"doc {i} json")):
            rc, rb = record_block("parse", doc, original)
            batch_blocks.append((rc, rb))
            batch_records.append(RecordRef(rc, "parse", 1, doc, original))
            chain_cids.append(doc)
        previous = original
        for p, nxt in enumerate([*steps, final]):
            rc, rb = record_block(f"pass-{p}", previous, nxt)
            batch_blocks.append((rc, rb))
            batch_records.append(RecordRef(rc, f"pass-{p}", 1, previous, nxt))
            previous = nxt
        chain_cids.append(original)
        out = cid(RAW, f"output {i}")
        outputs.append(out)
        finals.append(final)
        runs = 2 if i % 10 == 0 else 1
        for node in rng.sample(nodes, runs):
            receipt = node.sign(
                Receipt(
                    job=final,
                    outputs=FrozenMap({"/outputs": out}),
                    exit=0,
                    stdout=cid_of_raw(b""),
                    stderr=cid_of_raw(b""),
                    runner=FrozenMap({"name": "bench"}),
                    node="",
                    meta=FrozenMap({"started": "2026-01-01T00:00:00.000000Z"}),
                )
            )
            block = receipt.encode()
            rcid = Link(DAG_CBOR + hashlib.sha256(block).digest())
            batch_blocks.append((rcid, block))
            batch_receipts.append((rcid, receipt))
        if len(batch_records) >= 20_000:
            flush()
            done = i + 1
            rate = done / (time.perf_counter() - started)
            print(f"\r  {done:,}/{jobs:,} jobs ({rate:,.0f}/s)", end="", flush=True)
    flush()
    print(f"\r  {jobs:,} jobs loaded in {time.perf_counter() - started:.0f}s" + " " * 20)
    return {"finals": finals, "chain": chain_cids, "rng": rng}


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Seconds per call, `n` calls."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def ms(x: float) -> str:
    return f"{x * 1000:.3f} ms"


def measure(name: str, store: Store, fresh: Callable[[], Store], args: Any) -> dict[str, Any]:
    print(f"== {name}: generating {args.jobs:,} jobs and ~{args.records:,} records")
    data = generate(store, args.jobs, args.records)
    rng: random.Random = data["rng"]
    folder = Path(tempfile.mkdtemp(prefix="jobc-bench-find-"))
    (folder / "m.wasm").write_bytes(MODULE)
    (folder / "words.txt").write_bytes(b"apple\nbanana\n")
    spec = folder / "bench.yaml"
    spec.write_text(SPEC)
    from compiler.driver import compile_file
    from compiler.store.ingest import store_compiled

    store_compiled(store, compile_file(spec))
    store.optimize()  # as an import of this size does
    counts = {w: store.count(w) for w in ("blocks", "records", "finals", "jobs", "receipts")}
    print("  store: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))

    sample_chain = rng.sample(data["chain"], 2000)
    record_cids = [r.cid for c in rng.sample(data["chain"], 200) for r in store.walk(c, "forward")]
    it = iter(record_cids * 20)
    pk = timed(lambda: store.get_block(next(it)), 2000)
    it2 = iter(sample_chain)
    finals = timed(lambda: store.finals(next(it2)), 2000)
    it3 = iter(sample_chain)
    trace = timed(lambda: q.trace(store, next(it3)), 1000)
    raw = spec.read_bytes()
    found = q.find(store, raw, str(spec), trusted=[])
    assert found.found, "the bench spec must be found"
    find = timed(lambda: q.find(store, raw, str(spec), trusted=[]), 50)
    (top, _), *_ = store.most_used(1)
    refcount = timed(lambda: store.refcount(top), 3)
    direct, total = store.refcount(top)
    # Export and import: the chains, jobs and receipts of 2,000 finals.
    roots = rng.sample(data["finals"], 2000)
    t = time.perf_counter()
    exported = gather(store, roots)
    out = io.BytesIO()
    _, blocks = export_car(out, exported)
    export_s = time.perf_counter() - t
    target = fresh()
    try:
        t = time.perf_counter()
        import_car(target, io.BytesIO(out.getvalue()))
        import_s = time.perf_counter() - t
    finally:
        target.close()
    return {
        "pk": pk,
        "finals": finals,
        "trace": trace,
        "find": find,
        "refcount": refcount,
        "refcount_counts": (direct, total),
        "blocks": blocks,
        "export_s": export_s,
        "import_s": import_s,
        "counts": counts,
    }


def report(name: str, r: dict[str, Any]) -> None:
    pk50 = pct(r["pk"], 0.5)
    print(f"\n{name}: {r['counts']['records']:,} records, {r['counts']['finals']:,} finals")
    print(f"  {'query':<10} {'p50':>12} {'p99':>12}   p50 / pk lookup   target")
    rows = [
        ("pk lookup", r["pk"], ""),
        ("finals", r["finals"], ""),
        ("trace", r["trace"], "p99 ≤ 2 ms"),
        ("find", r["find"], "≤ 20 ms"),
        ("refcount", r["refcount"], "≤ 1 s"),
    ]
    for label, samples, target in rows:
        p50, p99 = pct(samples, 0.5), pct(samples, 0.99)
        print(f"  {label:<10} {ms(p50):>12} {ms(p99):>12}   {p50 / pk50:>12.1f}×   {target}")
    direct, total = r["refcount_counts"]
    print(f"  (the most used content CID: {direct:,} direct users, {total:,} in all)")
    for label, seconds in (("export", r["export_s"]), ("import", r["import_s"])):
        rate = r["blocks"] / seconds
        print(
            f"  {label:<10} {r['blocks']:,} blocks in {seconds:.2f}s = {rate:,.0f} blocks/s"
            f"   target ≥ 20,000 blocks/s"
        )


@contextmanager
def sqlite_stores(folder: Path) -> Iterator[tuple[Store, Callable[[], Store]]]:
    store = open_store(folder / "bench.sqlite")
    try:
        yield store, lambda: open_store(folder / f"import-{time.time_ns()}.sqlite")
    finally:
        store.close()


@contextmanager
def postgres_stores() -> Iterator[tuple[Store, Callable[[], Store]]]:
    from tests.localpostgres import running

    with running(durable=True) as cluster:
        store = open_store(cluster.create_database("bench"))
        try:
            yield store, lambda: open_store(cluster.create_database("imported"))
        finally:
            store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="jobc-bench-store-") as tmp:
        os.environ["JOBC_HOME"] = str(Path(tmp) / "home")  # never the developer's data dir
        if args.backend in ("sqlite", "both"):
            with sqlite_stores(Path(tmp)) as (store, fresh):
                results["sqlite"] = measure("sqlite", store, fresh, args)
        if args.backend in ("postgres", "both"):
            with postgres_stores() as (store, fresh):
                results["postgres"] = measure("postgres", store, fresh, args)
    for name, r in results.items():
        report(name, r)
    print(
        "\nThe machine is shared with other work: wall-clock figures vary from run to run; "
        "compare each query with the pk lookup measured beside it."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
