"""`jobc hash` and the content options of `jobc compile`/`cid`/`check`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from compiler.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from compiler.ir import Link
from compiler.store import open_store
from tests.test_content import OLD, cid_of, data, write_spec
from tests.test_content_http import BODY, CID, SHA, server  # noqa: F401


def jobc(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_hash_prints_kubo_cids(tmp_path: Path) -> None:
    f = data(tmp_path, "d/a.txt", b"hello world\n")
    data(tmp_path, "d/sub/b.bin", os.urandom(600_000))
    code, out, _ = jobc("hash", str(f))
    assert (code, out) == (EXIT_OK, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4\n")
    code, out, _ = jobc("hash", str(tmp_path / "d"), "data:,hello%20world%0A", f"file:{f}")
    assert code == EXIT_OK
    assert out.splitlines() == [
        f"{cid_of(tmp_path / 'd')}  {tmp_path / 'd'}",
        f"{cid_of(f)}  data:,hello%20world%0A",
        f"{cid_of(f)}  file:{f}",
    ]


def test_hash_a_url(server: str) -> None:  # noqa: F811
    code, out, _ = jobc("hash", f"{server}/ok#sha256={SHA}")
    assert (code, out.strip()) == (EXIT_OK, str(CID))
    code, _, err = jobc("hash", "--max-download", "1KiB", f"{server}/ok")
    assert code == EXIT_INVALID
    assert "larger than the download limit of 1,024 bytes" in err
    assert len(BODY) > 1024


def test_hash_errors(tmp_path: Path) -> None:
    code, out, err = jobc("hash", str(tmp_path / "missing"), str(tmp_path))
    assert code == EXIT_INVALID
    assert f"{tmp_path / 'missing'}: no such file or directory" in err
    assert out.strip().endswith(str(tmp_path))  # the others are still printed
    code, _, err = jobc("hash", "--max-download", "lots", str(tmp_path))
    assert code == EXIT_USAGE
    assert "not a size" in err


def test_hash_store_content(tmp_path: Path, jobc_home: Path) -> None:
    f = data(tmp_path, "f.bin", os.urandom(300_000))
    assert jobc("hash", "--store-content", str(f))[0] == EXIT_OK
    store = open_store(jobc_home / "store.sqlite")
    try:
        assert len(list(store.blocks())) == 3  # two leaves and the file node
        assert store.has_block(cid_of(f))
    finally:
        store.close()


def test_compile_options(tmp_path: Path, jobc_home: Path) -> None:
    outside = data(tmp_path, "outside.txt", b"out")
    spec = write_spec(tmp_path / "project", "../outside.txt")
    code, _, err = jobc("cid", str(spec))
    assert code == EXIT_INVALID
    assert f"{spec}:4:14: error: cannot pin file:../outside.txt:" in err
    code, out, _ = jobc("compile", str(spec), "--allow-outside", "--store-content")
    assert code == EXIT_OK
    document = json.loads(out)
    assert document["job"]["inputs"][0]["content"] == {"/": str(cid_of(outside))}
    assert document["sources"][str(cid_of(outside))] == ["file:../outside.txt"]
    assert document["pinned"] is True
    store = open_store(jobc_home / "store.sqlite")
    try:
        assert store.get_block(cid_of(outside)) == b"out"
    finally:
        store.close()


def test_offline_and_check(tmp_path: Path) -> None:
    data(tmp_path, "a.txt")
    spec = write_spec(tmp_path, "https://example.org/x", "a.txt")
    code, out, _err = jobc("check", str(spec), "--offline", "--json")
    assert code == EXIT_OK
    (d,) = json.loads(out)["diagnostics"]
    assert (d["severity"], d["code"], d["line"]) == ("warning", "unpinned", 4)
    code, out, _ = jobc("compile", str(spec), "--offline")
    assert json.loads(out)["pinned"] is False


def test_refresh_rehashes(tmp_path: Path) -> None:
    f = data(tmp_path, "big.bin", os.urandom(400_000))
    spec = write_spec(tmp_path, "big.bin")
    first = json.loads(jobc("compile", str(spec))[1])["job"]["inputs"][0]["content"]["/"]
    # Same size, same mtime, other bytes: only ctime tells (and it is in the cache key).
    f.write_bytes(os.urandom(400_000))
    os.utime(f, (OLD, OLD))
    second = json.loads(jobc("compile", str(spec))[1])["job"]["inputs"][0]["content"]["/"]
    assert second != first
    assert Link.parse(second) == cid_of(f)
    third = json.loads(jobc("compile", str(spec), "--refresh")[1])["job"]["inputs"][0]
    assert third["content"]["/"] == second
