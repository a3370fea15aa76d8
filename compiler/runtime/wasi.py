"""Deterministic WASI: the preview1 imports that would leak the host, shadowed.

wasmtime's own WASI implementation does the real work (files, preopens, argv, env,
stdio: native code, sandboxed by cap-std). Seven of its imports would let a program see
the machine it runs on, so they are defined again here, in Python, on the same linker
(`allow_shadowing`):

- `clock_time_get`, `clock_res_get` (the time, the host's timer): a virtual clock that
  reads `EPOCH` (2000-01-01T00:00:00Z) on the realtime clock and 0 on the others at the
  start, advances 1 µs per reading and by every sleep; a resolution of 1 µs.
- `random_get` (entropy): a ChaCha20 stream keyed by the job CID.
- `poll_oneoff` (real sleeps, readiness): clock subscriptions fire at once, the virtual
  clock moving to their deadline; files are always ready.
- `fd_filestat_get`, `path_filestat_get` (times, inode and device numbers, link counts,
  directory sizes): times `EPOCH`, device 0, inodes numbered 1, 2, 3… in the order the
  program first meets them, one link, directory size 0.
- `fd_readdir` (the file system's entry order, inode numbers): `.` and `..`, then the
  entries sorted by the bytes of their names; inodes as above.

The three file calls chain to wasmtime's own: through a small *shim* module that
imports them and has its own memory, so the host writes into the shim's memory and this
module copies the cleaned result into the program's (wasmtime's WASI needs the calling
instance's memory, which a call straight from Python does not have). The other calls
are answered here entirely. Both crossings, wasm → Python and Python → shim, go through
`runtime/hostcall.py` (raw values, none of wasmtime-py's per-call objects). Only these
seven go through Python, so a program's reads and writes run at native speed
(bench/run.py measures the whole runner against bare wasmtime). Everything else a
program can observe is fixed by the runner: argv, env, the
preopened folders (sorted by guest path), stdin.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import wasmtime

    from compiler.runtime.hostcall import Call, Function, HostFunctions, Memory, WasmInt

WASI = "wasi_snapshot_preview1"
EPOCH_NS = 946_684_800 * 1_000_000_000
"""2000-01-01T00:00:00Z: the realtime clock's reading at the start of every run."""
TICK_NS = 1_000
"""Each clock reading advances the virtual clock by this much, so time never stands
still (a loop that waits for time to pass ends) and readings are distinct."""
RESOLUTION_NS = 1_000

# WASI errno values (preview1).
SUCCESS = 0
EBADF = 8
EFAULT = 21
EINVAL = 28
ENAMETOOLONG = 37

# Layouts (preview1, little-endian).
FILESTAT = struct.Struct("<QQB7xQQQQQ")
"""dev, ino, filetype, nlink, size, atim, mtim, ctim: 64 bytes."""
DIRENT = struct.Struct("<QQIB3x")
"""d_next, d_ino, d_namlen, d_type: 24 bytes, then the name."""
SUBSCRIPTION_SIZE = 48
EVENT = struct.Struct("<QHB5xQH6x")
"""userdata, error, type, fd_readwrite.nbytes, fd_readwrite.flags: 32 bytes."""
FILETYPE_DIRECTORY = 3
EVENTTYPE_CLOCK = 0
SUBCLOCKFLAGS_ABSTIME = 1

# The shim's own memory: a listing buffer, then room for a filestat and a path.
_SCRATCH = 65_536
_FILESTAT_AT = _SCRATCH
_USED_AT = _SCRATCH + 64
_PATH_AT = _SCRATCH + 128
_PATH_MAX = 65_536 - 128

SHIM_WAT = f"""(module
  (import "{WASI}" "fd_readdir" (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "{WASI}" "fd_filestat_get" (func $fstat (param i32 i32) (result i32)))
  (import "{WASI}" "path_filestat_get" (func $pstat (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "fd_readdir") (param i32 i32 i32 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $readdir)
  (func (export "fd_filestat_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fstat)
  (func (export "path_filestat_get") (param i32 i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $pstat))
"""
"""Calls wasmtime's own WASI functions with its own memory, for the shadows to read."""

SIGNATURES: dict[str, tuple[WasmInt, ...]] = {
    "clock_time_get": ("i32", "i64", "i32"),
    "clock_res_get": ("i32", "i32"),
    "random_get": ("i32", "i32"),
    "poll_oneoff": ("i32", "i32", "i32", "i32"),
    "fd_filestat_get": ("i32", "i32"),
    "path_filestat_get": ("i32", "i32", "i32", "i32", "i32"),
    "fd_readdir": ("i32", "i32", "i32", "i64", "i32"),
}
"""The shadowed imports and their parameters (each returns an i32 errno)."""
CHAINED = ("fd_filestat_get", "path_filestat_get", "fd_readdir")
"""The shadows that ask wasmtime's WASI first, through the shim."""


@dataclass
class _Listing:
    entries: list[tuple[bytes, int, int]]
    """(name, inode as the host gave it, d_type), in the order the program sees them."""


@dataclass
class DeterministicWasi:
    """The host side of one run: the virtual clock, the random stream, the inode
    numbers given out so far, the directory listings being read."""

    seed: bytes
    """What the random stream is keyed by (the job CID's bytes)."""
    elapsed_ns: int = 0
    inodes: dict[int, int] = field(default_factory=dict)
    listings: dict[int, _Listing] = field(default_factory=dict)
    _random: Any = None
    _shim: dict[str, Function] = field(default_factory=dict)
    _scratch: Memory | None = None

    # -- wiring

    def attach_shim(self, store: wasmtime.Store, instance: wasmtime.Instance) -> None:
        """Use `instance` (of `SHIM_WAT`, linked to wasmtime's WASI) to reach the host."""
        import wasmtime

        from compiler.runtime.hostcall import Function, Memory

        exports = instance.exports(store)
        self._shim = {
            name: Function(cast(wasmtime.Func, exports[name]), SIGNATURES[name], 1)
            for name in CHAINED
        }
        self._scratch = Memory(cast(wasmtime.Memory, exports["memory"]))

    @property
    def scratch(self) -> Memory:
        """The shim's memory, where wasmtime's WASI writes what the shadows clean."""
        if self._scratch is None:
            raise RuntimeError("the shim is not attached")
        return self._scratch

    # -- clocks and randomness

    def clock_time_get(self, guest: Call, clock_id: int, _precision: int, out: int) -> int:
        """The virtual clock (realtime = EPOCH + elapsed; the others = elapsed)."""
        if clock_id > 3:
            return EINVAL
        self.elapsed_ns += TICK_NS
        now = self.elapsed_ns + (EPOCH_NS if clock_id == 0 else 0)
        guest.write(out, struct.pack("<Q", now))
        return SUCCESS

    def clock_res_get(self, guest: Call, clock_id: int, out: int) -> int:
        """Every clock ticks in microseconds."""
        if clock_id > 3:
            return EINVAL
        guest.write(out, struct.pack("<Q", RESOLUTION_NS))
        return SUCCESS

    def random_get(self, guest: Call, buf: int, size: int) -> int:
        """The next `size` bytes of the job's random stream."""
        guest.check(buf, size)  # before making them: `size` is the program's to choose
        guest.write(buf, self.random_bytes(size))
        return SUCCESS

    def random_bytes(self, size: int) -> bytes:
        """The next `size` bytes of ChaCha20 keyed by sha256(seed)."""
        if self._random is None:
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

            key = hashlib.sha256(b"jobc random_get\0" + self.seed).digest()
            cipher = Cipher(algorithms.ChaCha20(key, b"\0" * 16), mode=None)
            self._random = cipher.encryptor()
        data: bytes = self._random.update(b"\0" * size)
        return data

    def poll_oneoff(self, guest: Call, subs: int, events: int, n: int, nevents: int) -> int:
        """Clock subscriptions fire at once, the earliest first (the virtual clock moves
        to its deadline); fd subscriptions are ready at once."""
        if n == 0:
            return EINVAL
        raw = guest.read(subs, n * SUBSCRIPTION_SIZE)
        ready: list[bytes] = []
        earliest: tuple[int, int, int] | None = None  # (deadline, userdata, index)
        for i in range(n):
            sub = raw[i * SUBSCRIPTION_SIZE : (i + 1) * SUBSCRIPTION_SIZE]
            userdata, tag = struct.unpack_from("<QB", sub, 0)
            if tag == EVENTTYPE_CLOCK:
                clock_id, timeout, _precision, flags = struct.unpack_from("<I4xQQH", sub, 16)
                if clock_id > 3:
                    ready.append(EVENT.pack(userdata, EINVAL, tag, 0, 0))
                    continue
                now = self.elapsed_ns + (EPOCH_NS if clock_id == 0 else 0)
                if flags & SUBCLOCKFLAGS_ABSTIME:
                    deadline = max(self.elapsed_ns, self.elapsed_ns + timeout - now)
                else:
                    deadline = self.elapsed_ns + timeout
                if earliest is None or deadline < earliest[0]:
                    earliest = (deadline, userdata, i)
            elif tag in (1, 2):
                ready.append(EVENT.pack(userdata, SUCCESS, tag, 0, 0))
            else:
                ready.append(EVENT.pack(userdata, EINVAL, tag, 0, 0))
        if not ready and earliest is not None:
            self.elapsed_ns = earliest[0]
            ready.append(EVENT.pack(earliest[1], SUCCESS, EVENTTYPE_CLOCK, 0, 0))
        guest.write(events, b"".join(ready))
        guest.write(nevents, struct.pack("<I", len(ready)))
        return SUCCESS

    # -- files

    def fd_filestat_get(self, guest: Call, fd: int, out: int) -> int:
        """wasmtime's answer, with the host's traces taken out."""
        errno = self._shim["fd_filestat_get"](guest, fd, _FILESTAT_AT)
        if errno == SUCCESS:
            guest.write(out, self._clean_filestat(guest))
        return errno

    def path_filestat_get(
        self, guest: Call, fd: int, flags: int, path: int, size: int, out: int
    ) -> int:
        """wasmtime's answer, with the host's traces taken out."""
        if size > _PATH_MAX:
            return ENAMETOOLONG
        self.scratch.write(guest, _PATH_AT, guest.read(path, size))
        errno = self._shim["path_filestat_get"](guest, fd, flags, _PATH_AT, size, _FILESTAT_AT)
        if errno == SUCCESS:
            guest.write(out, self._clean_filestat(guest))
        return errno

    def _clean_filestat(self, guest: Call) -> bytes:
        raw = self.scratch.read(guest, _FILESTAT_AT, FILESTAT.size)
        _dev, ino, filetype, _nlink, size, _a, _m, _c = FILESTAT.unpack(raw)
        if filetype == FILETYPE_DIRECTORY:
            size = 0  # a directory's size is the file system's business
        return FILESTAT.pack(0, self.inode(ino), filetype, 1, size, EPOCH_NS, EPOCH_NS, EPOCH_NS)

    def inode(self, host: int) -> int:
        """The inode number the program sees: 1, 2, 3… in the order it first meets them."""
        number = self.inodes.get(host)
        if number is None:
            number = self.inodes[host] = len(self.inodes) + 1
        return number

    def fd_readdir(
        self, guest: Call, fd: int, buf: int, size: int, cookie: int, used_ptr: int
    ) -> int:
        """The whole listing, read once when the program starts at cookie 0, sorted; the
        cookie is the index of the next entry."""
        listing = self.listings.get(fd)
        if listing is None or cookie == 0:
            errno, listing = self._read_listing(guest, fd)
            if listing is None:
                return errno
            self.listings[fd] = listing
        out = bytearray()
        for index in range(cookie, len(listing.entries)):
            if len(out) >= size:
                break
            name, ino, d_type = listing.entries[index]
            out += DIRENT.pack(index + 1, self.inode(ino), len(name), d_type) + name
        data = bytes(out[:size])  # a truncated last entry tells the program to ask again
        guest.write(buf, data)
        guest.write(used_ptr, struct.pack("<I", len(data)))
        return SUCCESS

    def _read_listing(self, guest: Call, fd: int) -> tuple[int, _Listing | None]:
        entries: list[tuple[bytes, int, int]] = []
        memory = self.scratch
        readdir = self._shim["fd_readdir"]
        cookie = 0
        while True:
            errno = readdir(guest, fd, 0, _SCRATCH, cookie, _USED_AT)
            if errno != SUCCESS:
                return errno, None
            used = struct.unpack("<I", memory.read(guest, _USED_AT, 4))[0]
            data = memory.read(guest, 0, used)
            pos = 0
            while pos + DIRENT.size <= used:
                d_next, ino, namelen, d_type = DIRENT.unpack_from(data, pos)
                end = pos + DIRENT.size + namelen
                if end > used:
                    break  # cut short: read it again from its own cookie
                entries.append((bytes(data[pos + DIRENT.size : end]), ino, d_type))
                cookie = d_next
                pos = end
            if used < _SCRATCH:
                break
            if pos == 0:
                raise ValueError("a directory entry larger than 64 KiB")
        dots = [e for e in entries if e[0] in (b".", b"..")]
        rest = sorted((e for e in entries if e[0] not in (b".", b"..")), key=lambda e: e[0])
        return SUCCESS, _Listing(sorted(dots, key=lambda e: e[0]) + rest)


def define(linker: wasmtime.Linker, current: Callable[[], DeterministicWasi]) -> None:
    """Define the shadowing imports on `linker` (which must allow shadowing and already
    have wasmtime's WASI defined). Each call goes to `current()`, the state of the run
    under way on this thread, so one linker serves every run of the process."""
    _shadows(current).define_on(linker)


@functools.cache
def _shadows(current: Callable[[], DeterministicWasi]) -> HostFunctions:
    from compiler.runtime.hostcall import HostFunctions

    functions = HostFunctions()
    for name, params in SIGNATURES.items():
        functions.add(WASI, name, params, _guarded(getattr(DeterministicWasi, name), current))
    return functions


def _guarded(
    fn: Callable[..., int], current: Callable[[], DeterministicWasi]
) -> Callable[..., int]:
    """A shadow as the host calls it: EFAULT for a pointer outside the program's memory."""
    from compiler.runtime.hostcall import Fault

    def call(guest: Call, *args: int) -> int:
        try:
            return fn(current(), guest, *args)
        except Fault:
            return EFAULT

    return call
