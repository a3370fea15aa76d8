"""Bacalhau's current Job API (v1.1, August 2023, to today), alone or in `{Job: …}`.

```yaml
Name: word-count                 # meta
Type: batch                      # execution (batch, ops, daemon, service)
Count: 1                         # execution, as are Namespace, Priority, Constraints
Labels: {team: data}             # meta
Meta: {owner: ada}               # meta (annotations); `jobc.*` keys are jobc's own
Tasks:
  - Name: main
    Engine:
      Type: docker               # docker | wasm | any other engine (kept as written)
      Params: {Image: ubuntu:22.04, Entrypoint: [wc], Parameters: [-l, /inputs/words.txt],
               EnvironmentVariables: [LC_ALL=C], WorkingDirectory: /}
    Env: {LANG: C.UTF-8}         # identity, with EnvironmentVariables: one map
    InputSources:
      - {Alias: words, Target: /inputs, Source: {Type: ipfs, Params: {CID: bafy…}}}
    ResultPaths: [{Name: result, Path: /outputs}]
    Network: {Type: HTTP, Domains: [example.org]}
    Publisher: {Type: ipfs}      # execution, as are Resources and Timeouts
    Resources: {CPU: "1", Memory: 1Gi}
    Timeouts: {ExecutionTimeout: 600}
```

WASM comes in two shapes: from 2025, `EntryModule` and `ImportModules` are paths of
input sources (format `bacalhau/job`); before, `EntryModule` and each import were input
sources themselves, with `EntryPoint` and `EnvironmentVariables` in the params
(`bacalhau/job-2023`). Either way the module is the task's `module`, not an input.
"""

from __future__ import annotations

from typing import Any

from compiler.frontends import Options, Parsed
from compiler.frontends.bacalhau.common import BacalhauReader
from compiler.frontends.bacalhau.fields import Fields
from compiler.frontends.loader import SourceDocument
from compiler.frontends.reader import child
from compiler.ir import (
    Content,
    DockerTask,
    FrozenMap,
    Input,
    OtherTask,
    SourceTask,
    Task,
    Value,
    WasmTask,
)
from compiler.passes.normalize import clean_path

FORMAT = "bacalhau/job"
FORMAT_WASM_2023 = "bacalhau/job-2023"

JOB_FIELDS = (
    "Name", "Namespace", "Type", "Priority", "Count", "Constraints", "Meta", "Labels",
    "Tasks", "ID", "State", "Version", "Revision", "CreateTime", "ModifyTime",
)  # fmt: skip
SERVER_FIELDS = ("ID", "State", "Version", "Revision", "CreateTime", "ModifyTime")
"""Written by Bacalhau's orchestrator, never by a user: kept in meta as they are."""
TASK_FIELDS = (
    "Name", "Engine", "Publisher", "Env", "Meta", "InputSources", "ResultPaths",
    "Resources", "Network", "Timeouts",
)  # fmt: skip
WRAPPER_FIELDS = ("Job", "Force", "IdempotencyToken", "Namespace", "History", "Executions")
SECRET_WRAPPER_FIELDS = ("Credential",)
"""Request fields that carry the caller's credentials: Bacalhau's Go client encodes its
`BaseRequest.Credential` (no json tag) into every body, `null` or `{Scheme, Value}`.
Read and dropped, never kept in meta (a compiled document must not hold a token)."""
DOCKER_PARAMS = ("Image", "Entrypoint", "Parameters", "EnvironmentVariables", "WorkingDirectory")
WASM_PARAMS = ("EntryModule", "Entrypoint", "Parameters", "ImportModules")
WASM_2023_PARAMS = (
    "EntryModule",
    "EntryPoint",
    "Parameters",
    "EnvironmentVariables",
    "ImportModules",
)
INPUT_FIELDS = ("Source", "Alias", "Target")
SOURCE_PARAMS: dict[str, tuple[str, ...]] = {
    "ipfs": ("CID",),
    "urldownload": ("URL",),
    "url": ("URL",),
    "inline": ("URL",),
    "local": ("SourcePath", "ReadWrite", "CreateAs"),
    "localdirectory": ("SourcePath", "ReadWrite", "CreateAs"),
    "s3": ("Bucket", "Key", "Filter", "Region", "Endpoint", "VersionID", "ChecksumSHA256"),
    "s3presigned": (
        "Bucket", "Key", "Filter", "Region", "Endpoint", "VersionID", "ChecksumSHA256",
        "PreSignedURL",
    ),
}  # fmt: skip
"""Storage types jobc reads, with their parameters (pkg/storage/*/types.go)."""
TIMEOUTS = (
    ("ExecutionTimeout", "timeout"),
    ("QueueTimeout", "queue_timeout"),
    ("TotalTimeout", "total_timeout"),
)


def looks_like_job(tree: Any) -> bool:
    """Whether `tree` has the current Job API's shape: `Tasks`, maybe inside `Job`."""
    if not isinstance(tree, dict):
        return False
    keys = {k.casefold() for k in tree}
    if "tasks" in keys:
        return "apiversion" not in keys and "spec" not in keys
    if "job" in keys:
        inner = next(v for k, v in tree.items() if k.casefold() == "job")
        return isinstance(inner, dict) and "tasks" in {k.casefold() for k in inner}
    return False


def parse(doc: SourceDocument, options: Options) -> Parsed:
    """Read a current-API Bacalhau job into the IR, or raise SpecError with every problem."""
    return _JobReader(doc, options).read()


class _JobReader(BacalhauReader):
    def __init__(self, doc: SourceDocument, options: Options) -> None:
        super().__init__(doc, options, FORMAT)
        self.bacalhau: dict[str, Any] = {}
        """What only Bacalhau needs (server fields, how the module was mounted): meta."""

    def read(self) -> Parsed:
        top = self.fields(self.doc.tree, "", "")
        if "Tasks" in top or "Job" not in top:
            job = top
        else:
            job = top.sub("Job")
            request = {}
            for name in WRAPPER_FIELDS[1:]:
                if top.has(name):
                    request[top.key(name)] = self.as_written(top.get(name), top.at(name), name)
            for name in SECRET_WRAPPER_FIELDS:
                top.get(name)  # read, so not reported, and not kept
            for key, value in top.unread().items():
                self.warn(
                    child("", key),
                    f"unknown field `{key}` beside `Job` (kept in meta, not in the job)",
                    "a submission holds `Job` and request options (Force, IdempotencyToken)",
                    key=True,
                    code="unknown-field",
                )
                request[key] = self.as_written(value, child("", key), key)
            if request:
                self.bacalhau["request"] = request
        return self.job(job)

    def job(self, job: Fields) -> Parsed:
        if job.has("Name"):
            self.meta["name"] = job.string("Name", allow_int=True)
        if job.has("Labels"):
            self.meta["labels"] = self.string_map(job.get("Labels"), job.at("Labels"), "Labels")
        if job.has("Meta"):
            self.annotations(job.get("Meta"), job.at("Meta"), "Meta")
        for name, option in (("Type", "type"), ("Namespace", "namespace")):
            if job.has(name):
                self.execution[option] = job.string(name)
        for name, option in (("Count", "count"), ("Priority", "priority")):
            if job.has(name):
                self.execution[option] = self.integer(job, name)
        self.constraints(job, "Constraints")
        for name in SERVER_FIELDS:
            if job.has(name):
                key = job.key(name)
                assert key is not None
                self.bacalhau[key] = self.as_written(job.get(name), job.at(name), name)

        tasks = [(p, item, label) for p, item, label in job.items("Tasks")]
        if not tasks:
            self.error(
                job.at("Tasks"),
                "the job has no task",
                "add `Tasks: [{Name: main, Engine: {Type: docker, Params: {Image: …}}}]`",
                code="missing",
            )
            self.sink.raise_if_errors()
        if len(tasks) > 1:
            message = "Bacalhau runs only the first task of a job; the others are ignored"
            if self.strict:
                self.error(tasks[1][0], message, "give one task per job", code="tasks")
            else:
                self.warn(tasks[1][0], message, "give one task per job", code="tasks")
                self.bacalhau["ignored_tasks"] = self.as_written(
                    [t for _, t, _ in tasks[1:]], tasks[1][0], "a task"
                )
        pointer, value, label = tasks[0]
        task = self.fields(value, pointer, label)
        self.keep_unknown(job, "", JOB_FIELDS)
        parsed = self.task(task)
        if self.bacalhau:
            self.meta["bacalhau"] = self.bacalhau
        return parsed

    def integer(self, fields: Fields, name: str) -> int:
        value = fields.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.type_error(fields.at(name), fields.label(name), "an integer", value)
        return 0

    # -- the task

    def task(self, t: Fields) -> Parsed:
        if t.has("Name"):
            self.meta["task_name"] = t.string("Name")
        if t.has("Meta"):
            self.meta["task_annotations"] = self.string_map(t.get("Meta"), t.at("Meta"), "Meta")
        inputs, aliases = self.input_sources(t)
        outputs = self.result_paths(t)
        env: dict[str, str] = {}
        if t.has("Env"):
            self.env_map(t.get("Env"), t.at("Env"), "Env", env)
        engine = t.sub("Engine")
        if not engine.has("Type"):
            self.error(
                t.at("Engine"),
                "the task has no engine" if "Engine" not in t else "the engine has no `Type`",
                "add `Engine: {Type: docker, Params: {Image: …}}` (or wasm)",
                code="missing",
            )
            self.sink.raise_if_errors()
        kind = engine.string("Type")
        params = engine.sub("Params")
        task = self.engine(kind.casefold(), params, env, inputs, aliases)
        self.keep_unknown(engine, "Engine.", ("Type", "Params"))
        if t.has("Publisher"):
            self.execution["publisher"] = self.spec_config(t.sub("Publisher"))
        self.resources(t.sub("Resources"))
        timeouts = t.sub("Timeouts")
        for name, option in TIMEOUTS:
            self.timeout(timeouts, name, option)
        self.keep_unknown(timeouts, "Timeouts.", tuple(n for n, _ in TIMEOUTS))
        network = self.network(t.sub("Network"))
        self.keep_unknown(t, "Task.", TASK_FIELDS)
        return self.finish(task, inputs, outputs, network)

    def input_sources(self, t: Fields) -> tuple[dict[str, Input], dict[str, str]]:
        inputs: dict[str, Input] = {}
        aliases: dict[str, str] = {}
        names: dict[str, str] = {}
        options: dict[str, Any] = {}
        for pointer, item, label in t.items("InputSources"):
            fields = self.fields(item, pointer, label)
            target = self.target(fields)
            content = self.input_content(fields, target, options)
            if content is None:
                continue
            self.add_input(inputs, target, content, pointer)
            alias = fields.string("Alias")
            if alias:
                if alias in names:
                    self.error(
                        fields.at("Alias"),
                        f"two input sources have the alias {alias!r}",
                        "aliases name inputs: make them unique",
                        code="duplicate-name",
                    )
                names[alias] = clean_path(target) if target else ""
                aliases[target] = alias
            self.keep_unknown(fields, f"InputSources[{target}].", INPUT_FIELDS)
        if names:
            self.meta["input_names"] = names
        if options:
            self.execution["inputs"] = options
        return inputs, aliases

    def input_content(self, fields: Fields, target: str, options: dict[str, Any]) -> Content | None:
        """The content of one input source ({Source: {Type, Params}}); an unknown storage
        type keeps the whole input under `x` (with a warning) and gives None."""
        source = fields.sub("Source")
        if not source.has("Type"):
            self.error(
                fields.at("Source"),
                "the input source has no `Source`"
                if "Source" not in fields
                else "the source has no `Type`",
                "add `Source: {Type: ipfs, Params: {CID: …}}` (or urlDownload, s3, inline, local)",
                code="missing",
            )
            return None
        kind = source.string("Type")
        params = source.sub("Params")
        found: dict[str, Any] = {}
        content = self.storage_content(kind, params, target, found)
        if content is None:
            known = ", ".join(sorted({"ipfs", "urlDownload", "s3", "inline", "local"}))
            message = f"jobc does not know the storage type {kind!r}"
            if self.strict:
                self.error(source.at("Type"), message, f"jobc reads {known}", code="storage")
            else:
                self.warn(
                    source.at("Type"),
                    message + " (the input is kept under `x`)",
                    f"jobc reads {known}; this input cannot be content-addressed",
                    code="storage",
                )
                fields.get("Alias")
                fields.get("Target")
                self.add_x(f"InputSources[{target}]", fields_value(fields), fields.pointer)
            return None
        self.keep_unknown(
            params, f"InputSources[{target}].Source.Params.", SOURCE_PARAMS[kind.casefold()]
        )
        self.keep_unknown(source, f"InputSources[{target}].Source.", ("Type", "Params"))
        if found:
            options[target] = found
        return content

    def result_paths(self, t: Fields) -> list[str]:
        outputs: list[str] = []
        names: dict[str, str] = {}
        for pointer, item, label in t.items("ResultPaths"):
            fields = self.fields(item, pointer, label)
            path = self.target(fields, "Path")
            if path in outputs:
                self.error(
                    pointer,
                    f"two result paths have the path {path!r}",
                    f"the other one is at {self.doc.span(self.locations['/outputs/' + path])}",
                    code="duplicate-output",
                )
                continue
            outputs.append(path)
            self.locations[f"/outputs/{path}"] = pointer
            name = fields.string("Name")
            if name:
                if name in names:
                    self.error(
                        fields.at("Name"),
                        f"two result paths are named {name!r}",
                        "names must be unique",
                        code="duplicate-name",
                    )
                names[name] = clean_path(path) if path else ""
            self.keep_unknown(fields, f"ResultPaths[{path}].", ("Name", "Path"))
        if names:
            self.meta["output_names"] = names
        return outputs

    # -- engines

    def engine(
        self,
        kind: str,
        params: Fields,
        env: dict[str, str],
        inputs: dict[str, Input],
        aliases: dict[str, str],
    ) -> Task:
        if kind == "docker":
            return self.docker(params, env)
        if kind == "wasm":
            return self.wasm(params, env, inputs, aliases)
        if kind in ("rust", "c"):
            return self.source_task(kind, params, env)
        params_value = {**fields_value(params), "Env": env} if env else fields_value(params)
        return OtherTask(engine=kind, params=_frozen(self.generic(params_value, params.pointer)))

    def docker(self, params: Fields, env: dict[str, str]) -> DockerTask:
        image = params.string("Image")
        if not image:
            self.error(
                params.at("Image") if "Image" in params else params.pointer,
                "the docker engine has no `Image`" if "Image" not in params else "`Image` is empty",
                "add `Image:` with an image reference, e.g. ubuntu:22.04",
                key="Image" not in params,
                code="missing",
            )
        self.locations["/task/image"] = params.at("Image")
        entrypoint = self.argv(params, "Entrypoint")
        args = params.strings("Parameters")
        self.env_list(params, "EnvironmentVariables", env)
        workdir = params.string("WorkingDirectory")
        if workdir:
            self.locations["/task/workdir"] = params.at("WorkingDirectory")
        self.keep_unknown(params, "Engine.Params.", DOCKER_PARAMS)
        return DockerTask(
            image=image,
            entrypoint=entrypoint,
            args=args,
            env=FrozenMap(env),
            workdir=workdir,
        )

    def argv(self, params: Fields, name: str) -> tuple[str, ...]:
        value = params.get(name)
        if isinstance(value, str):
            return (value,)  # lenient: Go would refuse a string, a person meant one word
        return params.strings(name)

    def wasm(
        self,
        params: Fields,
        env: dict[str, str],
        inputs: dict[str, Input],
        aliases: dict[str, str],
    ) -> WasmTask:
        entry = params.get("EntryModule")
        if isinstance(entry, dict):
            return self.wasm_2023(params, env)
        path = params.string("EntryModule")
        if not path:
            self.error(
                params.at("EntryModule"),
                "the wasm engine has no `EntryModule`",
                "give the target of the input source holding the module, e.g. /main.wasm",
                code="missing",
            )
        module = self.take_module(path, params.at("EntryModule"), inputs, aliases, "module")
        self.locations["/task/module"] = params.at("EntryModule")
        imports: dict[str, Content] = {}
        written_imports: list[str] = []
        for pointer, item, label in params.items("ImportModules"):
            name = self.string(item, pointer, label)
            written_imports.append(name)
            imports[name] = self.take_module(name, pointer, inputs, aliases, "import")
            self.locations[f"/task/imports/{name}"] = pointer
        task = WasmTask(
            module=module,
            entrypoint=params.string("Entrypoint") or "_start",
            args=tuple(params.strings("Parameters")),
            env=FrozenMap(env),
            imports=FrozenMap(imports),
        )
        self.keep_unknown(params, "Engine.Params.", WASM_PARAMS)
        return task

    def take_module(
        self,
        path: str,
        pointer: str,
        inputs: dict[str, Input],
        aliases: dict[str, str],
        what: str,
    ) -> Content:
        """The content of the input source a module path names; that input is the task's
        code, not data, so it leaves `inputs` (its target and alias go to meta)."""
        target = path if path.startswith("/") else "/" + path
        found = inputs.pop(target, None)
        if found is None or not isinstance(found.source, str):
            if path:
                known = ", ".join(sorted(inputs)) or "none"
                self.error(
                    pointer,
                    f"no input source is mounted at {target!r} for the {what}",
                    f"add an input source with `Target: {target}` (targets: {known})",
                    code="module",
                )
            return ""
        self.locations.pop(f"/inputs/{target}", None)
        mounted: dict[str, str] = {"path": path, "target": target}
        if target in aliases:
            mounted["alias"] = aliases.pop(target)
            names = self.meta.get("input_names", {})
            names.pop(mounted["alias"], None)
            if not names:
                self.meta.pop("input_names", None)
        self.bacalhau.setdefault("modules", []).append(mounted)
        return found.source

    def wasm_2023(self, params: Fields, env: dict[str, str]) -> WasmTask:
        self.format = FORMAT_WASM_2023
        entry = self.fields(params.get("EntryModule"), params.at("EntryModule"), "EntryModule")
        options: dict[str, Any] = {}
        module = self.input_content(entry, "EntryModule", options) or ""
        self.locations["/task/module"] = entry.pointer
        entry.get("Alias")
        entry.get("Target")
        imports: dict[str, Content] = {}
        for i, (pointer, item, label) in enumerate(params.items("ImportModules")):
            fields = self.fields(item, pointer, label)
            name = fields.string("Target") or fields.string("Alias") or f"import-{i}"
            content = self.input_content(fields, name, options)
            if content is not None:
                imports[name] = content
                self.locations[f"/task/imports/{name}"] = pointer
        if params.has("EnvironmentVariables"):
            self.env_map(
                params.get("EnvironmentVariables"),
                params.at("EnvironmentVariables"),
                "Engine.Params.EnvironmentVariables",
                env,
            )
        if options:
            self.execution.setdefault("inputs", {}).update(options)
        task = WasmTask(
            module=module,
            entrypoint=params.string("EntryPoint") or "_start",
            args=tuple(params.strings("Parameters")),
            env=FrozenMap(env),
            imports=FrozenMap(imports),
        )
        self.keep_unknown(params, "Engine.Params.", WASM_2023_PARAMS)
        return task

    def source_task(self, kind: str, params: Fields, env: dict[str, str]) -> SourceTask:
        """`Engine: {Type: rust|c, Params: {Source, Edition, Parameters}}`: jobc's own
        engines, in Bacalhau's shape (what `jobc export` writes before lowering)."""
        source = params.string("Source")
        if not source:
            self.error(
                params.at("Source"),
                f"the {kind} engine has no `Source`",
                "give the program's source: a path, URL or ipfs:// CID",
                code="missing",
            )
        self.locations["/task/source"] = params.at("Source")
        task = SourceTask(
            engine="rust" if kind == "rust" else "c",
            source=source,
            edition=params.string("Edition", allow_int=True) if kind == "rust" else "",
            args=params.strings("Parameters"),
            env=FrozenMap(env),
        )
        self.keep_unknown(params, "Engine.Params.", ("Source", "Edition", "Parameters"))
        return task


def fields_value(fields: Fields) -> dict[str, Any]:
    """The whole map of `fields` as written (marking every field read)."""
    return {key: fields.get(key) for key in fields}


def _frozen(value: Value) -> FrozenMap[Value]:
    return value if isinstance(value, FrozenMap) else FrozenMap()
