"""The store's queries (Python API) over real compiles and signed receipts, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.identity import cid_of_raw
from compiler.ir import Link
from compiler.store import Store
from compiler.store import queries as q
from tests.scenario import Scenario, build


@pytest.fixture
def scene(store: Store, tmp_path: Path) -> Scenario:
    return build(store, tmp_path)


def test_trace_from_any_cid_on_the_chain(store: Store, scene: Scenario) -> None:
    c = scene.compiled["count"]
    points = [c.document, *(r.target for r in c.chain)]
    assert len(points) >= 3
    for cid in points:
        t = q.trace(store, cid)
        assert t.finals == (c.cid,)
        data = t.to_json()
        # Backward, the tree reaches the document; forward, the final job.
        assert _leaves(data["backward"], "from") == [str(c.document)]
        assert _leaves(data["forward"], "to") == [str(c.cid)]
    t = q.trace(store, c.document)
    assert t.kind == "document"
    assert q.trace(store, c.original).kind == "original"
    final = q.trace(store, c.cid)
    assert final.kind == "final"
    assert final.forward.receipts == 3
    passes = [s["pass"] for s in _path(final.to_json()["backward"], "from")]
    assert passes == [r.pass_name for r in reversed(c.chain)]


def _path(node: dict[str, object], side: str) -> list[dict[str, object]]:
    """The steps along the first branch of a trace tree."""
    out = []
    while node.get("records"):
        step = node["records"][0]  # type: ignore[index]
        out.append(step)
        node = step[side]
    return out


def _leaves(node: dict[str, object], side: str) -> list[str]:
    records = node.get("records")
    if not records:
        return [str(node["cid"])]
    return sorted({leaf for r in records for leaf in _leaves(r[side], side)})  # type: ignore[index, union-attr]


def test_trace_of_an_unknown_cid_says_so(store: Store) -> None:
    with pytest.raises(q.QueryError, match="is on no chain"):
        q.trace(store, cid_of_raw(b"never compiled"))


def test_find_the_final_job_and_its_receipts(store: Store, scene: Scenario) -> None:
    path = scene.specs["count"]
    result = q.find(store, path.read_bytes(), str(path), trusted=[scene.keys["A"].node])
    assert [f.cid for f in result.found] == [scene.job("count")]
    found = result.found[0]
    assert found.via == scene.job("count")  # this compile reached the final itself
    assert [(r.node, r.trusted) for r in found.receipts] == [
        (scene.keys["A"].node, True),
        (scene.keys["B"].node, False),
        (scene.keys["C"].node, False),
    ]
    assert found.receipts[0].outputs == {"/outputs": scene.o1}


def test_find_a_spec_written_differently(store: Store, scene: Scenario) -> None:
    """Another document (comments, key order, JSON) with the same meaning finds the job."""
    other = scene.folder / "count-again.json"
    other.write_text(
        '{"outputs": ["/outputs"], "jobspec": 1,\n'
        ' "inputs": [{"target": "/in/words.txt", "source": "./words.txt"}],\n'
        ' "task": {"args": ["/in/words.txt"], "module": "m.wasm", "engine": "wasm"}}\n'
    )
    result = q.find(store, other.read_bytes(), str(other), trusted=[])
    assert result.document != scene.compiled["count"].document
    assert [f.cid for f in result.found] == [scene.job("count")]


def test_lineage_walks_up_the_call_tree(store: Store, scene: Scenario) -> None:
    root = q.lineage(store, scene.o2)
    data = root.to_json()
    (made,) = data["made_by"]
    assert made["job"]["cid"] == str(scene.job("double"))
    assert made["path"] == "/outputs"
    assert made["node"] == scene.keys["A"].node
    inputs = {i["place"]: i for i in made["job"]["inputs"]}
    awaited = inputs["/inputs//in/count"]["await"]
    assert awaited["path"] == "/outputs"
    count = awaited["job"]
    assert count["cid"] == str(scene.job("count"))
    count_inputs = {i["place"]: i for i in count["inputs"]}
    assert count_inputs["/inputs//in/words.txt"]["content"] == {"cid": str(scene.data)}
    assert count_inputs["/task/module"]["content"] == {"cid": str(scene.module)}
    # Drawn as graphs: jobs, content and the edges between them.
    dot = q.render_dot(root)
    assert dot.startswith("digraph lineage {")
    assert f'"j_{scene.job("count")}" -> "j_{scene.job("double")}"' in dot
    assert f'"c_{scene.data}" -> "j_{scene.job("count")}"' in dot
    assert f'"j_{scene.job("double")}" -> "c_{scene.o2}"' in dot
    mermaid = q.render_mermaid(root)
    assert mermaid.startswith("flowchart LR")
    assert f"j_{scene.job('double')} -->" in mermaid


def test_lineage_of_source_data_is_just_the_data(store: Store, scene: Scenario) -> None:
    assert q.lineage(store, scene.data).to_json() == {"cid": str(scene.data)}


def test_refcount_direct_and_transitive(store: Store, scene: Scenario) -> None:
    # words.txt: read by count; count's output is awaited by double, whose output report reads.
    assert q.refcount(store, scene.data).to_json() == {
        "cid": str(scene.data),
        "direct": 1,
        "indirect": 2,
        "total": 3,
    }
    assert q.refcount(store, scene.module).total == 3
    assert (q.refcount(store, scene.o2).direct, q.refcount(store, scene.o2).total) == (1, 1)
    top = q.most_used(store, 1)
    assert [(r.cid, r.direct) for r in top] == [(scene.module, 3)]


def test_reputation_counts_agreement_with_the_majority(store: Store, scene: Scenario) -> None:
    rep = q.reputation(store)
    assert rep.jobs == 1  # only count ran on several nodes
    rows = {r.node: r for r in rep.nodes}
    a, b, c = (scene.keys[n].node for n in "ABC")
    assert (rows[a].agreed, len(rows[a].disagreed), rows[a].score) == (1, 0, 1.0)
    assert (rows[b].agreed, len(rows[b].disagreed)) == (1, 0)
    assert (rows[c].agreed, len(rows[c].disagreed), rows[c].score) == (0, 1, 0.0)
    (d,) = rows[c].disagreed
    assert d.job == scene.job("count")
    assert len(d.majority) == 2
    assert [r.node for r in rep.nodes][-1] == c  # the worst last
    assert [r.node for r in q.reputation(store, c).nodes] == [c]


def test_reputation_tie_is_undecided(store: Store, tmp_path: Path) -> None:
    from tests.scenario import receipt

    scene = build(store, tmp_path)
    extra = receipt(scene.job("double"), scene.keys["B"], {"/outputs": cid_of_raw(b"5\n")})
    store.put_receipt(extra)
    rows = {r.node: r for r in q.reputation(store).nodes}
    assert rows[scene.keys["B"].node].undecided == 1
    assert rows[scene.keys["A"].node].undecided == 1


def test_reputation_of_unordered_jobs_ignores_the_order_of_lines(
    store: Store, tmp_path: Path
) -> None:
    """DESIGN §3: `unordered` outputs are equal up to the order of lines in each file.
    A and B wrote the same lines in another order (they agree), C other lines, D an
    output whose blocks the store lacks (only its CID can be compared: it disagrees).
    The same receipts of a `strict` job are four different outcomes: no majority."""
    import shutil

    from compiler.ir import Input, Job, WasmTask
    from compiler.oracles.content import store_path
    from compiler.runtime.receipts import NodeKey
    from tests.scenario import receipt

    def output(lines: str, *, kept: bool = True) -> Link:
        folder = tmp_path / "out"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "lines.txt").write_text(lines)
        (folder / "same.txt").write_text("x\n")
        if kept:
            return Link(store_path(folder, store).cid)
        from compiler.oracles.content import Hasher

        return Link(Hasher(progress=False).path(folder).cid)

    outs = {
        "A": output("b\na\nb\n"),
        "B": output("a\nb\nb\n"),
        "C": output("a\nb\n"),  # not the same multiset of lines
        "D": output("b\nb\na\n", kept=False),
    }
    assert len(set(outs.values())) == 4
    keys = {n: NodeKey.generate() for n in outs}
    jobs = {}
    for determinism in ("unordered", "strict"):
        job = Job(
            task=WasmTask(module=cid_of_raw(b"\0asm"), args=(determinism,)),
            inputs=(Input("/in/x", cid_of_raw(b"x")),),
            outputs=("/outputs",),
            determinism=determinism,  # type: ignore[arg-type]
        )
        jobs[determinism] = store.put_job(job)
        store.mark_final(jobs[determinism])
        for n, out in outs.items():
            store.put_receipt(receipt(jobs[determinism], keys[n], {"/outputs": out}, b"same"))

    rep = q.reputation(store)
    assert rep.jobs == 2
    rows = {r.node: r for r in rep.nodes}
    a, b, c, d = (keys[n].node for n in "ABCD")
    for n in (a, b):
        assert (rows[n].agreed, len(rows[n].disagreed), rows[n].undecided) == (1, 0, 1)
    for n in (c, d):
        assert (rows[n].agreed, rows[n].undecided) == (0, 1)
        (disagreement,) = rows[n].disagreed
        assert disagreement.job == jobs["unordered"]
        assert len(disagreement.majority) == 2


def test_disown_stops_find_and_trace(store: Store, scene: Scenario) -> None:
    c = scene.compiled["count"]
    last = c.chain[-1]
    result = q.disown(store, f"{last.pass_name}@{last.version}", "hashed the wrong bytes")
    assert result.records >= 1
    assert result.current
    assert q.trace(store, c.document).finals == ()
    path = scene.specs["count"]
    assert q.find(store, path.read_bytes(), str(path), trusted=[]).found == ()
    with pytest.raises(q.QueryError, match="PASS@VERSION"):
        q.disown(store, "resolve-content")


def test_cids_on_the_command_line_are_checked() -> None:
    with pytest.raises(q.QueryError, match="is not a CID"):
        q.parse_cid("bafy-not-a-cid")
