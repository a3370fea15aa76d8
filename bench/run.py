"""Running jobs: the Rust word-count example (examples/rust-word-count.yaml), cold and warm,
against bare wasmtime measured in the same run.

Measured, in one process (medians of `--repeat` runs unless said):
- lowering: a compile that runs rustc (once), then compiles served by the lowering memo
  (the whole `compile_file`, and the `lower` pass alone): target ≤ 10 ms;
- bare wasmtime: the same module, already compiled, run with wasmtime-py's stock engine
  and WASI (same argv, same folders, stdout to a file): the baseline; measured
  alternately with the runner, over the example's two small files (fixed costs weigh
  most) and over 8 MiB of text (the program's work weighs most);
- the runner alone (`runtime.wasm.run_module`: deterministic engine, fuel, epoch
  deadline, the shadowed WASI imports), same module and folders: target ≤ 1.2 times bare;
- a cold `run_job` (module compiled, inputs written from the store, outputs hashed, the
  receipt signed and stored), then warm ones (module from the cache);
- a memo hit: `find_trusted_receipt` alone, and compile + lookup (what `jobc run` does
  before printing): target ≤ 5 ms;
- the price of a WASI call answered in Python rather than natively, on a module that
  makes 20,000 `fd_write` calls: why only the seven leaking imports are shadowed; through
  wasmtime-py's `define_func`, and through `runtime/hostcall.py` as the runner does.

Run: `.venv/bin/python bench/run.py [--repeat 30]`. Not a test: it prints. The machine
is shared, so figures move between runs; ratios against the baseline measured in the
same run are what to compare.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    """The median wall time of `fn()` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def paired_ms(a: Callable[[], Any], b: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Medians of `a()` and `b()` measured alternately, so load on the machine falls on
    both alike."""
    a()
    b()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((a, times[0]), (b, times[1])):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobc-bench-run-") as tmp:
        root = Path(tmp)
        os.environ["JOBC_HOME"] = str(root / "home")
        shutil.copytree(ROOT / "examples", root / "examples")
        return bench(root, args.repeat)


def bench(root: Path, repeat: int) -> int:
    """Measure, print the table; returns the exit code."""
    from compiler.driver import CompileOptions, compile_file
    from compiler.oracles.live import LiveContext, LiveOracle
    from compiler.passes.lower import Lower
    from compiler.runtime import wasm
    from compiler.runtime.execute import run_job
    from compiler.runtime.memo import find_trusted_receipt
    from compiler.runtime.receipts import NodeKey, trusted_nodes
    from compiler.store import open_store

    spec = root / "examples" / "rust-word-count.yaml"
    options = CompileOptions(settings={"store_content": True})
    rows: list[tuple[str, float, str]] = []

    # -- lowering
    t = time.perf_counter()
    c = compile_file(spec, options)
    cold_compile = (time.perf_counter() - t) * 1000
    rows.append(("compile, cold (runs rustc, hashes its sysroot)", cold_compile, ""))
    warm_compile = median_ms(lambda: compile_file(spec, options), repeat)
    rows.append(("compile, lowering memo hit (whole compile)", warm_compile, "target ≤ 10 ms"))
    before_lower = next(r for r in c.chain if r.pass_name == "resolve-content")
    job_before = _job_at(spec, options, before_lower.target)
    live = LiveOracle(LiveContext(base_dir=spec.parent))
    for key, places in c.sources.items():
        for place in places:
            live.source(key, place)
    lower = Lower()
    lower_ms = median_ms(lambda: lower(job_before, live), repeat)
    live.close()
    rows.append(("  the lower pass alone, memo hit", lower_ms, "target ≤ 10 ms"))

    # -- the same module: bare wasmtime, then the runner
    store = open_store()
    task: Any = c.job.task
    module_bytes = wasm.module_bytes(task.module, store)
    small = root / "examples" / "data" / "corpus"
    big = root / "big-corpus"
    big.mkdir()
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    for i in range(8):
        (big / f"part{i}.txt").write_bytes(line * ((1 << 20) // len(line)))
    size = sum(p.stat().st_size for p in big.iterdir()) >> 20
    module = wasm.load_module(task.module, store)
    small_bare = 0.0
    for label, corpus in (("2 small files", small), (f"{size} MiB in 8 files", big)):
        bare_ms, runner_ms = _bare_and_runner(root, corpus, module_bytes, module, c, repeat)
        rows.append((f"bare wasmtime run, {label} (stock engine and WASI)", bare_ms, "baseline"))
        rows.append(
            (
                f"  the runner, {label} (deterministic engine and WASI)",
                runner_ms,
                f"{runner_ms / bare_ms:.2f}× bare; target ≤ 1.20×",
            )
        )
        small_bare = small_bare or bare_ms

    # -- whole runs and memo hits
    key = NodeKey.load_or_create()
    wasm._COMPILED.clear()
    store.cache_delete(wasm.MODULE_CACHE, _cache_key(task.module))
    t = time.perf_counter()
    ran = run_job(c.job, store, key, job_cid=c.cid)
    cold_run = (time.perf_counter() - t) * 1000
    rows.append(("run_job, cold (compiles the module)", cold_run, ""))
    warm_run = median_ms(lambda: run_job(c.job, store, key, job_cid=c.cid), repeat)
    rows.append(
        (
            "run_job, warm (inputs, run, hashing, receipt)",
            warm_run,
            f"{warm_run / small_bare:.1f}× the bare run of the small files",
        )
    )
    nodes = trusted_nodes()
    lookup_ms = median_ms(lambda: find_trusted_receipt(store, c.cid, nodes), repeat)
    rows.append(("memo hit: find_trusted_receipt", lookup_ms, "target ≤ 5 ms"))

    def compile_and_lookup() -> None:
        again = compile_file(spec, options)
        assert find_trusted_receipt(store, again.cid, nodes) is not None

    hit_ms = median_ms(compile_and_lookup, repeat)
    rows.append(("memo hit: compile + lookup (jobc run, in-process)", hit_ms, ""))
    assert ran.receipt.exit == 0
    store.close()

    # -- what a WASI call costs when Python answers it
    native, stock, raw = _wasi_call_cost(root, repeat=max(3, repeat // 5))
    rows.append(("20,000 fd_write, native WASI", native, "baseline"))
    for label, ms in (("wasmtime-py's define_func", stock), ("runtime/hostcall.py", raw)):
        rows.append(
            (
                f"20,000 fd_write, answered in Python ({label})",
                ms,
                f"{(ms - native) / 20:.1f} µs more per call",
            )
        )

    width = max(len(r[0]) for r in rows)
    print(
        f"jobc bench/run.py — {spec.name}, median of {repeat}; machine shared: "
        "compare ratios, not absolute times"
    )
    for name, ms, note in rows:
        print(f"  {name:<{width}}  {ms:9.3f} ms  {note}")
    return 0


def _bare_and_runner(
    root: Path, corpus: Path, module_bytes: bytes, module: Any, c: Any, repeat: int
) -> tuple[float, float]:
    """The module over `corpus` with bare wasmtime and with the runner, alternately."""
    import wasmtime

    from compiler.runtime import wasm

    work = root / f"run-{corpus.name}"
    work.mkdir()
    outputs = work / "outputs"
    outputs.mkdir()
    stdout, stderr, stdin = work / "stdout", work / "stderr", work / "stdin"
    stdin.touch()
    argv = list(c.job.task.args)
    bare_engine = wasmtime.Engine()
    bare_module = wasmtime.Module(bare_engine, module_bytes)
    results: dict[str, bytes] = {}

    def bare() -> None:
        s = wasmtime.Store(bare_engine)
        w = wasmtime.WasiConfig()
        w.argv = [wasm.ARGV0, *argv]
        w.stdin_file = str(stdin)
        w.stdout_file = str(stdout)
        w.stderr_file = str(stderr)
        w.preopen_dir(str(corpus), "/data/corpus", False)
        w.preopen_dir(str(outputs), "/outputs", True)
        s.set_wasi(w)
        linker = wasmtime.Linker(bare_engine)
        linker.define_wasi()
        start = linker.instantiate(s, bare_module).exports(s)["_start"]
        exit_code = 0
        try:
            start(s)
        except wasmtime.ExitTrap as exc:
            exit_code = exc.code
        assert exit_code == 0
        results["bare"] = stdout.read_bytes()

    preopens = [wasm.Preopen(corpus, "/data/corpus"), wasm.Preopen(outputs, "/outputs", True)]

    def runner() -> None:
        outcome = wasm.run_module(
            module,
            seed=c.cid.raw,
            argv=argv,
            preopens=preopens,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
        )
        assert outcome.exit == 0
        results["runner"] = stdout.read_bytes()

    timed = paired_ms(bare, runner, repeat)
    assert results["bare"] == results["runner"], "the runner and bare wasmtime agree"
    return timed


def _cache_key(link: Any) -> str:
    import platform

    from compiler.runtime import wasm

    return f"{link}|{wasm.wasmtime_version()}|{wasm.CONFIG_ID}|{platform.machine()}"


def _job_at(spec: Path, options: Any, cid: Any) -> Any:
    """The job right before `lower`: the compile without that pass."""
    import dataclasses

    from compiler.driver import compile_file
    from compiler.passes import default_pipeline

    passes = tuple(p for p in default_pipeline() if p.name != "lower")
    c = compile_file(spec, dataclasses.replace(options, passes=passes))
    assert c.cid == cid
    return c.job


WRITER = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "x")
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 1))
    (loop $again
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 20000))))))
"""


def _wasi_call_cost(root: Path, repeat: int) -> tuple[float, float, float]:
    """20,000 `fd_write` calls answered by wasmtime, then by a Python function that
    copies the bytes and writes them itself (the floor of a WASI written in Python):
    defined with wasmtime-py's `define_func`, then with the runner's raw host calls."""
    import struct

    import wasmtime

    from compiler.runtime import hostcall, wasm

    engine = wasm.engine()
    module = wasmtime.Module(engine, WRITER)
    out = root / "writes"
    file: Any = None

    def stock(caller: Any, fd: int, iovs: int, n: int, written: int) -> int:
        memory = caller["memory"]
        total = 0
        for i in range(n):
            buf, size = struct.unpack("<II", memory.read(caller, iovs + 8 * i, iovs + 8 * i + 8))
            total += file.write(memory.read(caller, buf, buf + size))
        memory.write(caller, struct.pack("<I", total), written)
        return 0

    def raw(call: hostcall.Call, fd: int, iovs: int, n: int, written: int) -> int:
        total = 0
        for i in range(n):
            buf, size = struct.unpack("<II", call.read(iovs + 8 * i, 8))
            total += file.write(call.read(buf, size))
        call.write(written, struct.pack("<I", total))
        return 0

    raw_functions = hostcall.HostFunctions()
    raw_functions.add("wasi_snapshot_preview1", "fd_write", ("i32",) * 4, raw)

    def once(how: str) -> None:
        nonlocal file
        s = wasmtime.Store(engine)
        s.set_fuel(1 << 40)
        s.set_epoch_deadline(1 << 30)
        w = wasmtime.WasiConfig()
        w.stdout_file = str(out)
        s.set_wasi(w)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        linker.allow_shadowing = True
        file = out.open("ab")
        if how == "stock":
            i32 = wasmtime.ValType.i32()
            ty = wasmtime.FuncType([i32, i32, i32, i32], [i32])
            linker.define_func("wasi_snapshot_preview1", "fd_write", ty, stock, True)
        elif how == "raw":
            raw_functions.define_on(linker)
        start = linker.instantiate(s, module).exports(s)["_start"]
        assert isinstance(start, wasmtime.Func)
        start(s)
        file.close()

    return (
        median_ms(lambda: once("native"), repeat),
        median_ms(lambda: once("stock"), repeat),
        median_ms(lambda: once("raw"), repeat),
    )


if __name__ == "__main__":
    sys.exit(main())
