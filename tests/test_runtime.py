"""The deterministic runner with real wasmtime and real lowered programs: same outputs on
every run, a host it cannot see, limits that stop runaway programs, receipts, memoization.

Programs are in tests/cases/runtime (C, Rust, WAT), lowered by the real toolchains; what
they print is checked against values computed here independently (zlib, Python).
"""

from __future__ import annotations

import json
import shutil
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compiler import identity
from compiler.cli import main
from compiler.driver import Compiled, CompileOptions, compile_file
from compiler.ir import Await, FrozenMap, Link
from compiler.oracles.content import Hasher, read_file, store_path
from compiler.passes import default_pipeline
from compiler.runtime import execute, wasm
from compiler.runtime.execute import Ran, run_job
from compiler.runtime.memo import differences, find_trusted_receipt
from compiler.runtime.receipts import NodeKey, Receipt, ReceiptError, trusted_nodes
from compiler.runtime.wasm import Limits, RunError
from compiler.store import Store, open_store
from tests import unixfs_js

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PROGRAMS = Path(__file__).resolve().parent / "cases" / "runtime"
EPOCH = 946_684_800


@pytest.fixture
def store(home_store: Store) -> Store:
    """The data dir's store (what `jobc run` uses), not conftest's two backends: most
    tests here run in one; `test_runs_receipts_and_memo_hits_on_both_backends` in both."""
    return home_store


def job_spec(folder: Path, program: str, extra: str = "", name: str = "") -> Path:
    """A spec running tests/cases/runtime/<program>, copied next to it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROGRAMS / program, folder / program)
    engine = {".c": "c", ".rs": "rust", ".wat": "wasm"}[Path(program).suffix]
    key = "module" if engine == "wasm" else "source"
    path = folder / f"{name or Path(program).stem}.yaml"
    path.write_text(f"jobspec: 1\ntask: {{engine: {engine}, {key}: {program}}}\n{extra}")
    return path


def compiled(path: Path) -> Compiled:
    """Compiled as `jobc run` compiles: the blocks of what the job reads kept."""
    return compile_file(path, CompileOptions(settings={"store_content": True}))


def run(path: Path, store: Store, **limits: Any) -> tuple[Compiled, Ran]:
    c = compiled(path)
    return c, run_job(c.job, store, NodeKey.load_or_create(), limits=Limits(**limits))


def text(link: Link, store: Store) -> str:
    return b"".join(read_file(link, store)).decode()


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


# --- determinism ------------------------------------------------------------------------------


def probe_inputs(folder: Path) -> str:
    """A folder whose names, created in this order, are not in sorted order."""
    data = folder / "data"
    for name in ("zeta", "alpha", "Mid", ".hidden", "beta.txt"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text(f"{name}\n")
    (data / "sub").mkdir()
    (data / "sub" / "inner").write_text("x\n")
    return "inputs:\n  - {source: data/, target: /data}\noutputs: [/outputs]\n"


def test_clocks_sleeps_random_and_listings_are_the_same_on_every_run(
    tmp_path: Path, store: Store
) -> None:
    path = job_spec(tmp_path, "probe.c", probe_inputs(tmp_path))
    started = time.monotonic()
    _, first = run(path, store)
    elapsed = time.monotonic() - started
    _, second = run(path, store)
    out = text(first.receipt.stdout, store)
    assert out == text(second.receipt.stdout, store)
    assert first.receipt.outputs == second.receipt.outputs
    assert first.receipt.cid != second.receipt.cid  # timestamps differ, results do not
    lines = dict(line.split(" ", 1) for line in out.splitlines() if not line.startswith("entry"))
    assert lines["realtime"] == str(EPOCH)
    assert lines["time"] == str(EPOCH)
    assert lines["resolution"] == "1000"
    assert int(lines["slept"]) >= 5_000_000_000  # on the virtual clock…
    assert elapsed < 5  # …not on the wall clock
    entries = [line.split()[1:] for line in out.splitlines() if line.startswith("entry")]
    names = [e[0] for e in entries]
    assert names == [".", "..", ".hidden", "Mid", "alpha", "beta.txt", "sub", "zeta"]
    for entry in entries:
        fields = dict(f.split("=") for f in entry[1:])
        assert fields["dev"] == "0"
        assert fields["nlink"] == "1"
        assert fields["times"] == f"{EPOCH},{EPOCH},{EPOCH}"
        assert 0 < int(fields["ino"]) < 100
        assert 0 < int(fields["d_ino"]) < 100
    sizes = {e[0]: dict(f.split("=") for f in e[1:])["size"] for e in entries}
    assert sizes["alpha"] == "6"
    assert sizes["sub"] == "0"  # a directory's size is not the file system's


def test_the_random_stream_is_keyed_by_the_job(tmp_path: Path, store: Store) -> None:
    inputs = probe_inputs(tmp_path)
    a = job_spec(tmp_path, "probe.c", inputs, "a")
    b = job_spec(tmp_path, "probe.c", inputs + "nonce: b\n", "b")
    runs = [run(path, store) for path in (a, b)]
    outs = [text(r.receipt.stdout, store).splitlines() for _, r in runs]
    (random_a,) = [line for line in outs[0] if line.startswith("random")]
    (random_b,) = [line for line in outs[1] if line.startswith("random")]
    assert random_a != random_b
    assert [x for x in outs[0] if x != random_a] == [x for x in outs[1] if x != random_b]


def test_two_runs_from_two_folders_give_the_same_outputs(tmp_path: Path, store: Store) -> None:
    results = []
    for name in ("one", "two-in-another-place"):
        copy = tmp_path / name / "examples"
        shutil.copytree(EXAMPLES, copy)
        results.append(run(copy / "rust-word-count.yaml", store))
    (c1, r1), (c2, r2) = results
    assert c1.cid == c2.cid
    a, b = r1.receipt, r2.receipt
    assert (a.outputs, a.stdout, a.stderr, a.exit) == (b.outputs, b.stdout, b.stderr, b.exit)
    assert a.meta["fuel"] == b.meta["fuel"]


# --- the sandbox ----------------------------------------------------------------------------


def test_writing_outside_outputs_or_reading_outside_inputs_fails(
    tmp_path: Path, store: Store
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.txt").write_text("input\n")
    extra = "inputs:\n  - {source: data/in.txt, target: /data/in.txt}\noutputs: [/outputs]\n"
    _, ran = run(job_spec(tmp_path, "escape.c", extra), store)
    report = dict(line.split(" ", 1)[::-1] for line in text(ran.receipt.stdout, store).splitlines())
    assert report == {
        "r /data/in.txt": "allowed",
        "w /data/in.txt": "denied",
        "w /data/new.txt": "denied",
        "r /etc/passwd": "denied",
        "r /data/../../etc/passwd": "denied",
        "w /outputs/../data/in.txt": "denied",
        "w /outputs/../escaped.txt": "denied",
        "w /tmp/x": "denied",
        "w /outputs/ok.txt": "allowed",
        "opendir /": "denied",
    }
    assert (tmp_path / "data" / "in.txt").read_text() == "input\n"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["in.txt"]
    out = tmp_path / "out"
    out.mkdir()
    from compiler.oracles.content import export

    export(ran.receipt.outputs["/outputs"], store, out / "outputs")
    assert [p.name for p in (out / "outputs").iterdir()] == ["ok.txt"]


# --- limits ---------------------------------------------------------------------------------


def test_fuel_stops_a_runaway_loop(tmp_path: Path, store: Store) -> None:
    c = compiled(job_spec(tmp_path, "runaway.wat"))
    with pytest.raises(RunError) as info:
        run_job(c.job, store, NodeKey.load_or_create(), limits=Limits(fuel=1_000_000))
    assert info.value.code == "fuel"
    assert "ran out of fuel (1,000,000 units)" in info.value.message
    assert store.receipts(c.cid) == []


def test_a_time_limit_stops_a_runaway_loop(tmp_path: Path, store: Store) -> None:
    c = compiled(job_spec(tmp_path, "runaway.wat"))
    started = time.monotonic()
    with pytest.raises(RunError) as info:
        run_job(c.job, store, NodeKey.load_or_create(), limits=Limits(timeout=0.3))
    assert time.monotonic() - started < 10
    assert info.value.code == "timeout"
    assert "ran longer than 0.3 s" in info.value.message
    assert store.receipts(c.cid) == []


def test_a_memory_limit_stops_a_program_that_keeps_allocating(tmp_path: Path, store: Store) -> None:
    c = compiled(job_spec(tmp_path, "memhog.rs"))
    with pytest.raises(RunError) as info:
        run_job(c.job, store, NodeKey.load_or_create(), limits=Limits(memory=32 << 20))
    assert info.value.code == "memory"
    assert "MiB limit" in info.value.message
    assert "--memory" in info.value.hint


def test_a_trap_stores_nothing_and_a_nonzero_exit_is_a_result(tmp_path: Path, store: Store) -> None:
    c = compiled(job_spec(tmp_path / "p", "panic.rs"))
    with pytest.raises(RunError) as info:
        run_job(c.job, store, NodeKey.load_or_create())
    assert info.value.code == "trap"
    assert "Rust panic" in info.value.hint
    assert store.receipts(c.cid) == []
    _, ran = run(job_spec(tmp_path / "e", "exit3.c"), store)
    assert ran.receipt.exit == 3
    assert text(ran.receipt.stdout, store) == "failing on purpose\n"


# --- receipts -------------------------------------------------------------------------------


def test_a_receipt_names_the_outputs_as_ipfs_add_would(tmp_path: Path, store: Store) -> None:
    """Output CIDs checked against the independent JS importer (kubo's options)."""
    c, ran = run(EXAMPLES / "c-crc32-tool.yaml", store)
    r = ran.receipt
    assert r.job == c.cid
    assert r.node == NodeKey.load_or_create().node
    assert dict(r.runner) == {
        "name": "jobc",
        "version": "0.1.0",
        "engine": "wasmtime",
        "engine_version": wasm.wasmtime_version(),
        "profile": wasm.PROFILE,
    }
    assert sorted(r.meta) == ["finished", "fuel", "started"]
    r.verify()
    assert store.receipts(c.cid) == [r]
    code, _, err = cli("run", str(EXAMPLES / "c-crc32-tool.yaml"), "-o", str(tmp_path / "got"))
    assert code == 0, err
    got = tmp_path / "got"
    assert str(Link(Hasher(progress=False).path(got / "outputs").cid)) == str(r.outputs["/outputs"])
    try:
        js = unixfs_js.cids([got / "outputs", got / "stdout"])
    except unixfs_js.Unavailable as exc:
        pytest.skip(str(exc))
    assert js[got / "outputs"] == str(r.outputs["/outputs"])
    assert js[got / "stdout"] == str(r.stdout)


def test_a_tampered_receipt_fails_verification(tmp_path: Path, store: Store) -> None:
    _, ran = run(job_spec(tmp_path, "exit3.c"), store)
    good = ran.receipt
    good.verify()
    other = identity.cid_of_raw(b"other")
    for tampered in (
        Receipt(**{**_fields(good), "exit": 0}),
        Receipt(**{**_fields(good), "stdout": other}),
        Receipt(**{**_fields(good), "outputs": FrozenMap({"/outputs": other})}),
        Receipt(**{**_fields(good), "node": NodeKey.generate().node}),
        Receipt(**{**_fields(good), "meta": good.meta.set("fuel", 1)}),
    ):
        with pytest.raises(ReceiptError):
            tampered.verify()
        with pytest.raises(ReceiptError):
            store.put_receipt(tampered)
    # The command line: the receipt as `receipt show` prints it, then changed by hand.
    code, out, _ = cli("receipt", "show", str(ran.cid))
    assert code == 0
    shown = tmp_path / "receipt.json"
    shown.write_text(out)
    assert cli("receipt", "verify", str(shown))[0] == 0
    data = json.loads(out)
    data["exit"] = 0
    data.pop("cid")
    shown.write_text(json.dumps(data))
    code, out, _ = cli("receipt", "verify", str(shown))
    assert code == 1
    assert "FAIL" in out
    assert "signature does not match" in out
    block = tmp_path / "receipt.cbor"
    block.write_bytes(Receipt(**{**_fields(good), "exit": 7}).encode())
    assert cli("receipt", "verify", str(block), str(ran.cid))[0] == 1
    assert cli("receipt", "verify", str(ran.cid), str(good.job))[0] == 0


def _fields(r: Receipt) -> dict[str, Any]:
    return {k: getattr(r, k) for k in Receipt.__dataclass_fields__}


# --- memoization ----------------------------------------------------------------------------


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A counter the job cannot touch: every time the runner really runs a module."""
    calls: list[str] = []
    real = execute.run_module

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append("ran")
        return real(*args, **kwargs)

    monkeypatch.setattr(execute, "run_module", counting)
    return calls


def test_a_memo_hit_skips_execution(tmp_path: Path, executions: list[str]) -> None:
    spec = str(EXAMPLES / "rust-fibonacci-2018.yaml")
    code, out, err = cli("run", spec)
    assert code == 0, err
    assert executions == ["ran"]
    assert out.splitlines()[:5] == ["0", "1", "1", "2", "3"]
    assert "ran it" in err
    code, again, err = cli("run", spec, "-o", str(tmp_path / "o"))
    assert code == 0
    assert executions == ["ran"]  # not run again
    assert again == out
    assert "not run again" in err
    assert (tmp_path / "o" / "stdout").read_text() == out
    assert (tmp_path / "o" / "exitCode").read_text() == "0\n"
    assert (tmp_path / "o" / "outputs").is_dir()
    code, _, err = cli("run", spec, "--rerun")
    assert code == 0, err
    assert executions == ["ran", "ran"]
    s = open_store()
    try:
        cid = compile_file(spec).cid
        receipts = s.receipts(cid)
    finally:
        s.close()
    assert len(receipts) == 2
    assert receipts[0].stdout == receipts[1].stdout


def test_a_nondeterministic_job_is_never_reused(tmp_path: Path, executions: list[str]) -> None:
    path = job_spec(tmp_path, "exit3.c", "deterministic: false\n")
    assert cli("run", str(path))[0] == 3
    assert cli("run", str(path))[0] == 3
    assert executions == ["ran", "ran"]


def test_only_trusted_receipts_are_reused(tmp_path: Path, store: Store) -> None:
    c, ran = run(EXAMPLES / "rust-hello.yaml", store)
    stranger = NodeKey.generate()
    forged = stranger.sign(ran.receipt)
    store.put_receipt(forged)
    assert find_trusted_receipt(store, c.cid, {stranger.node}) == forged
    assert find_trusted_receipt(store, c.cid, trusted_nodes()) == ran.receipt
    assert find_trusted_receipt(store, c.cid, {NodeKey.generate().node}) is None


def test_a_rerun_reports_a_node_that_lied(tmp_path: Path, store: Store, jobc_home: Path) -> None:
    """Another node, trusted, signed other results for a strict job: `--rerun` says so."""
    spec = EXAMPLES / "rust-hello.yaml"
    c = compiled(spec)
    liar = NodeKey.generate()
    (jobc_home / "trusted-nodes").write_text(f"# a partner node\n{liar.node}\n")
    lie = Receipt(
        job=c.cid,
        outputs=FrozenMap({"/outputs": identity.cid_of_raw(b"")}),
        exit=0,
        stdout=Link(store_path(_file(tmp_path, "hello, everyone\n"), store).cid),
        stderr=identity.cid_of_raw(b""),
        runner=execute.runner_info(),
        node="",
        meta=FrozenMap({"started": "2024-01-01T00:00:00Z", "finished": "2024-01-01T00:00:01Z"}),
    )
    store.put_receipt(liar.sign(lie))
    code, out, err = cli("run", str(spec))
    assert code == 0
    assert out == "hello, everyone\n"  # reused: the lie is believed until checked
    assert liar.node in err
    code, out, err = cli("run", str(spec), "--rerun")
    assert code == 5
    assert "NOT DETERMINISTIC" in err
    assert "stdout:" in err
    assert out == "hello, Ada\nhello, Grace\nhello, Barbara\n"
    assert len(store.receipts(c.cid)) == 2  # both kept (for reputation)


def _file(folder: Path, content: str) -> Path:
    path = folder / "content.txt"
    path.write_text(content)
    return path


def test_unordered_outputs_agree_up_to_the_order_of_lines(tmp_path: Path, store: Store) -> None:
    def receipt(stdout: str) -> Receipt:
        out = tmp_path / "o"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        (out / "lines.txt").write_text(stdout)
        return Receipt(
            job=identity.cid_of_raw(b"job"),
            outputs=FrozenMap({"/outputs": Link(store_path(out, store).cid)}),
            exit=0,
            stdout=Link(store_path(out / "lines.txt", store).cid),
            stderr=identity.cid_of_raw(b""),
            runner=FrozenMap(),
            node="",
            meta=FrozenMap(),
        )

    a, b, c = receipt("b\na\n"), receipt("a\nb\n"), receipt("a\nc\n")
    assert differences(store, a, b, "unordered") == []
    assert len(differences(store, a, b, "strict")) == 2  # stdout and the output
    problems = differences(store, a, c, "unordered")
    assert len(problems) == 2
    assert "beyond the order of its lines" in problems[0]


# --- what cannot run here --------------------------------------------------------------------


def test_a_docker_job_points_to_bacalhau() -> None:
    code, _, err = cli("run", "--offline", str(EXAMPLES / "docker-word-count.yaml"))
    assert code == 1
    assert "docker jobs cannot run here" in err
    assert "jobc export --to bacalhau" in err


def test_a_source_job_left_unlowered_cannot_run(executions: list[str]) -> None:
    code, _, err = cli("run", "--no-lower", str(EXAMPLES / "rust-hello.yaml"))
    assert code == 1
    assert "was not lowered" in err
    assert executions == []


def test_a_limit_is_exit_code_4(tmp_path: Path) -> None:
    code, _, err = cli("run", "--fuel", "1000", str(job_spec(tmp_path, "runaway.wat")))
    assert code == 4
    assert "ran out of fuel" in err


# --- the call tree and the module cache -------------------------------------------------------


def test_an_input_can_await_another_jobs_output(tmp_path: Path, store: Store) -> None:
    first, ran = run(EXAMPLES / "c-crc32-tool.yaml", store)
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy)
    spec = copy / "wasm-wat-uppercase.yaml"
    spec.write_text(
        spec.read_text().replace(
            "source: data/words.txt", f"source: 'job:{first.cid}#/outputs/CRC32SUMS'"
        )
    )
    sums = text(ran.receipt.stdout, store)
    # Compiled here, resolve-awaits already names the content (the input is a CID)…
    c, second = run(spec, store)
    assert text(second.receipt.stdout, store) == sums.upper()
    assert isinstance(c.job.inputs[0].source, Link)
    # …compiled before the first job ran (no resolve-awaits), the runner resolves it.
    passes = tuple(p for p in default_pipeline() if p.name != "resolve-awaits")
    options = CompileOptions(passes=passes, settings={"store_content": True})
    awaiting = compile_file(spec, options).job
    assert isinstance(awaiting.inputs[0].source, Await)
    third = run_job(awaiting, store, NodeKey.load_or_create())
    assert third.receipt.stdout == second.receipt.stdout
    stranger = NodeKey.generate().node
    with pytest.raises(RunError, match="no trusted receipt"):
        run_job(awaiting, store, NodeKey.load_or_create(), nodes={stranger})


def test_a_compiled_module_is_reused_from_the_store(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wasm, "_COMPILED", type(wasm._COMPILED)())
    c, _ = run(job_spec(tmp_path, "exit3.c"), store)
    monkeypatch.setattr(wasm, "_COMPILED", type(wasm._COMPILED)())  # a new process
    import wasmtime

    def no_compiling(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the module was compiled again")

    monkeypatch.setattr(wasmtime.Module, "__init__", no_compiling)
    again = run_job(c.job, store, NodeKey.load_or_create())
    assert again.receipt.exit == 3


# --- the examples -----------------------------------------------------------------------------


def _words() -> bytes:
    return (EXAMPLES / "data" / "words.txt").read_bytes()


def _corpus() -> list[Path]:
    return sorted((EXAMPLES / "data" / "corpus").iterdir())


def _fib(n: int) -> str:
    a, b, out = 0, 1, []
    for _ in range(n):
        out.append(f"{a}\n")
        a, b = b, a + b
    return "".join(out)


def _wc(data: bytes) -> str:
    lines = data.count(b"\n")
    return f"{lines}\t{len(data.split())}\t{len(data)}"


EXPECTED: dict[str, Any] = {
    "rust-hello": lambda: "hello, Ada\nhello, Grace\nhello, Barbara\n",
    "rust-fibonacci-2018": lambda: _fib(30),
    "c-checksum": lambda: f"{zlib.adler32(_words()):08x}\n",
    "c-sort-lines": lambda: b"".join(sorted(_words().splitlines(keepends=True))).decode(),
    "c-crc32-tool": lambda: (
        "".join(
            f"{zlib.crc32(p.read_bytes()):08x}  {p.stat().st_size}  /data/corpus/{p.name}\n"
            for p in _corpus()
        )
        + f"{zlib.crc32(_words()):08x}  {len(_words())}  /data/words.txt\n"
    ),
    "rust-word-count": lambda: _wc(b"".join(p.read_bytes() for p in _corpus())) + " (total)\n",
    "wasm-wat-uppercase": lambda: _words().decode().upper(),
    "wasm-hello": lambda: "",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_examples_run_and_print_what_they_should(name: str, store: Store) -> None:
    (spec,) = EXAMPLES.glob(f"{name}.*")
    c, ran = run(spec, store)
    assert ran.receipt.exit == 0
    assert text(ran.receipt.stdout, store) == EXPECTED[name]()
    assert ran.receipt.job == c.cid


def test_a_run_is_recorded_for_the_stores_queries(jobc_home: Path) -> None:
    """`jobc run` records the compile as `jobc compile` does: `find` sees the receipt."""
    spec = str(EXAMPLES / "c-checksum.yaml")
    assert cli("run", spec)[0] == 0
    code, out, err = cli("find", spec, "--json")
    assert code == 0, err
    assert "receipt" in out


def test_runs_receipts_and_memo_hits_on_both_backends(
    store_location: str, tmp_path: Path, executions: list[str]
) -> None:
    """SQLite and PostgreSQL: the blocks, the compiled-module cache, the receipt, the
    memo hit and `-o` from the kept blocks."""
    spec = str(EXAMPLES / "c-crc32-tool.yaml")
    code, first, err = cli("run", "--store", store_location, spec)
    assert code == 0, err
    code, again, err = cli("run", "--store", store_location, spec, "-o", str(tmp_path / "o"))
    assert code == 0, err
    assert again == first
    assert executions == ["ran"]
    assert (tmp_path / "o" / "outputs" / "CRC32SUMS").read_text() == first
    code, out, _ = cli("receipt", "show", "--store", store_location, str(compile_file(spec).cid))
    assert code == 0
    (shown,) = json.loads(out)
    assert cli("receipt", "verify", "--store", store_location, shown["cid"]["/"])[0] == 0


def test_a_hamt_sharded_output_is_written_out_again(tmp_path: Path, store: Store) -> None:
    """What `-o` does on a memo hit, for a folder kubo would shard (forced small here)."""
    from compiler import unixfs
    from compiler.oracles.content import export, store_sink

    sink = store_sink(store)
    files = {f"n{i}": unixfs.file_entry(f"{i}\n".encode(), sink) for i in range(300)}
    root = unixfs.hamt_directory_entry(((n.encode(), e) for n, e in files.items()), sink)
    export(Link(root.cid), store, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(files)
    assert (tmp_path / "out" / "n42").read_text() == "42\n"
