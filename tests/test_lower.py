"""The `lower` pass with the real toolchains: Debian's rustc and clang for wasm32-wasi, and
wasmtime's WAT parser, in their bubblewrap sandbox. Reproducible bytes, the memo, errors
placed in the user's source, crates, limits, replay without a toolchain, --rebuild."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from compiler import identity
from compiler.diagnostics import Severity, SpecError
from compiler.driver import Compiled, CompileOptions, compile_file
from compiler.emitters.compiled import dumps, load_document
from compiler.ir import Link, SourceTask, WasmTask, replace
from compiler.oracles import toolchain
from compiler.oracles.content import read_file
from compiler.passes import configure
from compiler.records import Record, replay
from compiler.store import open_store
from compiler.verify import rebuild_oracle, verify_document

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HELLO_RS = 'fn main() {\n    println!("hello from {}", std::env::args().count());\n}\n'
HELLO_C = '#include <stdio.h>\nint main(void) {\n    puts("hello");\n    return 0;\n}\n'
UPPER_WAT = (EXAMPLES / "data" / "wasm" / "upper.wat").read_text()


@pytest.fixture
def compilers(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command the sandbox runs, in order (the compilers really run)."""
    calls: list[list[str]] = []
    real = toolchain.sandboxed

    def spy(argv: list[str], **kwargs: Any) -> Any:
        calls.append(argv)
        return real(argv, **kwargs)

    monkeypatch.setattr(toolchain, "sandboxed", spy)
    return calls


def spec(folder: Path, task: str, name: str = "job.yaml", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"jobspec: 1\ntask: {task}\n{extra}", encoding="utf-8")
    return path


def write(folder: Path, rel: str, text: str) -> Path:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def lowered(c: Compiled) -> Record:
    (record,) = [r for r in c.chain if r.pass_name == "lower"]
    return record


def module_bytes(c: Compiled, store: str | None = None) -> bytes:
    assert isinstance(c.job.task, WasmTask)
    assert isinstance(c.job.task.module, Link)
    s = open_store(store)
    try:
        return b"".join(read_file(c.job.task.module, s))
    finally:
        s.close()


def errors_of(path: Path, **settings: Any) -> list[Any]:
    with pytest.raises(SpecError) as info:
        compile_file(path, CompileOptions(settings=settings))
    return info.value.diagnostics


# --- reproducible modules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "file", "text"), [("rust", "main.rs", HELLO_RS), ("c", "hello.c", HELLO_C)]
)
def test_the_same_source_gives_the_same_bytes_from_two_directories(
    tmp_path: Path, compilers: list[list[str]], engine: str, file: str, text: str
) -> None:
    """Two copies of one source, in directories of different depths and names, each
    compiled into a store of its own (no memo shared): one module, byte for byte."""
    results = []
    folders = (tmp_path / "first-copy", tmp_path / "second" / "much-deeper-folder" / "here")
    for i, folder in enumerate(folders):
        write(folder, f"src/{file}", text)
        path = spec(folder, f"{{engine: {engine}, source: src/{file}}}")
        store = str(tmp_path / f"store-{i}.sqlite")
        c = compile_file(path, CompileOptions(store=store))
        results.append((c, module_bytes(c, store)))
    assert len(compilers) == 2
    (a, bytes_a), (b, bytes_b) = results
    assert bytes_a[:4] == b"\0asm"
    assert bytes_a == bytes_b
    assert a.cid == b.cid
    assert lowered(a) == lowered(b)
    for trace in (str(tmp_path), "first-copy", "much-deeper-folder", "jobc-lower"):
        assert trace.encode() not in bytes_a


def test_a_second_compile_runs_no_compiler(tmp_path: Path, compilers: list[list[str]]) -> None:
    write(tmp_path, "main.rs", HELLO_RS)
    path = spec(tmp_path, "{engine: rust, source: main.rs}")
    first = compile_file(path)
    second = compile_file(path)
    assert len(compilers) == 1
    assert first.chain == second.chain
    assert first.cid == second.cid
    # A changed source is another lowering: the compiler runs again.
    write(tmp_path, "main.rs", HELLO_RS.replace("hello", "bye"))
    third = compile_file(path)
    assert len(compilers) == 2
    assert third.cid != first.cid


def test_the_lowered_job_and_its_fact(tmp_path: Path) -> None:
    write(tmp_path, "main.rs", HELLO_RS)
    path = spec(tmp_path, "{engine: rust, source: main.rs, args: [a, b], env: {K: v}}")
    c = compile_file(path)
    task = c.job.task
    assert isinstance(task, WasmTask)
    assert (task.entrypoint, task.args, dict(task.env)) == ("_start", ("a", "b"), {"K": "v"})
    record = lowered(c)
    (fact,) = record.facts
    assert sorted(fact) == ["module", "source", "toolchain"]
    assert fact["module"] == task.module
    assert isinstance(c.chain[-2].target, Link)
    assert record.source == c.chain[-2].target
    assert c.job.determinism == "strict"
    assert c.pinned
    assert not c.diagnostics


def test_the_toolchain_descriptor_is_a_block_in_the_store(tmp_path: Path) -> None:
    write(tmp_path, "main.rs", HELLO_RS)
    c = compile_file(spec(tmp_path, "{engine: rust, source: main.rs, edition: 2018}"))
    (fact,) = lowered(c).facts
    link = fact["toolchain"]
    assert isinstance(link, Link)
    store = open_store()
    block = store.get_block(link)
    store.close()
    assert block is not None
    assert identity.verify_block(link, block)
    d: Any = identity.decode_value(block)
    assert (d["language"], d["compiler"], d["target"], d["edition"]) == (
        "rust",
        "rustc",
        "wasm32-wasi",
        "2018",
    )
    assert d["version"].startswith("rustc 1.63")
    assert "LLD 14" in d["linker"]
    assert "--edition" in d["flags"]
    assert "opt-level=2" in d["flags"]
    assert isinstance(d["sysroot"], Link)
    assert "rustc" in d["packages"]
    assert "libstd-rust-dev-wasm32" in d["packages"]


def test_a_c_toolchain_names_its_wasi_sysroot(tmp_path: Path) -> None:
    write(tmp_path, "main.c", HELLO_C)
    c = compile_file(spec(tmp_path, "{engine: c, source: main.c}"))
    (fact,) = lowered(c).facts
    store = open_store()
    d: Any = identity.decode_value(store.get_block(fact["toolchain"]) or b"")  # type: ignore[arg-type]
    store.close()
    assert d["compiler"] == "clang"
    assert "--sysroot=/sysroot" in d["flags"]
    assert "wasi-libc" in d["packages"]
    assert "-O2" in d["flags"]
    assert "-g0" in d["flags"]


# --- errors ---------------------------------------------------------------------------------


def test_rustc_errors_point_into_the_users_file(tmp_path: Path) -> None:
    source = write(tmp_path, "code/main.rs", 'fn main() {\n    let x: u32 = "a";\n}\n')
    diags = errors_of(spec(tmp_path, "{engine: rust, source: code/main.rs}"))
    first = diags[0]
    assert first.severity is Severity.ERROR
    assert "mismatched types" in first.message
    assert first.span is not None
    assert (first.span.file, first.span.line, first.span.column) == (str(source), 2, 18)
    last = diags[-1]
    assert "cannot lower the rust source" in last.message
    assert last.span is not None
    assert last.span.file.endswith("job.yaml")


def test_clang_errors_point_into_the_users_file(tmp_path: Path) -> None:
    source = write(tmp_path, "x.c", "int main(void) {\n  return y;\n}\n")
    diags = errors_of(spec(tmp_path, "{engine: c, source: x.c}"))
    assert diags[0].span is not None
    assert (diags[0].span.file, diags[0].span.line, diags[0].span.column) == (str(source), 2, 10)
    assert "undeclared identifier" in diags[0].message


def test_a_host_file_is_not_there_for_the_compiler(tmp_path: Path) -> None:
    """The sandbox holds /usr, the source and the output folder: a source cannot pull a
    host file into its module."""
    write(tmp_path, "main.rs", 'static P: &[u8] = include_bytes!("/etc/passwd");\nfn main() {}\n')
    diags = errors_of(spec(tmp_path, "{engine: rust, source: main.rs}"))
    assert any("/etc/passwd" in d.message for d in diags)


def test_the_compiler_sandbox_has_no_network_and_no_host_files(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    script = (
        "cat /proc/net/dev; ls /; test -e /etc/passwd && echo HOSTFILES; "
        "touch /src/x 2>/dev/null && echo SRCWRITABLE; touch /out/made && echo OUTWRITABLE"
    )
    proc = toolchain.sandboxed(["/bin/sh", "-c", script], src=src, out=out)
    text = proc.stdout.decode()
    interfaces = [line.split(":")[0].strip() for line in text.splitlines() if ":" in line]
    assert interfaces == ["lo"]
    assert "HOSTFILES" not in text
    assert "SRCWRITABLE" not in text
    assert "OUTWRITABLE" in text
    assert (out / "made").exists()
    assert "home" not in text.split()
    assert "root" not in text.split()


def test_a_time_limit_stops_the_compiler(tmp_path: Path) -> None:
    write(tmp_path, "main.rs", HELLO_RS)
    diags = errors_of(spec(tmp_path, "{engine: rust, source: main.rs}"), lower_timeout=0.05)
    assert "ran longer than 0.05 s" in diags[-1].message


def test_a_memory_limit_stops_the_compiler(tmp_path: Path) -> None:
    write(tmp_path, "main.rs", HELLO_RS)
    diags = errors_of(spec(tmp_path, "{engine: rust, source: main.rs}"), lower_memory=48 << 20)
    assert "cannot lower the rust source" in diags[-1].message


# --- crates ---------------------------------------------------------------------------------

CARGO = '[package]\nname = "t"\nversion = "0.1.0"\nedition = "2021"\n'


def crate(folder: Path, cargo: str = CARGO) -> Path:
    write(folder, "crate/Cargo.toml", cargo)
    write(folder, "crate/src/main.rs", "mod util;\nfn main() {\n    util::hi();\n}\n")
    write(folder, "crate/src/util.rs", 'pub fn hi() {\n    println!("hi");\n}\n')
    return spec(folder, "{engine: rust, source: crate/}")


def test_a_crate_with_modules_lowers(tmp_path: Path) -> None:
    c = compile_file(crate(tmp_path))
    assert isinstance(c.job.task, WasmTask)
    assert module_bytes(c)[:4] == b"\0asm"


def test_a_crate_error_points_into_its_module_file(tmp_path: Path) -> None:
    path = crate(tmp_path)
    util = write(tmp_path, "crate/src/util.rs", "pub fn hi() {\n    nope();\n}\n")
    diags = errors_of(path)
    assert diags[0].span is not None
    assert (diags[0].span.file, diags[0].span.line) == (str(util), 2)


@pytest.mark.parametrize(
    ("cargo", "message"),
    [
        (CARGO + '\n[dependencies]\nserde = "1"\n', "dependencies (serde)"),
        (CARGO + '\n[build-dependencies]\ncc = "1"\n', "build-dependencies (cc)"),
        (CARGO + 'build = "gen.rs"\n', "build script"),
        (CARGO + "\n[lib]\nproc-macro = true\n", "proc-macro"),
        (CARGO.replace("2021", "2018"), "Cargo.toml says edition 2018, the job says 2021"),
        ("[package\n", "Cargo.toml cannot be read"),
    ],
)
def test_crates_jobc_cannot_build_are_clear_errors(
    tmp_path: Path, compilers: list[list[str]], cargo: str, message: str
) -> None:
    diags = errors_of(crate(tmp_path, cargo))
    assert message in diags[0].message
    assert diags[0].span is not None
    assert diags[0].span.file.endswith("Cargo.toml")
    assert compilers == []  # refused before any compiler ran


def test_a_build_script_is_refused(tmp_path: Path) -> None:
    path = crate(tmp_path)
    write(tmp_path, "crate/build.rs", "fn main() {}\n")
    assert "build script" in errors_of(path)[0].message


# --- WAT and binary modules -----------------------------------------------------------------


def test_a_wat_module_is_lowered_and_a_binary_one_is_not(tmp_path: Path) -> None:
    write(tmp_path, "upper.wat", UPPER_WAT)
    c = compile_file(spec(tmp_path, "{engine: wasm, module: upper.wat}"))
    record = lowered(c)
    store = open_store()
    d: Any = identity.decode_value(store.get_block(record.facts[0]["toolchain"]) or b"")  # type: ignore[arg-type]
    store.close()
    assert d["compiler"] == "wasmtime wat2wasm"
    binary = module_bytes(c)
    assert binary[:4] == b"\0asm"
    (tmp_path / "upper.wasm").write_bytes(binary)
    again = compile_file(spec(tmp_path, "{engine: wasm, module: upper.wasm}", "b.yaml"))
    assert [r.pass_name for r in again.chain] == ["parse", "normalize", "resolve-content"]
    assert again.cid == c.cid  # the text, lowered, is the binary


def test_invalid_wat_is_an_error_at_its_line(tmp_path: Path) -> None:
    source = write(tmp_path, "bad.wat", "(module\n  (func $f\n    i32.ad))\n")
    diags = errors_of(spec(tmp_path, "{engine: wasm, module: bad.wat}"))
    assert diags[0].span is not None
    assert (diags[0].span.file, diags[0].span.line) == (str(source), 3)


# --- when nothing is lowered -----------------------------------------------------------------


def test_no_lower_runs_no_compiler(tmp_path: Path, compilers: list[list[str]]) -> None:
    write(tmp_path, "main.rs", HELLO_RS)
    path = spec(tmp_path, "{engine: rust, source: main.rs}")
    c = compile_file(path, CompileOptions(passes=configure(None, "lower", {"enabled": False})))
    assert isinstance(c.job.task, SourceTask)
    assert "lower" not in [r.pass_name for r in c.chain]
    assert not c.diagnostics
    assert compilers == []


def test_a_missing_toolchain_leaves_the_job_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "main.rs", HELLO_RS)
    path = spec(tmp_path, "{engine: rust, source: main.rs}")
    c = compile_file(path, CompileOptions(settings={"rustc": str(tmp_path / "no-rustc")}))
    assert isinstance(c.job.task, SourceTask)
    (w,) = c.warnings
    assert "not lowered" in w.message
    assert "no-rustc" in w.message
    assert w.span is not None
    assert w.span.line == 2


def test_an_unpinned_source_is_left_with_a_note(tmp_path: Path) -> None:
    path = spec(tmp_path, "{engine: rust, source: 's3://bucket/main.rs'}")
    c = compile_file(path)
    assert isinstance(c.job.task, SourceTask)
    assert not c.warnings
    assert any(d.code == "not-lowered" for d in c.diagnostics)


# --- replay and rebuild ---------------------------------------------------------------------


def test_replay_needs_no_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "main.rs", HELLO_RS)
    c = compile_file(spec(tmp_path, "{engine: rust, source: main.rs}"))
    raw = dumps(c)
    shutil.rmtree(tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a compiler ran")

    monkeypatch.setattr(toolchain, "sandboxed", refuse)
    monkeypatch.setattr(toolchain.Lowerer, "answer", refuse)
    assert all(check.ok for check in replay(c.original_job, c.chain))
    assert all(check.ok for check in verify_document(load_document(raw)))


def test_rebuild_compiles_again_and_compares_the_bytes(
    tmp_path: Path, compilers: list[list[str]]
) -> None:
    write(tmp_path, "main.rs", HELLO_RS)
    path = spec(tmp_path, "{engine: rust, source: main.rs}")
    c = compile_file(path)
    doc = load_document(dumps(c))
    oracle = rebuild_oracle(doc, tmp_path)
    try:
        checks = verify_document(doc, rebuild=oracle)
    finally:
        oracle.close()
    assert all(check.ok for check in checks), checks
    assert "byte for byte" in checks[-1].detail
    assert len(compilers) == 2  # the compile, then the rebuild (no memo)


def test_rebuild_catches_a_module_the_source_does_not_give(tmp_path: Path) -> None:
    """A chain that is consistent in itself (every CID follows from the facts) but whose
    lowering fact names another module: replay accepts it, --rebuild does not."""
    write(tmp_path, "main.rs", HELLO_RS)
    c = compile_file(spec(tmp_path, "{engine: rust, source: main.rs}"))
    record = lowered(c)
    (fact,) = record.facts
    forged_module = identity.cid_of_raw(b"\0asm\1\0\0\0")
    task = c.job.task
    assert isinstance(task, WasmTask)
    forged_job = replace(c.job, task=replace(task, module=forged_module))
    target = identity.job_cid(forged_job)
    forged = Record.make("lower", 1, record.source, target, [fact.set("module", forged_module)])
    chain = (*c.chain[:-1], forged)
    assert all(check.ok for check in replay(c.original_job, chain))
    oracle = rebuild_oracle(load_document(dumps(c)), tmp_path)
    try:
        checks = replay(c.original_job, chain, rebuild=oracle)
    finally:
        oracle.close()
    assert not checks[-1].ok
    assert "NOT reproducible" in checks[-1].detail
    assert str(forged_module) in checks[-1].detail


def test_the_command_line_rebuilds_and_skips_lowering(
    tmp_path: Path, compilers: list[list[str]]
) -> None:
    from click.testing import CliRunner

    from compiler.cli import main

    write(tmp_path, "main.rs", HELLO_RS)
    path = spec(tmp_path, "{engine: rust, source: main.rs}")
    out = tmp_path / "job.compiled.json"

    def jobc(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    assert jobc("compile", str(path), "-o", str(out)).exit_code == 0
    result = jobc("verify", str(out), "--rebuild", "--spec", str(path))
    assert result.exit_code == 0, result.output
    assert "byte for byte" in result.stdout
    assert len(compilers) == 2
    result = jobc("cid", "--no-lower", str(path))
    assert result.exit_code == 0
    lowered_chain = compile_file(path).chain
    assert lowered_chain[-1].pass_name == "lower"
    assert result.stdout.strip() == str(lowered_chain[-2].target)  # the job before lowering
    assert len(compilers) == 2


def test_a_large_binary_module_known_only_by_cid_is_not_lowered(tmp_path: Path) -> None:
    """A module of several chunks (a dag-pb root), read back from the store by CID."""
    import wasmtime

    text = '(module (memory 8) (data (i32.const 0) "' + "x" * 400_000 + '"))'
    (tmp_path / "big.wasm").write_bytes(bytes(wasmtime.wat2wasm(text)))
    options = CompileOptions(settings={"store_content": True})
    first = compile_file(spec(tmp_path, "{engine: wasm, module: big.wasm}"), options)
    module = first.job.task.module  # type: ignore[union-attr]
    assert str(module).startswith("bafybei")  # more than one chunk
    store = open_store()
    store.cache_delete(toolchain.SNIFF_CACHE, str(module))  # read it again
    store.close()
    by_cid = spec(tmp_path, f"{{engine: wasm, module: 'ipfs://{module}'}}", "b.yaml")
    again = compile_file(by_cid)
    assert [r.pass_name for r in again.chain] == ["parse", "resolve-content"]
    assert again.cid == first.cid
