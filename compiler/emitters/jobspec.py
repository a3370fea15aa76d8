"""Write jobs as jobspec/2 (a workflow) or jobspec/1 (one job), in YAML.

jobspec/2 says everything the IR says, so nothing is stashed: an `await` on another job
of the set becomes `job:NAME#OUTPUT` (the output's name when it has one), an await on a
job outside it `job:<CID>#<path>`; pinned content is written as `ipfs://<CID>`, a pinned
image as `repository@sha256:…`. jobspec/1 cannot say `unordered`, nor name another job
of a workflow: such a job is refused. Meta other than the name, labels and the names of
inputs and outputs has no place in either (it is dropped, with a note).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compiler import identity
from compiler.diagnostics import Diagnostic, warning
from compiler.emitters import (
    Emitted,
    JobDoc,
    content_uri,
    dump_yaml,
    image_reference,
    refuse,
)
from compiler.ir import (
    Await,
    DockerTask,
    FrozenMap,
    Job,
    Link,
    OtherTask,
    SourceTask,
    Value,
    WasmTask,
    default_determinism,
)
from compiler.passes.link_workflow import AWAIT_KEYS

KEPT_META = ("name", "labels", "input_names", "output_names")


def emit_jobspec2(jobs: Sequence[JobDoc], meta: dict[str, Any]) -> Emitted:
    """A jobspec/2 workflow holding `jobs` (named as they are, `main` for a nameless one)."""
    names = _names(jobs)
    doc: dict[str, Any] = {"jobspec": 2}
    if meta.get("name"):
        doc["name"] = meta["name"]
    if meta.get("labels"):
        doc["labels"] = dict(meta["labels"])
    notes: list[Diagnostic] = []
    doc["jobs"] = {
        name: _job(j, names, jobs, version=2, notes=notes)
        for name, j in zip(names, jobs, strict=True)
    }
    return Emitted(dump_yaml(doc), "yaml", tuple(notes), data=doc)


def emit_jobspec1(jobs: Sequence[JobDoc], meta: dict[str, Any]) -> Emitted:
    """A jobspec/1 document: one job, which must not read another job by name."""
    if len(jobs) != 1:
        raise refuse(
            "jobspec/1 holds one job, and this is a workflow of",
            [f"{len(jobs)} jobs ({', '.join(_names(jobs))})"],
            "write jobspec/2, or export one job (FILE#JOB)",
        )
    notes: list[Diagnostic] = []
    body = _job(jobs[0], _names(jobs), jobs, version=1, notes=notes)
    doc: dict[str, Any] = {"jobspec": 1}
    name = jobs[0].meta.get("name")
    if name:
        doc["name"] = name
    doc.update(body)
    return Emitted(dump_yaml(doc), "yaml", tuple(notes), data=doc)


def _names(jobs: Sequence[JobDoc]) -> list[str]:
    return [j.name or j.meta.get("name") or "main" for j in jobs]


def _job(
    j: JobDoc, names: list[str], jobs: Sequence[JobDoc], *, version: int, notes: list[Diagnostic]
) -> dict[str, Any]:
    job = j.job
    out: dict[str, Any] = {}
    if j.meta.get("labels"):
        out["labels"] = dict(j.meta["labels"])
    out["task"] = _task(j, names, jobs)
    input_names = {path: name for name, path in j.meta.get("input_names", {}).items()}
    inputs = []
    for inp in sorted(job.inputs, key=lambda i: i.target):
        item: dict[str, Any] = {}
        if inp.target in input_names:
            item["name"] = input_names[inp.target]
        item["source"] = _source(inp.source, names, jobs)
        item["target"] = inp.target
        inputs.append(item)
    if inputs:
        out["inputs"] = inputs
    output_names = {path: name for name, path in j.meta.get("output_names", {}).items()}
    outputs: list[Any] = [
        {"name": output_names[p], "path": p} if p in output_names else p
        for p in sorted(job.outputs)
    ]
    if outputs:
        out["outputs"] = outputs
    default = default_determinism(job.task.engine)
    if version == 2:
        if job.determinism != default:
            out["determinism"] = job.determinism
    elif job.determinism == "unordered":
        raise refuse("jobspec/1 cannot say", ["determinism: unordered"], "write jobspec/2")
    elif job.determinism != default:
        out["deterministic"] = job.determinism == "strict"
    if job.network is not None:
        network: dict[str, Any] = {"mode": job.network.mode}
        if job.network.domains:
            network["domains"] = list(job.network.domains)
        out["network"] = network
    if job.nonce:
        out["nonce"] = job.nonce
    if j.execution:
        out["execution"] = dict(j.execution)
    if job.x:
        out["x"] = {k: _plain(v) for k, v in job.x.items()}
    dropped = sorted(k for k in j.meta if k not in KEPT_META)
    if dropped:
        notes.append(
            warning(
                f"jobspec/{version} has no place for meta {', '.join(dropped)} "
                f"(of job {j.name or 'main'!r}): not written",
                hint="meta is never identity; the CID is unchanged",
                code="dropped",
            )
        )
    return out


def _task(j: JobDoc, names: list[str], jobs: Sequence[JobDoc]) -> dict[str, Any]:
    """The task as its identity map says it (defaults left out), in jobspec's spellings:
    an image as a reference, content as source URIs, values as YAML data."""
    task = j.job.task
    if isinstance(task, OtherTask):
        return {"engine": task.engine, **{k: _plain(v) for k, v in task.params.items()}}
    out: dict[str, Any] = identity.identity_map(Job(task=task))["task"]
    if isinstance(task, DockerTask):
        out["image"] = image_reference(task, j.sources)
    elif isinstance(task, WasmTask):
        out["module"] = content_uri(task.module)
        if task.args:
            out["args"] = [_plain(_awaits(a, names, jobs)) for a in task.args]
        if task.imports:
            out["imports"] = {k: content_uri(c) for k, c in task.imports.items()}
        if task.stdin is not None:
            out["stdin"] = content_uri(task.stdin)
    elif isinstance(task, SourceTask):
        out["source"] = content_uri(task.source)
    return out


def _source(source: Await | str | Link, names: list[str], jobs: Sequence[JobDoc]) -> str:
    if not isinstance(source, Await):
        return content_uri(source)
    for name, other in zip(names, jobs, strict=True):
        if other.cid is not None and other.cid == source.job:
            by_path = {p: n for n, p in other.meta.get("output_names", {}).items()}
            return f"job:{name}#{by_path.get(source.path, source.path)}"
    return f"job:{source.job}#{source.path}"


def _awaits(value: Value, names: list[str], jobs: Sequence[JobDoc]) -> Value:
    """WASM arguments with `{"await/ok": <CID>}` on a job of the set written by name."""
    if isinstance(value, tuple):
        return tuple(_awaits(v, names, jobs) for v in value)
    if not isinstance(value, FrozenMap):
        return value
    if len(value) == 1:
        key, target = next(iter(value.items()))
        if key in AWAIT_KEYS and isinstance(target, Link):
            for name, other in zip(names, jobs, strict=True):
                if other.cid == target:
                    return FrozenMap({key: "job:" + name})
    return FrozenMap({k: _awaits(v, names, jobs) for k, v in value.items()})


def _plain(value: Value) -> Any:
    """An IR value as YAML data (bytes stay bytes: `!!binary`). A link has no jobspec
    spelling outside a source: refused."""
    if isinstance(value, FrozenMap):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Link):
        raise refuse(
            "jobspec has no spelling for a link inside a value",
            [str(value)],
            "a job awaited by CID can be named only by a source (job:<CID>#<path>)",
        )
    return value
