"""The compile driver: document bytes → front-end → passes → a `Compiled` job with its chain."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from compiler import identity
from compiler.diagnostics import Diagnostic, Severity, Span, SpecError
from compiler.frontends import Options as FrontendOptions
from compiler.frontends import Parsed, ParsedWorkflow, parse_document
from compiler.frontends.loader import DEFAULT_LIMITS, Limits, SourceDocument, Syntax, load
from compiler.ir import FrozenMap, Job, Link, unpinned
from compiler.oracles import Fact, Oracle, fact
from compiler.oracles.live import LiveContext, LiveOracle
from compiler.passes import PARSE, PARSE_VERSION, Pass, default_pipeline
from compiler.records import Record

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class CompileOptions:
    """How to compile."""

    strict: bool = False
    passes: tuple[Pass, ...] | None = None
    """The passes to run after parse; None means the whole default pipeline."""
    limits: Limits = DEFAULT_LIMITS
    syntax: Syntax | None = None
    """Force YAML or JSON; None sniffs from the name and the first character."""
    offline: bool = False
    """Ask no registry or URL: what cannot be pinned stays unpinned, with a warning."""
    refresh: bool = False
    """Bypass the caches (image resolutions, file hashes) and ask again."""
    store: str | None = None
    """The store for caches and blocks: None for the default SQLite file in the data dir."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Settings for the live oracles (see `compiler.oracles.live`), by name."""
    session: dict[Any, Any] | None = field(default=None, compare=False)
    """A dict the live oracles of one run share (e.g. `jobc compile a.yaml b.yaml`), so an
    image named by several files is resolved once; None shares nothing."""
    fast: bool = True
    """Compile the common jobspec/1 document by the fast path (`compiler/fastpath.py`),
    which gives exactly the pipeline's result; False (or `JOBC_FASTPATH=0` in the
    environment) always runs the pipeline."""


@dataclass(frozen=True)
class Compiled:
    """A compiled job: final and original CIDs, the chain between them, and what is not identity."""

    name: str
    document: Link
    format: str
    original_job: Job
    job: Job
    chain: tuple[Record, ...]
    meta: dict[str, Any]
    execution: dict[str, Any]
    sources: dict[str, list[str]] = field(default_factory=dict)
    diagnostics: Sequence[Diagnostic] = ()
    """Every warning and note, placed in the document (`PlacedLater`: when first read)."""
    locations: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """IR path → JSON pointer in the document, as the front-end recorded it (see
    `document_pointer`): where a value of the job was written, e.g. for the gateway to
    rewrite the image it pinned in place."""
    document_bytes: bytes = field(default=b"", repr=False, compare=False)
    """The document as written (its CID is `document`): the store keeps it."""
    _identity_maps: dict[int, dict[str, Any]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """Identity maps in DAG-JSON form made while hashing, by `id()` of `job` or
    `original_job`. `to_document` takes each one at most once (and renders otherwise), so
    no two documents share a map."""

    @property
    def original(self) -> Link:
        """The job CID right after parsing."""
        return self.chain[0].target

    @property
    def cid(self) -> Link:
        """The final job CID."""
        return self.chain[-1].target

    @property
    def pinned(self) -> bool:
        """Whether everything the job needs is content-addressed."""
        return not unpinned(self.job)

    def identity_map(self, job: Job) -> dict[str, Any]:
        """`identity_dag_json(job)` for `job` or `original_job`: the map made while hashing
        if it is still there (handed over: the caller owns it), else a new rendering."""
        made = self._identity_maps.pop(id(job), None)
        return made if made is not None else identity.identity_dag_json(job)

    def document_pointer(self, ir_path: str) -> str:
        """The JSON pointer in the document where the IR value at `ir_path` was written
        (the IR path itself where the front-end wrote nothing else down)."""
        return self.locations.get(ir_path) or _located_within(ir_path, self.locations)

    @property
    def unplaced_diagnostics(self) -> Sequence[Diagnostic]:
        """The diagnostics without placing them: severity, code, message and pointer are
        final, a pass's diagnostic has no span yet. For callers that only sort them."""
        d = self.diagnostics
        return d.unplaced if isinstance(d, PlacedLater) else d

    @property
    def warnings(self) -> list[Diagnostic]:
        """The warnings found on the way."""
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def prebuilt_document(self) -> dict[str, Any] | None:
        """The compiled document if the compile made it already (the fast path does,
        once: the caller owns it), else None (`emitters.compiled.to_document` makes it)."""
        return None


@dataclass(frozen=True)
class CompiledWorkflow:
    """A compiled workflow: every job compiled (each its own chain), in topological
    order, and the workflow's CID, a map of job names to job CIDs (DESIGN §7)."""

    name: str
    document: Link
    format: str
    jobs: tuple[tuple[str, Compiled], ...]
    meta: dict[str, Any]
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def cid(self) -> Link:
        """The workflow CID: job names → final job CIDs."""
        return identity.workflow_cid({name: c.cid for name, c in self.jobs})

    @property
    def original(self) -> Link:
        """The workflow CID of the original jobs (right after parsing)."""
        return identity.workflow_cid({name: c.original for name, c in self.jobs})

    @property
    def pinned(self) -> bool:
        """Whether every job is pinned."""
        return all(c.pinned for _, c in self.jobs)

    def job(self, name: str) -> Compiled:
        """The compiled job named `name`."""
        return dict(self.jobs)[name]

    @property
    def warnings(self) -> list[Diagnostic]:
        """The warnings found on the way, in every job."""
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def compile_file(
    path: str | Path, options: CompileOptions = CompileOptions(), oracle: Oracle | None = None
) -> Compiled:
    """Compile a spec file of one job (`-` reads standard input)."""
    return _single(compile_any_file(path, options, oracle))


def compile_any_file(
    path: str | Path, options: CompileOptions = CompileOptions(), oracle: Oracle | None = None
) -> Compiled | CompiledWorkflow:
    """Compile a spec file: one job, or a workflow (`-` reads standard input)."""
    import sys
    from pathlib import Path

    if str(path) == "-":
        return compile_document(sys.stdin.buffer.read(), "<stdin>", options, oracle)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        from compiler.diagnostics import error

        reason = exc.strerror or str(exc)
        raise SpecError(
            error(f"cannot read {path}: {reason}", span=Span(str(path), 1, 1), code="io")
        ) from None
    return compile_document(raw, str(path), options, oracle)


def compile_bytes(
    raw: bytes, name: str, options: CompileOptions = CompileOptions(), oracle: Oracle | None = None
) -> Compiled:
    """Compile a document of one job given as bytes; raises SpecError with every
    diagnostic found (and for a workflow document: `compile_document` takes those)."""
    return _single(compile_document(raw, name, options, oracle))


def _single(compiled: Compiled | CompiledWorkflow) -> Compiled:
    if isinstance(compiled, Compiled):
        return compiled
    from compiler.diagnostics import error

    names = ", ".join(name for name, _ in compiled.jobs)
    raise SpecError(
        error(
            f"{compiled.name} is a workflow of {len(compiled.jobs)} jobs ({names}), not one job",
            span=Span(compiled.name, 1, 1),
            hint="compile it with `jobc compile` (or `compile_document`), which gives "
            "every job and the workflow's CID",
            code="workflow",
        )
    )


def compile_document(
    raw: bytes, name: str, options: CompileOptions = CompileOptions(), oracle: Oracle | None = None
) -> Compiled | CompiledWorkflow:
    """Compile a document given as bytes: one job, or every job of a workflow in
    topological order; raises SpecError with every diagnostic found."""
    live: LiveOracle | None = None

    def own_oracle() -> LiveOracle:
        nonlocal live
        if live is None:
            live = LiveOracle(context)
        return live

    def context() -> LiveContext:
        from pathlib import Path

        return LiveContext(
            base_dir=Path(name).parent if name != "<stdin>" else Path.cwd(),
            offline=options.offline,
            refresh=options.refresh,
            settings=options.settings,
            store_location=options.store,
            session=options.session,
        )

    try:
        read: SourceDocument | None = None
        if options.fast:
            from compiler import fastpath

            if fastpath.ENABLED:
                compiled, read = fastpath.attempt(raw, name, options, oracle, own_oracle)
                if compiled is not None:
                    return compiled
        if read is not None:  # the fast path declined after reading it: not read twice
            doc, parsed = read, parse_document(read, _frontend_options(options.strict))
        else:
            doc, parsed = read_document(raw, name, options)
        return _run(doc, parsed, options, oracle if oracle is not None else own_oracle())
    finally:
        if live is not None:
            live.close()


def read_document(
    raw: bytes, name: str, options: CompileOptions = CompileOptions()
) -> tuple[SourceDocument, Parsed | ParsedWorkflow]:
    """Read a document (a Jobfile, or YAML/JSON of any format) into the IR, no pass run."""
    if options.syntax is None and maybe_jobfile(name, raw):
        from compiler.frontends import jobfile

        text = raw[:4096].decode("utf-8", errors="replace")
        if jobfile.looks_like_jobfile(name, text):
            return jobfile.read(name, raw, _frontend_options(options.strict), options.limits)
    doc = load(name, raw, limits=options.limits, syntax=options.syntax)
    return doc, parse_document(doc, _frontend_options(options.strict))


def maybe_jobfile(name: str, raw: bytes) -> bool:
    """A cheap first look (a Jobfile's name, or `job` near the start) before decoding."""
    return name.endswith(("Jobfile", ".jobfile")) or b"job " in raw[:4096]


def _run(
    doc: SourceDocument, parsed: Parsed | ParsedWorkflow, options: CompileOptions, oracle: Oracle
) -> Compiled | CompiledWorkflow:
    if isinstance(parsed, Parsed):
        return run_passes(doc, parsed, options, oracle)
    return run_workflow(doc, parsed, options, oracle)


def run_workflow(
    doc: SourceDocument, parsed: ParsedWorkflow, options: CompileOptions, oracle: Oracle
) -> CompiledWorkflow:
    """Compile every job of a workflow, upstream first. The oracle answers `workflow`
    questions (link-workflow's) from the jobs compiled so far; each job gets its own
    diagnostics and sources."""
    from compiler.frontends.jobspec2 import output_path
    from compiler.oracles import OracleUnavailable

    done: dict[str, Compiled] = {}
    jobs = dict(parsed.jobs)

    def answer(question: Fact) -> Fact:
        name = question.get("job")
        upstream = done.get(name) if isinstance(name, str) else None
        if upstream is None or not isinstance(name, str):
            raise OracleUnavailable(f"no compiled job {name!r} in this workflow")
        if "output" not in question:
            return FrozenMap({"cid": upstream.cid})
        output = question.get("output")
        path = output_path(jobs[name], output) if isinstance(output, str) else None
        if path is None:
            raise OracleUnavailable(f"job {name!r} has no output {output!r}")
        return FrozenMap({"cid": upstream.cid, "path": path})

    previous = oracle.handlers.get("workflow")
    oracle.handlers["workflow"] = answer
    diagnostics: list[Diagnostic] = list(parsed.diagnostics)
    try:
        for name, job in parsed.jobs:
            oracle.diagnostics, oracle.sources = [], {}
            try:
                compiled = run_passes(doc, job, options, oracle)
            except SpecError as exc:  # with the warnings of the jobs before it
                raise SpecError([*_alarming(diagnostics), *exc.diagnostics]) from None
            done[name] = compiled
            diagnostics.extend(compiled.diagnostics)
    finally:
        if previous is None:
            oracle.handlers.pop("workflow", None)
        else:
            oracle.handlers["workflow"] = previous
    return CompiledWorkflow(
        name=doc.name,
        document=identity.cid_of_raw(doc.raw),
        format=parsed.format,
        jobs=tuple((name, done[name]) for name, _ in parsed.jobs),
        meta=parsed.meta,
        diagnostics=tuple(diagnostics),
    )


def _alarming(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Errors and warnings: what a failed compile reports besides its errors (a note, such
    as an await left for the runner, is for a compile that succeeds)."""
    return [d for d in diagnostics if d.severity is not Severity.NOTE]


def run_passes(
    doc: SourceDocument, parsed: Parsed, options: CompileOptions, oracle: Oracle | None = None
) -> Compiled:
    """Run the pipeline over what a front-end read, recording every change."""
    oracle = oracle if oracle is not None else Oracle()
    job = parsed.job
    try:
        current, original_map = identity.job_cid_and_dag_json(job)
    except identity.IdentityError as exc:
        from compiler.diagnostics import error

        raise SpecError(error(str(exc), span=doc.span(""), code="identity")) from None
    document_cid = identity.cid_of_raw(doc.raw)
    facts_of_parse = parse_facts(parsed.format, parsed.job_name)
    chain = [Record(PARSE, PARSE_VERSION, document_cid, current, facts_of_parse)]
    job_map = original_map
    passes = options.passes if options.passes is not None else default_pipeline()
    for pass_ in passes:
        try:
            new, facts = pass_(job, oracle)
        except SpecError as exc:
            raise SpecError(
                [*parsed.diagnostics, *(locate(d, doc, parsed) for d in exc.diagnostics)]
            ) from None
        if new is job:
            continue
        new_cid, job_map = identity.job_cid_and_dag_json(new)
        if new_cid.raw != current.raw:  # the CIDs compared by their bytes (no __eq__ call)
            chain.append(Record.make(pass_.name, pass_.version, current, new_cid, facts))
            current = new_cid
        job = new
    diagnostics: Sequence[Diagnostic] = (
        PlacedLater(parsed.diagnostics, oracle.diagnostics, doc, parsed)
        if oracle.diagnostics
        else parsed.diagnostics
    )
    # Only the maps of the two jobs `Compiled` keeps: their ids stay theirs.
    identity_maps = {}
    if original_map is not None:
        identity_maps[id(parsed.job)] = original_map
    if job is not parsed.job and job_map is not None:
        identity_maps[id(job)] = job_map
    return Compiled(
        name=doc.name,
        document=document_cid,
        format=parsed.format,
        original_job=parsed.job,
        job=job,
        chain=tuple(chain),
        meta=parsed.meta,
        execution=parsed.execution,
        sources=oracle.sources,
        diagnostics=diagnostics,
        locations=parsed.locations,
        document_bytes=doc.raw,
        _identity_maps=identity_maps,
    )


class PlacedLater(Sequence[Diagnostic]):
    """The diagnostics of a compile, the passes' ones placed in the document (line and
    column, from the pointer they name) when first read. Placing a diagnostic in a JSON
    document scans the whole text; a compile whose diagnostics nobody reads (a gateway
    forwarding a job) never pays for it."""

    __slots__ = ("_doc", "_parsed", "_pending", "_placed", "_ready")

    def __init__(
        self,
        ready: Sequence[Diagnostic],
        pending: Sequence[Diagnostic],
        doc: SourceDocument,
        parsed: Parsed,
    ) -> None:
        self._ready = tuple(ready)
        self._pending = tuple(pending)
        self._doc = doc
        self._parsed = parsed
        self._placed: tuple[Diagnostic, ...] | None = None

    @property
    def unplaced(self) -> tuple[Diagnostic, ...]:
        """The diagnostics as the front-end and the passes made them."""
        return (*self._ready, *self._pending)

    def _all(self) -> tuple[Diagnostic, ...]:
        placed = self._placed
        if placed is None:  # two threads may both place them: the same result
            placed = (*self._ready, *(locate(d, self._doc, self._parsed) for d in self._pending))
            self._placed = placed
        return placed

    @overload
    def __getitem__(self, index: int) -> Diagnostic: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Diagnostic, ...]: ...
    def __getitem__(self, index: int | slice) -> Diagnostic | tuple[Diagnostic, ...]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._ready) + len(self._pending)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return self._all() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


_YAML_PROPERTIES = re.compile(r"(?:[&!][^\s]*[ \t]+)*")


@functools.cache
def _frontend_options(strict: bool) -> FrontendOptions:
    return FrontendOptions(strict=strict)


@functools.lru_cache(maxsize=64)
def parse_facts(format: str, job: str = "") -> tuple[Fact, ...]:
    """The parse record's facts: one, so already in `Record.make`'s canonical order. A
    job of a workflow document also names the job (the document holds several)."""
    return (fact({"format": format, "job": job} if job else {"format": format}, {}),)


def locate(diag: Diagnostic, doc: SourceDocument, parsed: Parsed) -> Diagnostic:
    """Give a pass's diagnostic (which names an IR path) its place in the document."""
    if diag.span is not None or not diag.pointer:
        return diag
    pointer = parsed.locations.get(diag.pointer) or _located_within(
        diag.pointer, parsed.locations, parsed.base
    )
    span = doc.span(pointer)
    if diag.value_offset >= 0 and span.offset >= 0:
        # A YAML scalar's span starts at its properties (`&anchor !!str "value"`).
        start = _YAML_PROPERTIES.match(doc.text, span.offset).end()  # type: ignore[union-attr]
        quoted = doc.text[start : start + 1] in ("'", '"')
        shift = start - span.offset + diag.value_offset + (1 if quoted else 0)
        span = dataclasses.replace(span, column=span.column + shift, offset=span.offset + shift)
    return dataclasses.replace(diag, span=span, pointer=pointer)


def _located_within(pointer: str, locations: Mapping[str, str], base: str = "") -> str:
    """The document pointer of a field inside a located IR node (`/inputs/<target>/source`).

    Inputs are located by the target as written; passes after normalize name the cleaned
    target (`/data/` → `/data`), so the written ones are cleaned to compare.
    """
    head, _, tail = pointer.rpartition("/")
    if not head:
        return base + pointer
    found = locations.get(head)
    if found is None and head.startswith("/inputs/"):
        from compiler.passes.normalize import clean_path

        target = head[len("/inputs/") :]
        for key, place in locations.items():
            if key.startswith("/inputs/") and clean_path(key[len("/inputs/") :]) == target:
                found = place
                break
    return f"{found}/{tail}" if found is not None else base + pointer
