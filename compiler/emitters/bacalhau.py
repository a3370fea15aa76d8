"""Write a job as Bacalhau's current Job API (YAML), the shape `frontends/bacalhau/job.py`
reads: images pinned as `repository@sha256:…`, content as IPFS sources, the execution
options back in Bacalhau's fields, and `Meta` carrying `jobc.cid` and `jobc.original`.

What Bacalhau cannot say (a determinism other than the engine's default, a nonce, a
docker platform, a WASM stdin, non-string WASM arguments, an input awaiting another
job, extension fields from other formats, execution options such as retries) goes into
`Meta["jobc.stash"]` (`docs/formats.md`), which the front-end reads back: the CID
survives the trip, and each stashed thing is named in a warning. A workflow of several
jobs is refused: a Bacalhau job is one task.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

from compiler import identity
from compiler.diagnostics import Diagnostic
from compiler.emitters import (
    Emitted,
    JobDoc,
    content_uri,
    dag_json,
    dump_yaml,
    image_reference,
    refuse,
    stash_text,
    stashed,
)
from compiler.frontends.bacalhau.common import CID_KEY, ORIGINAL_KEY, STASH_KEY, parse_duration
from compiler.ir import (
    Await,
    Content,
    DockerTask,
    Input,
    Link,
    OtherTask,
    SourceTask,
    WasmTask,
    default_determinism,
)

MODULE_TARGET = "/jobc/main.wasm"
"""Where a WASM module is mounted when the job does not say (2025 WASM: by path)."""
TIMEOUTS = (
    ("timeout", "ExecutionTimeout"),
    ("queue_timeout", "QueueTimeout"),
    ("total_timeout", "TotalTimeout"),
)
RESOURCES = (("cpu", "CPU"), ("memory", "Memory"), ("disk", "Disk"), ("gpu", "GPU"))
WRITTEN_EXECUTION = {
    "type", "namespace", "count", "priority", "constraints", "publisher", "resources",
    "network", "inputs", *(option for option, _ in TIMEOUTS),
}  # fmt: skip


def emit(jobs: Sequence[JobDoc], meta: dict[str, Any]) -> Emitted:
    """One job as a Bacalhau Job API document."""
    if len(jobs) != 1:
        names = ", ".join(j.name or "main" for j in jobs)
        raise refuse(
            "a Bacalhau job has one task, and this is a workflow of",
            [f"{len(jobs)} jobs ({names})"],
            "export one job at a time (FILE#JOB); Bacalhau cannot chain jobs",
        )
    writer = _Writer(jobs[0])
    doc = writer.document()
    return Emitted(dump_yaml(doc), "yaml", tuple(writer.notes), data=doc)


class _Writer:
    def __init__(self, j: JobDoc) -> None:
        self.j = j
        self.stash: dict[str, Any] = {}
        self.stash_names: list[str] = []
        self.notes: list[Diagnostic] = []

    def keep(self, name: str, key: str, value: Any, task_field: bool = False) -> None:
        """Put an identity field Bacalhau cannot say into the stash."""
        if task_field:
            self.stash.setdefault("task", {})[key] = value
        elif key in ("inputs",):
            self.stash.setdefault("inputs", []).append(value)
        elif key == "x":
            self.stash.setdefault("x", {}).update(value)
        else:
            self.stash[key] = value
        if name not in self.stash_names:
            self.stash_names.append(name)

    def document(self) -> dict[str, Any]:
        j, job = self.j, self.j.job
        execution = dict(j.execution)
        doc: dict[str, Any] = {"Name": j.meta.get("name") or j.name or _default_name(j)}
        doc["Type"] = execution.get("type", "batch")
        if "namespace" in execution:
            doc["Namespace"] = execution["namespace"]
        if "count" in execution:
            doc["Count"] = execution["count"]
        if "priority" in execution:
            doc["Priority"] = execution["priority"]
        if execution.get("constraints"):
            doc["Constraints"] = [_constraint(c) for c in execution["constraints"]]
        if j.meta.get("labels"):
            doc["Labels"] = dict(j.meta["labels"])
        task = self.task(execution)
        placed = self.place_x(doc, task)
        unplaced = {k: v for k, v in job.x.items() if k not in placed}
        if unplaced:
            self.keep("extension fields (x)", "x", {k: dag_json(v) for k, v in unplaced.items()})
        if job.determinism != default_determinism(job.task.engine):
            self.keep(f"determinism {job.determinism}", "determinism", job.determinism)
        if job.nonce:
            self.keep("a nonce", "nonce", job.nonce)
        leftovers = {k: v for k, v in execution.items() if k not in WRITTEN_EXECUTION}
        if leftovers:
            self.stash["execution"] = leftovers
            self.stash_names.append("execution " + ", ".join(sorted(leftovers)))
        meta_left = {
            k: v
            for k, v in j.meta.items()
            if k
            not in ("name", "labels", "annotations", "input_names", "output_names", "task_name")
            and k != "bacalhau"
        }
        stashed_targets = {i["target"] for i in self.stash.get("inputs", [])}
        stashed_inputs = {
            n: t for n, t in j.meta.get("input_names", {}).items() if t in stashed_targets
        }
        if stashed_inputs:
            meta_left["input_names"] = stashed_inputs
        annotations = j.meta.get("annotations")
        if isinstance(annotations, list):
            meta_left["annotations"] = annotations
        if meta_left:
            self.stash["meta"] = meta_left
        out_meta = dict(annotations) if isinstance(annotations, dict) else {}
        if j.cid is not None:
            out_meta[CID_KEY] = str(j.cid)
        if j.original is not None:
            out_meta[ORIGINAL_KEY] = str(j.original)
        if self.stash:
            out_meta[STASH_KEY] = stash_text(self.stash)
            identity_names = [n for n in self.stash_names if not n.startswith("execution ")]
            if identity_names:
                self.notes.append(stashed("Bacalhau", j.name, identity_names))
        if out_meta:
            doc["Meta"] = out_meta
        doc["Tasks"] = [task]
        return doc

    # -- the task

    def task(self, execution: dict[str, Any]) -> dict[str, Any]:
        j, job = self.j, self.j.job
        task: dict[str, Any] = {"Name": j.meta.get("task_name") or "main"}
        sources: list[dict[str, Any]] = []
        engine = self.engine(sources)
        task["Engine"] = engine
        env = _env(job.task)
        if isinstance(job.task, OtherTask) and "Env" in job.task.params:
            task["Env"] = dag_json(job.task.params["Env"])
        elif env and not isinstance(job.task, DockerTask):
            task["Env"] = env
        if j.meta.get("task_annotations"):
            task["Meta"] = dict(j.meta["task_annotations"])
        input_names = {path: name for name, path in j.meta.get("input_names", {}).items()}
        options = execution.get("inputs", {})
        for inp in sorted(job.inputs, key=lambda i: i.target):
            source = self.input_source(inp, options.get(inp.target, {}))
            if source is None:
                continue
            entry: dict[str, Any] = {}
            if inp.target in input_names:
                entry["Alias"] = input_names[inp.target]
            entry["Target"] = inp.target
            entry["Source"] = source
            sources.append(entry)
        if sources:
            task["InputSources"] = sources
        output_names = {path: name for name, path in j.meta.get("output_names", {}).items()}
        if job.outputs:
            taken = set(output_names.values())
            task["ResultPaths"] = [
                {"Name": output_names.get(p) or _output_name(p, taken), "Path": p}
                for p in sorted(job.outputs)
            ]
        task["Network"] = self.network(execution.get("network", {}))
        if "publisher" in execution:
            publisher = execution["publisher"]
            task["Publisher"] = {"Type": publisher.get("type", "")}
            if publisher.get("params"):
                task["Publisher"]["Params"] = publisher["params"]
        resources = execution.get("resources", {})
        if resources:
            given = {name: resources[option] for option, name in RESOURCES if option in resources}
            given.update({k: v for k, v in resources.items() if k not in dict(RESOURCES)})
            task["Resources"] = given
        timeouts = {}
        for option, name in TIMEOUTS:
            if option in execution:
                seconds = _seconds(execution[option])
                if seconds is None:
                    raise refuse(
                        "Bacalhau takes timeouts in whole seconds, and this is not one",
                        [f"{option}: {execution[option]!r}"],
                        "write a duration such as 10m, 1h30m, 45s",
                    )
                timeouts[name] = seconds
        if timeouts:
            task["Timeouts"] = timeouts
        return task

    def engine(self, sources: list[dict[str, Any]]) -> dict[str, Any]:
        j, task = self.j, self.j.job.task
        if isinstance(task, DockerTask):
            params: dict[str, Any] = {"Image": image_reference(task, j.sources)}
            if task.entrypoint:
                params["Entrypoint"] = list(task.entrypoint)
            if task.args:
                params["Parameters"] = list(task.args)
            if task.env:
                params["EnvironmentVariables"] = [f"{k}={v}" for k, v in task.env.items()]
            if task.workdir:
                params["WorkingDirectory"] = task.workdir
            if task.platform:
                self.keep("a docker platform", "platform", task.platform, task_field=True)
            return {"Type": "docker", "Params": params}
        if isinstance(task, WasmTask):
            return {"Type": "wasm", "Params": self.wasm(task, sources)}
        if isinstance(task, SourceTask):
            params = {"Source": content_uri(task.source)}
            if task.edition:
                params["Edition"] = task.edition
            if task.args:
                params["Parameters"] = list(task.args)
            return {"Type": task.engine, "Params": params}
        assert isinstance(task, OtherTask)
        values = {k: dag_json(v) for k, v in task.params.items() if k != "Env"}
        return {"Type": task.engine, "Params": values} if values else {"Type": task.engine}

    def wasm(self, task: WasmTask, sources: list[dict[str, Any]]) -> dict[str, Any]:
        """2025's WASM: the module and imports are input sources, named by path."""
        mounted = {m.get("target"): m for m in self.j.meta.get("bacalhau", {}).get("modules", [])}
        hints = list(mounted.values())
        module_hint = hints[0] if hints else {}
        targets = {i.target for i in self.j.job.inputs}
        target = module_hint.get("target") or MODULE_TARGET
        path = module_hint.get("path") or target
        params: dict[str, Any] = {"EntryModule": path}
        sources.append(self.module_source(task.module, target, module_hint.get("alias"), targets))
        params["Entrypoint"] = task.entrypoint
        if task.args:
            if all(isinstance(a, str) for a in task.args):
                params["Parameters"] = list(task.args)
            else:
                self.keep("non-string WASM arguments", "args", dag_json(task.args), task_field=True)
        imports = []
        for name, content in task.imports.items():
            import_target = name if name.startswith("/") else "/" + name
            hint = mounted.get(import_target, {})
            sources.append(self.module_source(content, import_target, hint.get("alias"), targets))
            imports.append(name)
        if imports:
            params["ImportModules"] = imports
        if task.stdin is not None:
            self.keep("a WASM stdin", "stdin", dag_json(task.stdin), task_field=True)
        return params

    def module_source(
        self, content: Content, target: str, alias: str | None, targets: set[str]
    ) -> dict[str, Any]:
        if target in targets:
            raise refuse(
                "the WASM module would be mounted where an input is",
                [target],
                "move the input elsewhere",
            )
        source = _storage(content, {})
        if source is None:
            raise refuse("Bacalhau has no storage type for the module", [content_uri(content)])
        entry: dict[str, Any] = {"Target": target, "Source": source}
        if alias:
            entry["Alias"] = alias
        return entry

    def input_source(self, inp: Input, options: dict[str, Any]) -> dict[str, Any] | None:
        if isinstance(inp.source, Await):
            self.keep(
                f"the input at {inp.target} (another job's output)",
                "inputs",
                {"target": inp.target, "await": dag_json(identity_await(inp.source))},
            )
            return None
        source = _storage(inp.source, options)
        if source is None:
            self.keep(
                f"the input at {inp.target} ({content_uri(inp.source)})",
                "inputs",
                {"target": inp.target, "content": dag_json(inp.source)},
            )
        return source

    def network(self, details: dict[str, Any]) -> dict[str, Any]:
        network = self.j.job.network
        written: dict[str, Any] = {"Type": "None"}
        if network is not None:
            written = {"Type": "HTTP" if network.mode == "http" else "Full"}
            if network.domains:
                written["Domains"] = list(network.domains)
        given = details.get("type")
        if isinstance(given, str) and _same_network(given, network is None, written["Type"]):
            written["Type"] = given
        if details.get("ports"):
            written["Ports"] = details["ports"]
        return written

    def place_x(self, doc: dict[str, Any], task: dict[str, Any]) -> set[str]:
        """Put extension fields read from a Bacalhau job back where they were found; the
        others go to the stash. Returns the keys placed."""
        placed: set[str] = set()
        for key, value in self.j.job.x.items():
            plain = dag_json(value)
            head, _, rest = key.partition(".")
            if not key[:1].isupper() or "[" in key:
                continue
            if not rest and key not in doc:
                doc[key] = plain
            elif head == "Task" and "." not in rest and rest not in task:
                task[rest] = plain
            elif head == "Engine" and rest.startswith("Params.") and "." not in rest[7:]:
                task["Engine"].setdefault("Params", {}).setdefault(rest[7:], plain)
            else:
                continue
            placed.add(key)
        return placed


def identity_await(source: Await) -> Any:
    """An await as the identity map writes it (`{job, path}`)."""
    from compiler.ir import FrozenMap

    return FrozenMap({"job": source.job, "path": source.path})


def _storage(content: Content, options: dict[str, Any]) -> dict[str, Any] | None:
    """A content as a Bacalhau storage source, or None when no storage type says it."""
    if isinstance(content, Link):
        return {"Type": "ipfs", "Params": {"CID": str(content)}}
    if content.startswith("ipfs://"):
        cid = content[len("ipfs://") :]
        return None if "/" in cid else {"Type": "ipfs", "Params": {"CID": cid}}
    if content.startswith(("https://", "http://")):
        return {"Type": "urlDownload", "Params": {"URL": content}}
    if content.startswith("data:"):
        return {"Type": "inline", "Params": {"URL": content}}
    if content.startswith("s3://"):
        return _s3(content, options)
    if content.startswith("file:") or ":" not in content.split("/")[0]:
        path = content.removeprefix("file:")
        params: dict[str, Any] = {"SourcePath": path}
        params.update({k: options[k] for k in ("ReadWrite", "CreateAs") if k in options})
        return {"Type": "local", "Params": params}
    return None


def _s3(content: str, options: dict[str, Any]) -> dict[str, Any]:
    parsed = urllib.parse.urlsplit(content)
    params: dict[str, Any] = {"Bucket": parsed.netloc, "Key": parsed.path.lstrip("/")}
    names = {"endpoint": "Endpoint", "filter": "Filter", "versionId": "VersionID"}
    for key, value in urllib.parse.parse_qsl(parsed.query):
        params[names.get(key, key)] = value
    if parsed.fragment.startswith("sha256="):
        import base64

        digest = bytes.fromhex(parsed.fragment[len("sha256=") :])
        params["ChecksumSHA256"] = base64.b64encode(digest).decode()
    kind = "s3PreSigned" if "PreSignedURL" in options else "s3"
    params.update({k: options[k] for k in ("Region", "PreSignedURL") if k in options})
    return {"Type": kind, "Params": params}


def _same_network(given: str, none: bool, written: str) -> bool:
    """Whether a network type kept from the source says what the IR says."""
    folded = given.casefold()
    if none:
        return folded in ("none", "default")
    if written == "Full":
        return folded in ("full", "host", "bridge")
    return folded == "http"


def _env(task: Any) -> dict[str, str]:
    env = getattr(task, "env", None)
    return env.to_dict() if env else {}


def _constraint(c: dict[str, Any]) -> dict[str, Any]:
    out = {"Key": c.get("key", ""), "Operator": c.get("operator", "")}
    if c.get("values"):
        out["Values"] = list(c["values"])
    out.update({k: v for k, v in c.items() if k not in ("key", "operator", "values")})
    return out


def _seconds(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        seconds = parse_duration(value)
        return seconds if seconds >= 0 else None
    return None


def _output_name(path: str, taken: set[str]) -> str:
    """A result path's name when the job gives none (Bacalhau requires one): its last
    component, made unique."""
    base = path.rstrip("/").rsplit("/", 1)[-1] or "outputs"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _default_name(j: JobDoc) -> str:
    return "jobc-" + str(j.cid or identity.job_cid(j.job))[-10:]
