"""jobspec/2 workflows: jobs compiled in topological order, `job:NAME#OUTPUT` linked to
the upstream job's final CID by the link-workflow pass, the workflow's own CID, cycles
and bad references as diagnostics, and the commands on workflow documents.

Workflows live in `tests/cases/jobspec2/`, invalid ones in its `invalid/` folder;
golden files in `golden/test_jobspec2/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from compiler import identity
from compiler.cli import main
from compiler.diagnostics import SpecError
from compiler.driver import (
    Compiled,
    CompiledWorkflow,
    CompileOptions,
    compile_any_file,
    compile_bytes,
    compile_document,
)
from compiler.emitters.compiled import load_any_document, to_workflow_document
from compiler.frontends import Options
from compiler.ir import Await, Link
from compiler.passes.link_workflow import Cycle, order_jobs
from compiler.records import replay
from compiler.verify import verify_workflow_document
from tests.golden import golden  # noqa: F401
from tests.roundtrip import job_docs
from tests.test_golden import ROOT, no_internet, relative, rendered, spec_files, summary

__all__ = ["no_internet"]

CASES = Path(__file__).resolve().parent / "cases" / "jobspec2"
OFFLINE = CompileOptions(offline=True)


def workflow(path: Path, options: CompileOptions | None = None) -> CompiledWorkflow:
    compiled = compile_any_file(path, options or CompileOptions())
    assert isinstance(compiled, CompiledWorkflow)
    return compiled


def from_data(data: Any, options: CompileOptions = OFFLINE) -> Compiled | CompiledWorkflow:
    return compile_document(yaml.safe_dump(data, sort_keys=False).encode(), "wf.yaml", options)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in spec_files(CASES)])
def test_workflow_golden(path: Path, golden: Any) -> None:  # noqa: F811
    """Every workflow compiles to the jobs and workflow CID in its golden file; every
    job's chain replays from its facts."""
    w = workflow(path)
    data = {
        "file": path.relative_to(ROOT).as_posix(),
        "cid": str(w.cid),
        "original": str(w.original),
        "order": [name for name, _ in w.jobs],
        "jobs": {name: summary(c, path) for name, c in w.jobs},
    }
    assert str(ROOT) not in json.dumps(data)
    assert data == golden
    for _, c in w.jobs:
        assert all(check.ok for check in replay(c.original_job, c.chain))
    assert w.cid == identity.workflow_cid({name: c.cid for name, c in w.jobs})


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=f"invalid-{p.stem}") for p in spec_files(CASES / "invalid")]
)
def test_workflow_invalid(path: Path, golden: Any) -> None:  # noqa: F811
    with pytest.raises(SpecError) as info:
        compile_any_file(path, OFFLINE)
    data = {
        "file": path.relative_to(ROOT).as_posix(),
        "diagnostics": [
            {k: relative(v) if isinstance(v, str) else v for k, v in d.to_json().items()}
            for d in info.value.diagnostics
        ],
        "rendered": [rendered(d) for d in info.value.diagnostics],
    }
    assert info.value.errors
    assert data == golden


def test_no_stale_golden_files() -> None:
    expected = {p.stem for p in spec_files(CASES)}
    expected |= {f"invalid-{p.stem}" for p in spec_files(CASES / "invalid")}
    folder = ROOT / "golden" / "test_jobspec2"
    assert sorted(p.stem for p in folder.glob("*.json") if p.stem not in expected) == []


def test_links_carry_upstream_final_cids() -> None:
    """`job:clean#table` becomes an await of clean's final CID at the output's path; the
    reference by path (`job:totals#/outputs/out.csv`) too. Topological order, whatever
    the document's order."""
    w = workflow(CASES / "sales-report.yaml", OFFLINE)
    assert [name for name, _ in w.jobs] == ["clean", "totals", "chart"]
    clean, totals, chart = (w.job(n) for n in ("clean", "totals", "chart"))
    assert totals.job.inputs == (
        totals.job.inputs[0].__class__("/in/clean.csv", Await(clean.cid, "/outputs/clean.csv")),
    )
    assert chart.job.inputs[0].source == Await(totals.cid, "/outputs/out.csv")
    facts = [dict(f) for r in chart.chain if r.pass_name == "link-workflow" for f in r.facts]
    assert facts == [
        {
            "job": "totals",
            "output": "/outputs/out.csv",
            "cid": totals.cid,
            "path": "/outputs/out.csv",
        }
    ]
    # Names are meta; shared execution is merged, a job's own keys win.
    assert totals.meta["name"] == "totals"
    assert totals.execution == {"timeout": "2m", "resources": {"cpu": "1", "memory": "1Gi"}}
    assert w.meta == {"name": "sales-report", "labels": {"team": "analytics"}}
    assert (clean.job.determinism, totals.job.determinism, chart.job.determinism) == (
        "strict",
        "unordered",
        "none",
    )


def test_upstream_change_moves_downstream_final_only() -> None:
    """Changing what the first job computes changes every job that reads from it (final
    CIDs), but not what they say (original CIDs)."""
    data = yaml.safe_load((CASES / "sales-report.yaml").read_text())
    before = from_data(data)
    data["jobs"]["clean"]["task"]["args"].append("--strict")
    after = from_data(data)
    assert isinstance(before, CompiledWorkflow)
    assert isinstance(after, CompiledWorkflow)
    for name in ("clean", "totals", "chart"):
        assert before.job(name).cid != after.job(name).cid
        if name != "clean":
            assert before.job(name).original == after.job(name).original
    assert before.cid != after.cid


def test_job_order_and_names_in_workflow_cid() -> None:
    """The document's order of jobs is not identity; their names are the workflow's."""
    data = yaml.safe_load((CASES / "sales-report.yaml").read_text())
    forward = from_data(data)
    data["jobs"] = dict(reversed(list(data["jobs"].items())))
    backward = from_data(data)
    assert isinstance(forward, CompiledWorkflow)
    assert isinstance(backward, CompiledWorkflow)
    assert forward.cid == backward.cid
    assert [n for n, _ in backward.jobs] == ["clean", "totals", "chart"]
    data["jobs"]["cleaned"] = data["jobs"].pop("clean")
    for job in data["jobs"].values():
        for inp in job.get("inputs", []):
            inp["source"] = inp["source"].replace("job:clean#", "job:cleaned#")
    renamed = from_data(data)
    assert isinstance(renamed, CompiledWorkflow)
    assert renamed.job("cleaned").cid == forward.job("clean").cid
    assert renamed.cid != forward.cid


def test_same_job_as_jobspec1() -> None:
    """A workflow of one job compiles that job to the CID jobspec/1 gives it."""
    w = workflow(CASES / "single-job.yaml", OFFLINE)
    spec = yaml.safe_load((CASES / "single-job.yaml").read_text())["jobs"]["word-count"]
    del spec["determinism"]
    one = compile_bytes(
        yaml.safe_dump({"jobspec": 1, **spec, "deterministic": True}).encode(), "j.yaml", OFFLINE
    )
    assert w.job("word-count").cid == one.cid
    assert w.job("word-count").original == one.original
    assert [dict(f) for f in w.job("word-count").chain[0].facts] == [
        {"format": "jobspec/2", "job": "word-count"}
    ]


def test_a_failing_job_reports_the_warnings_before_it_but_no_notes() -> None:
    """A job that fails comes with the earlier jobs' warnings; their notes (here: the
    awaits left for the runner, as no receipt is known) are not part of a failure (the
    format fuzzer found them in one)."""
    image = "busybox@sha256:" + "a" * 64
    data = {
        "jobspec": 2,
        "jobs": {
            "first": {"task": {"engine": "docker", "image": image}, "outputs": ["/outputs"]},
            "second": {
                "task": {"engine": "docker", "image": image, "surprise": 1},
                "inputs": [{"source": "job:first#/outputs", "target": "/in"}],
                "outputs": ["/outputs"],
            },
            "third": {
                "task": {"engine": "docker", "image": image},
                "inputs": [
                    {"source": "job:second#/outputs", "target": "/in"},
                    {"source": "ipfs://not-a-cid", "target": "/more"},
                ],
            },
        },
    }
    upstream = from_data({**data, "jobs": {k: data["jobs"][k] for k in ("first", "second")}})
    assert isinstance(upstream, CompiledWorkflow)
    kinds = {(d.severity.value, d.code) for d in upstream.diagnostics}
    assert ("note", "await-unresolved") in kinds  # what the failure must leave out
    with pytest.raises(SpecError) as info:
        from_data(data)
    codes = [(d.severity.value, d.code) for d in info.value.diagnostics]
    assert ("warning", "unknown-field") in codes  # second's, kept
    assert any(severity == "error" for severity, _ in codes)
    assert all(severity != "note" for severity, _ in codes), codes


def test_compile_bytes_refuses_a_workflow() -> None:
    with pytest.raises(SpecError) as info:
        compile_bytes((CASES / "sales-report.yaml").read_bytes(), "wf.yaml", OFFLINE)
    assert [d.code for d in info.value.errors] == ["workflow"]


def test_link_workflow_replays_without_the_workflow() -> None:
    """The downstream job's chain replays from its own facts: no upstream compile."""
    w = workflow(CASES / "wasm-fan-in.json", OFFLINE)
    total = w.job("total")
    checks = replay(total.original_job, total.chain)
    assert [c.ok for c in checks] == [True] * len(checks)
    assert "link-workflow" in [r.pass_name for r in total.chain]


def test_compiled_workflow_verifies_and_detects_tampering() -> None:
    spec = (CASES / "sales-report.yaml").read_bytes()
    w = compile_document(spec, "sales-report.yaml", OFFLINE)
    assert isinstance(w, CompiledWorkflow)
    data = to_workflow_document(w)
    doc = load_any_document(json.dumps(data).encode())
    checks = verify_workflow_document(doc, spec, "sales-report.yaml")  # type: ignore[arg-type]
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    data["workflow"]["clean"] = {"/": str(w.job("chart").cid)}
    tampered = load_any_document(json.dumps(data).encode())
    assert not all(c.ok for c in verify_workflow_document(tampered))  # type: ignore[arg-type]


def test_order_jobs() -> None:
    assert order_jobs({"c": ["b"], "b": ["a"], "a": []}) == ["a", "b", "c"]
    assert order_jobs({"x": [], "y": [], "z": ["x"]}) == ["x", "y", "z"]
    with pytest.raises(Cycle) as info:
        order_jobs({"a": ["b"], "b": ["c"], "c": ["a"], "d": []})
    assert info.value.names == ("a", "b", "c")


def test_commands_on_a_workflow(tmp_path: Path) -> None:
    """compile, cid, check, explain and verify take workflow documents."""
    runner = CliRunner()
    spec = str(CASES / "wasm-fan-in.json")
    out = tmp_path / "wf.compiled.json"
    result = runner.invoke(main, ["compile", "--offline", spec, "-o", str(out)])
    assert result.exit_code == 0, result.output
    w = workflow(CASES / "wasm-fan-in.json", OFFLINE)
    lines = runner.invoke(main, ["cid", "--offline", spec]).stdout.splitlines()
    assert lines == [f"{w.cid}  {spec}"] + [f"{c.cid}  {spec}#{n}" for n, c in w.jobs]
    assert runner.invoke(main, ["check", "--offline", spec]).exit_code == 0
    result = runner.invoke(main, ["verify", str(out), "--spec", spec])
    assert result.exit_code == 0, result.output
    explained = json.loads(runner.invoke(main, ["explain", "--json", str(out)]).stdout)
    assert explained["workflow"] == str(w.cid)
    assert [c["final"] for c in explained["chains"]] == [str(c.cid) for _, c in w.jobs]
    as_json = json.loads(runner.invoke(main, ["cid", "--json", "--offline", spec]).stdout)
    assert as_json["results"][0]["jobs"]["total"]["cid"] == str(w.job("total").cid)


def test_schema_accepts_samples_and_refuses_deterministic() -> None:
    schemas = {
        name: json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
        for name in ("jobspec-1", "jobspec-2")
    }
    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    validator = Draft202012Validator(schemas["jobspec-2"], registry=registry)
    for path in spec_files(CASES):
        data = yaml.safe_load(path.read_text())
        assert not list(validator.iter_errors(data)), path
    bad = yaml.safe_load((CASES / "invalid" / "determinism.yaml").read_text())
    assert list(validator.iter_errors(bad))
    assert isinstance(Link.parse(str(workflow(CASES / "single-job.yaml", OFFLINE).cid)), Link)


def _parse_both(raw: bytes, name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """repr of the workflow read with jobspec/1's fast path for clean jobs, and without."""
    from compiler.frontends import jobspec2
    from compiler.frontends.loader import load

    fast = jobspec2.parse(load(name, raw), Options())
    with monkeypatch.context() as m:
        m.setattr(jobspec2, "_read_clean", lambda body, plain: None)
        slow = jobspec2.parse(load(name, raw), Options())
    return repr(fast), repr(slow)


def test_clean_jobs_read_fast_as_the_full_reader_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A clean job is read by jobspec/1's fast path; the result is the full reader's."""
    from compiler.frontends.jobspec2 import _read_clean

    files = [
        *spec_files(CASES),
        *sorted((ROOT / "tests" / "cases" / "formats").glob("*/jobspec2.yaml")),
    ]
    taken = 0
    for path in files:
        tree = yaml.safe_load(path.read_text())
        taken += sum(_read_clean(body, False) is not None for body in tree["jobs"].values())
        fast, slow = _parse_both(path.read_bytes(), str(path), monkeypatch)
        assert fast == slow, path
    assert taken >= 20


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(job_docs("jobspec/2"))
def test_generated_jobs_read_fast_as_the_full_reader(doc: Any) -> None:
    from compiler.emitters import emitter

    with pytest.MonkeyPatch.context() as monkeypatch:
        try:
            text = emitter("jobspec/2")([doc], {}).text
        except SpecError:
            return
        fast, slow = _parse_both(text.encode(), "wf.yaml", monkeypatch)
        assert fast == slow
