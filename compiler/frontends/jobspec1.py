"""The jobspec/1 front-end: one job, written by a person, in YAML or JSON.

```yaml
jobspec: 1
name: word-count                 # not identity
labels: {team: data}             # not identity
task:
  engine: docker                 # docker | wasm | rust | c | any other name
  image: ubuntu:22.04
  args: [wc, -l, /data/words.txt]
  env: {LC_ALL: C}
inputs:
  - {name: words, source: data/words.txt, target: /data/words.txt}
outputs:
  - {name: result, path: /outputs}
deterministic: true              # strict; false (or absent, for docker) means none
network: none                    # none | http | full | {mode: http, domains: [...]}
nonce: ""                        # salt for a distinct identity
execution: {timeout: 10m, resources: {cpu: "1", memory: 1Gi}, retries: 2}   # not identity
x: {}                            # explicit extension fields, kept in identity
```

The schema is `schemas/jobspec-1.schema.json`; this module is its reading, and
tests check that the two agree. Unknown fields are kept in identity under `x`
(DESIGN §2), keyed by where they were found (`task.gpu`, `inputs[/data].mode`),
with a warning, or an error under `--strict`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from compiler.diagnostics import SpecError
from compiler.frontends import Options, Parsed
from compiler.frontends.loader import SourceDocument
from compiler.frontends.reader import (
    ExtensionReader,
    NotPlain,
    child,
    plain_value,
    unwritable,
)
from compiler.ir import (
    BUILTIN_ENGINES,
    Await,
    Content,
    Determinism,
    DockerTask,
    FrozenMap,
    Input,
    Job,
    Link,
    Network,
    OtherTask,
    SourceTask,
    Task,
    Value,
    WasmTask,
    default_determinism,
    empty_map,
)
from compiler.passes.normalize import clean_path
from compiler.sources import text_uri

FORMAT = "jobspec/1"
TOP_FIELDS = (
    "jobspec",
    "name",
    "labels",
    "task",
    "inputs",
    "outputs",
    "deterministic",
    "network",
    "nonce",
    "execution",
    "x",
)
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "docker": ("engine", "image", "platform", "entrypoint", "args", "env", "workdir"),
    "wasm": ("engine", "module", "entrypoint", "args", "env", "imports", "stdin"),
    "rust": ("engine", "source", "edition", "args", "env"),
    "c": ("engine", "source", "args", "env"),
}
INPUT_FIELDS = ("name", "source", "text", "target")
OUTPUT_FIELDS = ("name", "path")
NETWORK_FIELDS = ("mode", "domains")
NETWORK_MODES = ("none", "http", "full")


@functools.cache
def _field_set(fields: tuple[str, ...]) -> frozenset[str]:
    return frozenset(fields)


def parse(doc: SourceDocument, options: Options) -> Parsed:
    """Read a jobspec/1 document into the IR, or raise SpecError with every problem found."""
    clean = read_clean(doc.tree, plain=doc.plain)
    if clean is not None:
        return clean
    return _JobspecReader(doc, options).read()


class _JobspecReader(ExtensionReader):
    def __init__(self, doc: SourceDocument, options: Options) -> None:
        super().__init__(doc)
        self.strict = options.strict

    def keep_unknown(
        self, mapping: dict[str, Any], pointer: str, known: tuple[str, ...], where: str, prefix: str
    ) -> None:
        for key, value in self.unknown_fields(
            mapping, pointer, _field_set(known), strict=self.strict, where=where
        ).items():
            self.add_x(prefix + key, value, child(pointer, key))

    top_fields: tuple[str, ...] = TOP_FIELDS
    """The fields a job map may have (jobspec/2's jobs have others)."""

    def read(self) -> Parsed:
        doc = self.doc.tree
        version = doc.get("jobspec")
        # `type(...) is int`: True and 1.0 compare equal to 1 but are not version 1.
        if not (version == "1" or (type(version) is int and version == 1)):
            self.error(
                "/jobspec",
                f"unsupported jobspec version {version!r}",
                "this reader knows `jobspec: 1`",
                code="version",
            )
            raise SpecError(self.diagnostics)
        return self.read_job(doc)

    def read_job(self, doc: dict[str, Any]) -> Parsed:
        """Read one job's map (the whole document for jobspec/1)."""
        self.keep_unknown(doc, "", self.top_fields, "the job", "")
        if "x" in doc:
            for key, value in self.mapping(doc["x"], "/x", "x").items():
                self.add_x(key, value, child("/x", key))

        meta: dict[str, Any] = {}
        if "name" in doc:
            meta["name"] = self.string(doc["name"], "/name", "name", allow_int=True)
        if "labels" in doc:
            labels = self.mapping(doc["labels"], "/labels", "labels")
            if all(type(v) is str for v in labels.values()):
                meta["labels"] = dict(labels)  # the common case: nothing to convert or report
            else:
                meta["labels"] = {
                    k: self.string(v, child("/labels", k), f"labels.{k}", allow_int=True)
                    for k, v in labels.items()
                }

        task = self.task(doc.get("task"), "task" in doc)
        inputs, input_names = self.inputs(doc.get("inputs", []))
        outputs, output_names = self.outputs(doc.get("outputs", []))
        if input_names:
            meta["input_names"] = input_names
        if output_names:
            meta["output_names"] = output_names

        determinism = self.determinism(doc, task)

        network = self.network(doc["network"]) if "network" in doc else None
        nonce = self.string(doc["nonce"], "/nonce", "nonce") if "nonce" in doc else ""
        execution: dict[str, Any] = {}
        if "execution" in doc:
            execution = self.mapping(doc["execution"], "/execution", "execution")
            for pointer, value in unwritable(execution, "/execution"):
                self.error(
                    pointer,
                    f"`execution` cannot hold the number {value!r}"
                    if isinstance(value, float)
                    else f"`execution` cannot hold binary data ({value!r:.40})",
                    "execution options are written as JSON in the compiled document: "
                    "write it as a string",
                    code="not-json",
                )

        self.sink.raise_if_errors()
        job = Job(
            task=task,
            inputs=inputs,
            outputs=outputs,
            determinism=determinism,
            network=network,
            nonce=nonce,
            x=FrozenMap(self.x),
        )
        return Parsed(
            job=job,
            format=FORMAT,
            meta=meta,
            execution=execution,
            locations=self.locations,
            diagnostics=tuple(self.diagnostics),
        )

    def determinism(self, doc: dict[str, Any], task: Task) -> Determinism:
        """`deterministic: true` is strict, `false` none; absent, the engine's default."""
        if "deterministic" not in doc:
            return default_determinism(task.engine)
        self.locations["/determinism"] = "/deterministic"
        strict = self.boolean(doc["deterministic"], "/deterministic", "deterministic")
        return "strict" if strict else "none"

    # -- task

    def task(self, value: Any, present: bool) -> Task:
        if not present:
            self.error(
                "",
                "the job has no `task`",
                "add `task: {engine: docker, image: ...}` (or wasm, rust, c)",
                code="missing",
            )
            return OtherTask(engine="none")
        t = self.mapping(value, "/task", "task")
        engine_v = t.get("engine")
        if engine_v is None:
            self.error(
                "/task",
                "the task has no `engine`",
                "add `engine: docker` (or wasm, rust, c, or an extension engine's name)",
                code="missing",
            )
            return OtherTask(engine="none")
        engine = self.string(engine_v, "/task/engine", "task.engine")
        if engine not in BUILTIN_ENGINES:
            if not engine:
                if isinstance(engine_v, str):
                    self.error(
                        "/task/engine",
                        "`task.engine` is empty",
                        "write docker, wasm, rust, c, or an extension engine's name",
                        code="empty",
                    )
                return OtherTask(engine="none")
            params = {k: self.generic(v, child("/task", k)) for k, v in t.items() if k != "engine"}
            return OtherTask(engine=engine, params=FrozenMap(params))
        self.keep_unknown(t, "/task", TASK_FIELDS[engine], f"a {engine} task", "task.")
        # WASM arguments are any values (read below); the other engines take strings.
        args = (
            self.string_list(t["args"], "/task/args", "task.args")
            if "args" in t and engine != "wasm"
            else ()
        )
        env = self.env(t["env"], "/task/env", "task.env") if "env" in t else FrozenMap()
        if engine == "docker":
            image = self.required_string(t, "image", "an image reference, e.g. ubuntu:22.04")
            entrypoint: tuple[str, ...] = ()
            if "entrypoint" in t:
                ep = t["entrypoint"]
                entrypoint = (
                    (ep,)
                    if isinstance(ep, str)
                    else self.string_list(ep, "/task/entrypoint", "task.entrypoint")
                )
            return DockerTask(
                image=image,
                platform=self.optional_string(t, "platform"),
                entrypoint=entrypoint,
                args=args,
                env=env,
                workdir=self.optional_string(t, "workdir"),
            )
        if engine == "wasm":
            imports: dict[str, Content] = {}
            if "imports" in t:
                for name, src in self.mapping(
                    t["imports"], "/task/imports", "task.imports"
                ).items():
                    p = child("/task/imports", name)
                    imports[name] = self.content(src, p, f"task.imports.{name}")
                    self.locations[f"/task/imports/{name}"] = p
            wasm_args: tuple[Value, ...] = ()
            if "args" in t:
                wasm_args = tuple(
                    self.generic(a, child("/task/args", i))
                    for i, a in enumerate(self.sequence(t["args"], "/task/args", "task.args"))
                )
            stdin = None
            if "stdin" in t:
                stdin = self.content(t["stdin"], "/task/stdin", "task.stdin")
            return WasmTask(
                module=self.required_content(t, "module"),
                entrypoint=self.optional_string(t, "entrypoint") or "_start",
                args=wasm_args,
                env=env,
                imports=FrozenMap(imports),
                stdin=stdin,
            )
        edition = ""
        if engine == "rust" and "edition" in t:
            edition = self.string(t["edition"], "/task/edition", "task.edition", allow_int=True)
            if edition and edition not in ("2015", "2018", "2021", "2024"):
                self.error(
                    "/task/edition",
                    f"unknown Rust edition {edition!r}",
                    "use 2015, 2018 or 2021",
                    code="edition",
                )
        return SourceTask(
            engine="rust" if engine == "rust" else "c",
            source=self.required_content(t, "source"),
            edition=edition,
            args=args,
            env=env,
        )

    def required_string(self, t: dict[str, Any], field: str, what: str) -> str:
        if field not in t:
            self.error(
                "/task", f"the task has no `{field}`", f"add `{field}:` with {what}", code="missing"
            )
            return ""
        value = self.string(t[field], f"/task/{field}", f"task.{field}")
        if not value and isinstance(t[field], str):
            self.error(f"/task/{field}", f"`task.{field}` is empty", f"give {what}", code="empty")
        return value

    def optional_string(self, t: dict[str, Any], field: str) -> str:
        if field not in t:
            return ""
        return self.string(t[field], f"/task/{field}", f"task.{field}")

    def required_content(self, t: dict[str, Any], field: str) -> Content:
        if field not in t:
            self.error(
                "/task",
                f"the task has no `{field}`",
                f"add `{field}:` with a path, URL or ipfs:// CID",
                code="missing",
            )
            return ""
        return self.content(t[field], f"/task/{field}", f"task.{field}")

    def content(self, value: Any, pointer: str, field: str) -> Content:
        text = self.string(
            value, pointer, field, hint="give a path, a URL, a data: URI or an ipfs:// CID"
        )
        if not text and isinstance(value, str):
            self.error(
                pointer, f"`{field}` is empty", "give a path, URL or ipfs:// CID", code="empty"
            )
        return text

    # -- inputs and outputs

    def inputs(self, value: Any) -> tuple[tuple[Input, ...], dict[str, str]]:
        items = self.sequence(value, "/inputs", "inputs")
        inputs: list[Input] = []
        names: dict[str, str] = {}
        targets: dict[str, str] = {}
        for i, item in enumerate(items):
            p = child("/inputs", i)
            m = self.mapping(item, p, f"inputs[{i}]")
            if not isinstance(item, dict):
                continue
            target = self.path(m, p, "target", f"inputs[{i}]")
            if target and target in targets:
                self.error(
                    child(p, "target"),
                    f"two inputs are mounted at {target!r}",
                    f"the other one is at {self.doc.span(targets[target])}",
                    code="duplicate-target",
                )
                continue
            targets[target] = child(p, "target")
            self.keep_unknown(m, p, INPUT_FIELDS, "an input", f"inputs[{target}].")
            source: Content | Await
            if "source" in m and "text" in m:
                self.error(p, "an input has either `source` or `text`, not both", code="conflict")
                source = ""
            elif "text" in m:
                text = self.string(m["text"], child(p, "text"), f"inputs[{i}].text")
                source = text_uri(text)
            elif "source" in m:
                source = self.input_source(m["source"], child(p, "source"), i)
            else:
                self.error(
                    p,
                    "the input has no `source`",
                    "add `source:` with a path, URL or ipfs:// CID (or `text:`)",
                    code="missing",
                )
                source = ""
            self.locations[f"/inputs/{target}"] = p
            inputs.append(Input(target, source))
            if "name" in m:
                name = self.string(m["name"], child(p, "name"), f"inputs[{i}].name")
                if name in names:
                    self.error(
                        child(p, "name"),
                        f"two inputs are named {name!r}",
                        "input names must be unique",
                        code="duplicate-name",
                    )
                names[name] = clean_path(target)
        return tuple(inputs), names

    def input_source(self, value: Any, pointer: str, i: int) -> Content | Await:
        text = self.content(value, pointer, f"inputs[{i}].source")
        if not isinstance(text, str) or not text.startswith("job:"):
            return text
        # job:<CID>#<output path>: the output of another job, by CID.
        ref, sep, path = text[4:].partition("#")
        try:
            link = Link.parse(ref)
        except ValueError:
            self.error(
                pointer,
                f"{ref!r} is not a job CID",
                "write job:<job CID>#<output path>; named jobs need jobspec/2",
                code="bad-await",
            )
            return ""
        if not sep or not path.startswith("/"):
            self.error(
                pointer,
                "a job: source needs the output path after `#`",
                "write job:<job CID>#/outputs/…",
                code="bad-await",
            )
            return ""
        return Await(link.v1(), path)

    def outputs(self, value: Any) -> tuple[tuple[str, ...], dict[str, str]]:
        items = self.sequence(value, "/outputs", "outputs")
        paths: dict[str, str] = {}
        names: dict[str, str] = {}
        for i, item in enumerate(items):
            p = child("/outputs", i)
            if isinstance(item, str):
                item = {"path": item}
                path = self.check_path(item["path"], p, f"outputs[{i}]")
            else:
                m = self.mapping(item, p, f"outputs[{i}]")
                if not isinstance(item, dict):
                    continue
                path = self.path(m, p, "path", f"outputs[{i}]")
                self.keep_unknown(m, p, OUTPUT_FIELDS, "an output", f"outputs[{path}].")
                if "name" in m:
                    name = self.string(m["name"], child(p, "name"), f"outputs[{i}].name")
                    if name in names:
                        self.error(
                            child(p, "name"),
                            f"two outputs are named {name!r}",
                            "output names must be unique",
                            code="duplicate-name",
                        )
                    names[name] = clean_path(path)
            if path and path in paths:
                self.error(
                    p,
                    f"two outputs have the path {path!r}",
                    f"the other one is at {self.doc.span(paths[path])}",
                    code="duplicate-output",
                )
                continue
            paths[path] = p
            self.locations[f"/outputs/{path}"] = p
        return tuple(paths), names

    def path(self, m: dict[str, Any], pointer: str, field: str, where: str) -> str:
        if field not in m:
            self.error(
                pointer,
                f"`{where}` has no `{field}`",
                f"add `{field}:` with an absolute path such as /data",
                code="missing",
            )
            return ""
        return self.check_path(m[field], child(pointer, field), f"{where}.{field}")

    def check_path(self, value: Any, pointer: str, field: str) -> str:
        text = self.string(value, pointer, field)
        if isinstance(value, str) and not text.startswith("/"):
            self.error(
                pointer,
                f"`{field}` must be an absolute path, not {text!r}",
                f"write /{text}" if text else "write an absolute path such as /data",
                code="relative-path",
            )
        if "\x00" in text:
            self.error(pointer, f"`{field}` contains a NUL character", code="bad-path")
        return text

    # -- network

    def network(self, value: Any) -> Network | None:
        if isinstance(value, str):
            mode, pointer = value, "/network"
            domains: tuple[str, ...] = ()
        else:
            m = self.mapping(value, "/network", "network")
            self.keep_unknown(m, "/network", NETWORK_FIELDS, "network", "network.")
            pointer = "/network/mode"
            mode = self.string(m.get("mode", "none"), pointer, "network.mode")
            domains = (
                self.string_list(m["domains"], "/network/domains", "network.domains")
                if "domains" in m
                else ()
            )
        self.locations["/network"] = "/network"
        if mode not in NETWORK_MODES:
            self.error(
                pointer, f"unknown network mode {mode!r}", "use none, http or full", code="network"
            )
            return None
        if mode == "none":
            if domains:
                self.error(
                    "/network/domains",
                    "domains are given but the network mode is none",
                    "set `mode: http`",
                    code="network",
                )
            return None
        return Network(mode="http" if mode == "http" else "full", domains=domains)


# --- the fast path for clean documents ------------------------------------------------------
#
# A gateway compiles thousands of specs a second, nearly all of them clean. `read_clean`
# reads the common clean shape (known fields only, every value of the expected type,
# nothing to warn about) in one pass, without a JSON pointer or a diagnostic per value.
# On anything else it returns None and `_JobspecReader` reads the document, reporting
# every problem. It accepts a deliberately narrow subset, so the two readers agree by
# construction on what it accepts; tests/test_perf_invariants.py checks that they give
# equal results on every example, every test case and thousands of generated and
# mutated specs.


class _Unclean(Exception):
    """The document needs the full reader: it may have something to report."""


_CLEAN_TOP = frozenset(TOP_FIELDS) - {"x"}
_CLEAN_DOCKER = frozenset(TASK_FIELDS["docker"])
_CLEAN_WASM = frozenset(TASK_FIELDS["wasm"])
_CLEAN_INPUT = frozenset(("name", "source", "target"))
_CLEAN_OUTPUT = frozenset(OUTPUT_FIELDS)


def read_clean(tree: Any, *, plain: bool = False) -> Parsed | None:
    """The jobspec/1 document `tree` read into the IR if it is clean, else None.
    `plain`: the tree is known to hold nothing JSON cannot write (`SourceDocument.plain`)."""
    try:
        return _read_clean(tree, plain)
    except _Unclean:
        return None


def _read_clean(doc: Any, plain: bool) -> Parsed:
    if type(doc) is not dict or not doc.keys() <= _CLEAN_TOP:
        raise _Unclean
    version = doc.get("jobspec")
    if type(version) is not int or version != 1:
        raise _Unclean
    locations: dict[str, str] = {}
    meta: dict[str, Any] = {}
    if "name" in doc:
        meta["name"] = _str(doc["name"])
    if "labels" in doc:
        labels = doc["labels"]
        if type(labels) is not dict or not _all_str(labels.values()):
            raise _Unclean
        meta["labels"] = dict(labels)
    task = doc.get("task")
    if type(task) is not dict:
        raise _Unclean
    engine = task.get("engine")
    if engine == "docker":
        task_ir: Task = _clean_docker(task)
    elif engine == "wasm":
        task_ir = _clean_wasm(task, locations)
    else:
        raise _Unclean
    inputs, input_names = _clean_inputs(doc.get("inputs", []), locations)
    outputs, output_names = _clean_outputs(doc.get("outputs", []), locations)
    if input_names:
        meta["input_names"] = input_names
    if output_names:
        meta["output_names"] = output_names
    determinism: Determinism = default_determinism(engine)
    if "deterministic" in doc:
        deterministic = doc["deterministic"]
        if type(deterministic) is not bool:
            raise _Unclean
        determinism = "strict" if deterministic else "none"
        locations["/determinism"] = "/deterministic"
    if "network" in doc:
        raise _Unclean
    nonce = _str(doc["nonce"]) if "nonce" in doc else ""
    execution: dict[str, Any] = {}
    if "execution" in doc:
        execution = doc["execution"]
        if type(execution) is not dict or (not plain and unwritable(execution, "/execution")):
            raise _Unclean
    job = Job(
        task=task_ir,
        inputs=inputs,
        outputs=outputs,
        determinism=determinism,
        network=None,
        nonce=nonce,
        x=empty_map(),
    )
    return Parsed(job=job, format=FORMAT, meta=meta, execution=execution, locations=locations)


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _Unclean
    return value


def _filled(value: Any) -> str:
    """A non-empty string (a required reference or source)."""
    if type(value) is not str or not value:
        raise _Unclean
    return value


def _all_str(values: Iterable[Any]) -> bool:
    """Whether every value is a `str` (a plain loop: a third of what `all()` over a
    generator costs, on lists of a few items)."""
    for value in values:  # noqa: SIM110 (see the docstring)
        if type(value) is not str:
            return False
    return True


def _strings(value: Any) -> tuple[str, ...]:
    if type(value) is not list or not _all_str(value):
        raise _Unclean
    return tuple(value)


def _clean_env(task: dict[str, Any]) -> FrozenMap[str]:
    if "env" not in task:
        return empty_map()
    env = task["env"]
    if type(env) is dict:
        if not _all_str(env.values()):
            raise _Unclean
        return FrozenMap(env)
    if type(env) is not list:
        raise _Unclean
    out: dict[str, str] = {}
    for item in env:
        name, sep, value = _str(item).partition("=")
        if not sep or not name or name in out:
            raise _Unclean
        out[name] = value
    return FrozenMap(out)


def _clean_docker(task: dict[str, Any]) -> DockerTask:
    if not task.keys() <= _CLEAN_DOCKER:
        raise _Unclean
    entrypoint: tuple[str, ...] = ()
    if "entrypoint" in task:
        ep = task["entrypoint"]
        entrypoint = (ep,) if type(ep) is str else _strings(ep)
    return DockerTask(
        image=_filled(task.get("image")),
        platform=_str(task["platform"]) if "platform" in task else "",
        entrypoint=entrypoint,
        args=_strings(task["args"]) if "args" in task else (),
        env=_clean_env(task),
        workdir=_str(task["workdir"]) if "workdir" in task else "",
    )


def _clean_wasm(task: dict[str, Any], locations: dict[str, str]) -> WasmTask:
    if not task.keys() <= _CLEAN_WASM:
        raise _Unclean
    imports: dict[str, Content] = {}
    if "imports" in task:
        given = task["imports"]
        if type(given) is not dict:
            raise _Unclean
        for name, source in given.items():
            if "~" in name or "/" in name:
                raise _Unclean  # its pointer needs escaping: the full reader does that
            imports[name] = _filled(source)
            locations[f"/task/imports/{name}"] = f"/task/imports/{name}"
    args: tuple[Value, ...] = ()
    if "args" in task:
        if type(task["args"]) is not list:
            raise _Unclean
        try:
            args = tuple([plain_value(a) for a in task["args"]])
        except NotPlain:
            raise _Unclean from None
    return WasmTask(
        module=_filled(task.get("module")),
        entrypoint=(_str(task["entrypoint"]) or "_start") if "entrypoint" in task else "_start",
        args=args,
        env=_clean_env(task),
        imports=FrozenMap(imports),
        stdin=_filled(task["stdin"]) if "stdin" in task else None,
    )


def _clean_path(value: Any) -> str:
    if type(value) is not str or value[:1] != "/" or "\x00" in value:
        raise _Unclean
    return value


def _clean_inputs(
    value: Any, locations: dict[str, str]
) -> tuple[tuple[Input, ...], dict[str, str]]:
    if type(value) is not list:
        raise _Unclean
    inputs: list[Input] = []
    names: dict[str, str] = {}
    for i, item in enumerate(value):
        if type(item) is not dict or not item.keys() <= _CLEAN_INPUT:
            raise _Unclean
        target = _clean_path(item.get("target"))
        source = item.get("source")
        if type(source) is not str or not source or source.startswith("job:"):
            raise _Unclean  # `_filled`, inlined; an await needs the full reader
        key = f"/inputs/{target}"
        if key in locations:
            raise _Unclean  # two inputs at one target
        locations[key] = f"/inputs/{i}"
        inputs.append(Input(target, source))
        if "name" in item:
            name = item["name"]
            if type(name) is not str or name in names:
                raise _Unclean
            names[name] = clean_path(target)
    return tuple(inputs), names


def _clean_outputs(value: Any, locations: dict[str, str]) -> tuple[tuple[str, ...], dict[str, str]]:
    if type(value) is not list:
        raise _Unclean
    paths: list[str] = []
    names: dict[str, str] = {}
    for i, item in enumerate(value):
        if type(item) is str:
            path = _clean_path(item)
        else:
            if type(item) is not dict or not item.keys() <= _CLEAN_OUTPUT:
                raise _Unclean
            path = _clean_path(item.get("path"))
            if "name" in item:
                name = item["name"]
                if type(name) is not str or name in names:
                    raise _Unclean
                names[name] = clean_path(path)
        key = f"/outputs/{path}"
        if key in locations:
            raise _Unclean  # two outputs with one path
        locations[key] = f"/outputs/{i}"
        paths.append(path)
    return tuple(paths), names
