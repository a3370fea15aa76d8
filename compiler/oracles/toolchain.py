"""The toolchain oracle: compiles Rust, C and WAT sources to WASM modules (the `lower` pass).

`ask("toolchain", {"source": Link}, context={"language": …, "edition": …, "places": …})`
answers `{"toolchain": Link, "module": Link}`: the CID of the toolchain descriptor (a
DAG-CBOR block put into the store: compiler, exact version, target, flags, the CID of
its sysroot's contents, the Debian packages it came from) and the UnixFS CID of the
module it made (its blocks put into the store). A WASM module that is already binary
gets `{"module": source}` alone: nothing to lower. Compiler warnings ride along under
`warnings` (never part of the fact).

Reproducible by construction: the source is copied into a fresh directory that the
compiler sees at `/src` (Rust: `main.rs`, or the crate's own layout; C: its `.c` files)
and the module is written to `/out`, inside a bubblewrap sandbox that holds only `/usr`
(read-only), those two directories and the sysroot: so no path, time or host file leaks
into the module, and the same source and toolchain give the same bytes on any machine
(tests/test_lower.py builds from two directories and compares). The sandbox also has no
network (a fresh network namespace) and runs under `prlimit` limits: address space
(`lower_memory`, default 2 GiB), CPU time and wall-clock time (`lower_timeout`, default
300 s), file size (256 MiB).

Lowering is memoized in the store by (source CID, toolchain CID) → module CID (cache
`lower`), so a second compile of the same source runs no compiler. A toolchain's
descriptor is cached under a fingerprint of the installed files (the compiler's and
linker's inodes and mtimes, the sysroot folders', dpkg's status file), in the process
and in the store (cache `toolchain`), since hashing a sysroot reads 130 MB.

Rust: Debian's `/usr/bin/rustc` by absolute path (another rustc may come first on
PATH), `--target wasm32-wasi` with the given edition, `-C opt-level=2 -C codegen-units=1
-C debuginfo=0 -C strip=symbols`, linked by its `rust-lld`, sysroot
`/usr/lib/rustlib/wasm32-wasi`. A single file, or a crate folder with `src/main.rs` and
modules and no dependencies (a `Cargo.toml` with dependencies, a build script or a
proc-macro is an error). C: `clang --target=wasm32-wasi` with a sysroot made of Debian's
`wasi-libc` folders only (not the host's /usr/include), `-O2 -g0 -Wl,--strip-all`; a
single file, or every `.c` file of a folder (`-I/src`). WAT: wasmtime's own parser.

Settings (`CompileOptions.settings`): `lower_timeout` (seconds), `lower_memory` (bytes),
`rustc` and `clang` (paths of the compilers).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from compiler import identity, unixfs
from compiler.diagnostics import Diagnostic, Severity, Span
from compiler.ir import RUST_DEFAULT_EDITION, FrozenMap, Link, Value
from compiler.oracles import Fact, OracleError, OracleUnavailable, process
from compiler.sources import ContentError

if TYPE_CHECKING:
    from compiler.oracles.live import LiveContext
    from compiler.store import Store

LOWER_CACHE = "lower"
"""Store cache: `<source CID>|<toolchain CID>` → `{"module": CID, "warnings": [...]}`."""
TOOLCHAIN_CACHE = "toolchain"
"""Store cache: toolchain fingerprint → `{"cid": CID}` (the descriptor is a block)."""
SNIFF_CACHE = "lower-sniff"
"""Store cache: module CID → `"binary"` once a WASM module is known not to be WAT."""
DESCRIPTOR_VERSION = 1
"""Bump when the descriptor's fields change (the toolchain CIDs of every lowering do)."""

RUSTC = "/usr/bin/rustc"
CLANG = "/usr/bin/clang"
RUST_LLD = "/usr/bin/rust-lld"
WASM_LD = "/usr/bin/wasm-ld"
RUST_SYSROOT = "/usr/lib/rustlib/wasm32-wasi"
WASI_INCLUDE = "/usr/include/wasm32-wasi"
WASI_LIB = "/usr/lib/wasm32-wasi"
TARGET = "wasm32-wasi"
DPKG_STATUS = "/var/lib/dpkg/status"

DEFAULT_TIMEOUT = 300.0
DEFAULT_MEMORY = 2 << 30
MAX_FILE = 256 << 20
MAX_SOURCE = 64 << 20
"""Largest source (all files of a crate together) jobc lowers."""

RUST_FLAGS = (
    "--crate-name",
    "main",
    "--crate-type",
    "bin",
    "--target",
    TARGET,
    "-C",
    "opt-level=2",
    "-C",
    "codegen-units=1",
    "-C",
    "debuginfo=0",
    "-C",
    "strip=symbols",
)
C_FLAGS = (f"--target={TARGET}", "--sysroot=/sysroot", "-O2", "-g0", "-Wl,--strip-all", "-I/src")

Handler = Callable[[Fact], Fact]


class LoweringFailed(OracleError):
    """The compiler rejected the source: its diagnostics, placed in the source files."""

    def __init__(self, message: str, diagnostics: list[Diagnostic], hint: str = "") -> None:
        super().__init__(message, hint, "lower", diagnostics)


@dataclass(frozen=True, slots=True)
class Toolchain:
    """A compiler as installed here: its descriptor block and how to run it."""

    language: str
    descriptor: FrozenMap[Value]
    cid: Link
    block: bytes
    argv: tuple[str, ...] = ()
    """The compiler and its flags (sources and output are added per lowering)."""
    binds: tuple[tuple[str, str], ...] = ()
    """Extra read-only folders in the sandbox: (host path, sandbox path)."""


def handler(context: LiveContext) -> Handler:
    """The `toolchain` handler of a live compile (registered in `oracles.live.FACTORIES`)."""
    return Lowerer(context).answer


# --- the handler ----------------------------------------------------------------------------


class Lowerer:
    """Answers lowering questions for one compile."""

    def __init__(self, context: LiveContext) -> None:
        self.context = context
        settings = context.settings
        self.timeout = float(settings.get("lower_timeout", DEFAULT_TIMEOUT))
        self.memory = int(settings.get("lower_memory", DEFAULT_MEMORY))
        self.rustc = str(settings.get("rustc", RUSTC))
        self.clang = str(settings.get("clang", CLANG))
        self.memo = not bool(settings.get("lower_no_memo", False)) and not context.refresh

    @property
    def store(self) -> Store:
        """The store (blocks, memo): lowering needs one."""
        try:
            return self.context.store
        except Exception as exc:  # an unwritable data dir: no lowering, not a crash
            raise OracleUnavailable(f"no store to keep the module in: {exc}") from None

    def answer(self, question: Fact) -> Fact:
        """`{"toolchain", "module"}` for `{"source", "language", "edition"?, "places"?}`."""
        source = question.get("source")
        language = question.get("language")
        if not isinstance(source, Link) or language not in ("rust", "c", "wasm"):
            raise OracleError("a toolchain question needs a source CID and a language")
        edition = question.get("edition")
        places = question.get("places") or ()
        assert isinstance(places, tuple)
        place_list = [p for p in places if isinstance(p, str)]
        if language == "wasm" and self._is_binary(source, place_list):
            return FrozenMap({"module": source})
        toolchain = self.toolchain(str(language), str(edition or ""))
        key = f"{source}|{toolchain.cid}"
        store = self.store
        if self.memo:
            hit = store.cache_get(LOWER_CACHE, key)
            if isinstance(hit, dict) and isinstance(hit.get("module"), str):
                module = Link.parse(hit["module"])
                if store.has_block(module) and store.has_block(toolchain.cid):
                    return _answer(toolchain.cid, module, hit.get("warnings", []))
        from compiler.oracles.content import store_sink

        with tempfile.TemporaryDirectory(prefix="jobc-lower-") as tmp:
            work = Path(tmp)
            src = work / "src"
            local = self._materialize(source, place_list, work / "in")
            _layout(work / "in", src, SINGLE_FILE[toolchain.language])
            module_bytes, warnings = self._lower(toolchain, src, work, local)
            with store.transaction():
                module = Link(unixfs.file_entry(module_bytes, store_sink(store)).cid)
                store.put_block(toolchain.cid, toolchain.block)
                store.cache_put(
                    LOWER_CACHE, key, {"module": str(module), "warnings": warnings}, ttl=None
                )
        return _answer(toolchain.cid, module, warnings)

    # -- the source

    def _materialize(self, source: Link, places: list[str], dest: Path) -> Path | None:
        """Put the source at `dest` (from the store, else from a local place, which is
        hashed into the store first and must give `source`); returns the local path it
        came from, if any, for diagnostics."""
        from compiler.oracles.content import ContentOracle, export, store_path

        store = self.store
        local: Path | None = None
        for place in places:
            if not place.startswith("file:") or place.startswith("file://"):
                continue
            try:
                path = ContentOracle(self.context).locate(place)
            except (ContentError, OracleUnavailable):
                continue
            if local is None:
                local = Path(self.context.base_dir) / place.removeprefix("file:")
            if not store.has_block(source) and path.exists():
                with store.transaction():
                    got = store_path(path, store)
                if got.cid != source.raw:
                    raise OracleError(
                        f"{place} changed since it was hashed (it is now {Link(got.cid)})",
                        "compile again",
                        "changed",
                    )
        if not store.has_block(source):
            raise OracleUnavailable(
                f"the source {source} is neither in the store nor a local file here"
            )
        try:
            export(source, store, dest)
        except ContentError as exc:
            raise OracleUnavailable(exc.message) from None
        size = (
            dest.stat().st_size if dest.is_file() else sum(p.stat().st_size for p in _files(dest))
        )
        if size > MAX_SOURCE:
            raise OracleError(
                f"the source is {size:,} bytes, more than jobc lowers ({MAX_SOURCE:,})",
                code="too-large",
            )
        return local

    def _is_binary(self, source: Link, places: list[str]) -> bool:
        """Whether a WASM module is binary (so nothing to lower), remembered by CID."""
        from compiler.oracles.content import ContentOracle, read_file

        store = self.store
        if store.cache_get(SNIFF_CACHE, str(source)) == "binary":
            return True
        head: bytes | None = None
        try:
            head = next(read_file(source, store), b"")[:4]
        except ContentError:
            for place in places:
                if place.startswith("file:") and not place.startswith("file://"):
                    try:
                        with ContentOracle(self.context).locate(place).open("rb") as file:
                            head = file.read(4)
                    except (ContentError, OracleUnavailable, OSError):
                        continue
                    break
        if head is None:
            raise OracleUnavailable(f"the module {source} cannot be read here")
        if head == b"\0asm":
            store.cache_put(SNIFF_CACHE, str(source), "binary", ttl=None)
            return True
        return False

    # -- compiling

    def _lower(
        self, toolchain: Toolchain, src: Path, work: Path, local: Path | None
    ) -> tuple[bytes, list[dict[str, Any]]]:
        """Compile the source at `src`; returns the module bytes and the warnings."""
        if toolchain.language == "wasm":
            return _wat2wasm(src, local), []
        inputs = [_rust_root(src, toolchain)] if toolchain.language == "rust" else _c_sources(src)
        out = work / "out"
        out.mkdir()
        argv = [*toolchain.argv, *inputs, "-o", "/out/main.wasm"]
        if toolchain.language == "rust":
            argv.append("--error-format=json")
        proc = sandboxed(
            argv,
            src=src,
            out=out,
            binds=toolchain.binds,
            timeout=self.timeout,
            memory=self.memory,
        )
        parse = _rustc_diagnostics if toolchain.language == "rust" else _clang_diagnostics
        diagnostics = [_placed(d, src, local) for d in parse(proc.stderr)]
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        module = out / "main.wasm"
        if proc.returncode != 0 or errors or not module.is_file():
            name = "rustc" if toolchain.language == "rust" else "clang"
            if not errors:
                tail = proc.stderr.decode("utf-8", "replace").strip()[-2000:]
                why = tail or f"it exited with status {proc.returncode}"
                errors = [Diagnostic(Severity.ERROR, f"{name} failed: {why}", code="lower")]
                diagnostics = [*diagnostics, *errors]
            n = len(errors)
            raise LoweringFailed(f"{name} reported {n} error{'s' if n != 1 else ''}", diagnostics)
        warnings = [_warning_json(d) for d in diagnostics if d.severity is Severity.WARNING]
        return module.read_bytes(), warnings

    # -- toolchains

    def toolchain(self, language: str, edition: str) -> Toolchain:
        """The toolchain for `language` (and Rust `edition`) as installed here."""
        if language == "rust":
            edition = edition or RUST_DEFAULT_EDITION
            return _cached(
                ("rust", edition, self.rustc),
                [self.rustc, RUST_LLD, RUST_SYSROOT, f"{RUST_SYSROOT}/lib"],
                self.store,
                lambda: _rust_toolchain(self.rustc, edition, self.store),
            )
        if language == "c":
            return _cached(
                ("c", self.clang),
                [self.clang, WASM_LD, WASI_INCLUDE, WASI_LIB],
                self.store,
                lambda: _c_toolchain(self.clang, self.store),
            )
        return _wat_toolchain()


SINGLE_FILE = {"rust": "main.rs", "c": "main.c", "wasm": "module.wat"}
"""The fixed name a single-file source gets in the sandbox (`/src/main.rs`)."""


def _layout(given: Path, src: Path, name: str) -> None:
    """Move the exported source to `src`: a folder as it is, a file as `src/<name>`."""
    if given.is_dir() and not given.is_symlink():
        given.rename(src)
    else:
        src.mkdir()
        given.rename(src / name)


def _answer(toolchain: Link, module: Link, warnings: Any) -> Fact:
    notes = tuple(FrozenMap({k: v for k, v in w.items() if v is not None}) for w in warnings or ())
    return FrozenMap({"toolchain": toolchain, "module": module, "warnings": notes})


def _files(folder: Path) -> Iterator[Path]:
    for root, _dirs, names in os.walk(folder):
        for name in names:
            yield Path(root) / name


# --- the sandbox ----------------------------------------------------------------------------


def sandboxed(
    argv: list[str],
    *,
    src: Path,
    out: Path,
    binds: tuple[tuple[str, str], ...] = (),
    timeout: float = DEFAULT_TIMEOUT,
    memory: int = DEFAULT_MEMORY,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv` in a bubblewrap sandbox: `/usr` read-only, `src` at /src (read-only),
    `out` at /out, `binds`, an empty /tmp, no network, no other host file, a clean
    environment; under prlimit's address-space, CPU and file-size limits and a
    wall-clock timeout. Raises OracleUnavailable when the sandbox cannot be made here,
    OracleError when a limit stops the compiler."""
    bwrap, prlimit = shutil.which("bwrap"), shutil.which("prlimit")
    if bwrap is None or prlimit is None:
        missing = "bubblewrap (bwrap)" if bwrap is None else "prlimit (util-linux)"
        raise OracleUnavailable(
            f"{missing} is not installed: jobc runs compilers only inside a sandbox"
        )
    cpu = max(1, int(timeout) + 1)
    command = [
        prlimit,
        f"--as={memory}",
        f"--cpu={cpu}",
        f"--fsize={MAX_FILE}",
        "--core=0",
        "--",
        bwrap,
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--symlink",
        "usr/bin",
        "/bin",
        "--ro-bind",
        str(src),
        "/src",
        "--bind",
        str(out),
        "/out",
    ]
    for host, inside in binds:
        command += ["--ro-bind", host, inside]
    command += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--setenv",
        "LC_ALL",
        "C",
        "--chdir",
        "/out",
        *argv,
    ]
    try:
        proc = process.run(command, timeout=timeout)
    except OSError as exc:
        raise OracleUnavailable(f"cannot start the compiler's sandbox: {exc}") from None
    except subprocess.TimeoutExpired:
        raise OracleError(
            f"the compiler ran longer than {timeout:g} s and was stopped",
            "a smaller program, or a larger lower_timeout setting",
            "lower-timeout",
        ) from None
    if proc.returncode != 0 and proc.stderr.startswith(b"bwrap:"):
        why = proc.stderr.decode("utf-8", "replace").strip()
        raise OracleUnavailable(f"cannot make the compiler's sandbox here: {why}")
    if proc.returncode in (-signal.SIGKILL, -signal.SIGXCPU, 128 + signal.SIGXCPU):
        raise OracleError(
            f"the compiler used more than {cpu} s of CPU time and was stopped",
            "a smaller program, or a larger lower_timeout setting",
            "lower-timeout",
        )
    return proc


# --- sources --------------------------------------------------------------------------------


def _rust_root(src: Path, toolchain: Toolchain) -> str:
    """The crate root of a Rust source (inside the sandbox), after checking its crate."""
    if (src / "main.rs").is_file() and not (src / "src").exists():
        root = "main.rs"
    elif (src / "src" / "main.rs").is_file():
        root = "src/main.rs"
    elif not any(src.iterdir()):
        raise _source_error("the Rust source is an empty folder")
    else:
        raise _source_error(
            "a Rust source folder needs src/main.rs (or main.rs at its top)",
            "lower one program: a binary crate",
        )
    manifest = src / "Cargo.toml"
    if manifest.is_file():
        _check_manifest(manifest, toolchain)
    if (src / "build.rs").exists():
        raise _source_error(
            "the crate has a build script (build.rs): jobc does not run build scripts",
            "generate the code it makes and commit it",
        )
    return f"/src/{root}"


def _check_manifest(manifest: Path, toolchain: Toolchain) -> None:
    import tomllib

    place = Span("/src/Cargo.toml", 1, 1)
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _source_error(f"Cargo.toml cannot be read: {exc}", span=place) from None
    for table in ("dependencies", "build-dependencies"):
        deps = data.get(table)
        target_deps = [
            t.get(table) for t in (data.get("target") or {}).values() if isinstance(t, dict)
        ]
        if deps or any(target_deps):
            names = ", ".join(sorted(deps or {})) or "target-specific ones"
            raise _source_error(
                f"the crate has {table} ({names}): jobc lowers crates without dependencies",
                "vendor the code you need into the crate as modules",
                span=place,
            )
    package = data.get("package") if isinstance(data.get("package"), dict) else {}
    assert isinstance(package, dict)
    if package.get("build"):
        raise _source_error(
            "the crate has a build script: jobc does not run build scripts", span=place
        )
    lib = data.get("lib") if isinstance(data.get("lib"), dict) else {}
    assert isinstance(lib, dict)
    if lib.get("proc-macro") or lib.get("proc_macro"):
        raise _source_error("a proc-macro crate cannot be lowered to a program", span=place)
    edition = package.get("edition")
    wanted = str(toolchain.descriptor.get("edition"))
    if isinstance(edition, str) and edition != wanted:
        raise _source_error(
            f"Cargo.toml says edition {edition}, the job says {wanted}",
            f"write `edition: {edition}` in the job's task (the job decides: it is identity)",
            span=place,
        )


def _c_sources(src: Path) -> list[str]:
    files = sorted(p.relative_to(src).as_posix() for p in _files(src) if p.suffix == ".c")
    if not files:
        raise _source_error("the C source folder has no .c file")
    return [f"/src/{f}" for f in files]


def _source_error(message: str, hint: str = "", span: Span | None = None) -> LoweringFailed:
    diag = Diagnostic(Severity.ERROR, message, span, hint=hint, code="lower")
    return LoweringFailed(message, [diag], hint)


# --- diagnostics ----------------------------------------------------------------------------

_CLANG_LINE = re.compile(
    r"^(?P<file>/src/[^:\n]+):(?P<line>\d+):(?P<col>\d+): "
    r"(?P<level>fatal error|error|warning|note): (?P<message>.*)$",
    re.MULTILINE,
)
_LINKER_ERROR = re.compile(r"^wasm-ld(?:-\d+)?: error: (?P<message>.*)$", re.MULTILINE)
_LEVELS = {
    "error": Severity.ERROR,
    "fatal error": Severity.ERROR,
    "error: internal compiler error": Severity.ERROR,
    "warning": Severity.WARNING,
    "note": Severity.NOTE,
}


def _rustc_diagnostics(stderr: bytes) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for line in stderr.decode("utf-8", "replace").splitlines():
        if not line.startswith("{"):
            continue  # not a diagnostic; a failure without any quotes stderr's tail
        try:
            item = json.loads(line)
        except ValueError:
            continue
        level = _LEVELS.get(item.get("level", ""))
        message = str(item.get("message", ""))
        spans = [s for s in item.get("spans") or () if s.get("is_primary")]
        if level is None or (not spans and message.startswith("aborting due to")):
            continue
        if not spans and message.endswith(("warning emitted", "warnings emitted")):
            continue
        hints = [_child_hint(c) for c in item.get("children") or () if c.get("level") == "help"]
        span = None
        if spans:
            s = spans[0]
            span = Span(str(s.get("file_name", "")), int(s["line_start"]), int(s["column_start"]))
            label = s.get("label")
            if label:
                message = f"{message}: {label}"
        code = (item.get("code") or {}).get("code") or "lower"
        out.append(Diagnostic(level, message, span, hint="; ".join(hints), code=str(code)))
    return out


def _child_hint(child: dict[str, Any]) -> str:
    """A rustc `help` child as one line, with the replacement it suggests."""
    text = str(child.get("message", ""))
    for span in child.get("spans") or ():
        replacement = span.get("suggested_replacement")
        if replacement:
            return f"{text}: `{replacement}`"
    return text


def _clang_diagnostics(stderr: bytes) -> list[Diagnostic]:
    text = stderr.decode("utf-8", "replace")
    out = [
        Diagnostic(
            _LEVELS[m["level"]],
            m["message"],
            Span(m["file"], int(m["line"]), int(m["col"])),
            code="lower",
        )
        for m in _CLANG_LINE.finditer(text)
    ]
    out += [
        Diagnostic(Severity.ERROR, f"link: {m['message']}", code="lower")
        for m in _LINKER_ERROR.finditer(text)
    ]
    return out


def _placed(diag: Diagnostic, src: Path, local: Path | None) -> Diagnostic:
    """A compiler diagnostic with its `/src/…` path mapped back to the user's file."""
    span = diag.span
    if span is None or local is None:
        return diag
    inside = PurePosixPath(span.file)
    if not inside.is_relative_to("/src"):
        return diag
    rel = inside.relative_to("/src")
    if rel.as_posix() in SINGLE_FILE.values() and local.suffix:
        file = str(local)  # a single file was copied to its fixed name (main.rs, main.c)
    else:
        file = str(local / rel)
    return Diagnostic(
        diag.severity,
        diag.message,
        Span(file, span.line, span.column),
        hint=diag.hint,
        code=diag.code,
    )


def _warning_json(d: Diagnostic) -> dict[str, Any]:
    return {
        "message": d.message,
        "file": d.span.file if d.span else None,
        "line": d.span.line if d.span else None,
        "column": d.span.column if d.span else None,
        "hint": d.hint or None,
    }


# --- WAT ------------------------------------------------------------------------------------

_WAT_PLACE = re.compile(r"--> <anon>:(\d+):(\d+)")


def _wat2wasm(src: Path, local: Path | None) -> bytes:
    import wasmtime

    name = str(local) if local is not None else "/src/module.wat"
    if not (src / "module.wat").is_file():
        raise _source_error("a WAT module must be one file")
    text = (src / "module.wat").read_bytes()
    try:
        wasm = bytes(wasmtime.wat2wasm(text))
        wasmtime.Module.validate(wasmtime.Engine(), wasm)
    except wasmtime.WasmtimeError as exc:
        message = str(exc)
        m = _WAT_PLACE.search(message)
        first = message.split("\n", 1)[0].strip()
        span = Span(name, int(m[1]), int(m[2])) if m else Span(name, 1, 1)
        diag = Diagnostic(Severity.ERROR, f"invalid WebAssembly text: {first}", span, code="wat")
        raise LoweringFailed(f"invalid WebAssembly text: {first}", [diag]) from None
    return wasm


# --- toolchain descriptors ------------------------------------------------------------------

_LOCK = threading.Lock()
_IN_PROCESS: dict[str, Toolchain] = {}


def _fingerprint(key: tuple[str, ...], paths: list[str]) -> str:
    """What says a toolchain is still the one described: the installed files' stats."""
    parts = [f"v{DESCRIPTOR_VERSION}", *key]
    for path in [*paths, DPKG_STATUS]:
        try:
            st = os.stat(path)
        except OSError:
            parts.append(f"{path}:-")
            continue
        parts.append(f"{os.path.realpath(path)}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _cached(
    key: tuple[str, ...], paths: list[str], store: Store, make: Callable[[], Toolchain]
) -> Toolchain:
    fingerprint = _fingerprint(key, paths)
    with _LOCK:
        found = _IN_PROCESS.get(fingerprint)
    if found is not None:
        return found
    hit = store.cache_get(TOOLCHAIN_CACHE, fingerprint)
    if isinstance(hit, dict) and isinstance(hit.get("cid"), str):
        block = store.get_block(Link.parse(hit["cid"]))
        if block is not None and identity.verify_block(Link.parse(hit["cid"]), block):
            made = _from_block(block)
            if made is not None:
                with _LOCK:
                    _IN_PROCESS[fingerprint] = made
                return made
    made = make()
    with store.transaction():
        store.put_block(made.cid, made.block)
        store.cache_put(TOOLCHAIN_CACHE, fingerprint, {"cid": str(made.cid)}, ttl=None)
    with _LOCK:
        _IN_PROCESS[fingerprint] = made
    return made


def _make(language: str, fields: dict[str, Value], argv: tuple[str, ...], binds: Any) -> Toolchain:
    descriptor = FrozenMap({"toolchain": DESCRIPTOR_VERSION, "language": language, **fields})
    block = identity.encode_value(descriptor)
    return Toolchain(language, descriptor, identity.cid_of_block(block), block, argv, tuple(binds))


def _from_block(block: bytes) -> Toolchain | None:
    """A toolchain back from its cached descriptor (the argv follows from it)."""
    value = identity.decode_value(block)
    if not isinstance(value, FrozenMap) or value.get("toolchain") != DESCRIPTOR_VERSION:
        return None
    language = value.get("language")
    flags = value.get("flags")
    compiler = value.get("path")
    if not isinstance(flags, tuple) or not isinstance(compiler, str):
        return None
    argv = (compiler, *(str(f) for f in flags))
    binds = _C_BINDS if language == "c" else ()
    return Toolchain(str(language), value, identity.cid_of_block(block), block, argv, binds)


def _run(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OracleUnavailable(f"cannot run {argv[0]}: {exc}") from None
    if proc.returncode != 0:
        raise OracleUnavailable(
            f"{' '.join(argv)} failed: {proc.stderr.decode('utf-8', 'replace').strip()}"
        )
    return proc.stdout.decode("utf-8", "replace").strip()


def _require(path: str, package: str) -> None:
    if not os.path.exists(path):
        raise OracleUnavailable(
            f"{path} is not installed (Debian package {package}): the job stays as written"
        )


def _packages(paths: list[str]) -> FrozenMap[Value]:
    """The Debian packages (and versions) the files come from, when dpkg knows them."""
    if shutil.which("dpkg-query") is None:
        return FrozenMap()
    names: set[str] = set()
    for path in paths:
        proc = subprocess.run(
            ["dpkg-query", "-S", os.path.realpath(path)], capture_output=True, check=False
        )
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            owner = line.partition(": ")[0]
            names.update(n.strip().partition(":")[0] for n in owner.split(","))
    if not names:
        return FrozenMap()
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *sorted(names)],
        capture_output=True,
        check=False,
    )
    out: dict[str, Value] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        name, _, version = line.partition(" ")
        if name and version:
            out[name] = version
    return FrozenMap(out)


def _sysroot_cid(folders: list[tuple[str, str]], store: Store) -> Link:
    """The UnixFS CID of a virtual folder holding `folders` as (name, host path)."""
    from compiler.oracles.content import Hasher

    hasher = Hasher(cache=store, progress=False)
    entries = []
    with store.transaction():
        for name, path in folders:
            entries.append((name.encode(), hasher.path(Path(path))))
    return Link(unixfs.directory_entry(entries).cid)


def _rust_toolchain(rustc: str, edition: str, store: Store) -> Toolchain:
    _require(rustc, "rustc")
    _require(RUST_SYSROOT, "libstd-rust-dev-wasm32")
    _require(RUST_LLD, "lld")
    version = _run([rustc, "-vV"])
    linker = _run([RUST_LLD, "-flavor", "wasm", "--version"])
    flags = (*RUST_FLAGS, "--edition", edition)
    fields: dict[str, Value] = {
        "compiler": "rustc",
        "path": rustc,
        "version": version,
        "linker": linker,
        "target": TARGET,
        "edition": edition,
        "flags": flags,
        "sysroot": _sysroot_cid([("wasm32-wasi", RUST_SYSROOT)], store),
        "packages": _packages([rustc, RUST_LLD, RUST_SYSROOT]),
    }
    return _make("rust", fields, (rustc, *flags), ())


_C_BINDS = ((WASI_INCLUDE, "/sysroot/include/wasm32-wasi"), (WASI_LIB, "/sysroot/lib/wasm32-wasi"))


def _c_toolchain(clang: str, store: Store) -> Toolchain:
    _require(clang, "clang")
    _require(WASI_INCLUDE, "wasi-libc")
    _require(WASM_LD, "lld")
    version = _run([clang, "--version"]).splitlines()[0]
    resource = _run([clang, "-print-resource-dir"])
    linker = _run([WASM_LD, "--version"])
    folders = [
        ("include", WASI_INCLUDE),
        ("lib", WASI_LIB),
        ("resource-include", f"{resource}/include"),
    ]
    builtins = f"{resource}/lib/wasi"
    if os.path.isdir(builtins):
        folders.append(("resource-lib", builtins))
    fields: dict[str, Value] = {
        "compiler": "clang",
        "path": clang,
        "version": version,
        "linker": linker,
        "target": TARGET,
        "flags": C_FLAGS,
        "sysroot": _sysroot_cid(folders, store),
        "packages": _packages([clang, WASM_LD, WASI_INCLUDE, builtins]),
    }
    return _make("c", fields, (clang, *C_FLAGS), _C_BINDS)


@functools.cache
def _wat_toolchain() -> Toolchain:
    from importlib.metadata import version

    fields: dict[str, Value] = {
        "compiler": "wasmtime wat2wasm",
        "version": f"wasmtime-py {version('wasmtime')}",
        "target": "wasm32",
    }
    return _make("wasm", fields, (), ())
