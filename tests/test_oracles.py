"""The oracle plumbing: recorded facts, and live handlers made on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from compiler.ir import FrozenMap
from compiler.oracles import Fact, Oracle, OracleUnavailable, RecordedOracle, fact
from compiler.oracles.live import LiveContext, LiveOracle

CALLS: list[Fact] = []


def echo_factory(context: LiveContext) -> object:
    def handler(question: Fact) -> Fact:
        CALLS.append(question)
        return FrozenMap({"offline": context.offline, "answer": question["q"]})

    return handler


def test_live_handlers_are_made_on_first_use(tmp_path: Path) -> None:
    CALLS.clear()
    oracle = LiveOracle(
        LiveContext(base_dir=tmp_path, offline=True), {"echo": f"{__name__}:echo_factory"}
    )
    assert "echo" not in oracle.handlers
    assert oracle.ask("echo", {"q": "x"}) == {"offline": True, "answer": "x"}
    assert "echo" in oracle.handlers
    assert len(CALLS) == 1
    with pytest.raises(OracleUnavailable):
        oracle.ask("nothing", {"q": "x"})


def test_live_context_opens_the_store_lazily(tmp_path: Path) -> None:
    context = LiveContext(base_dir=tmp_path, store_location=str(tmp_path / "s.sqlite"))
    assert not (tmp_path / "s.sqlite").exists()
    context.store.cache_put("n", "k", 1, ttl=None)
    context.close()
    assert (tmp_path / "s.sqlite").exists()


WASM_JOB = (
    b"jobspec: 1\ntask:\n  engine: wasm\n"
    b"  module: ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku\n"
)
"""A WASM job: the lower pass asks the store whether its module needs lowering."""


def test_the_compiles_of_a_session_share_one_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import compiler.store
    from compiler.driver import CompileOptions, compile_bytes
    from compiler.store.sqlite import SQLiteStore

    opened: list[SQLiteStore] = []
    real = compiler.store.open_store

    def counting(location: str | Path | None = None) -> object:
        store = real(location)
        assert isinstance(store, SQLiteStore)
        opened.append(store)
        return store

    monkeypatch.setattr(compiler.store, "open_store", counting)
    one_run = CompileOptions(session={})
    first = compile_bytes(WASM_JOB, "a.yaml", one_run)
    assert compile_bytes(WASM_JOB, "b.yaml", one_run).cid == first.cid
    assert len(opened) == 1
    assert opened[0]._connections  # kept open for the run's next compile
    for name in ("c.yaml", "d.yaml"):  # no session: a store of its own, closed at the end
        compile_bytes(WASM_JOB, name)
    assert len(opened) == 3
    assert not opened[1]._connections
    assert not opened[2]._connections


def test_recorded_oracle_answers_from_facts() -> None:
    recorded = RecordedOracle([fact({"ref": "a"}, {"digest": "sha256:1"})])
    assert recorded.ask("image", {"ref": "a"}) == {"digest": "sha256:1"}
    with pytest.raises(OracleUnavailable):
        recorded.ask("image", {"ref": "b"})


def test_sources_are_collected_once_each() -> None:
    oracle = Oracle()
    oracle.source("sha256:1", "docker.io/library/ubuntu")
    oracle.source("sha256:1", "docker.io/library/ubuntu")
    oracle.source("sha256:1", "ghcr.io/x/ubuntu")
    assert oracle.sources == {"sha256:1": ["docker.io/library/ubuntu", "ghcr.io/x/ubuntu"]}


def test_a_pinned_compile_opens_no_store(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from compiler.driver import compile_bytes\n"
        'c = compile_bytes(b\'{"jobspec": 1, "task": {"engine": "other", '
        '"kind": "x"}}\', \'s.json\')\n'
        "print(sorted(m for m in sys.modules if m.startswith('compiler.store')))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
