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
    job_name: str = ""
    """The job's name in a workflow document ("" for a document of one job); the parse
    record's fact says it, so the record names which job of the document it read."""
    base: str = ""
    """The JSON pointer of the job's map in the document ("" when the job is the whole
    document): an IR path with no location of its own is looked up under it."""


@dataclass(frozen=True)
class ParsedWorkflow:
    """What a front-end read from a workflow document: its jobs, in topological order
    (every job after the jobs it reads from)."""

    format: str
    jobs: tuple[tuple[str, Parsed], ...]
    meta: dict[str, Any]
    """The workflow's name and labels (each job has its own meta)."""
    diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True)
class Options:
    """Front-end options."""

    strict: bool = False
    """Unknown fields are errors instead of warnings."""


Frontend = Callable[[SourceDocument, Options], "Parsed | ParsedWorkflow"]


def _jobspec1(doc: SourceDocument, options: Options) -> Parsed:
    from compiler.frontends.jobspec1 import parse

    return parse(doc, options)


def _jobspec2(doc: SourceDocument, options: Options) -> ParsedWorkflow:
    from compiler.frontends.jobspec2 import parse

    return parse(doc, options)


def _is_jobspec2(tree: Any) -> bool:
    from compiler.frontends.jobspec2 import is_jobspec2

    return is_jobspec2(tree)


def _ipvm(kind: str) -> tuple[Callable[[Any], bool], Frontend]:
    """The detector and front-end of one of the invocation formats (`frontends/ipvm.py`)."""

    def detect(tree: Any) -> bool:
        from compiler.frontends import ipvm

        return bool(getattr(ipvm, "is_" + kind)(tree))

    def parse(doc: SourceDocument, options: Options) -> ParsedWorkflow:
        from compiler.frontends import ipvm

        parsed: ParsedWorkflow = getattr(ipvm, "parse_" + kind)(doc, options)
        return parsed

    return detect, parse


def _bacalhau(doc: SourceDocument, options: Options) -> Parsed:
    from compiler.frontends.bacalhau import parse

    return parse(doc, options)


def _is_bacalhau(tree: Any) -> bool:
    from compiler.frontends.bacalhau import detect

    return detect(tree)


# (format, detector, parser): the first detector that matches wins.
FRONTENDS: tuple[tuple[str, Callable[[Any], bool], Frontend], ...] = (
    ("jobspec/2", _is_jobspec2, _jobspec2),
    ("jobspec/1", lambda t: isinstance(t, dict) and "jobspec" in t, _jobspec1),
    ("homestar", *_ipvm("homestar")),
    ("ipvm-workflow/0.1", *_ipvm("ipvm")),
    ("ucan-invocation/0.1", *_ipvm("ucan")),
    ("bacalhau", _is_bacalhau, _bacalhau),
)


def parse_document(doc: SourceDocument, options: Options = Options()) -> Parsed | ParsedWorkflow:
    """Detect the document's format and read it with that front-end: one job, or the
    jobs of a workflow."""
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
    from compiler.frontends import bacalhau

    if bacalhau.looks_bacalhau(tree):
        era, unfit = bacalhau.closest_era(tree)
        hint = f"by its fields it is closest to `{era}`"
        if era == "bacalhau/job":
            hint += "; a Job API job has `Tasks: [{Name, Engine: {Type, Params}}]`"
        elif era.endswith("-snake"):
            hint += "; say `apiVersion: v1alpha1`"
        else:
            version = era.split("/")[1].split("-")[0].replace("v1", "V1")
            hint += f"; say which version with `APIVersion: {version}`"
        if unfit:
            hint += f"; fields that fit no field of it: {', '.join(unfit)}"
        raise SpecError(
            error(
                "this looks like a Bacalhau job, but of no era jobc reads",
                span=doc.span(""),
                hint=hint,
                code="unknown-format",
            )
        )
    known = ", ".join(name for name, _, _ in FRONTENDS)
    # a workflow's `jobs` map says jobspec/2; anything else is most likely a job
    marker = "jobspec: 2" if isinstance(tree.get("jobs"), dict) else "jobspec: 1"
    raise SpecError(
        error(
            "cannot tell which job format this document is in",
            span=doc.span(""),
            hint=f"add `{marker}` at the top (formats read: {known})",
            code="unknown-format",
        )
    )
