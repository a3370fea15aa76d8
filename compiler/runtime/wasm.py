"""The deterministic WASM runner: one module, run under wasmtime in a folder of its own.

The engine is configured so a module computes the same thing on every machine: NaNs are
canonicalised (the one float difference between CPUs that WebAssembly allows), no
threads and no shared memory, relaxed SIMD in its deterministic mode, a fixed wasm
stack size. Fuel metering (one unit per wasm operator, deterministic itself: the
receipt's `meta.fuel`) bounds the work, a memory limit bounds linear memory, and epoch
interruption bounds the wall-clock time (a ticker thread moves the epoch every 10 ms
while runs are active). WASI is wasmtime's own, with the imports that would leak the
host shadowed (`runtime/wasi.py`); the program gets exactly the argv, env, stdin and
preopened folders it is given.

Compiled modules are cached: in the process by module CID, and in the store as
wasmtime's serialized form (cache `wasm-module`: module CID, wasmtime version, this
configuration and the CPU architecture → the block holding it). Deserializing runs
native code, so that cache is trusted: it is written only by this node, never imported.
"""

from __future__ import annotations

import atexit
import functools
import math
import platform
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.ir import Link
from compiler.runtime.wasi import SHIM_WAT, DeterministicWasi
from compiler.runtime.wasi import define as define_shadows

if TYPE_CHECKING:
    import wasmtime

    from compiler.store import Store

PROFILE = 1
"""What a program can observe of its runner (the engine settings, the WASI shadows):
bump it whenever that changes. Receipts name it in `runner`."""
MODULE_CACHE = "wasm-module"
ARGV0 = "main.wasm"
"""argv[0] of every program (its name is not identity, so it is not its file name)."""
MAX_WASM_STACK = 1 << 20
EPOCH_INTERVAL = 0.01
"""Seconds per epoch tick: the granularity of the time limit."""

DEFAULT_FUEL = 1 << 40
"""About 10^12 wasm operators: minutes of work."""
DEFAULT_MEMORY = 1 << 30
DEFAULT_TIMEOUT = 600.0


class RunError(Exception):
    """The job did not run to its end: a limit stopped it, it trapped, or it cannot start."""

    def __init__(self, message: str, hint: str = "", code: str = "run") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one run may use (execution options: never identity)."""

    fuel: int = DEFAULT_FUEL
    memory: int = DEFAULT_MEMORY
    """Bytes of linear memory, all memories of the run together."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds of wall-clock time for the program (not for setting it up)."""


def limits_for(
    execution: Mapping[str, Any],
    *,
    fuel: int | None = None,
    memory: int | None = None,
    timeout: float | None = None,
) -> Limits:
    """A run's limits: those given here, else the spec's execution options (`timeout`,
    `resources.memory`), else the defaults. Raises ValueError on an unreadable option."""
    from compiler.quantities import parse_duration, parse_size

    resources = execution.get("resources")
    written_memory = resources.get("memory") if isinstance(resources, Mapping) else None
    written_timeout = execution.get("timeout")
    if memory is None and isinstance(written_memory, str | int):
        memory = parse_size(written_memory)
    if timeout is None and isinstance(written_timeout, str | int):
        timeout = parse_duration(written_timeout)
    return Limits(
        fuel=DEFAULT_FUEL if fuel is None else fuel,
        memory=DEFAULT_MEMORY if memory is None else memory,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
    )


@dataclass(frozen=True, slots=True)
class Preopen:
    """A host folder the program sees at `guest` (read-only unless `writable`)."""

    host: Path
    guest: str
    writable: bool = False


@dataclass
class Outcome:
    """How a run ended: the program's exit code and the fuel it used."""

    exit: int
    fuel: int
    results: list[Any] = field(default_factory=list)
    """What a non-`_start` entrypoint returned."""


# --- the engine ---------------------------------------------------------------------------


@functools.cache
def engine() -> wasmtime.Engine:
    """The process's deterministic engine (one: compiled modules belong to an engine)."""
    import wasmtime

    config = wasmtime.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    config.cranelift_nan_canonicalization = True
    config.wasm_threads = False
    config.shared_memory = False
    config.wasm_relaxed_simd = True
    config.wasm_relaxed_simd_deterministic = True
    config.max_wasm_stack = MAX_WASM_STACK
    config.parallel_compilation = True
    return wasmtime.Engine(config)


CONFIG_ID = f"p{PROFILE}-fuel-epoch-nancanon-nothreads-relaxeddet-stack{MAX_WASM_STACK}"
"""Names the engine configuration: part of the module cache key."""


@functools.cache
def wasmtime_version() -> str:
    """The installed wasmtime-py's version."""
    from importlib.metadata import version

    return version("wasmtime")


_RUNNING = threading.local()
"""`host`: the DeterministicWasi of the run under way on this thread."""


def _running() -> DeterministicWasi:
    host: DeterministicWasi = _RUNNING.host
    return host


def _linker() -> wasmtime.Linker:
    """A linker with wasmtime's WASI and the deterministic shadows over it."""
    import wasmtime

    linker = wasmtime.Linker(engine())
    linker.define_wasi()
    linker.allow_shadowing = True
    define_shadows(linker, _running)
    return linker


@functools.cache
def _linkers() -> tuple[wasmtime.Linker, wasmtime.Linker]:
    """The process's shared linker (see `_linker`), and the shim's (wasmtime's WASI)."""
    import wasmtime

    shim_linker = wasmtime.Linker(engine())
    shim_linker.define_wasi()
    return _linker(), shim_linker


@functools.cache
def _shim() -> wasmtime.Module:
    import wasmtime

    return wasmtime.Module(engine(), SHIM_WAT)


class _Ticker:
    """Moves the engine's epoch every EPOCH_INTERVAL while at least one run is active
    (one thread for the process; it sleeps on an event while nothing runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._running = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> None:
        with self._lock:
            self._active += 1
            self._running.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._tick, name="jobc-epoch", daemon=True)
                self._thread.start()

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._active -= 1
            if not self._active:
                self._running.clear()

    def _tick(self) -> None:
        eng = engine()
        while True:
            self._running.wait()
            time.sleep(EPOCH_INTERVAL)
            eng.increment_epoch()


_TICKER = _Ticker()


@atexit.register
def _release() -> None:
    """Drop the process's wasmtime objects while wasmtime is still loaded: left to the
    interpreter's teardown, their finalizers would find its bindings gone."""
    with _COMPILED_LOCK:
        _COMPILED.clear()
    _linkers.cache_clear()
    _shim.cache_clear()


# --- modules ------------------------------------------------------------------------------

_COMPILED: OrderedDict[bytes, wasmtime.Module] = OrderedDict()
_COMPILED_MAX = 32
_COMPILED_LOCK = threading.Lock()


def module_bytes(link: Link, store: Store) -> bytes:
    """A module's bytes from the store's blocks (each checked against its CID)."""
    from compiler.oracles.content import read_file
    from compiler.sources import ContentError

    try:
        return b"".join(read_file(link, store))
    except ContentError as exc:
        if exc.code == "missing-block":
            raise RunError(
                f"the module {link} is not in the store",
                "compile the spec here (jobc run keeps the blocks it needs), or import it",
                "missing-module",
            ) from None
        raise RunError(
            f"the module {link} cannot be read: {exc.message}", code="bad-module"
        ) from None


def load_module(link: Link, store: Store) -> wasmtime.Module:
    """The compiled module `link` names: from the process, from the store's serialized
    cache, or compiled now (and cached in both)."""
    import wasmtime

    with _COMPILED_LOCK:
        found = _COMPILED.get(link.raw)
        if found is not None:
            _COMPILED.move_to_end(link.raw)
            return found
    key = f"{link}|{wasmtime_version()}|{CONFIG_ID}|{platform.machine()}"
    module = None
    hit = store.cache_get(MODULE_CACHE, key)
    if isinstance(hit, dict) and isinstance(hit.get("block"), str):
        block = store.get_block(Link.parse(hit["block"]))
        if block is not None:
            try:
                module = wasmtime.Module.deserialize(engine(), block)
            except wasmtime.WasmtimeError:
                module = None  # another build's: compile again
    if module is None:
        data = module_bytes(link, store)
        if data[:4] != b"\0asm":
            raise RunError(
                f"the module {link} is not a binary WebAssembly module",
                "give a .wasm file (jobc lowers WAT text when it compiles the spec)",
                "bad-module",
            )
        try:
            module = wasmtime.Module(engine(), data)
        except wasmtime.WasmtimeError as exc:
            raise RunError(
                f"the module {link} is not valid WebAssembly: {_first_line(exc)}",
                code="bad-module",
            ) from None
        from compiler.identity import cid_of_raw

        serialized = bytes(module.serialize())
        block_cid = cid_of_raw(serialized)
        with store.transaction():
            store.put_block(block_cid, serialized)
            store.cache_put(MODULE_CACHE, key, {"block": str(block_cid)}, ttl=None)
    with _COMPILED_LOCK:
        _COMPILED[link.raw] = module
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    return module


# --- running ------------------------------------------------------------------------------


def run_module(
    module: wasmtime.Module,
    *,
    seed: bytes,
    argv: Sequence[str] = (),
    env: Sequence[tuple[str, str]] = (),
    preopens: Sequence[Preopen] = (),
    stdin: Path,
    stdout: Path,
    stderr: Path,
    imports: Sequence[tuple[str, wasmtime.Module]] = (),
    entrypoint: str = "_start",
    params: Sequence[int] = (),
    limits: Limits = Limits(),
) -> Outcome:
    """Run `module` once, deterministically. `argv` excludes argv[0]; `seed` keys the
    random stream; `imports` are modules instantiated first, under their names; a
    non-`_start` entrypoint is called with `params`. Raises RunError when the run does
    not end normally (a trap, a limit, a bad module)."""
    import wasmtime

    eng = engine()
    store = wasmtime.Store(eng)
    store.set_fuel(limits.fuel)
    store.set_limits(memory_size=limits.memory, instances=64, tables=64, memories=64)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [ARGV0, *argv]
    wasi.env = [list(pair) for pair in env]
    wasi.stdin_file = str(stdin)
    wasi.stdout_file = str(stdout)
    wasi.stderr_file = str(stderr)
    for p in sorted(preopens, key=lambda p: p.guest):
        wasi.preopen_dir(str(p.host), p.guest, p.writable)
    store.set_wasi(wasi)

    # One linker serves every run without imports (the shadows find their run's state
    # through a thread-local); a run with imports defines them on a linker of its own.
    shared, shim_linker = _linkers()
    linker = _linker() if imports else shared
    host = DeterministicWasi(seed=seed)
    host.attach_shim(store, shim_linker.instantiate(store, _shim()))
    previous = getattr(_RUNNING, "host", None)
    _RUNNING.host = host

    ticks = math.ceil(limits.timeout / EPOCH_INTERVAL) + 1
    fuel_before = store.get_fuel()
    results: list[Any] = []
    exit_code = 0
    exports: Any = None
    with _TICKER:
        store.set_epoch_deadline(ticks)
        try:
            for name, imported in imports:
                linker.define_instance(store, name, linker.instantiate(store, imported))
            instance = linker.instantiate(store, module)
            exports = instance.exports(store)
            if entrypoint == "_start":
                start = exports.get("_start")
                if not isinstance(start, wasmtime.Func):
                    raise RunError(
                        "the module exports no `_start` function: it is not a WASI command",
                        "name the function to call with `entrypoint`",
                        "no-entrypoint",
                    )
                start(store)
            else:
                results = _call(store, exports, entrypoint, params)
        except wasmtime.ExitTrap as exc:
            exit_code = exc.code
        except wasmtime.Trap as exc:
            _raise_host_failure(exc)
            raise _trap_error(exc, limits, _memory_used(store, exports)) from None
        except wasmtime.WasmtimeError as exc:
            _raise_host_failure(exc)
            raise RunError(
                f"the module cannot run: {_first_line(exc)}",
                "a WASI preview1 command module is expected; imports other than "
                "wasi_snapshot_preview1 must be given under `imports`",
                "instantiate",
            ) from None
        finally:
            _RUNNING.host = previous
    return Outcome(exit=exit_code, fuel=fuel_before - store.get_fuel(), results=results)


def _raise_host_failure(exc: Exception) -> None:
    """Raise what a shadow raised, if that is what stopped the run: a bug in jobc, not
    something the program did."""
    from compiler.runtime.hostcall import take_failure

    failure = take_failure()
    if failure is not None:
        raise failure from exc


def _call(store: wasmtime.Store, exports: Any, name: str, params: Sequence[int]) -> list[Any]:
    import wasmtime

    init = exports.get("_initialize")
    if isinstance(init, wasmtime.Func):
        init(store)
    func = exports.get(name)
    if not isinstance(func, wasmtime.Func):
        raise RunError(f"the module exports no function `{name}`", code="no-entrypoint")
    wanted = func.type(store).params
    if len(wanted) != len(params):
        raise RunError(
            f"`{name}` takes {len(wanted)} argument{'s' if len(wanted) != 1 else ''}, "
            f"the job gives {len(params)}",
            code="entrypoint-args",
        )
    got = func(store, *params)
    if got is None:
        return []
    return list(got) if isinstance(got, list) else [got]


def _memory_used(store: wasmtime.Store, exports: Any) -> int:
    """Bytes of the program's `memory` at the end (0 if it has none or never started)."""
    import wasmtime

    memory = exports.get("memory") if exports is not None else None
    return memory.data_len(store) if isinstance(memory, wasmtime.Memory) else 0


def _trap_error(exc: wasmtime.Trap, limits: Limits, used: int) -> RunError:
    from wasmtime import TrapCode

    code = exc.trap_code
    if code == TrapCode.OUT_OF_FUEL:
        return RunError(
            f"the program ran out of fuel ({limits.fuel:,} units) and was stopped",
            "a runaway loop? else raise the limit with --fuel",
            "fuel",
        )
    if code == TrapCode.INTERRUPT:
        return RunError(
            f"the program ran longer than {limits.timeout:g} s and was stopped",
            "a runaway loop? else raise the limit with --timeout",
            "timeout",
        )
    if code == TrapCode.STACK_OVERFLOW:
        return RunError("the program overflowed its stack (deep recursion?)", code="stack-overflow")
    message = f"the program trapped: {_cause(exc)}"
    hint = ""
    if code == TrapCode.UNREACHABLE:
        hint = "a Rust panic or a C abort() ends this way: see its stderr"
    # wasmtime does not say when it refused to grow memory; a program that trapped
    # near the limit most likely hit it (Rust aborts when an allocation fails).
    if used and used + (1 << 20) >= limits.memory // 2:
        mib = 1 << 20
        message += f" (it used {used / mib:.1f} MiB of its {limits.memory / mib:.0f} MiB limit)"
        hint = "it may have hit the memory limit: raise it with --memory"
        return RunError(message, hint, "memory")
    return RunError(message, hint, "trap")


def _cause(exc: BaseException) -> str:
    """What a wasmtime error says happened, without its backtrace."""
    text = str(exc)
    _, found, cause = text.partition("Caused by:")
    return (cause if found else text).strip().split("\n", 1)[0].strip()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0]
