"""IPVM workflows 0.1, UCAN invocations 0.1 and Homestar workflows, and the Homestar
emitter: instruction and workflow CIDs reproduced exactly as Homestar publishes them.

`tests/cases/homestar/` holds, written for these tests, the workflows of Homestar's own
test fixtures (`homestar-runtime/tests/fixtures/test-workflow-add-one*.json`); the CIDs
below are the ones Homestar's sources give for them (the awaited instruction CIDs inside
those fixtures, and the workflow CID its DHT test expects,
`homestar-runtime/tests/network/dht.rs`; the nonced workflow's, `tests/cli.rs`; the image
pipeline's, which its webserver answers a run with, `tests/webserver.rs`).
`tests/cases/ipvm/` holds an IPVM workflow and a UCAN invocation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compiler import identity
from compiler.cli import main
from compiler.diagnostics import SpecError
from compiler.driver import CompiledWorkflow, CompileOptions, compile_any_file, compile_document
from compiler.emitters import emitter, job_docs_of
from compiler.emitters.homestar import workflow_cid
from compiler.frontends.ipvm import instruction_map
from compiler.ir import FrozenMap, Link, OtherTask, WasmTask
from compiler.store import open_store
from tests.golden import golden  # noqa: F401
from tests.test_golden import ROOT, spec_files, summary

CASES = Path(__file__).resolve().parent / "cases"
OFFLINE = CompileOptions(offline=True)
ADD_ONE = "bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du"
NONCED = (
    "bafyrmigh2n5i4iyl6mcfssv7lzx6yalwyslszngacuo3iw3mr3fgl3sopa",
    "bafyrmiasmpmbcnvm2mgmk772wy2mmioxmlhu7zndmphy5rw2xssuh2fwle",
)
ADD_ONE_WORKFLOW = "bafyrmialnbzgwscjrq7sa3kdnw2roqdrdzp7xh2tvmo37qmgvarwrhcgre"
NONCED_WORKFLOW = "bafyrmibajjtwrcqrntnvp5fgkim6mbbsh6ykkdy3eijq2ycdjhlisxxx3i"
PIPELINE = (  # crop (a link and integers as arguments), then rotate90 awaiting it
    "bafyrmib46dl7oaksq4fo4oyvcqewe7ojybgchufmrpjovqto3wovsq5jjq",
    "bafyrmiekrfvz5lglddmnkm2l2tia43tagziokpamjipleen7spxizchxbu",
)
PIPELINE_WORKFLOW = "bafyrmiatb7idqtty56hy3hrfa6ur6qkspyrhaf6n6ynmqsntjvym47mbrq"


def workflow(path: Path) -> CompiledWorkflow:
    compiled = compile_any_file(path, OFFLINE)
    assert isinstance(compiled, CompiledWorkflow)
    return compiled


def test_instruction_cids_as_homestar_computes_them() -> None:
    """sha3-256 over DAG-CBOR of {rsc, op, input, nnc}: Homestar's published CIDs, for an
    empty nonce, a string nonce and a byte nonce (which must stay bytes: it is one that a
    careless encoder would write as a link)."""
    tasks = json.loads((CASES / "homestar" / "add-one.json").read_text())["tasks"]
    assert str(identity.sha3_cid_of_value(instruction_map(tasks[0]["run"]))) == ADD_ONE
    nonced = json.loads((CASES / "homestar" / "add-one-nonced.json").read_text())["tasks"]
    got = [str(identity.sha3_cid_of_value(instruction_map(t["run"]))) for t in nonced[:2]]
    assert got == list(NONCED)
    assert str(identity.sha3_cid_of_value(instruction_map(tasks[0]["run"])))[:7] == "bafyrmi"


def test_export_reproduces_homestar_cids(tmp_path: Path) -> None:
    """Compiled and written back by the emitter, the workflows get Homestar's own
    instruction CIDs (the awaits inside point at them) and workflow CID."""
    w = workflow(CASES / "homestar" / "add-one.json")
    emitted = emitter("homestar")(job_docs_of(w), w.meta)
    assert emitted.ids == {
        "task-0": ADD_ONE,
        "task-1": emitted.ids["task-1"],
        "": ADD_ONE_WORKFLOW,
    }
    second = json.loads(emitted.text)["tasks"][1]["run"]["input"]["args"][0]
    assert second == {"await/ok": {"/": ADD_ONE}}
    nonced = workflow(CASES / "homestar" / "add-one-nonced.json")
    ids = emitter("homestar")(job_docs_of(nonced), nonced.meta).ids
    assert [ids["task-0"], ids["task-1"]] == list(NONCED)
    # Homestar's workflow CID is its own JSON as IPLD (a u64 written as 1.8e19 is a float).
    data = json.loads((CASES / "homestar" / "add-one.json").read_text())
    assert str(workflow_cid(data)) == ADD_ONE_WORKFLOW


@pytest.mark.parametrize(
    ("name", "instructions", "workflow_id"),
    [
        ("add-one-nonced", NONCED, NONCED_WORKFLOW),
        ("image-pipeline", PIPELINE, PIPELINE_WORKFLOW),
    ],
)
def test_published_workflow_cids(
    name: str, instructions: tuple[str, ...], workflow_id: str
) -> None:
    """The workflow CIDs Homestar's tests expect, from the document as written and from
    jobc's export of the compiled workflow; the instruction CIDs its fixtures await."""
    path = CASES / "homestar" / f"{name}.json"
    assert str(workflow_cid(json.loads(path.read_text()))) == workflow_id
    compiled = workflow(path)
    ids = emitter("homestar")(job_docs_of(compiled), compiled.meta).ids
    assert ids[""] == workflow_id
    assert [ids[f"task-{i}"] for i in range(len(instructions))] == list(instructions)
    # a link argument is a link in the job (DAG-JSON's `{"/": …}`), not a map
    first = compiled.job("task-0").job.task
    assert isinstance(first, WasmTask)
    assert isinstance(first.args[0], Link) or name != "image-pipeline"


def test_awaits_become_links_to_final_job_cids() -> None:
    w = workflow(CASES / "homestar" / "add-one.json")
    first, second = (c for _, c in w.jobs)
    assert isinstance(second.job.task, WasmTask)
    assert second.job.task.args == (FrozenMap({"await/ok": first.cid}),)
    assert second.original_job.task.args == (FrozenMap({"await/ok": "job:task-0"}),)  # type: ignore[union-attr]


def test_byte_and_string_nonces_are_identity() -> None:
    w = workflow(CASES / "homestar" / "add-one-nonced.json")
    jobs = [c.job for _, c in w.jobs]
    assert jobs[0].nonce == "1sod60ml6g26mfhsrsa0"
    assert isinstance(jobs[1].x["nnc"], bytes)
    assert identity.identity_map(jobs[1])["x"]["nnc"] == jobs[1].x["nnc"]
    assert len({identity.job_cid(j) for j in jobs}) == 3


def test_meta_and_config_are_not_identity() -> None:
    data = json.loads((CASES / "homestar" / "add-one.json").read_text())
    base = compile_document(json.dumps(data).encode(), "w.json", OFFLINE)
    for task in data["tasks"]:
        task["meta"] = {"fuel": 10, "memory": 1024, "time": 5000}
        task["prf"] = [{"/": "bafkreie2cyfsaqv5jjy2gadr7mmupmearkvcg7llybfdd7b6fvzzmhazuy"}]
    other = compile_document(json.dumps(data).encode(), "w.json", OFFLINE)
    assert isinstance(base, CompiledWorkflow)
    assert isinstance(other, CompiledWorkflow)
    assert other.cid == base.cid
    assert other.job("task-0").execution == {
        "fuel": 10,
        "resources": {"memory": "1024"},
        "timeout": "5s",
    }


def test_ipvm_workflow_is_the_homestar_workflow() -> None:
    """Task labels and `ucan/promise` in IPVM's envelope; the same jobs as Homestar's."""
    ipvm = workflow(CASES / "ipvm" / "add-one-workflow.json")
    homestar = workflow(CASES / "homestar" / "add-one.json")
    assert [c.cid for _, c in ipvm.jobs] == [c.cid for _, c in homestar.jobs]
    assert [n for n, _ in ipvm.jobs] == ["first", "second"]
    assert ipvm.format == "ipvm-workflow/0.1"
    assert ipvm.job("second").execution == {
        "ipvm/config": {"gas": 1000, "time": [30, "seconds"], "secret": False}
    }
    assert ipvm.meta["annotations"] == {"tags": ["homestar", "add-one"]}


def test_ucan_invocation() -> None:
    w = workflow(CASES / "ipvm" / "ucan-invocation.json")
    resize, publish = w.job("resize"), w.job("publish")
    assert isinstance(resize.job.task, WasmTask)
    assert resize.job.task.args[0] == Link.parse(
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    )
    assert isinstance(publish.job.task, OtherTask)
    assert publish.job.task.engine == "crud/update"
    assert publish.job.task.params["input"]["image"] == FrozenMap({"await/ok": resize.cid})  # type: ignore[index]
    assert [n for n, _ in w.jobs] == ["resize", "publish"]


def test_unknown_await_is_a_warning() -> None:
    data = json.loads((CASES / "homestar" / "add-one.json").read_text())
    del data["tasks"][0]
    compiled = compile_document(json.dumps(data).encode(), "w.json", OFFLINE)
    assert [d.code for d in compiled.warnings] == ["await"]


@pytest.mark.parametrize("ability", ["docker", "wasm", "rust", "c"])
def test_an_ability_named_like_a_built_in_engine_is_an_error(ability: str) -> None:
    """`op: docker` is not an operation: as an extension engine it would make a `docker`
    job without an image, which no other format can say (found by fuzzing the emitters)."""
    data = json.loads((CASES / "homestar" / "add-one.json").read_text())
    data["tasks"][0]["run"]["op"] = ability
    text = json.dumps(data, indent=2)
    with pytest.raises(SpecError) as caught:
        compile_document(text.encode(), "w.json", OFFLINE)
    (problem,) = caught.value.errors
    assert problem.code == "ability"
    assert "built-in engines" in problem.message
    assert "docker/run" in problem.hint
    line = next(i for i, s in enumerate(text.splitlines(), 1) if f'"op": "{ability}"' in s)
    assert problem.span is not None
    assert problem.span.line == line


def test_export_command_stores_aliases(tmp_path: Path, jobc_home: Path) -> None:
    out = tmp_path / "add-one.homestar.json"
    result = CliRunner().invoke(
        main,
        [
            "export",
            str(CASES / "homestar" / "add-one.json"),
            "--to",
            "homestar",
            "--offline",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"{ADD_ONE_WORKFLOW}  workflow" in result.stderr
    w = workflow(CASES / "homestar" / "add-one.json")
    store = open_store(None)
    try:
        assert store.alias("homestar", ADD_ONE) == w.job("task-0").cid
        assert ("homestar", ADD_ONE) in store.aliases(w.job("task-0").cid)
    finally:
        store.close()


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=f"{p.parent.name}-{p.stem}")
        for d in ("homestar", "ipvm")
        for p in spec_files(CASES / d)
    ],
)
def test_golden(path: Path, golden: Any) -> None:  # noqa: F811
    w = workflow(path)
    data = {"cid": str(w.cid), "jobs": {name: summary(c, path) for name, c in w.jobs}}
    assert str(ROOT) not in json.dumps(data)
    assert data == golden
