"""Front-ends: one module per input format, each turning a document into the same IR.

A front-end gets a `SourceDocument` (data tree + positions) and returns a `Parsed`:
the job, what is *not* identity (name, labels, input/output names, execution options),
and where each IR path came from in the document, so later passes can point at the
user's line and column. Formats are detected by shape (`detect`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from compiler.diagnostics import Diagnostic, SpecError, error
from compiler.frontends.loader import SourceDocument
from compiler.ir import Job


@dataclass(frozen=True)
class Parsed:
    """What a front-end read from a document."""

    job: Job
    format: str
    """The format and version detected, e.g. "jobspec/1" (the parse record's fact)."""
    meta: dict[str, Any]
    """name, labels, input_names, output_names: kept beside the job, never in identity."""
    execution: dict[str, Any]
    """How to run (timeout, resources, retries, …), as written; never in identity."""
    locations: dict[str, str] = field(default_factory=dict)
    """IR path (e.g. "/inputs//data") → JSON pointer in the document."""
    diagnostics: tuple[Diagnostic, ...] = ()
    """Warnings found while reading (errors raise SpecError instead)."""


@dataclass(frozen=True)
class Options:
    """Front-end options."""

    strict: bool = False
    """Unknown fields are errors instead of warnings."""


Frontend = Callable[[SourceDocument, Options], Parsed]


def _jobspec1(doc: SourceDocument, options: Options) -> Parsed:
    from compiler.frontends.jobspec1 import parse

    return parse(doc, options)


def _bacalhau(doc: SourceDocument, options: Options) -> Parsed:
    from compiler.frontends.bacalhau import parse

    return parse(doc, options)


def _is_bacalhau(tree: Any) -> bool:
    from compiler.frontends.bacalhau import detect

    return detect(tree)


# (format, detector, parser): the first detector that matches wins.
FRONTENDS: tuple[tuple[str, Callable[[Any], bool], Frontend], ...] = (
    ("jobspec/1", lambda t: isinstance(t, dict) and "jobspec" in t, _jobspec1),
    ("bacalhau", _is_bacalhau, _bacalhau),
)


def parse_document(doc: SourceDocument, options: Options = Options()) -> Parsed:
    """Detect the document's format and read it with that front-end."""
    tree = doc.tree
    for _, detect, frontend in FRONTENDS:
        if detect(tree):
            return frontend(doc, options)
    if tree is None:
        raise SpecError(
            error(
                "the document is empty",
                span=doc.span(""),
                hint="a jobspec/1 document starts with `jobspec: 1`",
                code="unknown-format",
            )
        )
    if not isinstance(tree, dict):
        raise SpecError(
            error(
                "a job document must be a map at the top level",
                span=doc.span(""),
                hint="start with `jobspec: 1`",
                code="unknown-format",
            )
        )
    known = ", ".join(name for name, _, _ in FRONTENDS)
    raise SpecError(
        error(
            "cannot tell which job format this document is in",
            span=doc.span(""),
            hint=f"add `jobspec: 1` at the top (formats read: {known})",
            code="unknown-format",
        )
    )
