"""Diagnostics: where a problem is (a span), what it is, and how to fix it.

Every error jobc reports about a user's input is a `Diagnostic` carrying a `Span`
(file, line, column, 1-based), the JSON pointer of the offending value, a message and
a hint. Several diagnostics are collected before stopping, as a compiler does; a
`SpecError` carries all of them. Rendering prints the source line with a caret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a diagnostic is: errors stop the compile, warnings do not."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Span:
    """A place in a source file: 1-based line and column, 0-based byte-free char offset."""

    file: str
    line: int
    column: int
    offset: int = -1
    end_offset: int = -1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a user's input."""

    severity: Severity
    message: str
    span: Span | None = None
    pointer: str = ""
    hint: str = ""
    code: str = ""
    value_offset: int = -1
    """Offset of the offending character inside the value at `pointer`, when known."""

    def to_json(self) -> dict[str, Any]:
        """The diagnostic as a JSON-ready map (for `--json` and the gateway)."""
        out: dict[str, Any] = {"severity": self.severity.value, "message": self.message}
        if self.code:
            out["code"] = self.code
        if self.span is not None:
            out["file"] = self.span.file
            out["line"] = self.span.line
            out["column"] = self.span.column
        if self.pointer:
            out["pointer"] = self.pointer
        if self.hint:
            out["hint"] = self.hint
        return out


def error(
    message: str,
    *,
    span: Span | None = None,
    pointer: str = "",
    hint: str = "",
    code: str = "",
    value_offset: int = -1,
) -> Diagnostic:
    """Make an error diagnostic."""
    return Diagnostic(Severity.ERROR, message, span, pointer, hint, code, value_offset)


def warning(
    message: str, *, span: Span | None = None, pointer: str = "", hint: str = "", code: str = ""
) -> Diagnostic:
    """Make a warning diagnostic."""
    return Diagnostic(Severity.WARNING, message, span, pointer, hint, code)


class SpecError(Exception):
    """The input cannot be compiled; `diagnostics` says every reason found."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic) -> None:
        diags = [diagnostics] if isinstance(diagnostics, Diagnostic) else list(diagnostics)
        self.diagnostics: list[Diagnostic] = diags
        first = diags[0] if diags else None
        super().__init__(first.message if first else "invalid input")

    @property
    def errors(self) -> list[Diagnostic]:
        """Only the error-severity diagnostics."""
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


@dataclass
class DiagnosticSink:
    """Collects diagnostics while a front-end or pass works through its input."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        """Record one diagnostic."""
        self.diagnostics.append(diagnostic)

    @property
    def has_errors(self) -> bool:
        """Whether any error was recorded."""
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    def raise_if_errors(self) -> None:
        """Stop with every diagnostic collected so far if any is an error."""
        if self.has_errors:
            raise SpecError(self.diagnostics)


def render(diagnostic: Diagnostic, source: str | None = None, *, color: bool = False) -> str:
    """Render as `file:line:col: error: message`, the source line, a caret and the hint."""
    sev = diagnostic.severity.value
    if color:
        sev = {"error": "\x1b[1;31merror\x1b[0m", "warning": "\x1b[1;33mwarning\x1b[0m"}.get(
            sev, sev
        )
    where = f"{diagnostic.span}: " if diagnostic.span else ""
    lines = [f"{where}{sev}: {diagnostic.message}"]
    span = diagnostic.span
    if span is not None and source is not None and span.line >= 1:
        text_lines = source.splitlines()
        if span.line <= len(text_lines):
            line = text_lines[span.line - 1].expandtabs(1)
            if len(line) > 200:
                start = max(0, span.column - 80)
                line = line[start : start + 160]
                caret_col = span.column - start
            else:
                caret_col = span.column
            gutter = f"{span.line:>5} | "
            lines.append(f"{gutter}{line}")
            lines.append(" " * (len(gutter) - 2) + "| " + " " * max(0, caret_col - 1) + "^")
    if diagnostic.hint:
        lines.append(f"  hint: {diagnostic.hint}")
    return "\n".join(lines)
