"""The `resolve-awaits` pass: an input that awaits another job's output becomes the
content CID that job's receipts say it produced.

This is what makes a workflow's steps content-addressed like any other job: once the
upstream job has run, the downstream job's identity names the data it reads, not the
job that made it. So a downstream job whose upstream changed but produced the same
output keeps its CID and is a memo hit ("early cutoff", as in Bazel and Shake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from compiler.diagnostics import Diagnostic, Severity, warning
from compiler.ir import Await, Input, Job, Link, Value, replace
from compiler.oracles import Fact, Oracle, OracleError, OracleUnavailable, fact


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveAwaits:
    """Replace each await input by the content CID of the awaited output.

    Assumes: await paths are clean (normalize ran); named references of a workflow are
    awaits carrying the upstream job's CID (link-workflow ran).
    Guarantees: an await whose upstream job has trusted, successful receipts that agree
    on the output at the awaited path becomes that CID, with one fact
    `{"job", "path", "cid"}` per distinct awaited output; any other await stays as it
    is, with a note (no such receipt here yet) or a warning (the receipts disagree, or
    name no such output). Nothing else changes.
    """

    name: ClassVar[str] = "resolve-awaits"
    version: ClassVar[int] = 1

    def __call__(self, job: Job, oracle: Oracle) -> tuple[Job, list[Fact]]:
        awaited: dict[tuple[Link, str], list[str]] = {}
        for inp in job.inputs:
            if isinstance(inp.source, Await):
                key = (inp.source.job, inp.source.path)
                awaited.setdefault(key, []).append(inp.target)
        if not awaited:
            return job, []
        resolved: dict[tuple[Link, str], Link] = {}
        facts: list[Fact] = []
        for (upstream, path), targets in awaited.items():
            pointer = f"/inputs/{targets[0]}/source"
            question: dict[str, Value] = {"job": upstream, "path": path}
            try:
                answer = oracle.ask("receipt", question)
            except OracleUnavailable as exc:
                oracle.report(
                    Diagnostic(
                        Severity.NOTE,
                        f"the input awaits job {upstream} ({path}), which has not run here: "
                        f"{exc}; it stays an await",
                        pointer=pointer,
                        code="await-unresolved",
                    )
                )
                continue
            except OracleError as exc:
                oracle.report(
                    warning(
                        f"the input awaits job {upstream} ({path}): {exc.message}; "
                        "it stays an await",
                        pointer=pointer,
                        hint=exc.hint,
                        code="await-unresolved",
                    )
                )
                continue
            cid = answer.get("cid")
            if not isinstance(cid, Link):
                raise OracleError(f"the receipt oracle gave no CID for {upstream} {path}")
            resolved[(upstream, path)] = cid
            facts.append(fact(question, {"cid": cid}))
        if not resolved:
            return job, []
        inputs = tuple(
            Input(i.target, resolved.get((i.source.job, i.source.path), i.source))
            if isinstance(i.source, Await)
            else i
            for i in job.inputs
        )
        return replace(job, inputs=inputs), facts
