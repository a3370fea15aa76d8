"""Problem details (RFC 9457, `application/problem+json`): every error the gateway makes.

A problem names its kind by `type`, a URI the gateway itself documents
(`GET /jobc/v1/problems/<kind>`), with a short `title`, the HTTP `status`, a `detail`
for this occurrence and, for a job that does not compile, `errors`: the compiler's
diagnostics (message, line, column, JSON pointer, hint, code), as `jobc check --json`
gives them.

Bacalhau's clients read an error body as their `APIError` (`Status`, `Message`, `Code`,
`Component`, `Hint`), with case-insensitive keys; every problem carries those members
too, so `bacalhau job run` through the gateway prints the gateway's message, not a
parse failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from compiler.diagnostics import Diagnostic, Severity

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "/jobc/v1/problems/"
COMPONENT = "jobc-gateway"


@dataclass(frozen=True)
class Kind:
    """A kind of problem: its HTTP status, title and what it means."""

    name: str
    status: int
    title: str
    description: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "invalid-job",
            400,
            "The job does not compile",
            "The submitted document is not valid JSON or YAML, is in no format jobc reads, "
            "or breaks that format's rules, or a pass could not complete it (an image that "
            "cannot be pinned under the gateway's policy). `errors` lists every problem "
            "found, with line, column and JSON pointer. Nothing was forwarded or stored.",
        ),
        Kind(
            "not-a-submission",
            400,
            "The body is not a job submission",
            "A job submission is a JSON object with the job under `Job`.",
        ),
        Kind(
            "body-too-large",
            413,
            "The request body is too large",
            "The gateway reads submissions and documents to compile up to a size limit "
            "(`--max-body`). Nothing was forwarded.",
        ),
        Kind(
            "unsupported-encoding",
            415,
            "The request body is encoded",
            "Submissions must be sent without a Content-Encoding (the gateway compiles "
            "the body it reads).",
        ),
        Kind(
            "busy",
            503,
            "The gateway is busy",
            "Every compile slot stayed taken for the whole time budget of this request. "
            "Retry after the time `Retry-After` says.",
        ),
        Kind(
            "compile-timeout",
            504,
            "The compile took too long",
            "The job's compile (usually resolving its image with a registry) took longer "
            "than the gateway's budget per request (`--compile-timeout`). Nothing was "
            "forwarded or stored.",
        ),
        Kind(
            "upstream-unreachable",
            502,
            "The upstream cannot be reached",
            "The gateway could not connect to the orchestrator it forwards to, or the "
            "connection broke before an answer came.",
        ),
        Kind(
            "upstream-timeout",
            504,
            "The upstream did not answer in time",
            "The orchestrator took longer than the gateway waits (`--upstream-timeout`).",
        ),
        Kind(
            "no-upstream",
            502,
            "No upstream is configured",
            "This gateway forwards nothing: it runs as middleware without an application "
            "behind it, or with no `--upstream`.",
        ),
        Kind("not-found", 404, "Not found", "The gateway has no such resource."),
        Kind(
            "method-not-allowed",
            405,
            "Method not allowed",
            "The resource exists, but not for this HTTP method (see `Allow`).",
        ),
        Kind(
            "bad-request",
            400,
            "Bad request",
            "A parameter of the request is missing or malformed.",
        ),
        Kind(
            "unauthorized",
            401,
            "Unauthorized",
            "Admin actions need `Authorization: Bearer <token>` with the gateway's token.",
        ),
        Kind(
            "admin-disabled",
            403,
            "Admin actions are off",
            "The gateway was started without an admin token, so no admin action is allowed.",
        ),
        Kind(
            "internal-error",
            500,
            "Internal error",
            "A bug in jobc's gateway. The log line of this request has the details.",
        ),
    )
}


@dataclass(eq=False)
class Problem(Exception):
    """A problem to answer with; raise it anywhere in a request's handling."""

    kind: str
    detail: str
    hint: str = ""
    diagnostics: Sequence[Diagnostic] = ()
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> int:
        """The HTTP status of this kind of problem."""
        return KINDS[self.kind].status

    def to_json(self, instance: str = "") -> dict[str, Any]:
        """The problem document."""
        kind = KINDS[self.kind]
        out: dict[str, Any] = {
            "type": TYPE_PREFIX + kind.name,
            "title": kind.title,
            "status": kind.status,
            "detail": self.detail,
        }
        if instance:
            out["instance"] = instance
        if self.diagnostics:
            out["errors"] = [d.to_json() for d in self.diagnostics if d.severity is Severity.ERROR]
            warnings = [d.to_json() for d in self.diagnostics if d.severity is not Severity.ERROR]
            if warnings:
                out["warnings"] = warnings
        out.update(self.extra)
        # Bacalhau's APIError members (its clients decode keys case-insensitively).
        out["Status"] = kind.status
        out["Message"] = self.detail
        out["Code"] = kind.name
        out["Component"] = COMPONENT
        if self.hint:
            out["Hint"] = self.hint
        return out

    def body(self, instance: str = "") -> bytes:
        """The problem document, encoded."""
        return orjson.dumps(self.to_json(instance))


def describe(diagnostics: Sequence[Diagnostic]) -> str:
    """One sentence for a problem's `detail`: the first error, and how many more."""
    errors = [d for d in diagnostics if d.severity is Severity.ERROR] or list(diagnostics)
    if not errors:
        return "the job does not compile"
    first = errors[0]
    where = f"line {first.span.line}, column {first.span.column}: " if first.span else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}{first.message}{more}"
