"""The `lower` pass: a Rust or C source job becomes a WASM job whose module is a CID."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from compiler.diagnostics import Diagnostic, Severity, Span, SpecError, error, warning
from compiler.ir import (
    RUST_DEFAULT_EDITION,
    FrozenMap,
    Job,
    Link,
    SourceTask,
    Value,
    WasmTask,
    replace,
)
from compiler.oracles import Fact, Oracle, OracleError, OracleUnavailable, fact

POINTER = {"rust": "/task/source", "c": "/task/source", "wasm": "/task/module"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Lower:
    """Compile a Rust or C source (or a WASM module written as WAT text) to a WASM module.

    Assumes: the source is pinned (resolve-content ran), so it is a CID; an unpinned one
    is left as it is, with a note.
    Guarantees: a `rust`/`c` task with a pinned source becomes a `wasm` task whose module
    is the UnixFS CID of the compiled module, with the task's args and env and the
    default entrypoint `_start`; a `wasm` task whose module is WAT text gets the binary
    module. One fact `{"source", "toolchain", "module"}` (DESIGN §5), where `toolchain`
    is the CID of the toolchain descriptor block. Compiler errors are errors placed in
    the user's source file; a toolchain that is not installed, or `enabled=false`
    (`--no-lower`), leaves the job as written (a warning for a source job).
    """

    name: ClassVar[str] = "lower"
    version: ClassVar[int] = 1
    enabled: bool = True
    """False: lower nothing (gateways that must not run compilers: `--no-lower`)."""

    def __call__(self, job: Job, oracle: Oracle) -> tuple[Job, list[Fact]]:
        task = job.task
        if not self.enabled:
            return job, []
        language: str
        if isinstance(task, SourceTask):
            language, source = task.engine, task.source
            context: dict[str, Value] = {"language": language}
            if language == "rust":
                context["edition"] = task.edition or RUST_DEFAULT_EDITION
        elif isinstance(task, WasmTask):
            language, source = "wasm", task.module
            context = {"language": "wasm"}
        else:
            return job, []
        pointer = POINTER[language]
        if not isinstance(source, Link):
            if language != "wasm":
                oracle.report(
                    Diagnostic(
                        Severity.NOTE,
                        f"the {language} source is not lowered: it is not pinned",
                        pointer=pointer,
                        code="not-lowered",
                    )
                )
            return job, []
        context["places"] = tuple(oracle.sources.get(str(source), ()))
        question = {"source": source}
        try:
            answer = oracle.ask("toolchain", question, context=context)
        except OracleUnavailable as exc:
            if language != "wasm":
                oracle.report(
                    warning(
                        f"the {language} source is not lowered to WASM: {exc}",
                        pointer=pointer,
                        hint="the job keeps its source; install the toolchain (see "
                        "docs/runtime.md) to run it here",
                        code="not-lowered",
                    )
                )
            return job, []
        except OracleError as exc:
            summary = error(
                f"cannot lower the {language} source: {exc.message}",
                pointer=pointer,
                hint=exc.hint,
                code=exc.code,
            )
            raise SpecError([*exc.diagnostics, summary]) from None
        module = answer.get("module")
        toolchain = answer.get("toolchain")
        if not isinstance(module, Link):
            raise SpecError(
                error("the toolchain oracle gave no module CID", pointer=pointer, code="oracle")
            )
        if module == source:
            return job, []  # a binary WASM module: nothing to lower
        if not isinstance(toolchain, Link):
            raise SpecError(
                error("the toolchain oracle gave no toolchain CID", pointer=pointer, code="oracle")
            )
        for diagnostic in _warnings(answer):
            oracle.report(diagnostic)
        if isinstance(task, SourceTask):
            new_task = WasmTask(module=module, args=task.args, env=task.env)
        else:
            new_task = replace(task, module=module)
        return replace(job, task=new_task), [
            fact(question, {"toolchain": toolchain, "module": module})
        ]


def _warnings(answer: Fact) -> list[Diagnostic]:
    """The compiler's warnings an answer carries (`{message, file?, line?, column?, hint?}`
    each), placed in the source files: never part of the fact."""
    out = []
    given = answer.get("warnings")
    for w in given if isinstance(given, tuple) else ():
        if not isinstance(w, FrozenMap):
            continue
        file, line, column = w.get("file"), w.get("line"), w.get("column")
        span = None
        if isinstance(file, str) and isinstance(line, int) and isinstance(column, int):
            span = Span(file, line, column)
        hint = w.get("hint")
        out.append(
            warning(
                str(w.get("message", "")),
                span=span,
                hint=hint if isinstance(hint, str) else "",
                code="compiler",
            )
        )
    return out
