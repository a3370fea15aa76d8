"""IPVM workflows 0.1, UCAN invocations 0.1 and Homestar workflows: tasks as invocations.

All three describe work as a resource, an ability and inputs — `{with, do, inputs, meta}`
in IPVM's and UCAN's drafts, `{on, call, input, nnc}` in UCAN invocation 0.1, and
`{rsc, op, input, nnc}` in Homestar — and let a task await another's result:
`{"ucan/promise": ["/", "label"]}` (IPVM, UCAN drafts) or `{"await/ok": {"/": <task CID>}}`
(UCAN 0.1, Homestar). Each task is one job of a workflow:

| ability | job |
|---|---|
| `wasm/run`, `ipvm/run` | wasm task: module = the resource, entrypoint = `func`, args = `args` |
| `docker/run` | docker task: image = the resource; `args`, `container{entry,workdir}`, `env` |
| anything else | an extension engine named by the ability: `{resource, input}` kept as written |

A promise on another task of the document becomes `{"await/ok": "job:<name>"}`, which
the link-workflow pass links to that job's final CID. Homestar awaits an instruction by
its CID, so the front-end computes each instruction's CID as Homestar does (DAG-CBOR of
`{rsc, op, input, nnc}`, sha3-256) to know which task is meant. `meta`, configuration
(fuel, memory, time, `ipvm/config`), proofs and causes are not identity: execution and
meta. Homestar's task nonce (`nnc`) is identity: a string is the job's nonce, bytes go
to `x.nnc`.

Formats: `homestar` (a list of `tasks`, named `task-0`, `task-1`, … by position),
`ipvm-workflow/0.1` (`{"ipvm/workflow": {v, meta, defaults, tasks: {"ucan/invoke": …}}}`),
`ucan-invocation/0.1` (`{"ucan/invoke": {v, run: {label: task}, nnc, prf, meta}}`); tasks
of the last two are named by their labels.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from compiler import identity
from compiler.diagnostics import SpecError
from compiler.frontends import Options, Parsed, ParsedWorkflow
from compiler.frontends.bacalhau.common import format_duration
from compiler.frontends.loader import SourceDocument
from compiler.frontends.reader import Reader, child, unwritable
from compiler.ir import (
    BUILTIN_ENGINES,
    DockerTask,
    FrozenMap,
    Job,
    Link,
    OtherTask,
    Task,
    Value,
    WasmTask,
    default_determinism,
)
from compiler.passes.link_workflow import Cycle, order_jobs

HOMESTAR = "homestar"
IPVM = "ipvm-workflow/0.1"
UCAN = "ucan-invocation/0.1"
STASH_KEY = "jobc.stash"
"""The key in a task's `meta` where jobc keeps what the format cannot say (as in
Bacalhau's `Meta`: `docs/formats.md`)."""

RESOURCE_KEYS = ("rsc", "with", "on")
ABILITY_KEYS = ("op", "do", "call")
INPUT_KEYS = ("input", "inputs")
WASM_ABILITIES = ("wasm/run", "ipvm/run")
SELECTORS = {"/": "await/ok", "/ok": "await/ok", "/error": "await/error", "/*": "await/*"}
"""A promise's selector → the await it means. `/`, the root of a task's result, is its
success value in IPVM's pipelining (a failure stops the workflow): `await/ok`."""


def is_homestar(tree: Any) -> bool:
    """A Homestar workflow: `tasks`, a list of `{run: {rsc, op, …}, …}`."""
    if not isinstance(tree, dict) or not isinstance(tree.get("tasks"), list):
        return False
    first = tree["tasks"][0] if tree["tasks"] else None
    return isinstance(first, dict) and isinstance(first.get("run"), dict | str)


def is_ipvm(tree: Any) -> bool:
    """An IPVM workflow: `{"ipvm/workflow": …}`."""
    return isinstance(tree, dict) and "ipvm/workflow" in tree


def is_ucan(tree: Any) -> bool:
    """A UCAN invocation: `{"ucan/invoke": …}`."""
    return isinstance(tree, dict) and "ucan/invoke" in tree


def parse_homestar(doc: SourceDocument, options: Options) -> ParsedWorkflow:
    """Read a Homestar workflow into the IR, one job per task."""
    return _Reader(doc, options, HOMESTAR).homestar()


def parse_ipvm(doc: SourceDocument, options: Options) -> ParsedWorkflow:
    """Read an IPVM workflow 0.1 into the IR, one job per task label."""
    return _Reader(doc, options, IPVM).ipvm()


def parse_ucan(doc: SourceDocument, options: Options) -> ParsedWorkflow:
    """Read a UCAN invocation 0.1 into the IR, one job per task label."""
    return _Reader(doc, options, UCAN).ucan("/ucan~1invoke", doc.tree["ucan/invoke"], {})


def instruction_map(run: dict[str, Any]) -> FrozenMap[Value]:
    """A Homestar instruction as IPLD, from its DAG-JSON form: `{rsc, op, input, nnc}`."""
    value = identity.from_dag_json({k: run[k] for k in ("rsc", "op", "input", "nnc") if k in run})
    assert isinstance(value, FrozenMap)
    return value


@dataclass
class _Task:
    name: str
    pointer: str
    run: dict[str, Any]
    meta: dict[str, Any]
    execution: dict[str, Any]
    awaits: list[str] = field(default_factory=list)
    parsed: Parsed | None = None


class _Reader(Reader):
    def __init__(self, doc: SourceDocument, options: Options, format: str) -> None:
        super().__init__(doc)
        self.strict = options.strict
        self.format = format
        self.by_cid: dict[Link, str] = {}
        """Instruction (or task) CID → task name, to read awaits by CID."""

    # -- the three envelopes

    def homestar(self) -> ParsedWorkflow:
        tree = self.doc.tree
        tasks: list[_Task] = []
        for key in tree:
            if key != "tasks":
                self.unknown(child("", key), key, "the workflow")
        for i, item in enumerate(self.sequence(tree["tasks"], "/tasks", "tasks")):
            pointer = child("/tasks", i)
            entry = self.mapping(item, pointer, f"tasks[{i}]")
            if not entry:
                continue
            run = self.mapping(entry.get("run"), child(pointer, "run"), f"tasks[{i}].run")
            meta: dict[str, Any] = {}
            for key in ("prf", "cause"):
                if entry.get(key) not in (None, []):
                    meta[key] = self.written(entry[key], child(pointer, key))
            execution = self.homestar_config(entry.get("meta"), child(pointer, "meta"), meta)
            for key in entry:
                if key not in ("run", "meta", "prf", "cause"):
                    self.unknown(child(pointer, key), key, f"tasks[{i}]")
            tasks.append(_Task(f"task-{i}", child(pointer, "run"), run, meta, execution))
        for task in tasks:  # an instruction that cannot be read is reported with its task
            with contextlib.suppress(identity.IdentityError, ValueError):
                self.by_cid[identity.sha3_cid_of_value(instruction_map(task.run))] = task.name
        return self.finish(tasks, {})

    def ipvm(self) -> ParsedWorkflow:
        tree = self.doc.tree
        work = self.mapping(tree["ipvm/workflow"], "/ipvm~1workflow", "ipvm/workflow")
        base = "/ipvm~1workflow"
        meta: dict[str, Any] = {}
        if "meta" in work:
            meta["annotations"] = self.written(work["meta"], child(base, "meta"))
        defaults: dict[str, Any] = {}
        for key in ("defaults", "config", "global"):
            if key in work:
                given = self.mapping(work[key], child(base, key), key)
                defaults.update(self.written(given, child(base, key)))
        for key in ("v", "parent", "catch"):
            if work.get(key) is not None:
                meta[key] = self.written(work[key], child(base, key))
        for key in work:
            if key not in ("v", "meta", "defaults", "config", "global", "tasks", "parent", "catch"):
                self.unknown(child(base, key), key, "ipvm/workflow")
        for key in tree:
            if key not in ("ipvm/workflow", "sig", "signature"):
                self.unknown(child("", key), key, "the document")
        tasks = work.get("tasks")
        pointer = child(base, "tasks")
        if isinstance(tasks, dict) and "ucan/invoke" in tasks:
            return self.ucan(child(pointer, "ucan/invoke"), tasks["ucan/invoke"], defaults, meta)
        return self.ucan(pointer, tasks, defaults, meta)

    def ucan(
        self,
        pointer: str,
        value: Any,
        defaults: dict[str, Any],
        meta: dict[str, Any] | None = None,
    ) -> ParsedWorkflow:
        invocation = self.mapping(value, pointer, "ucan/invoke")
        meta = dict(meta or {})
        for key in ("v", "nnc", "prf", "meta", "cause", "auth"):
            if invocation.get(key) not in (None, [], ""):
                meta.setdefault("invocation", {})[key] = self.written(
                    invocation[key], child(pointer, key)
                )
        for key in invocation:
            if key not in ("v", "run", "nnc", "prf", "meta", "cause", "auth"):
                self.unknown(child(pointer, key), key, "the invocation")
        run_pointer = child(pointer, "run")
        runs = self.mapping(invocation.get("run"), run_pointer, "run")
        tasks: list[_Task] = []
        for label, body in runs.items():
            p = child(run_pointer, label)
            given = self.mapping(body, p, f"run.{label}")
            task_meta = dict(self.mapping(given.get("meta", {}), child(p, "meta"), "meta"))
            config = {
                **defaults,
                **self.mapping(task_meta.pop("ipvm/config", {}), p, "ipvm/config"),
            }
            execution = {"ipvm/config": self.written(config, p)} if config else {}
            extra: dict[str, Any] = {}
            if task_meta:
                extra["annotations"] = self.written(task_meta, child(p, "meta"))
            tasks.append(_Task(label, p, given, extra, execution))
        for task in tasks:
            for hash_cid in _task_cids(task.run):
                self.by_cid[hash_cid] = task.name
        return self.finish(tasks, meta)

    # -- one task

    def finish(self, tasks: list[_Task], meta: dict[str, Any]) -> ParsedWorkflow:
        names = {t.name for t in tasks}
        for task in tasks:
            task.parsed = self.task(task, names)
        self.sink.raise_if_errors()
        graph = {t.name: t.awaits for t in tasks}
        try:
            ordered = order_jobs(graph)
        except Cycle as cycle:
            task = next(t for t in tasks if t.name == cycle.names[0])
            self.error(
                task.pointer,
                f"tasks {' → '.join([*cycle.names, cycle.names[0]])} await each other in a cycle",
                "a task cannot await its own result, directly or through others",
                code="cycle",
            )
            raise SpecError(self.diagnostics) from None
        by_name = {t.name: t for t in tasks}
        jobs = []
        for name in ordered:
            parsed = by_name[name].parsed
            assert parsed is not None
            jobs.append((name, parsed))
        return ParsedWorkflow(
            format=self.format, jobs=tuple(jobs), meta=meta, diagnostics=tuple(self.diagnostics)
        )

    def task(self, task: _Task, names: set[str]) -> Parsed:
        run, p = task.run, task.pointer
        locations: dict[str, str] = {}
        x: dict[str, Value] = {}
        resource_key = next((k for k in RESOURCE_KEYS if k in run), "rsc")
        ability_key = next((k for k in ABILITY_KEYS if k in run), "op")
        input_key = next((k for k in INPUT_KEYS if k in run), "input")
        resource = self.string(run.get(resource_key), child(p, resource_key), resource_key)
        ability = self.string(run.get(ability_key), child(p, ability_key), ability_key)
        locations["/task"] = p
        inputs = run.get(input_key, {})
        inputs_pointer = child(p, input_key)
        nonce = ""
        if "nnc" in run:
            nnc = self.value(run["nnc"], child(p, "nnc"), task, names)
            if isinstance(nnc, bytes):
                x["nnc"] = nnc
            elif isinstance(nnc, str):
                nonce = nnc
            else:
                self.error(child(p, "nnc"), "`nnc` must be a string or bytes", code="type")
        known = (resource_key, ability_key, input_key, "nnc", "meta")
        for key in run:
            if key not in known:
                self.unknown(child(p, key), key, f"task {task.name}", kept=True)
                if not self.strict:
                    x[key] = self.value(run[key], child(p, key), task, names)
        job_task: Task
        if ability in WASM_ABILITIES:
            job_task = self.wasm(resource, inputs, inputs_pointer, task, names, x, locations)
            locations["/task/module"] = child(p, resource_key)
        elif ability == "docker/run":
            job_task = self.docker(resource, inputs, inputs_pointer, task, names, x)
            locations["/task/image"] = child(p, resource_key)
        else:
            if ability in BUILTIN_ENGINES:
                # An extension engine may not take a built-in engine's name: the IR would
                # hold a `docker` job without an image, which no other format can say.
                self.error(
                    child(p, ability_key),
                    f"the ability {ability!r} names one of jobc's built-in engines, "
                    "not an operation",
                    "IPVM says `docker/run` for a container and `wasm/run` for a module",
                    code="ability",
                )
            params = {
                "resource": resource,
                "input": self.value(inputs, inputs_pointer, task, names),
            }
            job_task = OtherTask(engine=ability or "none", params=FrozenMap(params))
        job = Job(
            task=job_task,
            determinism=default_determinism(job_task.engine),
            nonce=nonce,
            x=FrozenMap(x),
        )
        stash = task.meta.get("annotations", {}).pop(STASH_KEY, None)
        if isinstance(stash, str):
            from compiler.frontends.bacalhau.common import (
                apply_stash,
                merge_execution,
                merge_meta,
                stash_extras,
            )

            try:
                job = apply_stash(job, stash)
                execution, meta = stash_extras(stash)
                task.execution = merge_execution(execution, task.execution)
                task.meta = merge_meta(meta, task.meta)
            except (ValueError, identity.IdentityError) as exc:
                self.error(p, f"the `{STASH_KEY}` in meta cannot be read: {exc}", code="stash")
        if not task.meta.get("annotations", True):
            task.meta.pop("annotations")
        return Parsed(
            job=job,
            format=self.format,
            meta={"name": task.name, **task.meta},
            execution=task.execution,
            locations=locations,
            job_name=task.name,
            base=p,
        )

    def wasm(
        self,
        resource: str,
        inputs: Any,
        pointer: str,
        task: _Task,
        names: set[str],
        x: dict[str, Value],
        locations: dict[str, str],
    ) -> WasmTask:
        given = self.mapping(inputs, pointer, "input")
        func = given.get("func", "_start")
        entrypoint = self.string(func, child(pointer, "func"), "input.func")
        args = given.get("args", [])
        values = self.value(args, child(pointer, "args"), task, names)
        if not isinstance(values, tuple):
            self.type_error(child(pointer, "args"), "input.args", "a list", args)
            values = ()
        locations["/task/args"] = child(pointer, "args")
        self.keep_unknown(given, ("func", "args"), "input", pointer, task, names, x)
        return WasmTask(module=resource, entrypoint=entrypoint or "_start", args=values)

    def docker(
        self,
        resource: str,
        inputs: Any,
        pointer: str,
        task: _Task,
        names: set[str],
        x: dict[str, Value],
    ) -> DockerTask:
        given = self.mapping(inputs, pointer, "inputs")
        container = self.mapping(
            given.get("container", {}), child(pointer, "container"), "container"
        )
        entry = container.get("entry")
        env = {
            k.lstrip("$"): self.string(v, child(child(pointer, "env"), k), f"env.{k}")
            for k, v in self.mapping(given.get("env", {}), child(pointer, "env"), "env").items()
        }
        self.keep_unknown(given, ("args", "container", "env"), "inputs", pointer, task, names, x)
        image = resource.removeprefix("docker://")
        return DockerTask(
            image=image,
            entrypoint=(entry,) if isinstance(entry, str) and entry else (),
            args=self.string_list(given.get("args", []), child(pointer, "args"), "args"),
            env=FrozenMap(env),
            workdir=self.string(
                container.get("workdir", ""), child(pointer, "container"), "workdir"
            ),
        )

    def keep_unknown(
        self,
        given: dict[str, Any],
        known: tuple[str, ...],
        label: str,
        pointer: str,
        task: _Task,
        names: set[str],
        x: dict[str, Value],
    ) -> None:
        """Warn of each key of `given` (the task's `label` map) not in `known`, and keep
        its value under `x` as `label.key`."""
        for key, value in given.items():
            if key not in known:
                self.unknown(child(pointer, key), key, label, kept=True)
                x[f"{label}.{key}"] = self.value(value, child(pointer, key), task, names)

    def value(self, value: Any, pointer: str, task: _Task, names: set[str]) -> Value:
        """A DAG-JSON value (links, bytes) as an IR value, with promises on tasks of this
        document turned into `{"await/…": "job:NAME"}` references."""
        self.generic(value, pointer, dag_json=True)  # reports floats and huge integers
        try:
            converted = identity.from_dag_json(value)
        except (identity.IdentityError, ValueError) as exc:
            self.error(pointer, f"not a DAG-JSON value: {exc}", code="dag-json")
            return None
        return self.promises(converted, pointer, task, names)

    def promises(self, value: Value, pointer: str, task: _Task, names: set[str]) -> Value:
        if isinstance(value, tuple):
            return tuple(self.promises(v, pointer, task, names) for v in value)
        if not isinstance(value, FrozenMap):
            return value
        if len(value) == 1:
            key, target = next(iter(value.items()))
            if key == "ucan/promise":
                return self.promise(target, pointer, task, names)
            if key in ("await/ok", "await/error", "await/*") and isinstance(target, Link):
                name = self.by_cid.get(target)
                if name is None:
                    self.warn(
                        pointer,
                        f"task {task.name} awaits {target}, which is no task of this document "
                        "(kept as written)",
                        "a workflow document holds every task it awaits",
                        code="await",
                    )
                    return value
                task.awaits.append(name)
                return FrozenMap({key: "job:" + name})
        return FrozenMap({k: self.promises(v, pointer, task, names) for k, v in value.items()})

    def promise(self, target: Value, pointer: str, task: _Task, names: set[str]) -> Value:
        """`{"ucan/promise": [selector, label]}`."""
        if (
            isinstance(target, tuple)
            and len(target) == 2
            and isinstance(target[0], str)
            and isinstance(target[1], str)
        ):
            selector, label = str(target[0]), str(target[1])
            if selector in SELECTORS and label in names:
                task.awaits.append(label)
                return FrozenMap({SELECTORS[selector]: "job:" + label})
            if label not in names:
                known = ", ".join(sorted(names))
                self.error(
                    pointer,
                    f"the promise names {label!r}, which is no task of this invocation",
                    f"its tasks: {known}",
                    code="await",
                )
                return None
        self.error(
            pointer,
            f"cannot read the promise {target!r}",
            'write {"ucan/promise": ["/", "<task label>"]} (selectors: /, /ok, /error, /*)',
            code="await",
        )
        return None

    # -- configuration and what is kept as written

    def homestar_config(self, value: Any, pointer: str, meta: dict[str, Any]) -> dict[str, Any]:
        """Homestar's `meta` (fuel, memory in bytes, time in milliseconds): execution, in
        the common vocabulary where it is exact; anything else as written."""
        if value is None:
            return {}
        config = self.mapping(value, pointer, "meta")
        execution: dict[str, Any] = {}
        for key, item in config.items():
            p = child(pointer, key)
            if key == "time" and isinstance(item, int) and item % 1000 == 0 and item > 0:
                execution["timeout"] = format_duration(item // 1000)
            elif key == "memory" and isinstance(item, int) and not isinstance(item, bool):
                execution["resources"] = {"memory": str(item)}
            elif key == "fuel":
                execution["fuel"] = self.written(item, p)
            elif key == STASH_KEY:
                meta.setdefault("annotations", {})[key] = item
            else:
                execution.setdefault("homestar", {})[key] = self.written(item, p)
        return execution

    def written(self, value: Any, pointer: str) -> Any:
        for p, bad in unwritable(value, pointer):
            self.error(
                p, f"cannot keep {bad!r} beside the job", "write it as a string", code="not-json"
            )
        return value

    def unknown(self, pointer: str, key: str, where: str, *, kept: bool = False) -> None:
        """Report an unknown field: kept in identity under `x` (an instruction's), or
        ignored (the envelope's: it cannot change what a task computes)."""
        message = f"unknown field `{key}` in {where}"
        if self.strict:
            self.error(pointer, message, key=True, code="unknown-field")
        elif kept:
            self.warn(pointer, message + " (kept under `x`)", key=True, code="unknown-field")
        else:
            self.warn(pointer, message + " (ignored)", key=True, code="unknown-field")


def _task_cids(task: dict[str, Any]) -> list[Link]:
    """The CIDs a UCAN task may be awaited by: its map hashed as UCAN (sha2-256) and as
    Homestar (sha3-256) hash it; none if it cannot be read."""
    try:  # a value that cannot be hashed (an integer past 64 bits) is reported where read
        value = identity.from_dag_json({k: v for k, v in task.items() if k != "meta"})
        return [identity.value_cid(value), identity.sha3_cid_of_value(value)]
    except (identity.IdentityError, ValueError):
        return []
