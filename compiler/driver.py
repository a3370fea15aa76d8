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
from compiler.frontends import Parsed, parse_document
from compiler.frontends.loader import DEFAULT_LIMITS, Limits, SourceDocument, Syntax, load
from compiler.ir import Job, Link, unpinned
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


def compile_file(
    path: str | Path, options: CompileOptions = CompileOptions(), oracle: Oracle | None = None
) -> Compiled:
    """Compile a spec file (`-` reads standard input)."""
    import sys
    from pathlib import Path

    if str(path) == "-":
        return compile_bytes(sys.stdin.buffer.read(), "<stdin>", options, oracle)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        from compiler.diagnostics import error

        reason = exc.strerror or str(exc)
        raise SpecError(
            error(f"cannot read {path}: {reason}", span=Span(str(path), 1, 1), code="io")
        ) from None
    return compile_bytes(raw, str(path), options, oracle)


def compile_bytes(
    raw: bytes, name: str, options: CompileOptions = CompileOptions(), oracle: Oracle | None = None
) -> Compiled:
    """Compile a document given as bytes; raises SpecError with every diagnostic found."""
    doc = load(name, raw, limits=options.limits, syntax=options.syntax)
    parsed = parse_document(doc, _frontend_options(options.strict))
    if oracle is not None:
        return run_passes(doc, parsed, options, oracle)

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

    live = LiveOracle(context)
    try:
        return run_passes(doc, parsed, options, live)
    finally:
        live.close()


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
    chain = [Record(PARSE, PARSE_VERSION, document_cid, current, _parse_facts(parsed.format))]
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
def _parse_facts(format: str) -> tuple[Fact, ...]:
    """The parse record's facts: one, so already in `Record.make`'s canonical order."""
    return (fact({"format": format}, {}),)


def locate(diag: Diagnostic, doc: SourceDocument, parsed: Parsed) -> Diagnostic:
    """Give a pass's diagnostic (which names an IR path) its place in the document."""
    if diag.span is not None or not diag.pointer:
        return diag
    pointer = parsed.locations.get(diag.pointer) or _located_within(diag.pointer, parsed.locations)
    span = doc.span(pointer)
    if diag.value_offset >= 0 and span.offset >= 0:
        # A YAML scalar's span starts at its properties (`&anchor !!str "value"`).
        start = _YAML_PROPERTIES.match(doc.text, span.offset).end()  # type: ignore[union-attr]
        quoted = doc.text[start : start + 1] in ("'", '"')
        shift = start - span.offset + diag.value_offset + (1 if quoted else 0)
        span = dataclasses.replace(span, column=span.column + shift, offset=span.offset + shift)
    return dataclasses.replace(diag, span=span, pointer=pointer)


def _located_within(pointer: str, locations: Mapping[str, str]) -> str:
    """The document pointer of a field inside a located IR node (`/inputs/<target>/source`).

    Inputs are located by the target as written; passes after normalize name the cleaned
    target (`/data/` → `/data`), so the written ones are cleaned to compare.
    """
    head, _, tail = pointer.rpartition("/")
    if not head:
        return pointer
    found = locations.get(head)
    if found is None and head.startswith("/inputs/"):
        from compiler.passes.normalize import clean_path

        target = head[len("/inputs/") :]
        for key, place in locations.items():
            if key.startswith("/inputs/") and clean_path(key[len("/inputs/") :]) == target:
                found = place
                break
    return f"{found}/{tail}" if found is not None else pointer
