"""Write jobs as a Jobfile: one block per job, in the form `jobc fmt` prints.

The jobs are first written as jobspec/2 (which says everything the IR says), and that
tree — the one the Jobfile's reader builds from a Jobfile — is printed as statements,
so what is read back is what was written. A Jobfile's values are words: what it cannot
say is refused with one diagnostic listing it (an extension field or engine parameter
that is a map, a list, null or bytes; a WASM argument that is not a string). Execution
options it has no statement for, a workflow's name and labels, and meta other than
names and labels are not identity: they are left out, with a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compiler.diagnostics import Diagnostic, warning
from compiler.emitters import Emitted, JobDoc, refuse
from compiler.emitters.jobspec import KEPT_META, emit_jobspec2
from compiler.frontends.jobfile import DETERMINISM, EXECUTION_OPTIONS, INDENT, RESOURCES, quote

STATEMENT_OF = {key: statement for statement, key in EXECUTION_OPTIONS.items()}
"""Execution option → the statement that says it (`queue_timeout` → `queue-timeout`)."""
KEYWORD_OF = {determinism: keyword for keyword, determinism in DETERMINISM.items()}
TASK_FIELDS = {
    "docker": ("engine", "image", "entrypoint", "args", "env", "workdir", "platform"),
    "wasm": ("engine", "module", "entrypoint", "args", "env", "imports", "stdin"),
    "rust": ("engine", "source", "edition", "args", "env"),
    "c": ("engine", "source", "args", "env"),
}


def emit(jobs: Sequence[JobDoc], meta: dict[str, Any]) -> Emitted:
    """A Jobfile holding `jobs` (one block each, named as jobspec/2 names them)."""
    written = emit_jobspec2(jobs, meta)
    notes: list[Diagnostic] = []
    refused: list[str] = []
    blocks = []
    for (name, body), j in zip(written.data["jobs"].items(), jobs, strict=True):
        blocks.append(_block(name, body, j, refused, notes))
    if refused:
        raise refuse(
            "a Jobfile cannot say",
            refused,
            "its values are words: write jobspec/2 (`--to jobspec/2`), which says everything",
        )
    dropped = [key for key in ("name", "labels") if meta.get(key)]
    if dropped:
        notes.insert(0, _left_out(f"the workflow's {' and '.join(dropped)}", "meta"))
    return Emitted("\n".join(blocks), "jobfile", tuple(notes), data=written.data)


def _block(
    name: str, body: dict[str, Any], j: JobDoc, refused: list[str], notes: list[Diagnostic]
) -> str:
    lines = [f"job {quote(name)} {{"]
    say = lines.append
    task = dict(body["task"])
    engine = task["engine"]
    fields = TASK_FIELDS.get(engine)
    if fields is None:
        say(f"engine {quote(engine)}")
    elif engine == "docker":
        say(f"docker {quote(task['image'])}")
    elif engine == "wasm":
        say(f"wasm {quote(task['module'])}")
    else:
        say(f"{engine} {quote(task['source'])}")
    if fields is None:  # an extension engine: its parameters, kept as written
        for key, value in task.items():
            if key != "engine":
                say(_typed("param", key, value, name, refused))
        task = {}
    entrypoint = task.get("entrypoint")
    if entrypoint:
        words = [entrypoint] if isinstance(entrypoint, str) else entrypoint
        say("entrypoint " + " ".join(quote(w) for w in words))
    args = task.get("args", [])
    if any(not isinstance(a, str) for a in args):
        refused.append(f"job {name!r}: WASM arguments that are not strings")
    elif args:
        say("run " + " ".join(quote(a) for a in args))
    for key, value in task.get("env", {}).items():
        say(f"env {quote(key)} = {quote(value)}")
    for key in ("workdir", "platform", "edition"):
        if task.get(key):
            say(f"{key} {quote(task[key])}")
    for key, source in task.get("imports", {}).items():
        say(f"import {quote(key, keyword_safe=True)} from {quote(source)}")
    if task.get("stdin"):
        say(f"stdin {quote(task['stdin'])}")
    for item in body.get("inputs", []):
        head = quote(item["name"], keyword_safe=True) + " " if "name" in item else ""
        say(f"input {head}from {quote(item['source'])} at {quote(item['target'])}")
    for item in body.get("outputs", []):
        path, out = (item["path"], item.get("name")) if isinstance(item, dict) else (item, None)
        head = quote(out, keyword_safe=True) + " " if out else ""
        say(f"output {head}at {quote(path)}")
    if "determinism" in body:
        say(KEYWORD_OF[body["determinism"]])
    network = body.get("network")
    if network is not None:
        say(" ".join(["network", quote(network["mode"]), *map(quote, network.get("domains", []))]))
    if body.get("nonce"):
        say(f"nonce {quote(body['nonce'])}")
    for key, value in body.get("labels", {}).items():
        say(f"label {quote(key)} = {quote(value)}")
    for key, value in body.get("x", {}).items():
        say(_typed("x", key, value, name, refused))
    lines += _execution(name, body.get("execution", {}), notes)
    lines[1:] = [INDENT + line for line in lines[1:]]
    dropped = sorted(k for k in j.meta if k not in KEPT_META)
    if dropped:
        notes.append(_left_out(f"meta {', '.join(dropped)} of job {name!r}", "meta"))
    return "\n".join([*lines, "}"]) + "\n"


def _typed(statement: str, key: str, value: Any, job: str, refused: list[str]) -> str:
    """`x`/`param NAME = VALUE`: a string (quoted where it would read as an integer or a
    boolean), an integer, true or false; anything else is refused."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = quote(value, typed=True)
    else:
        kind = "null" if value is None else type(value).__name__
        refused.append(f"job {job!r}: `{statement} {key}` (a {kind})")
        return ""
    return f"{statement} {quote(key)} = {text}"


def _execution(job: str, execution: dict[str, Any], notes: list[Diagnostic]) -> list[str]:
    """The statements of the execution options a Jobfile says exactly as they are."""
    lines: list[str] = []
    left: list[str] = []
    for key, value in execution.items():
        statement = STATEMENT_OF.get(key)
        if key == "resources" and isinstance(value, dict):
            for res, amount in value.items():
                if res in RESOURCES and isinstance(amount, str):
                    lines.append(f"{res} {quote(amount)}")
                else:
                    left.append(f"resources.{res}")
        elif key == "publisher" and isinstance(value, dict) and set(value) == {"type"}:
            lines.append(f"publisher {quote(str(value['type']))}")
        elif key in ("retries", "priority", "count") and type(value) is int:
            lines.append(f"{statement} {value}")
        elif key in ("timeout", "queue_timeout", "total_timeout") and isinstance(value, str):
            lines.append(f"{statement} {quote(value)}")
        else:
            left.append(key)
    if left:
        notes.append(_left_out(f"execution options {', '.join(left)} of job {job!r}", "how"))
    return lines


def _left_out(what: str, kind: str) -> Diagnostic:
    reason = "meta is never identity" if kind == "meta" else "how to run is never identity"
    return warning(
        f"a Jobfile has no statement for {what}: not written",
        hint=f"{reason}: the CID is unchanged; jobspec/2 keeps them",
        code="dropped",
    )
