"""The Jobfile: compute jobs written by hand in a small language (`grammars/jobfile.lark`).

```text
# Count the lines of a text.
job word-count {
    docker ubuntu:22.04
    run wc -l /data/words.txt
    env LC_ALL = C
    input words from data/words.txt at /data/words.txt
    output result at /outputs
    deterministic
    timeout 10m
}
```

The grammar is read with lark, with positions. A Jobfile is turned into the data tree a
jobspec/2 document would have (every value placed at the line and column it came
from), and jobspec/2's reader checks and reads it: the Jobfile says the same things
with the same rules, and its diagnostics point into the Jobfile. One block is one job
(format `jobfile`); several are a workflow, whose jobs read each other with
`from job:NAME#OUTPUT`. `format_jobfile` prints a Jobfile canonically (`jobc fmt`),
keeping its comments.

| statement | says |
|---|---|
| `docker IMAGE`, `wasm MODULE`, `rust SOURCE`, `c SOURCE`, `engine NAME` | the task |
| `run ARGS…` | the arguments (shell-like words: `"…"` with `\\` escapes, `'…'` literal) |
| `entrypoint ARGS…` | docker: the entrypoint; wasm: the function to call |
| `env NAME = VALUE` (or `NAME=VALUE`) | an environment variable |
| `workdir PATH`, `platform OS/ARCH`, `edition YEAR` | docker's and rust's options |
| `input [NAME] from SOURCE at PATH`, `input [NAME] text "…" at PATH` | an input |
| `output [NAME] at PATH` | an output |
| `import NAME from SOURCE`, `stdin SOURCE` | wasm imports and standard input |
| `deterministic`, `unordered`, `nondeterministic` | determinism (strict, unordered, none) |
| `network none\\|full\\|http [DOMAIN…]`, `nonce VALUE` | network access, a salt |
| `timeout 10m`, `retries 3`, `cpu`, `memory`, `disk`, `gpu`, … (below) | execution options |
| `label NAME = VALUE` | a label (meta) |
| `x NAME = VALUE`, `param NAME = VALUE` | an extension field; an extension engine's parameter |

Execution options (never identity): `timeout`, `queue-timeout`, `total-timeout`, `retries`,
`cpu`, `memory`, `disk`, `gpu`, `publisher`, `priority`, `count`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import threading
from typing import TYPE_CHECKING, Any

from compiler.diagnostics import Span, SpecError, error
from compiler.frontends import Options, Parsed, ParsedWorkflow
from compiler.frontends.loader import DEFAULT_LIMITS, Limits, SourceDocument, decode_text
from compiler.frontends.reader import child

if TYPE_CHECKING:
    from lark import Lark, Token

FORMAT = "jobfile"
_FIRST_LINE = re.compile(r"\s*job\s+\S+\s*\{\s*(#.*)?$")
_WORD = re.compile(r"[^\s\"'{}#=\\][^\s\"'{}\\]*\Z")
_INT = re.compile(r"-?[0-9]+\Z")
KEYWORDS = frozenset(("from", "text", "at"))
"""Words that a bare value may not be where they would read as the keyword."""
EXECUTION_OPTIONS = {
    "timeout": "timeout",
    "queue-timeout": "queue_timeout",
    "total-timeout": "total_timeout",
    "retries": "retries",
    "publisher": "publisher",
    "priority": "priority",
    "count": "count",
}
RESOURCES = ("cpu", "memory", "disk", "gpu")
DETERMINISM = {"deterministic": "strict", "unordered": "unordered", "nondeterministic": "none"}


def looks_like_jobfile(name: str, text: str) -> bool:
    """A file named `Jobfile` (or `*.jobfile`), or whose first statement opens a job."""
    base = os.path.basename(name)
    if base == "Jobfile" or base.lower().endswith(".jobfile"):
        return True
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return bool(_FIRST_LINE.match(line))
    return False


def read(
    name: str, raw: bytes, options: Options, limits: Limits = DEFAULT_LIMITS
) -> tuple[SourceDocument, Parsed | ParsedWorkflow]:
    """Read a Jobfile: the document (its tree is a jobspec/2 document's, with positions)
    and what jobspec/2's reader makes of it."""
    from compiler.frontends import jobspec2

    text = decode_text(name, raw, limits)
    tree, spans = _build(name, text)
    doc = SourceDocument(name, raw, text, "yaml", tree, spans, dict(spans), limits)
    workflow = jobspec2.parse(doc, options)
    workflow = dataclasses.replace(
        workflow,
        format=FORMAT,
        jobs=tuple((n, dataclasses.replace(p, format=FORMAT)) for n, p in workflow.jobs),
    )
    if len(workflow.jobs) != 1:
        return doc, workflow
    parsed = workflow.jobs[0][1]
    return doc, dataclasses.replace(
        parsed, job_name="", diagnostics=(*workflow.diagnostics, *parsed.diagnostics)
    )


# --- parsing ------------------------------------------------------------------------------


_COLLECT = threading.local()
"""The comments of the Jobfile being parsed (lark reports them through a callback)."""


def _on_comment(token: Token) -> Token:
    found: list[Token] | None = getattr(_COLLECT, "comments", None)
    if found is not None:
        found.append(token)
    return token


@functools.cache
def _parser() -> Lark:
    from lark import Lark

    from compiler.resources import grammar_text

    return Lark(
        grammar_text("jobfile"),
        parser="lalr",
        propagate_positions=True,
        lexer_callbacks={"COMMENT": _on_comment},
    )


def parse_tree(name: str, text: str) -> tuple[Any, list[Token]]:
    """The Jobfile's syntax tree and its comments, or SpecError at the first mistake."""
    from lark.exceptions import UnexpectedInput

    comments: list[Token] = []
    _COLLECT.comments = comments
    try:
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as exc:
        raise SpecError(_syntax_error(name, text, exc)) from None
    finally:
        _COLLECT.comments = None
    return tree, comments


_NAMES = {
    "ARG": "a word or a quoted string",
    "_NL": "the end of the line",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "EQUAL": "`=`",
    "FROM": "`from`",
    "TEXT": "`text`",
    "_AT": "`at`",
    "ENGINE": "an engine (docker, wasm, rust, c, engine)",
    "OPTION": "an execution option (timeout, cpu, memory, …)",
    "DETERMINISM": "deterministic, unordered or nondeterministic",
    "JOB": "`job`",
}


def _expected(names: set[str]) -> str:
    statements = {n for n in names if n.lstrip("_") not in _NAMES and n not in _NAMES}
    if len(statements) > 4:
        return "a statement (docker, run, env, input, output, …) or `}`"
    described = sorted(
        {_NAMES.get(n, f"`{n.lower().lstrip('_').replace('_', '-')}`") for n in names}
    )
    return ", ".join(described) or "nothing more"


def _syntax_error(name: str, text: str, exc: Exception) -> Any:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    offset = _offset(text, line, column)
    span = Span(name, line, column, offset)
    if isinstance(exc, UnexpectedCharacters):
        char = text[offset : offset + 1]
        if char in "\"'":
            return error(
                "this quoted string is not closed on its line",
                span=span,
                hint=f'close it with {char} (write \\n for a line break inside "…")',
                code="syntax",
            )
        return error(
            f"unexpected {char!r}",
            span=span,
            hint=f"expected {_expected(set(exc.allowed or ()))}",
            code="syntax",
        )
    if isinstance(exc, UnexpectedEOF):
        return error(
            "the Jobfile ends inside a job",
            span=span,
            hint="close the job's block with `}` on a line of its own",
            code="syntax",
        )
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    if token.type == "$END":
        return error(
            "the Jobfile ends inside a job",
            span=span,
            hint="close the job's block with `}` on a line of its own",
            code="syntax",
        )
    return error(
        "the line ends too early" if token.type == "_NL" else f"unexpected `{token}`",
        span=span,
        hint=f"expected {_expected(set(exc.expected))}",
        code="syntax",
    )


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + column - 1


# --- from the syntax tree to a jobspec/2 document ------------------------------------------


def quoted(token: Token) -> bool:
    """Whether a value was written quoted."""
    return str(token)[:1] in ("'", '"')


def unquote(token: Token) -> str:
    """A value's text: a word as written, a quoted string without its quotes."""
    text = str(token)
    if not quoted(token):
        return text
    if text.startswith("'"):
        return text[1:-1]
    out, i, body = [], 0, text[1:-1]
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "0": "\0"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Builder:
    """Builds the jobspec/2 tree and the span of every value in it."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.spans: dict[str, Span] = {}
        self.errors: list[Any] = []

    def span(self, item: Any) -> Span:
        meta = getattr(item, "meta", item)
        line = getattr(meta, "line", 1) or 1
        column = getattr(meta, "column", 1) or 1
        offset = getattr(meta, "start_pos", -1)
        return Span(self.name, line, column, offset if offset is not None else -1)

    def place(self, pointer: str, item: Any) -> None:
        self.spans.setdefault(pointer, self.span(item))

    def fail(self, item: Any, message: str, hint: str = "") -> None:
        self.errors.append(error(message, span=self.span(item), hint=hint, code="jobfile"))

    def values(self, node: Any) -> list[tuple[str, Token]]:
        """(text, token) of each value of a statement."""
        return [(unquote(c), c) for c in node.children if getattr(c, "type", "") == "ARG"]

    def build(self, tree: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {"jobspec": 2, "jobs": {}}
        self.spans[""] = Span(self.name, 1, 1, 0)
        self.spans["/jobs"] = Span(self.name, 1, 1, 0)
        for job in tree.children:
            values = self.values(job)
            name, token = values[0]
            if name in doc["jobs"]:
                self.fail(token, f"two jobs are named {name!r}", "give each job its own name")
                continue
            pointer = child("/jobs", name)
            self.place(pointer, token)
            doc["jobs"][name] = self.job(job, pointer)
        return doc

    def job(self, job: Any, base: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        task: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        for stmt in job.children:
            kind = getattr(stmt, "data", None)
            if kind is None:
                continue
            values = self.values(stmt)
            once = {"task", "run", "entrypoint", "workdir", "platform", "edition", "stdin"}
            once |= {"determinism", "network", "nonce"}
            if kind in once:
                if kind in seen:
                    what = "an engine" if kind == "task" else f"`{kind}`"
                    self.fail(stmt, f"the job says {what} twice", "keep one of them")
                    continue
                seen[kind] = stmt
            getattr(self, "s_" + kind.rstrip("_"))(stmt, values, body, task, base)
        if "task" not in seen:
            self.fail(job, "the job has no engine", "add `docker IMAGE` (or wasm, rust, c)")
        body["task"] = task
        self.place(base + "/task", seen.get("task", job))
        return body

    # -- statements: each puts its values into the tree, with their places

    def s_task(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        kind = str(stmt.children[0])
        value, token = values[0]
        field_name = {"docker": "image", "wasm": "module", "engine": ""}.get(kind, "source")
        if kind == "engine":
            task.setdefault("engine", value)
            self.place(base + "/task/engine", token)
            return
        task["engine"] = kind
        task[field_name] = value
        self.place(f"{base}/task/{field_name}", token)

    def s_run(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        task["args"] = [v for v, _ in values]
        self.place(base + "/task/args", stmt)
        for i, (_, token) in enumerate(values):
            self.place(f"{base}/task/args/{i}", token)

    def s_entrypoint(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        words = [v for v, _ in values]
        task["entrypoint"] = words[0] if len(words) == 1 else words
        self.place(base + "/task/entrypoint", stmt)

    def s_env(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        if len(values) == 2:
            (key, token), (value, _) = values
        else:
            (word, token) = values[0]
            key, sep, value = word.partition("=")
            if not sep:
                self.fail(token, f"`env {word}` gives no value", "write env NAME = VALUE")
                return
        env = task.setdefault("env", {})
        if key in env:
            self.fail(token, f"environment variable {key!r} is given twice", "keep one of them")
        env[key] = value
        self.place(child(base + "/task/env", key), token)

    def s_workdir(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        self.simple(task, "workdir", values, base + "/task")

    def s_platform(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        self.simple(task, "platform", values, base + "/task")

    def s_edition(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        self.simple(task, "edition", values, base + "/task")

    def s_stdin(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        self.simple(task, "stdin", values, base + "/task")

    def s_nonce(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        self.simple(body, "nonce", values, base)

    def simple(self, target: dict[str, Any], key: str, values: Any, base: str) -> None:
        value, token = values[0]
        target[key] = value
        self.place(f"{base}/{key}", token)

    def s_import(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        (name, token), (source, source_token) = values
        imports = task.setdefault("imports", {})
        if name in imports:
            self.fail(token, f"the import {name!r} is given twice", "keep one of them")
        imports[name] = source
        self.place(child(base + "/task/imports", name), source_token)

    def s_input(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        kind = next(str(c) for c in stmt.children if getattr(c, "type", "") in ("FROM", "TEXT"))
        inputs = body.setdefault("inputs", [])
        pointer = f"{base}/inputs/{len(inputs)}"
        item: dict[str, Any] = {}
        if len(values) == 3:
            item["name"] = values[0][0]
            self.place(pointer + "/name", values[0][1])
            values = values[1:]
        (source, source_token), (target, target_token) = values
        item["source" if kind == "from" else "text"] = source
        item["target"] = target
        inputs.append(item)
        self.place(pointer, stmt)
        self.place(pointer + ("/source" if kind == "from" else "/text"), source_token)
        self.place(pointer + "/target", target_token)

    def s_output(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        outputs = body.setdefault("outputs", [])
        pointer = f"{base}/outputs/{len(outputs)}"
        self.place(pointer, stmt)
        if len(values) == 2:
            outputs.append({"name": values[0][0], "path": values[1][0]})
            self.place(pointer + "/name", values[0][1])
            self.place(pointer + "/path", values[1][1])
        else:
            outputs.append({"path": values[0][0]})
            self.place(pointer + "/path", values[0][1])

    def s_determinism(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        body["determinism"] = DETERMINISM[str(stmt.children[0])]
        self.place(base + "/determinism", stmt)

    def s_network(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        (mode, token), *domains = values
        self.place(base + "/network", token)
        self.place(base + "/network/mode", token)
        if domains:
            body["network"] = {"mode": mode, "domains": [d for d, _ in domains]}
            self.place(base + "/network/domains", domains[0][1])
        elif mode != "none":
            body["network"] = mode
        elif domains:
            body["network"] = {"mode": mode}

    def s_option(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        option = str(stmt.children[0])
        value, token = values[0]
        execution = body.setdefault("execution", {})
        if option in RESOURCES:
            execution.setdefault("resources", {})[option] = value
            return
        key = EXECUTION_OPTIONS[option]
        if key in ("retries", "priority", "count"):
            if not _INT.match(value):
                self.fail(token, f"`{option}` takes a whole number, not {value!r}")
                return
            execution[key] = int(value)
        elif key == "publisher":
            execution[key] = {"type": value}
        else:
            execution[key] = value

    def s_label(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        (key, token), (value, _) = values
        body.setdefault("labels", {})[key] = value
        self.place(child(base + "/labels", key), token)

    def s_extension(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        (key, token), (value, value_token) = values
        body.setdefault("x", {})[key] = _typed(value, value_token)
        self.place(child(base + "/x", key), token)

    def s_param(self, stmt: Any, values: Any, body: Any, task: Any, base: str) -> None:
        (key, token), (value, value_token) = values
        if key in task:
            self.fail(token, f"the parameter {key!r} is given twice", "keep one of them")
        task[key] = _typed(value, value_token)
        self.place(child(base + "/task", key), token)


def _typed(value: str, token: Token) -> Any:
    """An extension value: a bare integer or true/false is one; anything quoted a string."""
    if quoted(token):
        return value
    if _INT.match(value):
        return int(value)
    return {"true": True, "false": False}.get(value, value)


def _build(name: str, text: str) -> tuple[dict[str, Any], dict[str, Span]]:
    tree, _ = parse_tree(name, text)
    builder = _Builder(name, text)
    doc = builder.build(tree)
    if builder.errors:
        raise SpecError(builder.errors)
    if not doc["jobs"]:
        raise SpecError(
            error(
                "the Jobfile holds no job",
                span=Span(name, 1, 1, 0),
                hint="write `job NAME {` … `}`",
                code="empty",
            )
        )
    return doc, builder.spans


# --- the formatter ------------------------------------------------------------------------

INDENT = "    "


def quote(value: str, *, keyword_safe: bool = False, typed: bool = False) -> str:
    """A value as the Jobfile writes it: bare when it reads back as itself, else quoted
    (`typed`: where a bare integer or true/false would be read as one, quoted)."""
    reads_typed = typed and (_INT.match(value) or value in ("true", "false"))
    if (
        value
        and _WORD.match(value)
        and not (keyword_safe and value in KEYWORDS)
        and not reads_typed
    ):
        return value
    if "'" not in value and "\\" in value and "\n" not in value and "\r" not in value:
        return "'" + value + "'"
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("\r", "\\r")
    )
    return '"' + escaped + '"'


def format_jobfile(name: str, text: str) -> str:
    """The Jobfile in canonical form: one statement per line, four spaces in a block,
    values quoted only where they must be, `=` spaced, one blank line between jobs (and
    at most one where the source had blank lines); comments kept where they were."""
    tree, comments = parse_tree(name, text)
    by_line: dict[int, list[Token]] = {}
    for c in comments:
        by_line.setdefault(c.line or 0, []).append(c)
    lines: list[str] = []
    consumed: set[int] = set()
    source_lines = text.split("\n")

    def before(line: int, indent: str, since: int) -> None:
        """Comment lines and blank-line breaks between `since` and `line`."""
        blank = False
        for n in range(since, line):
            if n in by_line and n not in consumed and source_lines[n - 1].lstrip().startswith("#"):
                if blank and lines and lines[-1] != "":
                    lines.append("")
                blank = False
                lines.append(indent + str(by_line[n][0]).rstrip())
                consumed.add(n)
            elif n >= 1 and not source_lines[n - 1].strip():
                blank = True
        if blank and lines and lines[-1] != "" and not lines[-1].endswith("{"):
            lines.append("")

    def trailing(line: int) -> str:
        if line in by_line and line not in consumed:
            consumed.add(line)
            return "  " + str(by_line[line][-1]).rstrip()
        return ""

    last = 1
    for job in tree.children:
        start = job.meta.line
        before(start, "", last)
        if lines and lines[-1] == "}":
            lines.append("")  # one blank line between jobs
        name_token = job.children[0]
        lines.append(f"job {quote(unquote(name_token))} {{" + trailing(start))
        last = start + 1
        for stmt in job.children[1:]:
            if getattr(stmt, "data", None) is None:
                continue
            before(stmt.meta.line, INDENT, last)
            lines.append(INDENT + _statement(stmt) + trailing(stmt.meta.end_line))
            last = stmt.meta.end_line + 1
        end = job.meta.end_line
        before(end, INDENT, last)
        lines.append("}" + trailing(end))
        last = end + 1
    before(len(source_lines) + 1, "", last)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def _statement(stmt: Any) -> str:
    kind = stmt.data
    words: list[str] = []
    for c in stmt.children:
        if c.type == "ARG":
            text = unquote(c)
            typed = kind in ("extension", "param") and len(words) == 1
            if typed and not quoted(c):
                words.append(text)  # as written: bare 2 is an integer, "2" a string
            else:
                keyword_safe = kind in ("input", "output", "import_")
                words.append(quote(text, keyword_safe=keyword_safe, typed=typed))
        elif c.type != "FROM" or kind != "import_":
            words.append(str(c))
    keyword = {
        "import_": "import",
        "extension": "x",
        "task": "",
        "option": "",
        "determinism": "",
    }.get(kind, kind)
    if kind in ("env", "label", "extension", "param") and len(words) == 2:
        return f"{keyword} {words[0]} = {words[1]}"
    if kind == "env":
        key, _, value = unquote(stmt.children[0]).partition("=")
        return f"env {quote(key)} = {quote(value)}"
    if kind == "input":
        values = [w for w in words if w not in ("from", "text")]
        verb = "from" if "from" in words else "text"
        head = " ".join(values[:-2])
        return "input " + (head + " " if head else "") + f"{verb} {values[-2]} at {values[-1]}"
    if kind == "output":
        head = " ".join(words[:-1])
        return "output " + (head + " " if head else "") + f"at {words[-1]}"
    if kind == "import_":
        return f"import {words[0]} from {words[1]}"
    return " ".join(w for w in [keyword, *words] if w)
