"""CARv1 export and import: round trips between stores give the same answers, every
block and receipt is checked, and the npm `@ipld/car` reads jobc's CARs and writes CARs
jobc reads."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler import identity
from compiler.driver import CompileOptions, compile_file
from compiler.ir import Link
from compiler.store import Store, open_store
from compiler.store import queries as q
from compiler.store.car import CarError, export_car, gather, import_car, read_car, write_car
from compiler.store.ingest import store_compiled
from tests import unixfs_js
from tests.conftest import EXAMPLES
from tests.localpostgres import LocalPostgres
from tests.scenario import Scenario, build


@pytest.fixture
def second(store_location: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """Another empty store on the same backend as `store`."""
    if store_location.startswith("postgresql://"):
        cluster: LocalPostgres = request.getfixturevalue("postgres")
        location = cluster.create_schema()
    else:
        location = str(tmp_path / "second.sqlite")
    s = open_store(location)
    yield s
    s.close()


def export_bytes(store: Store, roots: list[Link], *, with_content: bool = False) -> bytes:
    out = io.BytesIO()
    export_car(out, gather(store, roots, with_content=with_content))
    return out.getvalue()


def answers(store: Store, scene: Scenario) -> dict[str, Any]:
    """Every query's answer about the scenario, as data."""
    trusted = [scene.keys["A"].node]
    out: dict[str, Any] = {}
    for name, c in scene.compiled.items():
        for cid in (c.document, *(r.target for r in c.chain)):
            out[f"trace {name} {cid}"] = q.trace(store, cid).to_json()
        spec = scene.specs[name]
        out[f"find {name}"] = q.find(store, spec.read_bytes(), str(spec), trusted=trusted).to_json()
    for cid in (scene.data, scene.module, scene.o1, scene.o2):
        out[f"lineage {cid}"] = q.lineage(store, cid).to_json()
        out[f"refcount {cid}"] = q.refcount(store, cid).to_json()
    out["top"] = [r.to_json() for r in q.most_used(store, 5)]
    out["reputation"] = q.reputation(store).to_json()
    return out


def finals_of(scene: Scenario) -> list[Link]:
    return [c.cid for c in scene.compiled.values()]


def test_a_round_trip_between_two_stores_gives_the_same_answers(
    store: Store, second: Store, tmp_path: Path
) -> None:
    scene = build(store, tmp_path)
    car = export_bytes(store, finals_of(scene))
    result = import_car(second, io.BytesIO(car))
    assert result.receipts == len(scene.receipts)
    assert result.finals == 3
    assert answers(second, scene) == answers(store, scene)
    # Exporting again from the second store gives the same bytes.
    assert export_bytes(second, finals_of(scene)) == car
    # Importing twice changes nothing.
    blocks = second.count("blocks")
    import_car(second, io.BytesIO(car))
    assert second.count("blocks") == blocks


def test_a_round_trip_across_backends(tmp_path: Path, postgres: LocalPostgres) -> None:
    sqlite = open_store(tmp_path / "a.sqlite")
    pg = open_store(postgres.create_schema())
    try:
        scene = build(sqlite, tmp_path)
        import_car(pg, io.BytesIO(export_bytes(sqlite, finals_of(scene))))
        assert answers(pg, scene) == answers(sqlite, scene)
        back = open_store(tmp_path / "b.sqlite")
        try:
            import_car(back, io.BytesIO(export_bytes(pg, finals_of(scene))))
            assert answers(back, scene) == answers(sqlite, scene)
        finally:
            back.close()
    finally:
        sqlite.close()
        pg.close()


def test_export_follows_the_call_tree_upward(store: Store, second: Store, tmp_path: Path) -> None:
    """Exporting the downstream job brings the job it awaits, with chain and receipts."""
    scene = build(store, tmp_path)
    import_car(second, io.BytesIO(export_bytes(store, [scene.job("double")])))
    assert second.receipts(scene.job("count")) == store.receipts(scene.job("count"))
    assert second.finals(scene.compiled["count"].document) == [scene.job("count")]
    assert q.lineage(second, scene.o2).to_json() == q.lineage(store, scene.o2).to_json()
    assert second.finals(scene.compiled["report"].document) == []  # not reachable: not sent


def test_find_after_import_on_a_machine_without_the_image(
    store: Store, second: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed's promise: the original spec recovers the result elsewhere. The spec's
    image tag cannot be resolved here (offline, no cache), so the lookup goes through
    the normalized job's CID, which the imported chain leads on from."""
    spec = EXAMPLES / "docker-word-count.yaml"
    compiled = compile_file(spec)
    store_compiled(store, compiled)
    car = export_bytes(store, [compiled.cid])
    monkeypatch.setenv("JOBC_HOME", str(tmp_path / "elsewhere"))  # no image cache there
    import_car(second, io.BytesIO(car))
    result = q.find(second, spec.read_bytes(), str(spec), trusted=[])
    assert not result.pinned
    assert result.compiled != compiled.cid
    assert [f.cid for f in result.found] == [compiled.cid]
    normalized = next(r.target for r in compiled.chain if r.pass_name == "normalize")
    assert result.found[0].via == normalized


def test_a_corrupted_block_is_rejected_with_its_cid(
    store: Store, second: Store, tmp_path: Path
) -> None:
    scene = build(store, tmp_path)
    roots, sections = read_car(io.BytesIO(export_bytes(store, finals_of(scene))))
    blocks = list(sections)
    victim, data = blocks[3]
    blocks[3] = (victim, data[:-1] + bytes([data[-1] ^ 1]))
    out = io.BytesIO()
    write_car(out, roots, blocks)
    with pytest.raises(CarError, match=f"block {victim}: .*do not hash to its CID"):
        import_car(second, io.BytesIO(out.getvalue()))
    assert second.count("blocks") == 0  # nothing half-imported
    assert second.count("records") == 0


def test_a_receipt_with_a_bad_signature_is_rejected(
    store: Store, second: Store, tmp_path: Path
) -> None:
    scene = build(store, tmp_path)
    forged = dataclasses.replace(scene.receipts[0], exit=3)  # its CID is right, its sig not
    roots, sections = read_car(io.BytesIO(export_bytes(store, finals_of(scene))))
    out = io.BytesIO()
    write_car(out, roots, [*sections, (forged.cid, forged.encode())])
    with pytest.raises(CarError, match=f"block {forged.cid}: receipt rejected.*signature"):
        import_car(second, io.BytesIO(out.getvalue()))
    assert second.count("blocks") == 0
    assert second.count("receipts") == 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda car: car[: len(car) - 5], "ends inside a block"),
        (lambda car: b"not a car", "not a CAR file|header"),
        (lambda car: b"", "not a CAR file"),
        (lambda car: car[:1], "ends inside its header"),
    ],
    ids=["truncated", "garbage", "empty", "header-cut"],
)
def test_a_malformed_car_is_a_clear_error(
    store: Store, second: Store, tmp_path: Path, damage: Any, message: str
) -> None:
    scene = build(store, tmp_path)
    car = damage(export_bytes(store, finals_of(scene)))
    with pytest.raises(CarError, match=message):
        import_car(second, io.BytesIO(car))
    assert second.count("blocks") == 0


def test_export_with_content(store: Store, second: Store, tmp_path: Path) -> None:
    """Content blocks travel with --with-content, a multi-block file's DAG and all."""
    leaves = bytes(range(256)) * 1024 + bytes(range(255, -1, -1)) * 1024
    (tmp_path / "big.bin").write_bytes(leaves)  # 512 KiB: 2 distinct leaves and a root
    (tmp_path / "m.wasm").write_bytes(b"\x00asm\x01\x00\x00\x00")
    spec = tmp_path / "big.yaml"
    spec.write_text(
        "jobspec: 1\ntask: {engine: wasm, module: m.wasm}\n"
        "inputs: [{source: big.bin, target: /in/big.bin}]\n"
    )
    options = CompileOptions(store=store.location, settings={"store_content": True})
    compiled = compile_file(spec, options)
    store_compiled(store, compiled)
    without = gather(store, [compiled.cid])
    with_content = gather(store, [compiled.cid], with_content=True)
    added = set(with_content.blocks) - set(without.blocks)
    assert len(added) == 4  # the module, and the file's root node and its two leaves
    assert with_content.missing_content == 0
    car = export_bytes(store, [compiled.cid], with_content=True)
    import_car(second, io.BytesIO(car))
    assert second.missing_blocks(added) == set()


# --- the independent implementation: npm @ipld/car ---------------------------------------


def car_js(*args: str) -> str:
    unixfs_js.installed()
    script = unixfs_js.JS / "car.mjs"
    if not (unixfs_js.JS / "node_modules" / "@ipld" / "car").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=unixfs_js.JS, check=True)
    run = subprocess.run(
        ["node", str(script), *args], check=True, capture_output=True, text=True, timeout=120
    )
    return run.stdout


def test_ipld_car_reads_jobcs_car(store: Store, tmp_path: Path) -> None:
    scene = build(store, tmp_path)
    path = tmp_path / "out.car"
    with path.open("wb") as out:
        manifest, count = export_car(out, gather(store, finals_of(scene)))
    seen = json.loads(car_js("read", str(path)))
    assert seen["version"] == 1
    assert seen["roots"] == [str(manifest)]
    assert len(seen["blocks"]) == count
    assert all(b["ok"] for b in seen["blocks"])
    assert seen["blocks"][0]["cid"] == str(manifest)
    _, sections = read_car(io.BytesIO(path.read_bytes()))
    assert [b["cid"] for b in seen["blocks"]] == [str(cid) for cid, _ in sections]
    root = seen["root"]
    assert root["jobc-export"] == 1
    assert sorted(f["/"] for f in root["finals"]) == sorted(str(c) for c in finals_of(scene))
    assert {r["/"] for r in root["receipts"]} == {str(r.cid) for r in scene.receipts}


@pytest.mark.parametrize("drop_root", [False, True], ids=["with-manifest", "without-manifest"])
def test_jobc_reads_a_car_ipld_car_wrote(
    store: Store, second: Store, tmp_path: Path, drop_root: bool
) -> None:
    """@ipld/car rewrites jobc's export (blocks in reverse order; without the manifest,
    with the finals as roots): importing it gives the same answers. Without a manifest
    the chain ends are the CIDs records lead to and none leads on from."""
    scene = build(store, tmp_path)
    ours, theirs = tmp_path / "ours.car", tmp_path / "theirs.car"
    ours.write_bytes(export_bytes(store, finals_of(scene)))
    car_js("rewrite", str(ours), str(theirs), *(["--drop-root"] if drop_root else []))
    assert theirs.read_bytes() != ours.read_bytes()
    result = import_car(second, io.BytesIO(theirs.read_bytes()))
    assert sorted(map(str, result.roots)) == (
        sorted(str(c) for c in finals_of(scene)) if drop_root else [str(read_root(ours))]
    )
    assert answers(second, scene) == answers(store, scene)


def read_root(path: Path) -> Link:
    roots, _ = read_car(io.BytesIO(path.read_bytes()))
    return roots[0]


def test_the_manifest_is_dag_cbor_that_links_everything(store: Store, tmp_path: Path) -> None:
    scene = build(store, tmp_path)
    roots, sections = read_car(io.BytesIO(export_bytes(store, finals_of(scene))))
    blocks = dict(sections)
    manifest = identity.decode_value(blocks[roots[0]])
    assert identity.cid_of_block(blocks[roots[0]]) == roots[0]
    linked = {x for key in ("finals", "records", "receipts", "jobs") for x in manifest[key]}  # type: ignore[index]
    assert linked <= set(blocks)
