"""The resolve-content pass and the content oracle, through real files, folders and stores.

Every fault is checked as a user meets it: a compile of a spec file that stops with a
diagnostic at the source's line and column, and writes no record (no fact), no cache
entry and no block.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler import unixfs
from compiler.diagnostics import Severity, SpecError
from compiler.driver import Compiled, CompileOptions, compile_file
from compiler.emitters.compiled import dumps, load_document
from compiler.ir import Input, Link
from compiler.oracles.content import CACHE_NAMESPACE, Hasher
from compiler.records import replay
from compiler.sources import ContentError
from compiler.store import open_store
from compiler.verify import verify_document

MODULE = "ipfs://bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
OLD = 1_600_000_000  # a past mtime: files this old are cached (fresh ones are not)


def write_spec(folder: Path, *sources: str, name: str = "job.yaml") -> Path:
    """A wasm job (no image to resolve) with one input per source, one per line from line 4."""
    lines = ["jobspec: 1", f"task: {{engine: wasm, module: {MODULE!r}}}", "inputs:"]
    lines += [f"  - {{source: {s!r}, target: /in/{i}}}" for i, s in enumerate(sources)]
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / name
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return spec


def compile_spec(spec: Path, **settings: Any) -> Compiled:
    store = str(spec.parent / "store.sqlite")
    offline = bool(settings.pop("offline", False))
    refresh = bool(settings.pop("refresh", False))
    options = CompileOptions(store=store, offline=offline, refresh=refresh, settings=settings)
    return compile_file(spec, options)


def data(folder: Path, rel: str, content: bytes = b"hello\n", *, old: bool = True) -> Path:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if old:
        os.utime(path, (OLD, OLD))
    return path


def cid_of(path: Path) -> Link:
    return Link(Hasher(progress=False).path(path).cid)


def fails(spec: Path, **settings: Any) -> list[Any]:
    """The diagnostics of a compile that must fail, checking that nothing was stored."""
    with pytest.raises(SpecError) as info:
        compile_spec(spec, **settings)
    store = open_store(spec.parent / "store.sqlite")
    try:
        assert list(store.blocks()) == []
    finally:
        store.close()
    return info.value.diagnostics


def at(spec: Path, line: int, text: str) -> tuple[int, int]:
    """The (line, column) where `text` starts on `line` of the spec."""
    written = spec.read_text(encoding="utf-8").splitlines()[line - 1]
    column = written.index(text) + 1
    if written[column - 2] in "'\"":
        column -= 1  # a quoted scalar starts at its quote
    return line, column


def where(diagnostic: Any) -> tuple[int, int]:
    return diagnostic.span.line, diagnostic.span.column


# --- what gets pinned -------------------------------------------------------------------------


def test_files_and_directories_are_pinned_with_facts(tmp_path: Path) -> None:
    data(tmp_path, "data/words.txt", b"one\ntwo\n")
    data(tmp_path, "data/corpus/a.txt", b"a")
    data(tmp_path, "data/corpus/sub/b.txt", b"b" * 300_000)
    spec = write_spec(tmp_path, "data/words.txt", "./data//corpus/", "file:data/words.txt")
    c = compile_spec(spec)
    words, corpus = cid_of(tmp_path / "data/words.txt"), cid_of(tmp_path / "data/corpus")
    assert str(words).startswith("bafkrei")
    assert str(corpus).startswith("bafybei")
    assert c.job.inputs == (Input("/in/0", words), Input("/in/1", corpus), Input("/in/2", words))
    assert c.pinned
    record = c.chain[-1]
    assert record.pass_name == "resolve-content"
    # One fact per distinct source, as DESIGN §5 writes it.
    assert sorted((dict(f) for f in record.facts), key=lambda f: f["source"]) == [
        {"source": "file:data/corpus/", "cid": corpus},
        {"source": "file:data/words.txt", "cid": words},
    ]
    assert c.sources[str(words)] == ["file:data/words.txt"]
    assert c.sources[str(corpus)] == ["file:data/corpus/"]
    assert not c.diagnostics


def test_the_chain_replays_from_its_facts_without_the_files(tmp_path: Path) -> None:
    data(tmp_path, "data/x.bin", os.urandom(700_000))
    c = compile_spec(write_spec(tmp_path, "data/x.bin"))
    raw = dumps(c)
    shutil.rmtree(tmp_path / "data")
    assert all(check.ok for check in replay(c.original_job, c.chain))
    assert all(check.ok for check in verify_document(load_document(raw)))


def test_wasm_module_imports_stdin_and_rust_source(tmp_path: Path) -> None:
    data(tmp_path, "m.wasm", b"\0asm\1\0\0\0")
    data(tmp_path, "lib.wasm", b"\0asm\1\0\0\0lib")
    data(tmp_path, "in.txt", b"3\n1\n")
    (tmp_path / "w.yaml").write_text(
        "jobspec: 1\n"
        "task:\n"
        "  engine: wasm\n"
        "  module: m.wasm\n"
        "  imports: {lib: lib.wasm}\n"
        "  stdin: in.txt\n",
        encoding="utf-8",
    )
    c = compile_spec(tmp_path / "w.yaml")
    task: Any = c.job.task
    assert task.module == Link(unixfs.file_entry(b"\0asm\1\0\0\0").cid)
    assert task.imports["lib"] == cid_of(tmp_path / "lib.wasm")
    assert task.stdin == cid_of(tmp_path / "in.txt")
    data(tmp_path, "main.rs", b"fn main() {}\n")
    (tmp_path / "r.yaml").write_text(
        "jobspec: 1\ntask: {engine: rust, source: main.rs}\n", encoding="utf-8"
    )
    c = compile_spec(tmp_path / "r.yaml")
    pinned = next(r for r in c.chain if r.pass_name == "resolve-content")
    assert [dict(f) for f in pinned.facts] == [
        {"source": "file:main.rs", "cid": cid_of(tmp_path / "main.rs")}
    ]


def test_ipfs_cids_become_v1_without_a_fact(tmp_path: Path) -> None:
    v0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
    c = compile_spec(write_spec(tmp_path, f"ipfs://{v0}", MODULE))
    assert c.job.inputs[0].source == Link.parse(v0).v1()
    assert str(c.job.inputs[0].source).startswith("bafybei")
    assert str(c.job.inputs[1].source) == MODULE.removeprefix("ipfs://")
    assert all(not r.facts for r in c.chain[1:])
    assert c.pinned


def test_inline_text_and_data_uris_hash_as_files(tmp_path: Path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(
        "jobspec: 1\n"
        f"task: {{engine: wasm, module: {MODULE!r}}}\n"
        "inputs:\n"
        "  - {text: 'hello world\n\n    ', target: /a}\n"
        "  - {source: 'data:,hello%20world%0A', target: /b}\n"
        "  - {source: 'data:text/plain;base64,aGVsbG8gd29ybGQK', target: /c}\n",
        encoding="utf-8",
    )
    c = compile_spec(spec)
    hello = Link(unixfs.file_entry(b"hello world\n").cid)
    assert [i.source for i in c.job.inputs] == [hello, hello, hello]
    assert str(hello) == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    assert c.sources[str(hello)][0].startswith("data:")


def test_unpinnable_sources_stay_strings_and_say_why(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "s3://bucket/key/", "/srv/shared/labels.txt", "gs://b/o")
    c = compile_spec(spec)
    assert [i.source for i in c.job.inputs] == [
        "s3://bucket/key/",
        "file:/srv/shared/labels.txt",
        "gs://b/o",
    ]
    assert not c.pinned
    notes = [d for d in c.diagnostics if d.severity is Severity.NOTE]
    assert [where(d) for d in notes] == [
        at(spec, 4, "s3://"),
        at(spec, 5, "/srv"),
        at(spec, 6, "gs://"),
    ]
    assert "host path" in notes[1].message
    assert not c.warnings


def test_offline_leaves_urls_unpinned_with_a_warning(tmp_path: Path) -> None:
    data(tmp_path, "a.txt")
    spec = write_spec(tmp_path, "https://example.org/x.csv", "a.txt")
    c = compile_spec(spec, offline=True)
    assert c.job.inputs[0].source == "https://example.org/x.csv"
    assert isinstance(c.job.inputs[1].source, Link)  # files are still hashed offline
    (w,) = c.warnings
    assert "offline" in w.message
    assert where(w) == at(spec, 4, "https")


def test_absolute_paths_inside_the_folder_and_outside_with_permission(tmp_path: Path) -> None:
    inside = data(tmp_path / "spec", "in.txt", b"in")
    outside = data(tmp_path, "out.txt", b"out")
    spec = write_spec(tmp_path / "spec", str(inside), str(outside), "../out.txt")
    c = compile_spec(spec, allow_outside=True)
    assert [i.source for i in c.job.inputs] == [cid_of(inside), cid_of(outside), cid_of(outside)]


def test_a_symlink_named_by_the_source_is_followed(tmp_path: Path) -> None:
    target = data(tmp_path, "data/real.txt", b"real")
    os.symlink("real.txt", tmp_path / "data" / "link.txt")
    c = compile_spec(write_spec(tmp_path, "data/link.txt"))
    assert c.job.inputs[0].source == cid_of(target)


# --- faults: a diagnostic at the source's place, and nothing recorded ------------------------


def test_missing_file(tmp_path: Path) -> None:
    data(tmp_path, "data/here.txt")
    spec = write_spec(tmp_path, "data/here.txt", "data/missing.txt")
    (d,) = fails(spec)
    assert d.message == "cannot pin file:data/missing.txt: no such file or directory"
    assert where(d) == at(spec, 5, "data/missing")
    assert d.code == "missing"


def test_several_faults_are_reported_together(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "nope.txt", "ipfs://bafyNOTACID", "../up.txt")
    diags = fails(spec)
    assert [d.code for d in diags] == ["missing", "bad-cid", "outside"]
    assert [where(d) for d in diags] == [
        at(spec, 4, "nope"),
        at(spec, 5, "ipfs"),
        at(spec, 6, "../up"),
    ]


def test_malformed_cid(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "ipfs://QmNotAValidCIDatAll")
    (d,) = fails(spec)
    assert d.code == "bad-cid"
    assert "not a valid CID" in d.message
    assert where(d) == at(spec, 4, "ipfs://")


def test_path_escape_through_dotdot(tmp_path: Path) -> None:
    data(tmp_path, "secret.txt")
    spec = write_spec(tmp_path / "project", "../secret.txt")
    (d,) = fails(spec)
    assert d.code == "outside"
    assert "outside the spec's folder" in d.message
    assert "--allow-outside" in d.hint
    assert where(d) == at(spec, 4, "../secret")


def test_path_escape_through_a_symlink(tmp_path: Path) -> None:
    data(tmp_path, "secret/key.pem")
    (tmp_path / "project").mkdir()
    os.symlink(tmp_path / "secret", tmp_path / "project" / "data")
    spec = write_spec(tmp_path / "project", "data/key.pem")
    (d,) = fails(spec)
    assert d.code == "outside"
    assert "through a symlink" in d.message
    assert where(d) == at(spec, 4, "data/key")
    c = compile_spec(spec, allow_outside=True)
    assert c.job.inputs[0].source == cid_of(tmp_path / "secret" / "key.pem")


def test_a_file_where_a_directory_is_meant(tmp_path: Path) -> None:
    data(tmp_path, "data/words.txt")
    (d,) = fails(write_spec(tmp_path, "data/words.txt/"))
    assert d.code == "not-a-directory"


def test_a_named_pipe_is_refused_not_read(tmp_path: Path) -> None:
    # Opening a FIFO would block for ever: it must be refused before any read.
    (tmp_path / "data").mkdir()
    os.mkfifo(tmp_path / "data" / "pipe")
    spec = write_spec(tmp_path, "data/pipe")
    (d,) = fails(spec)
    assert d.code == "not-a-file"
    assert "named pipe" in d.message
    os.mkfifo(tmp_path / "data" / "pipe2")
    data(tmp_path, "data/ok.txt")
    (d,) = fails(write_spec(tmp_path, "data/", name="dir.yaml"))
    assert "pipe" in d.message
    assert d.code == "not-a-file"


def _without_root_powers() -> list[str]:
    """A command prefix that runs without the capabilities that let root read anything."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable to root")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def test_unreadable_file(tmp_path: Path) -> None:
    secret = data(tmp_path, "data/secret.txt")
    secret.chmod(0)
    spec = write_spec(tmp_path, "data/secret.txt")
    env = {**os.environ, "JOBC_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [*_without_root_powers(), sys.executable, "-m", "compiler", "check", str(spec), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    import json

    (d,) = json.loads(run.stdout)["diagnostics"]
    assert d["code"] == "unreadable"
    assert "Permission denied" in d["message"]
    assert (d["line"], d["column"]) == at(spec, 4, "data/secret")


def test_an_unreadable_folder_inside_a_directory_input(tmp_path: Path) -> None:
    data(tmp_path, "data/ok.txt")
    data(tmp_path, "data/locked/x.txt")
    (tmp_path / "data" / "locked").chmod(0)
    try:
        spec = write_spec(tmp_path, "data/")
        env = {**os.environ, "JOBC_HOME": str(tmp_path / "home")}
        run = subprocess.run(
            [*_without_root_powers(), sys.executable, "-m", "compiler", "cid", str(spec)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    finally:
        (tmp_path / "data" / "locked").chmod(0o755)
    assert run.returncode == 1
    assert "cannot list locked: Permission denied" in run.stderr


@pytest.fixture
def busy_writer() -> Iterator[Any]:
    """Starts a thread that keeps changing something until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(action: Any) -> None:
        def loop() -> None:
            while not stop.is_set():
                action()
                time.sleep(0.001)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join()


def test_a_file_written_while_hashed(tmp_path: Path, busy_writer: Any) -> None:
    big = data(tmp_path, "data/growing.bin", os.urandom(48 << 20))
    spec = write_spec(tmp_path, "data/growing.bin")

    def append() -> None:
        with big.open("ab") as f:
            f.write(b"x")

    busy_writer(append)
    time.sleep(0.01)
    (d,) = fails(spec, store_content=True)
    assert d.code == "changed"
    assert "changed while it was hashed" in d.message
    assert where(d) == at(spec, 4, "data/growing")


def test_a_directory_changing_while_hashed(tmp_path: Path, busy_writer: Any) -> None:
    data(tmp_path, "data/big.bin", os.urandom(48 << 20))
    spec = write_spec(tmp_path, "data/")
    flip = tmp_path / "data" / "flip"

    def toggle() -> None:
        if flip.exists():
            flip.unlink()
        else:
            flip.write_bytes(b"")

    busy_writer(toggle)
    time.sleep(0.01)
    (d,) = fails(spec, store_content=True)
    assert d.code == "changed"
    assert where(d) == at(spec, 4, "data/")


def test_a_directory_changed_between_two_files(tmp_path: Path) -> None:
    # Deterministic: a file appears after the first entry is hashed.
    data(tmp_path, "tree/a.txt")
    data(tmp_path, "tree/b.txt")
    hasher = Hasher(progress=False, on_file=lambda p: (p.parent / "late.txt").write_bytes(b""))
    with pytest.raises(ContentError, match="entries were added, removed or renamed"):
        hasher.path(tmp_path / "tree")


def wide_folder(folder: Path) -> Path:
    """4,097 empty files of 28-byte names: one more than one directory node holds."""
    folder.mkdir(parents=True)
    for i in range(4097):
        (folder / f"{i:028d}").write_bytes(b"")
    return folder


def test_a_directory_kubo_shards_is_pinned_with_every_block(tmp_path: Path) -> None:
    # One entry more than one directory node holds (kubo's estimate): a HAMT shard of
    # fanout 256 and its sub-shards, all stored.
    folder = wide_folder(tmp_path / "data" / "wide")
    c = compile_spec(write_spec(tmp_path, "data/wide/"), store_content=True)
    root = c.job.inputs[0].source
    assert root == cid_of(folder)
    assert c.pinned
    store = open_store(tmp_path / "store.sqlite")
    try:
        blocks = {cid: store.get_block(cid) for cid in store.blocks()}
    finally:
        store.close()
    shards = [b for b in blocks.values() if b and b.endswith(b"\x28\x22\x30\x80\x02")]
    assert len(shards) == len(blocks) - 1  # and the one empty file every name links to
    assert len(shards) > 256
    assert isinstance(root, Link)
    assert blocks[root] in shards


def test_two_names_with_one_hamt_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No two names are known to share all 64 bits of murmur3: the hash is forced to here.
    wide_folder(tmp_path / "data" / "wide")
    monkeypatch.setattr(unixfs, "hamt_hash", lambda name: 7)
    spec = write_spec(tmp_path, "data/wide/")
    (d,) = fails(spec)
    assert d.code == "hash-collision"
    assert "share all 64 bits of their murmur3 hash" in d.message
    assert where(d) == at(spec, 4, "data/wide/")


def test_non_utf8_names_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9")).write_bytes(b"")
    (d,) = fails(write_spec(tmp_path, "data/"))
    assert d.code == "bad-name"


def test_a_malformed_data_uri(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "data:;base64,!!!!")
    (d,) = fails(spec)
    assert d.code == "bad-data-uri"
    (d,) = fails(write_spec(tmp_path, "data:no-comma", name="b.yaml"))
    assert "comma" in d.message


# --- the cache and the store ------------------------------------------------------------------


def test_small_files_are_not_cached(tmp_path: Path) -> None:
    small = data(tmp_path, "small.txt", b"x" * (unixfs.CHUNK_SIZE - 1))
    store = open_store(tmp_path / "s.sqlite")
    try:
        Hasher(cache=store, progress=False).path(small)
        again = Hasher(cache=store, progress=False)
        again.path(small)
        assert again.hashed_bytes == unixfs.CHUNK_SIZE - 1
    finally:
        store.close()


def test_unchanged_files_are_not_hashed_again(tmp_path: Path) -> None:
    big = data(tmp_path, "big.bin", os.urandom(3 << 20))
    store = open_store(tmp_path / "s.sqlite")
    try:
        first = Hasher(cache=store, progress=False)
        entry = first.path(big)
        assert first.hashed_bytes == 3 << 20
        again = Hasher(cache=store, progress=False)
        assert again.path(big) == entry
        assert again.hashed_bytes == 0  # from the cache
        refreshed = Hasher(cache=store, refresh=True, progress=False)
        assert refreshed.path(big) == entry
        assert refreshed.hashed_bytes == 3 << 20
        # A new mtime (and ctime) is a new key: hashed again, and the new bytes seen.
        new = os.urandom(unixfs.CHUNK_SIZE)
        big.write_bytes(new)
        os.utime(big, (OLD + 5, OLD + 5))
        changed = Hasher(cache=store, progress=False)
        assert changed.path(big).cid == unixfs.file_entry(new).cid
        assert changed.hashed_bytes == len(new)
    finally:
        store.close()


def test_files_modified_just_now_are_not_cached(tmp_path: Path) -> None:
    fresh = data(tmp_path, "fresh.bin", os.urandom(unixfs.CHUNK_SIZE), old=False)
    store = open_store(tmp_path / "s.sqlite")
    try:
        Hasher(cache=store, progress=False).path(fresh)
        again = Hasher(cache=store, progress=False)
        again.path(fresh)
        assert again.hashed_bytes == fresh.stat().st_size
    finally:
        store.close()


def test_compiles_use_the_cache_and_refresh_bypasses_it(tmp_path: Path) -> None:
    content = os.urandom(unixfs.CHUNK_SIZE + 1)
    data(tmp_path, "data/a.txt", content)
    spec = write_spec(tmp_path, "data/a.txt")
    compile_spec(spec)
    store = open_store(tmp_path / "store.sqlite")
    try:
        keys = store._db().execute(  # type: ignore[attr-defined]
            "SELECT key FROM cache WHERE namespace = ?", (CACHE_NAMESPACE,)
        )
        (key,) = [k for (k,) in keys]
        assert str(tmp_path / "data" / "a.txt") in key
        # A cache entry that lies is believed (that is what a cache is)...
        store.cache_put(
            CACHE_NAMESPACE,
            key,
            {"cid": str(Link(unixfs.file_entry(b"").cid)), "tsize": 0},
            ttl=None,
        )
    finally:
        store.close()
    assert compile_spec(spec).job.inputs[0].source == Link(unixfs.file_entry(b"").cid)
    # ...until --refresh hashes the file again.
    fresh = compile_spec(spec, refresh=True).job.inputs[0].source
    assert fresh == Link(unixfs.file_entry(content).cid)


def test_store_content_keeps_every_block(tmp_path: Path) -> None:
    content = os.urandom(3 * unixfs.CHUNK_SIZE + 10)
    data(tmp_path, "data/f.bin", content)
    data(tmp_path, "data/small.txt", b"small")
    os.symlink("f.bin", tmp_path / "data" / "link")
    c = compile_spec(write_spec(tmp_path, "data/"), store_content=True)
    store = open_store(tmp_path / "store.sqlite")
    try:
        blocks = set(store.blocks())
        root = c.job.inputs[0].source
        assert isinstance(root, Link)
        assert root in blocks
        # 4 leaves + file node + small file + symlink + directory
        assert len(blocks) == 8
        leaves = [store.get_block(b) for b in blocks if str(b).startswith("bafkrei")]
        assert b"".join(sorted(x for x in leaves if x and len(x) > 5)) == b"".join(
            sorted(
                content[i : i + unixfs.CHUNK_SIZE]
                for i in range(0, len(content), unixfs.CHUNK_SIZE)
            )
        )
        for cid in blocks:  # every block hashes to its CID
            block = store.get_block(cid)
            assert block is not None
            assert unixfs.dag_pb_cid(block) == cid.raw or unixfs.raw_cid(block) == cid.raw
    finally:
        store.close()


def test_a_failed_compile_writes_no_cache_entry(tmp_path: Path) -> None:
    data(tmp_path, "data/a.txt", os.urandom(unixfs.CHUNK_SIZE))  # big enough to be cached
    os.mkfifo(tmp_path / "data" / "z-pipe")  # hashed after a.txt
    fails(write_spec(tmp_path, "data/"))
    store = open_store(tmp_path / "store.sqlite")
    try:
        rows = store._db().execute("SELECT count(*) FROM cache").fetchone()  # type: ignore[attr-defined]
        assert rows == (0,)
    finally:
        store.close()
    compile_spec(write_spec(tmp_path, "data/a.txt", name="ok.yaml"))  # and when it works:
    store = open_store(tmp_path / "store.sqlite")
    try:
        rows = store._db().execute("SELECT count(*) FROM cache").fetchone()  # type: ignore[attr-defined]
        assert rows == (1,)
    finally:
        store.close()
