"""Host functions, and calls back into wasm, at the level of wasmtime's C API.

The runner answers a few WASI imports in Python (`runtime/wasi.py`), and some of those
answers call wasmtime's own WASI through a shim instance. wasmtime-py's wrappers for both
directions (`Linker.define_func`, `Func.__call__`) convert every argument and result
through `Val` and `ValType` objects, each a native allocation with a finalizer, and look
the callee's type up again on every call: about 20 µs a crossing on this machine, more
than the WASI call being wrapped. A small job makes four such calls; through the stock
wrappers they were a fifth of its run time (bench/run.py).

This module crosses with wasmtime's `*_unchecked` entry points instead: raw integers in a
`wasmtime_val_raw_t` array, no per-call objects. It uses the ctypes bindings wasmtime-py
ships (`wasmtime._ffi`) and the handles inside its objects (`Func._func`,
`Memory._memory`), which are not wasmtime-py's public API: pyproject pins wasmtime to one
major version, and the runner's tests exercise every function here.

Only integer signatures are supported (all WASI preview1 needs). What a host function
raises other than `Fault` or `Trapped` is a bug: it stops the run with a trap, and
`take_failure()` hands the exception to the runner to raise as it is.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Sequence
from ctypes import POINTER, byref, c_void_p
from typing import Any, Literal

import wasmtime
from wasmtime import _ffi as ffi

WasmInt = Literal["i32", "i64"]
HostFunction = Callable[..., int]
"""`fn(call, *params) -> result`: the params as unsigned integers."""

_MASKS = {"i32": (1 << 32) - 1, "i64": (1 << 64) - 1}
_VALTYPES = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64}


class Fault(Exception):
    """A pointer outside the caller's memory, or a caller without a `memory` export."""


class Trapped(Exception):
    """A call back into wasm trapped (out of fuel, out of time, …): the trap is handed on
    to the run, which ends with it."""

    def __init__(self, trap: ctypes._Pointer[Any]) -> None:
        super().__init__("trapped")
        self.trap = trap


_FAILED = threading.local()
"""`error`: the exception a host function raised on this thread, for the runner."""


def take_failure() -> BaseException | None:
    """The exception a host function raised during the run just ended on this thread (and
    forget it), or None."""
    error: BaseException | None = getattr(_FAILED, "error", None)
    _FAILED.error = None
    return error


class Call:
    """One host call: the caller's store context and its exported `memory`."""

    __slots__ = ("_caller", "_extern", "_memory", "context")

    def __init__(self, caller: Any) -> None:
        self._caller = caller
        self.context = ffi.wasmtime_caller_context(caller)
        self._extern: Any = None
        self._memory: Any = None

    def _caller_memory(self) -> Any:
        if self._memory is None:
            found = ffi.wasmtime_extern_t()
            name = b"memory"
            ok = ffi.wasmtime_caller_export_get(self._caller, name, len(name), byref(found))
            kind: Any = found.kind  # an int when read from the structure
            if not ok or kind != ffi.WASMTIME_EXTERN_MEMORY.value:
                raise Fault
            self._extern = found  # what the reference below points into
            self._memory = byref(found.of.memory)
        return self._memory

    def check(self, ptr: int, size: int) -> None:
        """Fault unless `size` bytes at `ptr` are inside the caller's memory."""
        _check(self.context, self._caller_memory(), ptr, size)

    def read(self, ptr: int, size: int) -> bytes:
        """`size` bytes of the caller's memory at `ptr`; Fault outside it."""
        return _read(self.context, self._caller_memory(), ptr, size)

    def write(self, ptr: int, data: bytes) -> None:
        """Write `data` into the caller's memory at `ptr`; Fault outside it."""
        _write(self.context, self._caller_memory(), ptr, data)


def _check(context: Any, memory: Any, ptr: int, size: int) -> None:
    if ptr + size > ffi.wasmtime_memory_data_size(context, memory):
        raise Fault


def _read(context: Any, memory: Any, ptr: int, size: int) -> bytes:
    _check(context, memory, ptr, size)
    base = ctypes.cast(ffi.wasmtime_memory_data(context, memory), c_void_p).value or 0
    return ctypes.string_at(base + ptr, size)


def _write(context: Any, memory: Any, ptr: int, data: bytes) -> None:
    _check(context, memory, ptr, len(data))
    if data:
        base = ctypes.cast(ffi.wasmtime_memory_data(context, memory), c_void_p).value or 0
        ctypes.memmove(base + ptr, data, len(data))


class Memory:
    """A memory exported by an instance, read and written during host calls."""

    __slots__ = ("_handle", "_memory")

    def __init__(self, memory: wasmtime.Memory) -> None:
        self._memory = memory  # keeps the handle's owner alive
        self._handle = byref(memory._memory)

    def read(self, call: Call, ptr: int, size: int) -> bytes:
        return _read(call.context, self._handle, ptr, size)

    def write(self, call: Call, ptr: int, data: bytes) -> None:
        _write(call.context, self._handle, ptr, data)


class Function:
    """A wasm function exported by an instance, called during host calls."""

    __slots__ = ("_func", "_handle", "_kinds", "_slots")

    def __init__(self, func: wasmtime.Func, params: Sequence[WasmInt], results: int) -> None:
        self._func = func
        self._handle = byref(func._func)
        self._kinds = tuple(params)
        self._slots = (ffi.wasmtime_val_raw_t * max(len(params), results, 1))()

    def __call__(self, call: Call, *args: int) -> int:
        """Call it with `args`; its first result (as a signed integer, as wasm gives it).
        Raises Trapped if it traps."""
        slots = self._slots
        for i, (kind, value) in enumerate(zip(self._kinds, args, strict=True)):
            if kind == "i32":
                slots[i].i32 = value
            else:
                slots[i].i64 = value
        trap = POINTER(ffi.wasm_trap_t)()
        error = ffi.wasmtime_func_call_unchecked(
            call.context, self._handle, slots, len(slots), byref(trap)
        )
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)
        if trap:
            raise Trapped(trap)
        return int(slots[0].i32)


_NO_FINALIZER = ctypes.CFUNCTYPE(None, c_void_p)()
"""A null finalizer: host functions here carry no environment to free (and a Python one
could be called by a linker dropped while the interpreter shuts down)."""


class HostFunctions:
    """Host functions made ready once, to be defined on any number of linkers (the
    callbacks live as long as this object, so keep it for the process)."""

    def __init__(self) -> None:
        self._defined: list[tuple[str, str, tuple[WasmInt, ...], Any]] = []

    def add(
        self,
        module: str,
        name: str,
        params: Sequence[WasmInt],
        fn: HostFunction,
    ) -> None:
        """`fn(call, *params) -> int` as the import `module`.`name`, returning one i32.
        Params reach it unsigned (wasm hands them over signed)."""
        layout = tuple((kind, _MASKS[kind]) for kind in params)

        def callback(_env: Any, caller: Any, slots: Any, _count: int) -> int:
            try:
                values = [
                    (slots[i].i32 if kind == "i32" else slots[i].i64) & mask
                    for i, (kind, mask) in enumerate(layout)
                ]
                slots[0].i32 = fn(Call(caller), *values)
                return 0
            except Trapped as trapped:
                return ctypes.cast(trapped.trap, c_void_p).value or 0
            except BaseException as exc:  # a bug: the run ends, the runner raises it
                _FAILED.error = exc
                message = b"jobc host function failed"
                trap = ffi.wasmtime_trap_new(message, len(message))
                return ctypes.cast(trap, c_void_p).value or 0

        raw = ffi.wasmtime_func_unchecked_callback_t(callback)
        self._defined.append((module, name, tuple(params), raw))

    def define_on(self, linker: wasmtime.Linker) -> None:
        """Define every function added on `linker` (shadowing must be allowed if they
        replace definitions already there)."""
        for module, name, params, raw in self._defined:
            # Made here and dropped at once: a wasmtime object kept for the process would
            # be finalized after wasmtime-py's bindings at exit.
            ty = wasmtime.FuncType([_VALTYPES[k]() for k in params], [wasmtime.ValType.i32()])
            m, n = module.encode(), name.encode()
            error = ffi.wasmtime_linker_define_func_unchecked(
                linker.ptr(), m, len(m), n, len(n), ty.ptr(), raw, None, _NO_FINALIZER
            )
            if error:
                raise wasmtime.WasmtimeError._from_ptr(error)
