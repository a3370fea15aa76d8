"""The store's commands: compile records, trace, find, lineage, refcount, reputation,
disown, export and import, with their exit codes and `--json` output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from compiler.store import Store, open_store
from tests.localpostgres import LocalPostgres, free_port
from tests.scenario import Scenario, build


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def scene(home_store: Store, tmp_path: Path) -> Scenario:
    return build(home_store, tmp_path)


def test_compile_records_what_it_made(tmp_path: Path, jobc_home: Path) -> None:
    from tests.scenario import COUNT, MODULE, WORDS

    (tmp_path / "m.wasm").write_bytes(MODULE)
    (tmp_path / "words.txt").write_bytes(WORDS)
    spec = tmp_path / "count.yaml"
    spec.write_text(COUNT)
    code, out, _ = run("compile", "--no-store", str(spec))
    assert code == EXIT_OK
    final = json.loads(out)["cid"]["/"]
    code, _, err = run("trace", final)
    assert code == EXIT_INVALID
    assert "is on no chain" in err
    assert run("compile", str(spec))[0] == EXIT_OK
    code, out, _ = run("trace", "--json", final)
    assert code == EXIT_OK
    assert json.loads(out)["kind"] == "final"
    # The document itself is kept: an export carries the spec as written.
    s = open_store(jobc_home / "store.sqlite")
    try:
        from compiler.identity import cid_of_raw

        assert s.get_block(cid_of_raw(spec.read_bytes())) == spec.read_bytes()
    finally:
        s.close()


def test_trace(scene: Scenario) -> None:
    c = scene.compiled["count"]
    code, out, _ = run("trace", str(c.document))
    assert code == EXIT_OK
    assert str(c.cid) in out
    assert "document" in out
    assert "3 receipts" in out
    code, out, _ = run("trace", "--json", str(c.original))
    assert json.loads(out)["finals"] == [str(c.cid)]
    code, _, err = run("trace", "bafy-nonsense")
    assert code == EXIT_INVALID
    assert "is not a CID" in err


def test_find(scene: Scenario) -> None:
    code, out, _ = run("find", str(scene.specs["count"]))
    assert code == EXIT_OK
    assert f"final job {scene.job('count')}" in out
    assert out.count("receipt ") == 3
    code, out, _ = run("find", "--json", str(scene.specs["report"]))
    assert [f["cid"] for f in json.loads(out)["found"]] == [str(scene.job("report"))]
    other = scene.folder / "other.yaml"
    other.write_text(scene.specs["count"].read_text().replace("/in/words.txt]", "/x]"))
    code, _, err = run("find", str(other))
    assert code == EXIT_INVALID
    assert "no final job in the store is known" in err
    bad = scene.folder / "bad.yaml"
    bad.write_text("jobspec: 1\ntask: {engine: docker, image: Ubuntu}\n")
    code, _, err = run("find", str(bad))
    assert code == EXIT_INVALID
    assert "bad.yaml:2" in err


def test_lineage(scene: Scenario) -> None:
    code, out, _ = run("lineage", str(scene.o2))
    assert code == EXIT_OK
    assert f"made by job {scene.job('double')}" in out
    assert f"output /outputs of job {scene.job('count')}" in out
    assert "source data" in out
    code, out, _ = run("lineage", "--graph", "dot", str(scene.o2))
    assert out.startswith("digraph lineage {")
    code, out, _ = run("lineage", "--graph", "mermaid", str(scene.o2))
    assert out.startswith("flowchart LR")
    code, out, _ = run("lineage", "--json", str(scene.o2))
    assert json.loads(out)["made_by"][0]["job"]["cid"] == str(scene.job("double"))


def test_refcount(scene: Scenario) -> None:
    code, out, _ = run("refcount", str(scene.data))
    assert code == EXIT_OK
    assert out.strip() == f"{scene.data}  1 direct, 2 through other jobs, 3 in all"
    code, out, _ = run("refcount", "--top", "2", "--json")
    rows = json.loads(out)
    assert rows[0] == {"cid": str(scene.module), "direct": 3, "indirect": 0, "total": 3}
    # Ranked by all uses (the default): words.txt, read by one job, feeds the other two.
    assert rows[1] == {"cid": str(scene.data), "direct": 1, "indirect": 2, "total": 3}
    code, out, _ = run("refcount", "--top", "3", "--by", "direct")
    lines = out.splitlines()
    assert lines[0] == f"{scene.module}  3 direct, 0 through other jobs, 3 in all"
    assert len(lines) == 3
    assert all(" 1 direct" in line for line in lines[1:])
    assert run("refcount")[0] == EXIT_USAGE


def test_reputation(scene: Scenario) -> None:
    code, out, _ = run("reputation")
    assert code == EXIT_OK
    assert "1 jobs run by two nodes or more" in out
    c = scene.keys["C"].node
    code, out, _ = run("reputation", c)
    assert f"disagrees on job {scene.job('count')}" in out
    code, out, _ = run("reputation", "--json", c)
    assert json.loads(out)["disagreed"] == 1
    code, _, err = run("reputation", "z6MkNobody")
    assert code == EXIT_INVALID
    assert "no receipt of node z6MkNobody" in err


def test_disown(scene: Scenario) -> None:
    last = scene.compiled["count"].chain[-1]
    which = f"{last.pass_name}@{last.version}"
    code, out, err = run("disown", which, "--reason", "bad hashes")
    assert code == EXIT_OK
    assert f"disowned {which}" in out
    assert "this jobc's own" in err
    assert run("find", str(scene.specs["count"]))[0] == EXIT_INVALID
    code, out, _ = run("disown")
    assert out.strip() == f"{which}  bad hashes"
    assert run("disown", "--undo", which)[0] == EXIT_OK
    assert run("find", str(scene.specs["count"]))[0] == EXIT_OK
    code, _, err = run("disown", "resolve-images")
    assert code == EXIT_INVALID
    assert "PASS@VERSION" in err


def test_export_and_import(scene: Scenario, tmp_path: Path) -> None:
    car = tmp_path / "out.car"
    code, _, err = run("export", "--to", "car", "-o", str(car), str(scene.specs["double"]))
    assert code == EXIT_OK
    assert "blocks" in err
    other = tmp_path / "other.sqlite"
    code, out, _ = run("import", "--store", str(other), "--json", str(car))
    assert code == EXIT_OK
    assert json.loads(out)["receipts"] == 4  # double's, and count's (it awaits count)
    code, out, _ = run("lineage", "--store", str(other), "--json", str(scene.o2))
    assert json.loads(out)["made_by"][0]["job"]["cid"] == str(scene.job("double"))
    # A corrupted CAR is refused, the block named, nothing kept.
    data = bytearray(car.read_bytes())
    data[-1] ^= 1
    bad = tmp_path / "bad.car"
    bad.write_bytes(bytes(data))
    fresh = tmp_path / "fresh.sqlite"
    code, _, err = run("import", "--store", str(fresh), str(bad))
    assert code == EXIT_INVALID
    assert "do not hash to its CID" in err
    assert "nothing was imported" in err
    assert run("export", "--to", "car", str(scene.job("count")))[0] == EXIT_USAGE
    code, _, err = run(
        "export",
        "--to",
        "car",
        "-o",
        str(car),
        "bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    )
    assert code == EXIT_INVALID


def test_commands_on_a_postgres_store(tmp_path: Path, postgres: LocalPostgres) -> None:
    url = postgres.create_schema()
    s = open_store(url)
    try:
        scene = build(s, tmp_path)
    finally:
        s.close()
    code, out, _ = run("find", "--store", url, str(scene.specs["count"]))
    assert code == EXIT_OK, out
    code, out, _ = run("refcount", "--store", url, "--json", str(scene.data))
    assert json.loads(out)["total"] == 3


def test_an_unreachable_store_is_a_clear_error() -> None:
    code, _, err = run("trace", "--store", f"postgresql://x@127.0.0.1:{free_port()}/db", "bafy")
    assert code == EXIT_INVALID
    assert "cannot open the store" in err
    assert "Traceback" not in err
