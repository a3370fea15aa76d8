"""Bacalhau jobs of every era: golden compiled documents, diagnostics, and what is (and is
not) identity when a job is written in Bacalhau's terms.

Samples live in `tests/cases/bacalhau/<era>/` (written for these tests from Bacalhau's
model files and docs, one realistic job each); invalid ones in
`tests/cases/bacalhau/invalid/`. Golden files: `golden/test_bacalhau/<era>-<stem>.json`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.diagnostics import Severity, SpecError
from compiler.driver import Compiled, CompileOptions, compile_bytes, compile_file
from compiler.emitters.compiled import to_document
from tests.golden import golden  # noqa: F401
from tests.test_golden import ROOT, no_internet, relative, rendered, spec_files, summary

__all__ = ["no_internet"]  # an autouse fixture: unreachable hosts, on every machine

CASES = Path(__file__).resolve().parent / "cases" / "bacalhau"
ERAS = sorted(p.name for p in CASES.iterdir() if p.is_dir() and p.name != "invalid")
OFFLINE = CompileOptions(offline=True)


def era_cases() -> list[Any]:
    return [
        pytest.param(path, id=f"{era}-{path.stem}")
        for era in ERAS
        for path in spec_files(CASES / era)
    ]


@pytest.mark.parametrize("path", era_cases())
def test_bacalhau_golden(path: Path, golden: Any) -> None:  # noqa: F811
    """Every sample compiles to the document in its golden file, with its era detected."""
    c = compile_file(path)
    data = summary(c, path)
    assert str(ROOT) not in json.dumps(data)
    assert data == golden
    assert c.format.startswith("bacalhau/")


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=f"invalid-{p.stem}") for p in spec_files(CASES / "invalid")]
)
def test_bacalhau_invalid(path: Path, golden: Any) -> None:  # noqa: F811
    """Every invalid sample fails with the diagnostics in its golden file."""
    with pytest.raises(SpecError) as info:
        compile_file(path, OFFLINE)
    diagnostics = info.value.diagnostics
    assert info.value.errors
    assert all(d.span is not None and d.span.line >= 1 for d in diagnostics)
    data = {
        "file": path.relative_to(ROOT).as_posix(),
        "diagnostics": [
            {k: relative(v) if isinstance(v, str) else v for k, v in d.to_json().items()}
            for d in diagnostics
        ],
        "rendered": [rendered(d) for d in diagnostics],
    }
    assert data == golden


def test_no_stale_golden_files() -> None:
    """Every golden file of this module belongs to a case."""
    expected = {f"{era}-{p.stem}" for era in ERAS for p in spec_files(CASES / era)}
    expected |= {f"invalid-{p.stem}" for p in spec_files(CASES / "invalid")}
    folder = ROOT / "golden" / "test_bacalhau"
    assert sorted(p.stem for p in folder.glob("*.json") if p.stem not in expected) == []


def compile_data(data: Any, name: str = "job.yaml", **options: Any) -> Compiled:
    raw = yaml.safe_dump(data, sort_keys=False).encode()
    return compile_bytes(raw, name, CompileOptions(offline=True, **options))


def load(era: str, stem: str) -> Any:
    path = next(p for p in spec_files(CASES / era) if p.stem == stem)
    return yaml.safe_load(path.read_text())


# --- the same job in Bacalhau's terms and in jobspec/1 -----------------------------------

JOBSPEC_WORD_COUNT = {
    "jobspec": 1,
    "task": {
        "engine": "docker",
        "image": "ubuntu:22.04",
        "entrypoint": ["/bin/bash", "-c", "wc -w /inputs/words/*.txt > /outputs/count.txt"],
        "env": {"LC_ALL": "C", "TZ": "UTC"},
        "workdir": "/inputs",
    },
    "inputs": [
        {
            "source": "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
            "target": "/inputs/words",
        }
    ],
    "outputs": ["/outputs"],
}


def test_word_count_equals_jobspec() -> None:
    """The Bacalhau word count is the jobspec/1 one: entrypoint + parameters form one
    argv, `EnvironmentVariables` and `Env` one map; names, labels, publisher, resources,
    timeouts, constraints are not identity."""
    bacalhau = compile_file(CASES / "job" / "docker-word-count.yaml", OFFLINE)
    jobspec = compile_data(JOBSPEC_WORD_COUNT)
    assert bacalhau.cid == jobspec.cid
    assert bacalhau.execution == {
        "type": "batch",
        "namespace": "default",
        "count": 1,
        "priority": 50,
        "constraints": [{"key": "Architecture", "operator": "=", "values": ["amd64"]}],
        "publisher": {"type": "ipfs"},
        "resources": {"cpu": "500m", "memory": "512Mb", "disk": "1Gb"},
        "timeout": "10m",
        "queue_timeout": "1h",
    }
    assert bacalhau.meta["labels"] == {"team": "data", "env": "staging"}
    assert bacalhau.meta["annotations"] == {"owner": "ada@example.org"}
    assert bacalhau.meta["input_names"] == {"words": "/inputs/words"}


def test_lowercase_keys_same_job() -> None:
    """`tasks`/`engine`/`params` and `Type: Docker` read as `Tasks`/`Engine`/`docker`."""
    upper = compile_file(CASES / "job" / "docker-hello.yaml", OFFLINE)
    lower = compile_file(CASES / "job" / "docker-lowercase-keys.yaml", OFFLINE)
    assert upper.cid == lower.cid
    assert upper.original == lower.original


def test_wasm_2023_and_2025_agree() -> None:
    """The module named by path (2025) and the module as an input source (2023) are the
    same task: only the extra numbers input tells the two samples apart."""
    new = load("job", "wasm-entry-module-path")
    task = new["Tasks"][0]
    task["InputSources"] = [s for s in task["InputSources"] if s.get("Alias") != "numbers"]
    path_era = compile_data(new)
    old = compile_file(CASES / "job" / "wasm-entry-module-2023.yaml", OFFLINE)
    assert path_era.cid == old.cid
    assert path_era.format == "bacalhau/job"
    assert old.format == "bacalhau/job-2023"
    module = old.job.task
    assert module.engine == "wasm"
    assert str(getattr(module, "module", "")).startswith("bafkrei")


def test_job_wrapper() -> None:
    """`{Job: …}` (a submission) reads as the job inside; request fields go to meta."""
    wrapped = compile_file(CASES / "job" / "docker-job-wrapper.json", OFFLINE)
    inner = json.loads((CASES / "job" / "docker-job-wrapper.json").read_text())["Job"]
    bare = compile_bytes(json.dumps(inner).encode(), "job.json", OFFLINE)
    assert wrapped.cid == bare.cid
    assert wrapped.meta["bacalhau"] == {"request": {"Force": False}}


def test_the_credential_a_go_client_sends_is_dropped() -> None:
    """Bacalhau's Go client encodes its `Credential` into every request body: it is read
    without a warning and kept nowhere, so no compiled document holds a token."""
    inner = json.loads((CASES / "job" / "docker-job-wrapper.json").read_text())["Job"]
    for credential in (None, {"Scheme": "Bearer", "Value": "s3cret-token", "Params": None}):
        body = {"Namespace": "", "Credential": credential, "IdempotencyToken": "", "Job": inner}
        c = compile_bytes(json.dumps(body).encode(), "job.json", OFFLINE)
        assert not [d for d in c.diagnostics if d.code == "unknown-field"]
        assert "s3cret-token" not in json.dumps(to_document(c))


# --- keys in any case --------------------------------------------------------------------

DATA_MAPS = {"env", "labels", "meta"}
"""Maps whose keys are data (variable names, labels), kept as written by jobc and by
Bacalhau; so are a publisher's params (jobc keeps execution options as written)."""


def recase(value: Any, rng: random.Random, parent: str = "", data: bool = False) -> Any:
    """`value` with every struct-field key in a random case (data maps' keys kept)."""
    if isinstance(value, list):
        return [recase(v, rng, parent) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        folded = key.casefold()
        new_key = key if data else "".join(rng.choice((c.lower(), c.upper())) for c in key)
        inner_data = folded in DATA_MAPS or (folded == "params" and parent == "publisher")
        out[new_key] = recase(item, rng, folded, inner_data)
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    stem=st.sampled_from(["docker-word-count", "docker-s3-http-network", "wasm-entry-module-path"]),
)
def test_keys_in_any_case(seed: int, stem: str) -> None:
    """Bacalhau's decoders match fields case-insensitively, and so does jobc: any casing
    of the field names gives the same job, meta and execution options."""
    data = load("job", stem)
    base = compile_data(data)
    other = compile_data(recase(data, random.Random(seed)))
    assert (other.original, other.cid) == (base.original, base.cid)
    assert other.execution == base.execution
    assert other.meta == base.meta


# --- what jobc keeps, what it warns about ------------------------------------------------

HELLO = {
    "Name": "hello",
    "Tasks": [{"Name": "main", "Engine": {"Type": "docker", "Params": {"Image": "ubuntu"}}}],
}


def with_task(**fields: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(HELLO))
    data["Tasks"][0].update(fields)
    return data


def test_unknown_storage_type_kept_under_x() -> None:
    """A storage type jobc does not know keeps the whole input in identity, with a
    warning; under --strict it is an error."""
    source = {"Type": "git", "Params": {"Repo": "https://example.org/r.git"}}
    data = with_task(InputSources=[{"Target": "/repo", "Source": source}])
    c = compile_data(data)
    assert c.job.x["InputSources[/repo]"]["Source"]["Type"] == "git"  # type: ignore[index]
    assert not c.job.inputs
    assert [d.code for d in c.warnings] == ["storage", "unpinned"]
    with pytest.raises(SpecError) as info:
        compile_data(data, strict=True)
    assert [d.code for d in info.value.errors] == ["storage"]


def test_unknown_fields_kept_where_found() -> None:
    data = with_task(Gpus=1)
    data["Priority"] = 3
    data["Deadline"] = "tomorrow"
    data["Tasks"][0]["Engine"]["Params"]["Shm"] = "1g"
    c = compile_data(data)
    assert dict(c.job.x) == {"Deadline": "tomorrow", "Task.Gpus": 1, "Engine.Params.Shm": "1g"}
    assert c.execution["priority"] == 3
    messages = sorted(d.message for d in c.warnings if d.code == "unknown-field")
    assert messages == [
        "unknown field `Deadline` in the job (kept under `x`)",
        "unknown field `Gpus` in Tasks[0] (kept under `x`)",
        "unknown field `Shm` in Tasks[0].Engine.Params (kept under `x`)",
    ]


def test_only_the_first_task_runs() -> None:
    data = json.loads(json.dumps(HELLO))
    data["Tasks"].append(
        {"Name": "second", "Engine": {"Type": "docker", "Params": {"Image": "alpine"}}}
    )
    c = compile_data(data)
    first = compile_data(HELLO)
    assert c.cid == first.cid
    assert [d.code for d in c.warnings if d.code == "tasks"] == ["tasks"]
    assert c.meta["bacalhau"]["ignored_tasks"][0]["Name"] == "second"


def test_network_types() -> None:
    """Host and Bridge give the job full network access; Default and None, none. The
    spelling Bacalhau needs back is kept in execution."""

    def network(**net: Any) -> Compiled:
        return compile_data(with_task(Network=net))

    none = compile_data(HELLO)
    assert network(Type="Default").cid == none.cid
    assert network(Type="none").cid == none.cid
    full = network(Type="Full")
    assert network(Type="Host").cid == full.cid == network(Type="bridge").cid != none.cid
    assert network(Type="Host").execution["network"] == {"type": "Host"}
    assert "network" not in full.execution
    http = network(Type="HTTP", Domains=["Example.org", "api.example.org"])
    assert http.job.network is not None
    assert http.job.network.domains == ("api.example.org", "example.org")


def test_stash_puts_back_what_bacalhau_cannot_say() -> None:
    """`Meta: {jobc.stash: …}` (written by jobc's emitter) restores identity fields that
    Bacalhau has no place for: determinism, nonce, extension fields, a docker platform."""
    stash = {
        "determinism": "strict",
        "nonce": "run-2",
        "x": {"gpu": "a100"},
        "task": {"platform": "linux/arm64"},
    }
    data = json.loads(json.dumps(HELLO))
    data["Meta"] = {"owner": "ada", "jobc.stash": json.dumps(stash), "jobc.cid": "bafy…"}
    c = compile_data(data, passes=())
    job = c.job
    assert (job.determinism, job.nonce, dict(job.x)) == ("strict", "run-2", {"gpu": "a100"})
    assert getattr(job.task, "platform", None) == "linux/arm64"
    assert c.meta["annotations"] == {"owner": "ada"}
    spec = {
        "jobspec": 1,
        "task": {"engine": "docker", "image": "ubuntu", "platform": "linux/arm64"},
        "deterministic": True,
        "nonce": "run-2",
        "x": {"gpu": "a100"},
    }
    assert compile_data(spec).cid == compile_data(data).cid


@pytest.mark.parametrize(
    ("stash", "rebuilt"),
    [
        ({"determinism": "strict", "execution": {"retries": 2}, "meta": {"team": "ml"}}, True),
        ({"execution": {"retries": 2}, "meta": {"team": "ml"}}, False),  # nothing to rebuild
    ],
)
def test_stash_is_read_once_for_all_it_holds(
    stash: dict[str, Any], rebuilt: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stash's JSON is read once for the identity it puts back and the execution
    options and meta it holds, and gives what the text-level functions give."""
    from compiler.frontends.bacalhau import common

    text = json.dumps(stash)
    data = json.loads(json.dumps(HELLO))
    data["Meta"] = {"owner": "ada", "jobc.stash": text}
    plain = compile_data(HELLO, passes=())
    reads: list[str] = []
    real = common.read_stash
    monkeypatch.setattr(common, "read_stash", lambda t: reads.append(t) or real(t))
    c = compile_data(data, passes=())
    assert reads == [text]
    monkeypatch.setattr(common, "read_stash", real)
    assert c.job == (common.apply_stash(plain.job, text) if rebuilt else plain.job)
    execution, meta = common.stash_extras(text)
    assert c.execution == {**plain.execution, **execution}
    assert c.meta == {**meta, **plain.meta, "annotations": {"owner": "ada"}}


def test_an_unreadable_stash_is_one_error() -> None:
    data = json.loads(json.dumps(HELLO))
    data["Meta"] = {"jobc.stash": '{"determinism": '}
    with pytest.raises(SpecError) as caught:
        compile_data(data, passes=())
    (diag,) = caught.value.diagnostics
    assert diag.code == "stash"
    assert diag.message.startswith("the `jobc.stash` in Meta cannot be read: not JSON")
    assert diag.span is not None
    lines = yaml.safe_dump(data, sort_keys=False).splitlines()
    (line,) = [i for i, text in enumerate(lines, 1) if "jobc.stash" in text]
    assert (diag.span.line, diag.span.column) == (line, lines[line - 1].index("'{") + 1)


def test_wrapper_field_not_identity() -> None:
    data = {"Job": HELLO, "Force": True, "Comment": "retry"}
    c = compile_data(data)
    assert c.cid == compile_data(HELLO).cid
    assert c.meta["bacalhau"]["request"] == {"Force": True, "Comment": "retry"}
    assert [d.severity for d in c.warnings if d.code == "unknown-field"] == [Severity.WARNING]


# --- the legacy eras ---------------------------------------------------------------------

ERA_OF = {
    "job/docker-word-count": "bacalhau/job",
    "job/wasm-entry-module-2023": "bacalhau/job-2023",
    "v1beta2/docker-engine-spec": "bacalhau/v1beta2",
    "v1beta2/docker-deprecated-engine": "bacalhau/v1beta2",
    "v1beta2/wasm-entry-module": "bacalhau/v1beta2",
    "v1beta1/docker-metadata-requester": "bacalhau/v1beta1",
    "v1beta1/docker-status-2022-12": "bacalhau/v1beta1-2022-12",
    "v1beta1/docker-flat-2022-11": "bacalhau/v1beta1-2022-11",
    "v1beta1/wasm-context-module-2022-11": "bacalhau/v1beta1-2022-11",
    "v1alpha1/docker-pascal": "bacalhau/v1alpha1",
    "v1alpha1/docker-snake-2022": "bacalhau/v1alpha1-snake",
    "v1alpha1/docker-snake-sharded": "bacalhau/v1alpha1-snake",
}


@pytest.mark.parametrize(("sample", "era"), ERA_OF.items())
def test_era_detected(sample: str, era: str) -> None:
    """Each era is told by its shape, and the parse record's fact says which."""
    folder, stem = sample.split("/")
    path = next(p for p in spec_files(CASES / folder) if p.stem == stem)
    c = compile_file(path, CompileOptions(passes=()))
    assert c.format == era
    assert [dict(f) for f in c.chain[0].facts] == [{"format": era}]


def test_word_count_in_every_era() -> None:
    """The same word count written in the Job API, V1beta2 (deprecated engine fields),
    V1beta1 of November 2022 and the snake_case format of 2022 is one job: one CID."""
    samples = [
        CASES / "job" / "docker-word-count.yaml",
        CASES / "v1beta2" / "docker-deprecated-engine.json",
        CASES / "v1beta1" / "docker-flat-2022-11.json",
        CASES / "v1alpha1" / "docker-snake-2022.yaml",
    ]
    compiled = [compile_file(p, OFFLINE) for p in samples]
    assert len({c.cid for c in compiled}) == 1
    assert len({c.format for c in compiled}) == 4
    assert compiled[0].cid == compile_data(JOBSPEC_WORD_COUNT).cid
    # How to run, in one vocabulary whatever the era:
    assert {c.execution.get("timeout") for c in compiled} == {"10m", None}
    assert {json.dumps(c.execution.get("resources"), sort_keys=True) for c in compiled[1:]} == {
        json.dumps({"cpu": "500m", "memory": "512Mb", "disk": "1Gb", "gpu": ""}, sort_keys=True)
    }


def test_wasm_module_in_every_era() -> None:
    """A WASM module given as `EntryModule` in V1beta2, as an input source in the 2023 Job
    API, and by path in the 2025 one: the same task."""
    v1beta2 = compile_file(CASES / "v1beta2" / "wasm-entry-module.yaml", OFFLINE)
    job2023 = compile_file(CASES / "job" / "wasm-entry-module-2023.yaml", OFFLINE)
    assert v1beta2.cid == job2023.cid
    context = compile_file(CASES / "v1beta1" / "wasm-context-module-2022-11.yaml", OFFLINE)
    assert context.job.task == v1beta2.job.task.__class__(
        module=v1beta2.job.task.module,  # type: ignore[union-attr]
        args=("/inputs/numbers.txt",),
        env=v1beta2.job.task.env,  # type: ignore[union-attr]
    )


def test_sharding_is_identity() -> None:
    """A glob pattern splits the inputs among executions: it changes what each computes."""
    data = json.loads((CASES / "v1alpha1" / "docker-snake-sharded.json").read_text())
    sharded = compile_bytes(json.dumps(data).encode(), "job.json", OFFLINE)
    assert "Sharding" in sharded.job.x
    del data["spec"]["sharding"]["glob_pattern"]
    unsharded = compile_bytes(json.dumps(data).encode(), "job.json", OFFLINE)
    assert "Sharding" not in unsharded.job.x
    assert unsharded.cid != sharded.cid


def test_legacy_wrapper_and_null_fields() -> None:
    """`Job:` around a V1beta2 job, and null or empty fields as Bacalhau wrote them."""
    data = json.loads((CASES / "v1beta2" / "docker-deprecated-engine.json").read_text())
    bare = compile_bytes(json.dumps(data).encode(), "job.json", OFFLINE)
    data["Spec"]["Wasm"] = None
    data["Spec"]["Language"] = {}
    data["Spec"]["Inputs"][0]["URL"] = ""
    wrapped = compile_bytes(json.dumps({"Job": data}).encode(), "job.json", OFFLINE)
    assert wrapped.cid == bare.cid
    assert not wrapped.warnings or all(d.code == "unpinned" for d in wrapped.warnings)


@pytest.mark.parametrize(
    ("doc", "era", "unfit"),
    [
        # the fields inside a `{Job: …}` wrapper, and inside `Spec`, are named by their path
        ({"Job": {"Count": 1, "Foo": 1}}, "bacalhau/job", "Job.Foo"),
        ({"Spec": {"Deal": {}, "Verifier": "noop", "Bogus": 1}}, "bacalhau/v1beta1", "Spec.Bogus"),
        ({"Spec": {"EngineSpec": {}}, "Tasks": 3}, "bacalhau/v1beta2", "Tasks"),
        ({"spec": {"engine_name": "docker", "job_spec_docker": {}}}, "bacalhau/v1alpha1-snake", ""),
    ],
)
def test_no_era_names_the_closest_and_what_did_not_fit(doc: Any, era: str, unfit: str) -> None:
    with pytest.raises(SpecError) as info:
        compile_bytes(json.dumps(doc).encode(), "job.json", OFFLINE)
    (found,) = info.value.errors
    assert found.code == "unknown-format"
    assert f"closest to `{era}`" in found.hint
    assert (f"fields that fit no field of it: {unfit}" in found.hint) == bool(unfit), found.hint
    assert found.span is not None
    assert (found.span.file, found.span.line, found.span.column) == ("job.json", 1, 1)


def test_a_workflow_without_its_marker_is_told_to_say_jobspec_2() -> None:
    with pytest.raises(SpecError) as info:
        compile_bytes(b"jobs: {a: {task: {engine: docker, image: u}}}\n", "w.yaml", OFFLINE)
    assert "add `jobspec: 2` at the top" in info.value.errors[0].hint
