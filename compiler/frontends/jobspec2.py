"""The jobspec/2 front-end: a workflow of named jobs, each one as jobspec/1 writes a job.

```yaml
jobspec: 2
name: sales-report                 # the workflow's name (meta)
execution: {timeout: 10m}          # shared by every job; a job's own keys win
jobs:
  clean:
    task: {engine: docker, image: python:3.12-slim, args: [python3, /app/clean.py]}
    inputs: [{name: raw, source: https://data.example.org/sales.csv, target: /in/sales.csv}]
    outputs: [{name: table, path: /outputs/table.csv}]
    determinism: strict            # strict | unordered | none (jobspec/1: deterministic)
  report:
    task: {engine: docker, image: r-base:4.3.2, args: [Rscript, /app/report.R]}
    inputs:
      - {name: table, source: "job:clean#table", target: /in/table.csv}   # another job's output
    outputs: [{name: report, path: /outputs}]
```

A job reads another's output with `source: job:NAME#OUTPUT` (OUTPUT is an output's
name, or a path within one of its outputs); the `link-workflow` pass turns it into an
`await` input carrying the upstream job's final CID. The jobs are compiled in
topological order; a cycle is an error naming it. The schema is
`schemas/jobspec-2.schema.json`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from compiler.diagnostics import Diagnostic, SpecError
from compiler.frontends import Options, Parsed, ParsedWorkflow
from compiler.frontends.jobspec1 import _JobspecReader, read_clean
from compiler.frontends.loader import SourceDocument
from compiler.frontends.reader import Reader, child
from compiler.ir import (
    DETERMINISM_VALUES,
    Await,
    Content,
    Determinism,
    Link,
    Task,
    default_determinism,
    replace,
)
from compiler.passes.link_workflow import Cycle, WorkflowRef, order_jobs, parse_ref
from compiler.passes.normalize import clean_path

FORMAT = "jobspec/2"
WORKFLOW_FIELDS = ("jobspec", "name", "labels", "execution", "jobs")
JOB_FIELDS = (
    "task", "inputs", "outputs", "determinism", "network", "nonce", "execution", "labels", "x",
)  # fmt: skip


def is_jobspec2(tree: Any) -> bool:
    """Whether `tree` says `jobspec: 2`."""
    if not isinstance(tree, dict):
        return False
    version = tree.get("jobspec")
    return version == "2" or (type(version) is int and version == 2)


def parse(doc: SourceDocument, options: Options) -> ParsedWorkflow:
    """Read a jobspec/2 workflow: every job into the IR, in topological order."""
    return _WorkflowReader(doc, options).read()


@dataclass
class _JobView(SourceDocument):
    """One job of a workflow, seen as a document of its own: its tree is the job's map,
    its pointers are the job's; spans come from the whole document."""

    parent: SourceDocument | None = None
    base: str = ""

    def span(self, pointer: str, *, key: bool = False) -> Any:
        assert self.parent is not None
        return self.parent.span(self.base + pointer, key=key)


class _JobReader(_JobspecReader):
    """jobspec/1's reader with jobspec/2's differences: `determinism` as an enum, and
    sources that name another job of the workflow (`job:NAME#OUTPUT`)."""

    top_fields = JOB_FIELDS

    def __init__(self, doc: SourceDocument, options: Options) -> None:
        super().__init__(doc, options)
        self.refs: list[tuple[WorkflowRef, str]] = []
        """(reference, its pointer in the job) for every `job:NAME#OUTPUT` source."""

    def determinism(self, doc: dict[str, Any], task: Task) -> Determinism:
        if "deterministic" in doc:
            self.error(
                "/deterministic",
                "jobspec/2 says how deterministic a job is with `determinism`",
                "write `determinism: strict` (or unordered, none)",
                key=True,
                code="determinism",
            )
        if "determinism" not in doc:
            return default_determinism(task.engine)
        self.locations["/determinism"] = "/determinism"
        value = self.string(doc["determinism"], "/determinism", "determinism")
        for known in DETERMINISM_VALUES:
            if value == known:
                return known
        self.error(
            "/determinism",
            f"unknown determinism {value!r}",
            "write strict (same outputs, byte for byte), unordered (equal up to the order "
            "of lines and entries) or none",
            code="determinism",
        )
        return "none"

    def keep_unknown(
        self, mapping: dict[str, Any], pointer: str, known: tuple[str, ...], where: str, prefix: str
    ) -> None:
        if pointer == "" and "deterministic" in mapping:
            mapping = {k: v for k, v in mapping.items() if k != "deterministic"}
        super().keep_unknown(mapping, pointer, known, where, prefix)

    def input_source(self, value: Any, pointer: str, i: int) -> Content | Await:
        if isinstance(value, str) and value.startswith("job:"):
            ref = parse_ref(value)
            if ref is not None and not _is_cid(ref.job):
                self.refs.append((ref, pointer))
                return value
        return super().input_source(value, pointer, i)


def _is_cid(text: str) -> bool:
    try:
        Link.parse(text)
    except ValueError:
        return False
    return True


@dataclass
class _Job:
    name: str
    pointer: str
    parsed: Parsed
    refs: list[tuple[WorkflowRef, str]] = field(default_factory=list)


class _WorkflowReader(Reader):
    def __init__(self, doc: SourceDocument, options: Options) -> None:
        super().__init__(doc)
        self.options = options

    def read(self) -> ParsedWorkflow:
        tree = self.doc.tree
        meta: dict[str, Any] = {}
        if "name" in tree:
            meta["name"] = self.string(tree["name"], "/name", "name", allow_int=True)
        if "labels" in tree:
            meta["labels"] = {
                k: self.string(v, child("/labels", k), f"labels.{k}", allow_int=True)
                for k, v in self.mapping(tree["labels"], "/labels", "labels").items()
            }
        shared = self.mapping(tree.get("execution", {}), "/execution", "execution")
        x: dict[str, Any] = {}
        for key in tree:
            if key not in WORKFLOW_FIELDS:
                self.warn(
                    child("", key),
                    f"unknown field `{key}` in the workflow (kept under `x` of every job)",
                    "a field of one job belongs under `jobs.<name>`",
                    key=True,
                    code="unknown-field",
                )
                x[key] = tree[key]
        if "jobs" not in tree:
            self.error(
                "",
                "the workflow has no `jobs`",
                "add `jobs: {name: {task: …}}`",
                code="missing",
            )
            raise SpecError(self.diagnostics)
        jobs_map = self.mapping(tree["jobs"], "/jobs", "jobs")
        if isinstance(tree["jobs"], dict) and not jobs_map:
            self.error("/jobs", "the workflow has no jobs", "add one under `jobs:`", code="empty")
        jobs: dict[str, _Job] = {}
        for name, body in jobs_map.items():
            pointer = child("/jobs", name)
            if not isinstance(body, dict):
                self.type_error(pointer, f"jobs.{name}", "a map", body)
                continue
            job = self.job(name, pointer, body, shared, x)
            if job is not None:
                jobs[name] = job
        self.sink.raise_if_errors()
        self.check_refs(jobs)
        self.sink.raise_if_errors()
        graph = {name: [ref.job for ref, _ in job.refs] for name, job in jobs.items()}
        try:
            ordered = order_jobs(graph)
        except Cycle as cycle:
            first = jobs[cycle.names[0]]
            upstream = cycle.names[1 % len(cycle.names)]
            pointer = next(p for ref, p in first.refs if ref.job == upstream)
            path = " → ".join([*cycle.names, cycle.names[0]])
            self.error(
                pointer,
                f"job {cycle.names[0]!r} reads its own output"
                if len(cycle.names) == 1
                else f"jobs {path} read from each other in a cycle (each reads the next)",
                "a job cannot read its own output, directly or through other jobs",
                code="cycle",
            )
            raise SpecError(self.diagnostics) from None
        return ParsedWorkflow(
            format=FORMAT,
            jobs=tuple((name, jobs[name].parsed) for name in ordered),
            meta=meta,
            diagnostics=tuple(self.diagnostics),
        )

    def job(
        self,
        name: str,
        pointer: str,
        body: dict[str, Any],
        shared: dict[str, Any],
        x: dict[str, Any],
    ) -> _Job | None:
        clean = None if x else _read_clean(body, self.doc.plain)
        if clean is not None:  # the common case: nothing to report, no reference
            return _Job(name, pointer, self.finish_job(clean, name, pointer, shared))
        view = _JobView(
            name=self.doc.name,
            raw=self.doc.raw,
            text=self.doc.text,
            syntax=self.doc.syntax,
            tree=body,
            limits=self.doc.limits,
            plain=self.doc.plain,
            parent=self.doc,
            base=pointer,
        )
        reader = _JobReader(view, self.options)
        for key, value in x.items():
            reader.add_x(key, value, child("", key))
        try:
            parsed = reader.read_job(body)
        except SpecError as exc:
            for d in exc.diagnostics:
                self.sink.add(_rebase(d, pointer))
            return None
        for d in parsed.diagnostics:
            self.sink.add(_rebase(d, pointer))
        parsed = self.finish_job(parsed, name, pointer, shared)
        return _Job(name, pointer, parsed, [(ref, pointer + p) for ref, p in reader.refs])

    def finish_job(self, parsed: Parsed, name: str, pointer: str, shared: dict[str, Any]) -> Parsed:
        """A job as read from its map, placed in the workflow: its name, the shared
        execution options under its own, its locations in the whole document."""
        return dataclasses.replace(
            parsed,
            format=FORMAT,
            meta={"name": name, **{k: v for k, v in parsed.meta.items() if k != "name"}},
            execution={**shared, **parsed.execution},
            locations={k: pointer + v for k, v in parsed.locations.items()},
            diagnostics=(),
            job_name=name,
            base=pointer,
        )

    def check_refs(self, jobs: dict[str, _Job]) -> None:
        """Every `job:NAME#OUTPUT` names a job of the workflow and one of its outputs."""
        for job in jobs.values():
            for ref, pointer in job.refs:
                upstream = jobs.get(ref.job)
                if upstream is None:
                    import difflib

                    near = difflib.get_close_matches(ref.job, list(jobs), n=1)
                    known = ", ".join(sorted(jobs)) or "none"
                    self.error(
                        pointer,
                        f"no job named {ref.job!r} in this workflow",
                        (f"did you mean {near[0]!r}? " if near else "")
                        + f"its jobs: {known} (a job in another document is named by its "
                        "CID: job:<CID>#<path>)",
                        code="bad-await",
                    )
                    continue
                if output_path(upstream.parsed, ref.output) is None:
                    names = upstream.parsed.meta.get("output_names", {})
                    known = ", ".join([*names, *upstream.parsed.job.outputs]) or "none"
                    self.error(
                        pointer,
                        f"job {ref.job!r} has no output {ref.output!r}",
                        f"its outputs: {known}",
                        code="bad-await",
                    )


def _read_clean(body: dict[str, Any], plain: bool) -> Parsed | None:
    """A clean job map read by jobspec/1's fast path (which accepts a narrow, clean
    subset and reports nothing: `jobspec1.read_clean`), with jobspec/2's determinism;
    None when the job needs the full reader."""
    if "deterministic" in body or "name" in body:
        return None  # jobspec/1's fields, which a jobspec/2 job reports
    given = body.get("determinism")
    if given is not None and given not in DETERMINISM_VALUES:
        return None
    one = {k: v for k, v in body.items() if k != "determinism"}
    one["jobspec"] = 1
    parsed = read_clean(one, plain=plain)
    if parsed is None:
        return None
    job = parsed.job
    if given is not None:
        job = replace(job, determinism=given)
        parsed.locations["/determinism"] = "/determinism"
    return dataclasses.replace(parsed, job=job)


def output_path(parsed: Parsed, output: str) -> str | None:
    """The path a reference's OUTPUT names in a job: an output's name, or a path equal to
    or within one of its output paths; None if it names none."""
    names: dict[str, str] = parsed.meta.get("output_names", {})
    if output in names:
        return names[output]
    if output.startswith("/"):
        path = clean_path(output)
        for out in parsed.job.outputs:
            base = clean_path(out)
            if path == base or path.startswith(base.rstrip("/") + "/"):
                return path
    return None


def _rebase(d: Diagnostic, base: str) -> Diagnostic:
    return dataclasses.replace(d, pointer=base + d.pointer) if d.pointer or d.span else d
