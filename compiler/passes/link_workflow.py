"""The `link-workflow` pass: a job's references to other jobs of its workflow become links.

In a workflow (jobspec/2, IPVM, Homestar) a job names the jobs it reads from:
`source: job:NAME#OUTPUT` for an input, `{"await/ok": "job:NAME"}` for a WASM argument
(an invocation awaiting another's result). The pass replaces each reference with the
upstream job's final CID: an input becomes `await {job: <CID>, path: <output path>}`,
an argument `{"await/ok": <CID>}`. So a job's final CID covers what it reads, however
that was computed, while its original CID (which holds the names) does not.

The upstream CIDs come through the oracle, one question per reference
(`workflow {job, output}` → `{cid, path}`), recorded as facts: replaying the chain needs
neither the workflow nor the upstream jobs. The driver compiles a workflow's jobs in
the order `order_jobs` gives, so every upstream CID is known when it is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from compiler.diagnostics import Diagnostic, SpecError, error
from compiler.ir import (
    Await,
    FrozenMap,
    Input,
    Job,
    Link,
    OtherTask,
    Value,
    WasmTask,
    replace,
)
from compiler.oracles import Fact, Oracle, OracleUnavailable, fact
from compiler.passes.normalize import clean_path

AWAIT_KEYS = ("await/ok", "await/error", "await/*")
"""Keys of an invocation promise (UCAN invocation 0.1, Homestar): the awaited task's
success value, failure value, or either."""


@dataclass(frozen=True, slots=True)
class WorkflowRef:
    """`job:NAME#OUTPUT`: the output OUTPUT (a name or a path) of the job NAME."""

    job: str
    output: str


def parse_ref(text: str) -> WorkflowRef | None:
    """A `job:NAME#OUTPUT` (or, for awaited values, `job:NAME`) reference, or None."""
    if not text.startswith("job:"):
        return None
    name, _, output = text[4:].partition("#")
    if not name:
        return None
    return WorkflowRef(name, output)


class Cycle(Exception):
    """Jobs that read from each other in a ring (names in order, the first repeated)."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(" → ".join([*names, names[0]]))
        self.names = tuple(names)


def order_jobs(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """The jobs of `graph` (job → the jobs it reads from) with every job after the ones
    it reads from; ties in the graph's own order. Raises Cycle naming one cycle."""
    position = {name: i for i, name in enumerate(graph)}
    waiting = {name: set(deps) & graph.keys() for name, deps in graph.items()}
    done: list[str] = []
    ready = sorted((n for n, deps in waiting.items() if not deps), key=position.__getitem__)
    while ready:
        name = ready.pop(0)
        done.append(name)
        for other, deps in waiting.items():
            if name in deps:
                deps.discard(name)
                if not deps and other not in done and other not in ready:
                    ready.append(other)
        ready.sort(key=position.__getitem__)
        waiting.pop(name, None)
    if len(done) < len(graph):
        raise Cycle(_find_cycle(waiting, position))
    return done


def _find_cycle(waiting: dict[str, set[str]], position: dict[str, int]) -> list[str]:
    """One cycle among jobs that all wait for something (so one exists), from the first
    such job in the graph's order."""
    start = min(waiting, key=position.__getitem__)
    path = [start]
    while True:
        nxt = min(waiting[path[-1]], key=position.__getitem__)
        if nxt in path:
            return path[path.index(nxt) :]
        path.append(nxt)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkWorkflow:
    """Turn references to jobs of the workflow into links to their final CIDs.

    Assumes: normalize ran (input targets are clean).
    Guarantees: no input source, WASM argument or extension engine's parameter is a
    `job:NAME` reference; one
    fact per distinct reference, `{job, output, cid, path}` for an input and
    `{job, cid}` for an awaited value.
    """

    name: ClassVar[str] = "link-workflow"
    version: ClassVar[int] = 1

    def __call__(self, job: Job, oracle: Oracle) -> tuple[Job, list[Fact]]:
        facts: list[Fact] = []
        errors: list[Diagnostic] = []
        inputs: list[Input] = []
        changed = False
        for inp in job.inputs:
            ref = parse_ref(inp.source) if isinstance(inp.source, str) else None
            if ref is None:
                inputs.append(inp)
                continue
            question = {"job": ref.job, "output": ref.output}
            answer = _ask(oracle, question, f"/inputs/{inp.target}/source", errors)
            if answer is None:
                inputs.append(inp)
                continue
            cid, path = answer.get("cid"), answer.get("path")
            if not isinstance(cid, Link) or not isinstance(path, str):
                raise OracleUnavailable(f"a malformed answer for {question!r}")
            facts.append(fact(question, answer))
            inputs.append(Input(inp.target, Await(cid, clean_path(path))))
            changed = True
        task = job.task
        if isinstance(task, WasmTask) and task.args:
            args = tuple(_link_value(a, oracle, facts, errors) for a in task.args)
            if args != task.args:
                task = replace(task, args=args)
                changed = True
        elif isinstance(task, OtherTask) and task.params:
            params = _link_value(task.params, oracle, facts, errors)
            if params != task.params and isinstance(params, FrozenMap):
                task = replace(task, params=params)
                changed = True
        if errors:
            raise SpecError(errors)
        if not changed:
            return job, []
        return replace(job, task=task, inputs=tuple(inputs)), facts


def _ask(
    oracle: Oracle, question: Mapping[str, Value], pointer: str, errors: list[Diagnostic]
) -> Fact | None:
    try:
        return oracle.ask("workflow", question)
    except OracleUnavailable:
        errors.append(
            error(
                f"job:{question['job']!s} names a job of a workflow, and this job is "
                "compiled alone",
                pointer=pointer,
                hint="compile the whole workflow document, or name the job by its CID "
                "(job:<CID>#<path>)",
                code="unlinked",
            )
        )
        return None


def _link_value(value: Value, oracle: Oracle, facts: list[Fact], errors: list[Diagnostic]) -> Value:
    """`value` with every `{"await/…": "job:NAME"}` promise linked to NAME's final CID."""
    if isinstance(value, tuple):
        return tuple(_link_value(v, oracle, facts, errors) for v in value)
    if not isinstance(value, FrozenMap):
        return value
    if len(value) == 1:
        key, target = next(iter(value.items()))
        ref = parse_ref(target) if key in AWAIT_KEYS and isinstance(target, str) else None
        if ref is not None:
            question: dict[str, Value] = {"job": ref.job}
            answer = _ask(oracle, question, "/task/args", errors)
            if answer is None:
                return value
            cid = answer.get("cid")
            if not isinstance(cid, Link):
                raise OracleUnavailable(f"a malformed answer for {question!r}")
            facts.append(fact(question, answer))
            return FrozenMap({key: cid})
    return FrozenMap({k: _link_value(v, oracle, facts, errors) for k, v in value.items()})
