"""Jobs for round-trip tests: hypothesis strategies building IR jobs with what is beside
them, and the comparison that says two jobs are the same job.

`job_docs(target)` builds jobs a target format can carry (natively or in its stash);
`same_job` compares two jobs after the normalize pass (which gives every spelling its
one form) and with `ipfs://<CID>` sources read as the CIDs they name, as resolve-content
would. `round_trip(target, doc)` writes a job with the target's emitter and reads it
back with the matching front-end (no pass run).
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from compiler.driver import CompileOptions, read_document
from compiler.emitters import Emitted, JobDoc, emitter
from compiler.frontends import Parsed, ParsedWorkflow
from compiler.ir import (
    Await,
    Content,
    DockerTask,
    FrozenMap,
    Input,
    Job,
    Link,
    Network,
    OtherTask,
    SourceTask,
    Task,
    Value,
    WasmTask,
    default_determinism,
    replace,
)
from compiler.oracles import Oracle
from compiler.passes.normalize import Normalize

CIDS = [
    "bafkreia6gnbk223itanmbogdzu2tecoijzwrzkwvz3hauarwttjnjbqfuy",
    "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
    "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
]
JOB_CIDS = [
    "bafyreiflzagvn6s7hfm2ouelf47bf5vgynhnoild77s7hg55biyga2wpaq",
    "bafyreid2pe3jxiazj4dbopnye4arz5f5hi5vbosilfjvklqeb2tnos5f4a",
]

word = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=8)
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
    max_size=12,
)
segment = st.text(alphabet=string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=6)
paths = st.lists(segment, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
env_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True)
links = st.sampled_from(CIDS).map(lambda c: Link.parse(c).v1())
contents: st.SearchStrategy[Content] = st.one_of(
    links,
    st.sampled_from(CIDS).map(lambda c: "ipfs://" + c),
    st.builds(lambda h, p: f"https://{h}.example.org{p}", segment, paths),
    st.builds(lambda t: "data:," + "".join(c for c in t if c.isalnum()), text),
    st.builds(lambda b, k: f"s3://{b}/{k.lstrip('/')}", segment, paths),
    st.builds(lambda p: "data/" + p.lstrip("/"), paths),
)
images = st.sampled_from(["ubuntu:22.04", "alpine:3.19", "python:3.12-slim", "ghcr.io/org/tool:v1"])
scalars: st.SearchStrategy[Value] = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), text
)
values: st.SearchStrategy[Value] = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(word, inner, max_size=3).map(FrozenMap)
    ),
    max_leaves=6,
)
env_maps = st.dictionaries(env_names, text, max_size=3).map(FrozenMap)
words: st.SearchStrategy[Value] = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), text)
"""The values a Jobfile's `x` and `param` say: strings, integers, true and false."""


@st.composite
def tasks(draw: st.DrawFn, engines: tuple[str, ...], typed: bool = True) -> Task:
    engine = draw(st.sampled_from(engines))
    if engine == "docker":
        return DockerTask(
            image=draw(images),
            entrypoint=tuple(draw(st.lists(text, max_size=3))),
            args=tuple(draw(st.lists(text, max_size=3))),
            env=draw(env_maps),
            workdir=draw(st.one_of(st.just(""), paths)),
            platform=draw(st.sampled_from(["", "linux/arm64"])),
        )
    if engine == "wasm":
        args: tuple[Value, ...] = tuple(draw(st.lists(text, max_size=3)))
        if typed and draw(st.booleans()):
            args = tuple(draw(st.lists(scalars, max_size=3)))
        return WasmTask(
            module=draw(links),
            entrypoint=draw(st.sampled_from(["_start", "main", "add_one"])),
            args=args,
            env=draw(env_maps),
            imports=FrozenMap(
                draw(st.dictionaries(st.sampled_from(["/lib/m.wasm", "math"]), links, max_size=2))
            ),
            stdin=draw(st.one_of(st.none(), links)),
        )
    if engine in ("rust", "c"):
        return SourceTask(
            engine="rust" if engine == "rust" else "c",
            source=draw(contents),
            edition=draw(st.sampled_from(["", "2018"])) if engine == "rust" else "",
            args=tuple(draw(st.lists(text, max_size=2))),
            env=draw(env_maps),
        )
    params = draw(
        st.dictionaries(
            word.filter(lambda w: w[:1].islower() and w != "engine"),
            values if typed else words,
            max_size=3,
        )
    )
    return OtherTask(engine=engine, params=FrozenMap(params))


@st.composite
def job_docs(draw: st.DrawFn, target: str) -> JobDoc:
    """A job (with meta and execution) the target format can write."""
    engines = {
        "homestar": ("wasm",),
        "bacalhau": ("docker", "wasm", "rust", "duckdb"),
    }.get(target, ("docker", "wasm", "rust", "c", "duckdb"))
    typed = target != "jobfile"  # a Jobfile's values are words
    task = draw(tasks(engines, typed))
    targets = draw(st.lists(paths, max_size=3, unique=True))
    reserved = {"/jobc/main.wasm", "/lib/m.wasm", "/math"}
    targets = [t for t in targets if t not in reserved]
    inputs = []
    for t in targets:
        source: Content | Await = draw(contents)
        if draw(st.integers(0, 5)) == 0:
            source = Await(Link.parse(draw(st.sampled_from(JOB_CIDS))), draw(paths))
        inputs.append(Input(t, source))
    outputs = draw(st.lists(paths, max_size=2, unique=True))
    determinisms = ["strict", "none"] if target == "jobspec/1" else ["strict", "unordered", "none"]
    network = draw(
        st.one_of(
            st.none(),
            st.just(Network("full")),
            st.lists(segment.map(lambda s: s + ".org"), max_size=2, unique=True).map(
                lambda d: Network("http", tuple(sorted(d)))
            ),
        )
    )
    x: dict[str, Value] = draw(
        st.dictionaries(word.map(lambda w: "x" + w), values if typed else words, max_size=2)
    )
    if target == "homestar" and draw(st.booleans()):
        x["nnc"] = draw(st.binary(min_size=12, max_size=12))
    job = Job(
        task=task,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        determinism=draw(st.sampled_from(determinisms)),
        network=network,
        nonce=draw(st.one_of(st.just(""), word)),
        x=FrozenMap(x),
    )
    meta: dict[str, Any] = {"name": draw(word)}
    labels = draw(st.dictionaries(word, word, max_size=2))
    if labels:
        meta["labels"] = labels
    named_in = [t for t in targets if draw(st.booleans())]
    if named_in:
        meta["input_names"] = {f"in{i}": t for i, t in enumerate(named_in)}
    named_out = [p for p in outputs if draw(st.booleans())]
    if named_out:
        meta["output_names"] = {f"out{i}": p for i, p in enumerate(named_out)}
    return JobDoc("", job, meta, draw(executions()))


def _duration(seconds: int) -> str:
    from compiler.frontends.bacalhau.common import format_duration

    return format_duration(seconds)


durations = st.integers(1, 200_000).map(_duration)


@st.composite
def executions(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["timeout"] = draw(durations)
    if draw(st.booleans()):
        out["resources"] = draw(
            st.dictionaries(st.sampled_from(["cpu", "memory", "disk", "gpu"]), word, min_size=1)
        )
    if draw(st.booleans()):
        out["retries"] = draw(st.integers(0, 5))
    if draw(st.booleans()):
        out["priority"] = draw(st.integers(0, 100))
    if draw(st.booleans()):
        out["publisher"] = {"type": draw(st.sampled_from(["ipfs", "local", "s3"]))}
    return out


# --- comparing ----------------------------------------------------------------------------


def canonical(job: Job) -> Job:
    """A job after normalize, with `ipfs://<CID>` contents as the links they name."""
    normal, _ = Normalize()(job, Oracle())

    def content(c: Content) -> Content:
        if isinstance(c, Link):
            return c.v1()
        if c.startswith("ipfs://") and "/" not in c[7:]:
            return Link.parse(c[7:]).v1()
        return c

    task = normal.task
    if isinstance(task, WasmTask):
        task = replace(
            task,
            module=content(task.module),
            imports=FrozenMap({k: content(v) for k, v in task.imports.items()}),
            stdin=None if task.stdin is None else content(task.stdin),
        )
    elif isinstance(task, SourceTask):
        task = replace(task, source=content(task.source))
    inputs = tuple(
        i if isinstance(i.source, Await) else Input(i.target, content(i.source))
        for i in normal.inputs
    )
    return replace(normal, task=task, inputs=inputs)


def emit(target: str, doc: JobDoc) -> Emitted:
    return emitter(target)([doc], {})


def read_back(emitted: Emitted, target: str) -> Parsed:
    """The job a written document reads back as (the first of a workflow)."""
    name = {"json": "job.json", "jobfile": "Jobfile"}.get(emitted.syntax, "job.yaml")
    _, parsed = read_document(emitted.text.encode(), name, CompileOptions())
    if isinstance(parsed, ParsedWorkflow):
        return parsed.jobs[0][1]
    return parsed


def doc_of(parsed: Parsed, name: str = "") -> JobDoc:
    return JobDoc(name, parsed.job, parsed.meta, parsed.execution)


EXECUTION_DEFAULTS = {"bacalhau": {"type": "batch"}}
"""Execution options a target always writes (Bacalhau requires a job type)."""


def assert_same(a: JobDoc, b: Parsed, target: str) -> None:
    """`b` (read back) is the job `a` was: same identity, execution and names."""
    assert canonical(b.job) == canonical(a.job)
    expected = {**EXECUTION_DEFAULTS.get(target, {}), **a.execution}
    assert b.execution == expected
    for key in ("name", "labels", "input_names"):
        assert b.meta.get(key) == a.meta.get(key), key
    given = a.meta.get("output_names", {})
    assert {k: v for k, v in b.meta.get("output_names", {}).items() if k in given} == given


def default_engine_determinism(job: Job) -> bool:
    return job.determinism == default_determinism(job.task.engine)
