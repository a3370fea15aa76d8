"""The `resolve-content` pass: every data source becomes the CID `ipfs add` would give it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from compiler import sources
from compiler.diagnostics import Diagnostic, Severity, SpecError, error, warning
from compiler.ir import (
    Content,
    FrozenMap,
    Input,
    Job,
    Link,
    SourceTask,
    WasmTask,
    replace,
)
from compiler.oracles import Fact, Oracle, OracleUnavailable, fact
from compiler.sources import ContentError, Unpinnable


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveContent:
    """Pin every input, WASM module, import and stdin, and Rust/C source to its UnixFS CID.

    Assumes: sources are normalised (normalize ran): `file:` paths relative to the spec's
    folder, lowercase schemes.
    Guarantees: each `file:`, `http(s)://`, `ipfs://` and `data:` source that can be read
    is a CIDv1 `Link` equal to what `ipfs add --cid-version=1` gives for the same bytes
    (`compiler/unixfs.py`); one fact `{"source", "cid"}` per distinct file or URL source
    (`ipfs://` and `data:` need none: their CID follows from their text); sources that
    cannot be pinned (`s3://`, host paths, URLs when offline) stay strings, each with a
    note or a warning that says why; an unreadable source is an error at its place in the
    spec, and then no fact is recorded.
    """

    name: ClassVar[str] = "resolve-content"
    version: ClassVar[int] = 1

    def __call__(self, job: Job, oracle: Oracle) -> tuple[Job, list[Fact]]:
        places = _sources(job)
        if not places:
            return job, []
        pinned: dict[str, Link] = {}
        facts: list[Fact] = []
        errors: list[Diagnostic] = []
        for source, pointer in places.items():
            kind = sources.kind(source)
            try:
                link, learned = _resolve(source, kind, oracle)
            except ContentError as exc:
                errors.append(
                    error(
                        f"cannot pin {_shown(source)}: {exc.message}",
                        pointer=pointer,
                        hint=exc.hint,
                        code=exc.code,
                    )
                )
                continue
            except Unpinnable as exc:
                severity = Severity.WARNING if exc.warn else Severity.NOTE
                oracle.report(
                    Diagnostic(
                        severity,
                        f"{_shown(source)} stays unpinned: {exc.reason}",
                        pointer=pointer,
                        hint=exc.hint,
                        code="unpinned",
                    )
                )
                continue
            except OracleUnavailable as exc:
                oracle.report(
                    warning(
                        f"{_shown(source)} stays unpinned: {exc}",
                        pointer=pointer,
                        code="unpinned",
                    )
                )
                continue
            pinned[source] = link
            if learned is not None:
                facts.append(learned)
            if kind != "ipfs":
                oracle.source(str(link), source)
        if errors:
            raise SpecError(errors)
        if not pinned:
            return job, []
        return _rewrite(job, pinned), facts


def _resolve(source: str, kind: sources.Kind, oracle: Oracle) -> tuple[Link, Fact | None]:
    """The CID of one source of `kind`, and the fact it was learned from (None if from
    its text)."""
    if kind == "ipfs":
        return sources.ipfs_cid(source), None
    if kind == "data":
        return sources.data_cid(source), None
    if kind == "other":
        scheme = source.partition(":")[0]
        if scheme == "file":
            raise Unpinnable("a file on another host is not readable here")
        raise Unpinnable(
            f"jobc cannot read {scheme}: sources; the node that runs the job fetches it",
            hint="for a reproducible job, add the data to IPFS and use its ipfs:// CID",
        )
    question = {"source": source}
    answer = oracle.ask("content", question)
    cid = answer.get("cid")
    if not isinstance(cid, Link):
        raise ContentError(f"the content oracle gave no CID for {source}", code="oracle")
    return cid, fact(question, {"cid": cid})


def _shown(source: str) -> str:
    """A source for messages: `data:` URIs shortened."""
    return source if len(source) <= 80 else source[:60] + "…"


def _sources(job: Job) -> dict[str, str]:
    """Every source not yet pinned → the IR pointer of its first place (for diagnostics)."""
    found: dict[str, str] = {}
    task = job.task
    if isinstance(task, WasmTask):
        if isinstance(task.module, str):
            found[task.module] = "/task/module"
        for name, content in task.imports.items():
            if isinstance(content, str):
                found.setdefault(content, f"/task/imports/{name}")
        if isinstance(task.stdin, str):
            found.setdefault(task.stdin, "/task/stdin")
    elif isinstance(task, SourceTask) and isinstance(task.source, str):
        found[task.source] = "/task/source"
    for inp in job.inputs:
        source = inp.source
        if isinstance(source, str) and source not in found:
            found[source] = f"/inputs/{inp.target}/source"
    return found


def _rewrite(job: Job, pinned: dict[str, Link]) -> Job:
    def pin(content: Content) -> Content:
        return pinned.get(content, content) if isinstance(content, str) else content

    task = job.task
    if isinstance(task, WasmTask):
        task = replace(
            task,
            module=pin(task.module),
            imports=FrozenMap({k: pin(v) for k, v in task.imports.items()}),
            stdin=None if task.stdin is None else pin(task.stdin),
        )
    elif isinstance(task, SourceTask):
        task = replace(task, source=pin(task.source))
    inputs = tuple(
        [
            Input(i.target, pinned[i.source])
            if isinstance(i.source, str) and i.source in pinned
            else i
            for i in job.inputs
        ]
    )
    return replace(job, task=task, inputs=inputs)
