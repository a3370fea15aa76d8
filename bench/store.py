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
  from the store and read into an empty one (target ≥ 20k blocks/s each), `--rounds`
  times with other finals each time (the median is reported, and every round).

- **top**: `refcount --top 10` ranked by all uses (every content CID counted), once;

Each figure comes with its CPU time (this process's, and the PostgreSQL server's),
the time it waited for a core while ready to run (the kernel's run-queue delay: what
the load of a shared machine added), and the number of calls into the database
(statements, batches, COPYs: round trips on PostgreSQL); the load average is printed
beside.

Run: `.venv/bin/python bench/store.py [--jobs 100000] [--records 1000000] [--backend
sqlite|postgres|both] [--rounds 3]`. Loading takes minutes; it is not a test: it prints.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


class Schedstat:
    """What the kernel's scheduler says (`/proc/PID/schedstat`: nanoseconds on a CPU,
    nanoseconds waiting in the run queue) about this process's main thread and about the
    database server's processes (PostgreSQL's: the children of its postmaster, but
    autovacuum). CPU
    time is the work a query costs, whatever else runs; run-queue wait is the time a
    query was ready but other processes had the cores: the load's share of its latency."""

    def __init__(self, postmaster: int | None = None) -> None:
        self.postmaster = postmaster
        self.server: list[int] = []

    def refresh(self) -> None:
        """Find the server's processes again (a pool may have opened connections)."""
        if self.postmaster is None:
            return
        found = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(f"/proc/{entry.name}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) != self.postmaster:
                    continue
                # Not autovacuum: it works on the tables the bench generated, whenever
                # it decides to, not for the call measured.
                if b"autovacuum" not in Path(f"/proc/{entry.name}/cmdline").read_bytes():
                    found.append(int(entry.name))
        self.server = found

    @staticmethod
    def _read(pid: int | str) -> tuple[int, int]:
        try:
            run, wait, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
        except (OSError, ValueError):
            return 0, 0
        return int(run), int(wait)

    def read(self) -> tuple[float, float]:
        """(the server's CPU seconds, seconds this process and the server waited for a
        core), both counted from boot: subtract two readings."""
        _, waited = self._read("self")
        cpu = 0
        for pid in self.server:
            run, wait = self._read(pid)
            cpu += run
            waited += wait
        return cpu / 1e9, waited / 1e9


@dataclass
class Samples:
    """Timings of repeated calls: wall-clock, this process's CPU time, the database
    server's CPU time (PostgreSQL), the time both waited for a core while ready to run,
    and how many calls into the database they made (statements, executemany batches,
    COPYs: each a round trip on PostgreSQL)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    wait: list[float] = field(default_factory=list)
    calls: int = 0

    def add(self, other: Samples) -> None:
        """Take `other`'s samples too."""
        self.wall += other.wall
        self.cpu += other.cpu
        self.server += other.server
        self.wait += other.wait
        self.calls += other.calls

    @property
    def own(self) -> list[float]:
        """CPU time of each call, client and server: its cost without the load."""
        return [c + s for c, s in zip(self.cpu, self.server, strict=True)]

    @property
    def calls_each(self) -> float:
        return self.calls / max(1, len(self.wall))


class Meter:
    """Counts the store's calls into its database (by wrapping the backend's few entry
    points on this one store object) and times operations: the load-independent
    evidence beside wall-clock on a shared machine."""

    ENTRY_POINTS = ("_query", "_exec", "_exec_many", "_copy")

    def __init__(self, store: Store, sched: Schedstat) -> None:
        self.calls = 0
        self.sched = sched
        for name in self.ENTRY_POINTS:
            method = getattr(store, name, None)
            if method is not None:
                setattr(store, name, self._counting(method))

    def _counting(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return method(*args, **kwargs)

        return counted

    def run(self, fn: Callable[[], object], n: int) -> Samples:
        """`fn` called `n` times."""
        out = Samples()
        before = self.calls
        self.sched.refresh()
        for _ in range(n):
            server, waited = self.sched.read()
            c, t = time.process_time(), time.perf_counter()
            fn()
            out.wall.append(time.perf_counter() - t)
            out.cpu.append(time.process_time() - c)
            server_after, waited_after = self.sched.read()
            out.server.append(server_after - server)
            out.wait.append(waited_after - waited)
        out.calls = self.calls - before
        return out


def exchange(
    meter: Meter,
    store: Store,
    fresh: Callable[[], Store],
    roots: list[Link],
    export: Samples,
    imported: Samples,
) -> int:
    """Export `roots` from `store` and import the CAR into a fresh store, adding the
    timings to `export` and `imported`; returns the number of blocks."""
    out = io.BytesIO()
    blocks: list[int] = []
    export.add(meter.run(lambda: blocks.append(export_car(out, gather(store, roots))[1]), 1))
    target = fresh()
    target.count("blocks")  # its pool has connected: the server processes are there to read
    try:
        into = Meter(target, meter.sched)
        imported.add(into.run(lambda: import_car(target, io.BytesIO(out.getvalue())), 1))
    finally:
        target.close()
    return blocks[0]


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def ms(x: float) -> str:
    return f"{x * 1000:.3f}"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def measure(
    name: str, opened: Callable[[], Store], fresh: Callable[[], Store], args: Any
) -> dict[str, Any]:
    """Generate a store with `opened`, then measure it (`fresh` makes stores to import into)."""
    print(f"== {name}: generating {args.jobs:,} jobs and ~{args.records:,} records")
    store = opened()
    data = generate(store, args.jobs, args.records)
    # Measured as the next jobc command finds it: reopened (SQLite folds its write-ahead
    # log into the file when the last connection closes; PostgreSQL's sessions start
    # anew), with this harness's own million objects out of the garbage collector's way
    # (`gc.freeze`: a full collection scanning them would be timed as the store's).
    store.close()
    gc.collect()
    gc.freeze()
    store = opened()
    try:
        return measured(store, fresh, data, args)
    finally:
        store.close()


def measured(
    store: Store, fresh: Callable[[], Store], data: dict[str, Any], args: Any
) -> dict[str, Any]:
    """The figures of a generated store."""
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
    load_before = load()
    meter = Meter(store, args.sched)

    sample_chain = rng.sample(data["chain"], 2000)
    record_cids = [r.cid for c in rng.sample(data["chain"], 200) for r in store.walk(c, "forward")]
    it = iter(record_cids * 20)
    pk = meter.run(lambda: store.get_block(next(it)), 2000)
    it2 = iter(sample_chain)
    finals = meter.run(lambda: store.finals(next(it2)), 2000)
    it3 = iter(sample_chain)
    trace = meter.run(lambda: q.trace(store, next(it3)), 1000)
    raw = spec.read_bytes()
    found = q.find(store, raw, str(spec), trusted=[])
    assert found.found, "the bench spec must be found"
    find = meter.run(lambda: q.find(store, raw, str(spec), trusted=[]), 200)
    (top, _), *_ = store.most_used(1)
    refcount = meter.run(lambda: store.refcount(top), 5)
    direct, total = store.refcount(top)
    ranked = meter.run(lambda: q.most_used(store, 10, "total"), 1)
    # Export and import: the chains, jobs and receipts of 2,000 finals, `--rounds` times
    # (other finals each time), each import into an empty store.
    export, imported, blocks = Samples(), Samples(), []
    for _ in range(args.rounds):
        roots = rng.sample(data["finals"], min(2000, len(data["finals"])))
        n = exchange(meter, store, fresh, roots, export, imported)
        blocks.append(n)
    return {
        "pk": pk,
        "finals": finals,
        "trace": trace,
        "find": find,
        "refcount": refcount,
        "top": ranked,
        "refcount_counts": (direct, total),
        "blocks": blocks,
        "export": export,
        "import": imported,
        "counts": counts,
        "load": (load_before, load()),
    }


def report(name: str, r: dict[str, Any]) -> None:
    pk50 = pct(r["pk"].wall, 0.5)
    print(
        f"\n{name}: {r['counts']['records']:,} records, {r['counts']['finals']:,} finals"
        f"  (load average {r['load'][0]} before, {r['load'][1]} after: 1/5/15 min, 2 cores)"
    )
    print(
        f"  {'ms':<10} {'wall p50':>9} {'wall p99':>9} {'cpu p50':>9} {'cpu p99':>9}"
        f" {'wait p99':>9} {'db calls':>9} {'p50/pk':>8}   target"
    )
    rows = [
        ("pk lookup", r["pk"], ""),
        ("finals", r["finals"], ""),
        ("trace", r["trace"], "p99 ≤ 2 ms"),
        ("find", r["find"], "≤ 20 ms"),
        ("refcount", r["refcount"], "≤ 1 s"),
        ("top 10", r["top"], ""),
    ]
    for label, t, target in rows:
        print(
            f"  {label:<10} {ms(pct(t.wall, 0.5)):>9} {ms(pct(t.wall, 0.99)):>9}"
            f" {ms(pct(t.own, 0.5)):>9} {ms(pct(t.own, 0.99)):>9} {ms(pct(t.wait, 0.99)):>9}"
            f" {t.calls_each:>9.1f} {pct(t.wall, 0.5) / pk50:>7.0f}×   {target}"
        )
    direct, total = r["refcount_counts"]
    print(f"  (the most used content CID: {direct:,} direct users, {total:,} in all)")
    blocks: list[int] = r["blocks"]
    for label in ("export", "import"):
        done: Samples = r[label]
        rates = sorted(n / w for n, w in zip(blocks, done.wall, strict=True))
        cpu = sorted(n / c for n, c in zip(blocks, done.own, strict=True))
        print(
            f"  {label:<10} {pct(rates, 0.5):>7,.0f} blocks/s  (median of {len(rates)} CARs of"
            f" ~{blocks[0]:,} blocks: {', '.join(f'{x:,.0f}' for x in rates)});"
            f" by cpu time {pct(cpu, 0.5):,.0f} blocks/s;"
            f" waited {sum(done.wait) / sum(done.wall):.0%} of the time for a core;"
            f" {1000 * done.calls / sum(blocks):.1f} db calls per 1,000 blocks"
            f"   target ≥ 20,000 blocks/s"
        )


Stores = tuple[Callable[[], Store], Callable[[], Store], Schedstat]
"""Opens the bench store, makes empty ones to import into, and reads the scheduler."""


@contextmanager
def sqlite_stores(folder: Path) -> Iterator[Stores]:
    """SQLite files (in this process: there is no server)."""
    yield (
        lambda: open_store(folder / "bench.sqlite"),
        lambda: open_store(folder / f"import-{time.time_ns()}.sqlite"),
        Schedstat(),
    )


@contextmanager
def postgres_stores() -> Iterator[Stores]:
    """The same in a PostgreSQL cluster of its own (with PostgreSQL's default durability)."""
    from tests.localpostgres import running

    with running(durable=True) as cluster:
        bench = cluster.create_database("bench")
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        yield (
            lambda: open_store(bench),
            lambda: open_store(cluster.create_database("imported")),
            Schedstat(postmaster),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3, help="exports and imports measured")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="jobc-bench-store-") as tmp:
        os.environ["JOBC_HOME"] = str(Path(tmp) / "home")  # never the developer's data dir
        if args.backend in ("sqlite", "both"):
            with sqlite_stores(Path(tmp)) as (opened, fresh, args.sched):
                results["sqlite"] = measure("sqlite", opened, fresh, args)
        if args.backend in ("postgres", "both"):
            with postgres_stores() as (opened, fresh, args.sched):
                results["postgres"] = measure("postgres", opened, fresh, args)
    for name, r in results.items():
        report(name, r)
    print(
        "\nThe machine is shared with other work: wall-clock figures vary from run to run. "
        "cpu is the CPU time a call cost, this process's and (PostgreSQL) the server's: "
        "its own cost, which the load moves little; wait is the time this process or the "
        "server was ready to run while other processes had the cores (the kernel's run-"
        "queue delay): the load's share of the wall-clock. Compare each query with the pk "
        "lookup measured beside it."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
