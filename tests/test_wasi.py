"""The shadowed WASI imports, called one at a time from a WAT module with the arguments a
careless or hostile program would pass: pointers outside memory, unknown clocks, buffers
too small for an entry, a module without memory. And the raw host-call layer under them
(runtime/hostcall.py): a trap in a call back into wasm ends the run with that trap, a bug
in a host function surfaces as itself.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from compiler.runtime import hostcall, wasi, wasm
from compiler.runtime.wasm import Preopen

EFAULT, EINVAL, SUCCESS = wasi.EFAULT, wasi.EINVAL, wasi.SUCCESS
BEYOND = -16
"""0xFFFFFFF0 as wasm passes it (signed): far past the one page of memory."""

PROBE = f"""(module
  (import "{wasi.WASI}" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "{wasi.WASI}" "clock_res_get" (func $res (param i32 i32) (result i32)))
  (import "{wasi.WASI}" "random_get" (func $random (param i32 i32) (result i32)))
  (import "{wasi.WASI}" "fd_filestat_get" (func $fstat (param i32 i32) (result i32)))
  (import "{wasi.WASI}" "path_filestat_get"
    (func $pstat (param i32 i32 i32 i32 i32) (result i32)))
  (import "{wasi.WASI}" "fd_readdir" (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "{wasi.WASI}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1000) "zeta")
  (func (export "clock") (param i32 i32) (result i32)
    (call $clock (local.get 0) (i64.const 0) (local.get 1)))
  (func (export "clock_value") (param i32) (result i64)
    (drop (call $clock (local.get 0) (i64.const 0) (i32.const 0)))
    (i64.load (i32.const 0)))
  (func (export "res") (param i32 i32) (result i32) (call $res (local.get 0) (local.get 1)))
  (func (export "random") (param i32 i32) (result i32) (call $random (local.get 0) (local.get 1)))
  (func (export "fstat") (param i32 i32) (result i32) (call $fstat (local.get 0) (local.get 1)))
  (func (export "fstat_field") (param i32) (result i64)
    (drop (call $fstat (i32.const 3) (i32.const 0)))
    (i64.load (local.get 0)))
  (func (export "pstat") (param i32 i32 i32) (result i32)
    (call $pstat (i32.const 3) (i32.const 0) (local.get 0) (local.get 1) (local.get 2)))
  (func (export "pstat_size") (result i64)
    (drop (call $pstat (i32.const 3) (i32.const 0) (i32.const 1000) (i32.const 4) (i32.const 0)))
    (i64.load (i32.const 32)))
  (func (export "readdir") (param i32 i32 i64 i32) (result i32)
    (call $readdir (i32.const 3) (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "readdir_used") (param i32 i64) (result i32)
    (drop (call $readdir (i32.const 3) (i32.const 100) (local.get 0) (local.get 1) (i32.const 0)))
    (i32.load (i32.const 0)))
  (func (export "readdir_name") (param i64) (result i32)
    (drop (call $readdir
      (i32.const 3) (i32.const 100) (i32.const 4096) (local.get 0) (i32.const 0)))
    (i32.load8_u (i32.const 124)))
  (func (export "poll") (param i32 i32 i32) (result i32)
    (call $poll (local.get 0) (local.get 1) (local.get 2) (i32.const 0))))
"""

NO_MEMORY = f"""(module
  (import "{wasi.WASI}" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (func (export "clock") (result i32) (call $clock (i32.const 0) (i64.const 0) (i32.const 0))))
"""


@pytest.fixture(scope="module")
def probe() -> wasmtime.Module:
    return wasmtime.Module(wasm.engine(), PROBE)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder whose names, created in this order, are not in sorted order."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("zeta", "alpha", "mid"):
        (data / name).write_text(name + "\n")
    return data


def call(module: wasmtime.Module, folder: Path, entry: str, *params: int) -> Any:
    """Run `entry(*params)` of `module` in a fresh run with `folder` at /data (fd 3)."""
    io = folder.parent / "io"
    io.mkdir(exist_ok=True)
    (io / "stdin").touch()
    outcome = wasm.run_module(
        module,
        seed=b"test",
        preopens=[Preopen(folder, "/data")],
        stdin=io / "stdin",
        stdout=io / "stdout",
        stderr=io / "stderr",
        entrypoint=entry,
        params=params,
    )
    (result,) = outcome.results
    return result


@pytest.mark.parametrize(
    ("entry", "params"),
    [
        ("clock", (0, 65536 - 4)),  # 8 bytes from 4 before the end
        ("clock", (0, BEYOND)),
        ("res", (0, BEYOND)),
        ("random", (65536 - 10, 11)),
        ("random", (BEYOND, 1)),
        ("random", (0, -1)),  # 4 GiB: refused before a byte is made
        ("fstat", (3, 65536 - 63)),
        ("pstat", (BEYOND, 4, 0)),  # the path
        ("pstat", (1000, 4, 65536 - 8)),  # where the answer goes
        ("readdir", (65536 - 10, 100, 0, 0)),  # the buffer
        ("readdir", (0, 100, 0, BEYOND)),  # where the size goes
        ("poll", (BEYOND, 0, 1)),
    ],
)
def test_a_pointer_outside_memory_is_efault(
    probe: wasmtime.Module, folder: Path, entry: str, params: tuple[int, ...]
) -> None:
    assert call(probe, folder, entry, *params) == EFAULT


def test_a_module_without_memory_gets_efault(folder: Path) -> None:
    module = wasmtime.Module(wasm.engine(), NO_MEMORY)
    assert call(module, folder, "clock") == EFAULT


def test_clocks(probe: wasmtime.Module, folder: Path) -> None:
    assert call(probe, folder, "clock", 7, 0) == EINVAL
    assert call(probe, folder, "res", 4, 0) == EINVAL
    assert call(probe, folder, "clock", 3, 0) == SUCCESS
    assert call(probe, folder, "clock_value", 0) == wasi.EPOCH_NS + wasi.TICK_NS
    assert call(probe, folder, "clock_value", 1) == wasi.TICK_NS
    assert call(probe, folder, "poll", 0, 64, 0) == EINVAL  # no subscriptions


def test_a_listing_is_sorted_and_read_by_cookies(probe: wasmtime.Module, folder: Path) -> None:
    names = [chr(call(probe, folder, "readdir_name", cookie)) for cookie in range(5)]
    assert names == [".", ".", "a", "m", "z"]  # ., .., alpha, mid, zeta
    # a buffer too small for the entries: filled to the byte, the last entry cut short
    assert call(probe, folder, "readdir_used", 30, 0) == 30
    assert call(probe, folder, "readdir_used", 4096, 5) == 0  # past the end
    whole = call(probe, folder, "readdir_used", 4096, 0)
    assert whole == 5 * wasi.DIRENT.size + len(b"...alphamidzeta")


def test_file_stats_hide_the_host(probe: wasmtime.Module, folder: Path) -> None:
    field = {"dev": 0, "ino": 8, "filetype": 16, "nlink": 24, "size": 32, "atim": 40}
    stat = {name: call(probe, folder, "fstat_field", at) for name, at in field.items()}
    assert stat == {
        "dev": 0,
        "ino": 1,  # the first inode this run has met
        "filetype": wasi.FILETYPE_DIRECTORY,
        "nlink": 1,
        "size": 0,  # a directory's size is the file system's business
        "atim": wasi.EPOCH_NS,
    }
    assert call(probe, folder, "pstat_size") == len("zeta\n")
    assert call(probe, folder, "fstat", 9, 0) == wasi.EBADF  # wasmtime's own answer


def test_a_bug_in_a_shadow_is_raised_as_itself(
    probe: wasmtime.Module, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: wasi.DeterministicWasi, size: int) -> bytes:
        raise ZeroDivisionError("a bug")

    with monkeypatch.context() as patch:
        patch.setattr(wasi.DeterministicWasi, "random_bytes", broken)
        with pytest.raises(ZeroDivisionError, match="a bug"):
            call(probe, folder, "random", 0, 8)
    assert call(probe, folder, "random", 0, 8) == SUCCESS  # and nothing is left behind


def test_runs_on_several_threads_keep_to_their_own_state(
    probe: wasmtime.Module, tmp_path: Path
) -> None:
    """The shadows find their run through a thread-local, the shim's argument slots are
    the run's own: runs side by side see their own clocks, inodes and listings."""
    from concurrent.futures import ThreadPoolExecutor

    folders = []
    for i in range(4):
        copy = tmp_path / f"t{i}" / "data"
        copy.mkdir(parents=True)
        for name in ("zeta", "alpha", "mid"):
            (copy / name).write_text(name)
        folders.append(copy)

    def work(copy: Path) -> list[Any]:
        return [
            (
                call(probe, copy, "clock_value", 1),
                call(probe, copy, "fstat_field", 8),
                chr(call(probe, copy, "readdir_name", 2)),
            )
            for _ in range(25)
        ]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, folders))
    assert results == [[(wasi.TICK_NS, 1, "a")] * 25] * 4


# --- the raw layer ----------------------------------------------------------------------------

TRAPS = """(module
  (memory (export "memory") 1)
  (func (export "boom") (param i32) (result i32) unreachable))
"""
CALLS_HOST = """(module
  (import "host" "f" (func $f (param i32 i64) (result i32)))
  (func (export "go") (param i32 i64) (result i32) (call $f (local.get 0) (local.get 1))))
"""
CALLS_HOST_WITH_MEMORY = CALLS_HOST.replace(
    '(func (export "go")', '(memory (export "memory") 1) (func (export "go")'
)


def host_linker(fn: hostcall.HostFunction) -> tuple[wasmtime.Store, wasmtime.Linker, Any]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    functions = hostcall.HostFunctions()
    functions.add("host", "f", ("i32", "i64"), fn)
    functions.define_on(linker)
    return store, linker, functions


def test_params_arrive_unsigned_and_the_result_goes_back() -> None:
    seen: list[tuple[int, int]] = []

    def f(_call: hostcall.Call, a: int, b: int) -> int:
        seen.append((a, b))
        return a - 1

    store, linker, _keep = host_linker(f)
    go = linker.instantiate(store, wasmtime.Module(store.engine, CALLS_HOST)).exports(store)["go"]
    assert isinstance(go, wasmtime.Func)
    assert go(store, -1, -2) == -2  # 0xFFFFFFFF - 1, as wasm reads it back: signed
    assert seen == [(2**32 - 1, 2**64 - 2)]


def test_a_trap_in_a_call_back_into_wasm_ends_the_run_with_it() -> None:
    target: dict[str, hostcall.Function] = {}

    def f(call_: hostcall.Call, a: int, _b: int) -> int:
        return target["boom"](call_, a)

    store, linker, _keep = host_linker(f)
    traps = linker.instantiate(store, wasmtime.Module(store.engine, TRAPS)).exports(store)
    boom = traps["boom"]
    assert isinstance(boom, wasmtime.Func)
    target["boom"] = hostcall.Function(boom, ("i32",), 1)
    go = linker.instantiate(store, wasmtime.Module(store.engine, CALLS_HOST)).exports(store)["go"]
    assert isinstance(go, wasmtime.Func)
    with pytest.raises(wasmtime.Trap) as info:
        go(store, 1, 2)
    assert info.value.trap_code == wasmtime.TrapCode.UNREACHABLE
    assert hostcall.take_failure() is None  # a trap is the program's, not a bug


def test_a_host_function_that_raises_stops_the_call_and_is_kept() -> None:
    def f(_call: hostcall.Call, _a: int, _b: int) -> int:
        raise KeyError("lost")

    store, linker, _keep = host_linker(f)
    go = linker.instantiate(store, wasmtime.Module(store.engine, CALLS_HOST)).exports(store)["go"]
    assert isinstance(go, wasmtime.Func)
    with pytest.raises(wasmtime.WasmtimeError, match="jobc host function failed"):
        go(store, 1, 2)
    failure = hostcall.take_failure()
    assert isinstance(failure, KeyError)
    assert hostcall.take_failure() is None


def test_memory_reads_and_writes_stay_inside() -> None:
    got: list[bytes] = []

    def f(call_: hostcall.Call, a: int, _b: int) -> int:
        call_.write(a, struct.pack("<I", 0xCAFE))
        got.append(call_.read(a, 4))
        try:
            call_.read(65536 - 3, 4)
        except hostcall.Fault:
            return 1
        return 0

    store, linker, _keep = host_linker(f)
    module = wasmtime.Module(store.engine, CALLS_HOST_WITH_MEMORY)
    go = linker.instantiate(store, module).exports(store)["go"]
    assert isinstance(go, wasmtime.Func)
    assert go(store, 16, 0) == 1
    assert got == [struct.pack("<I", 0xCAFE)]
