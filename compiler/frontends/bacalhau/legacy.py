"""Bacalhau's jobs before the Job API: V1beta2, the three layouts that all say V1beta1,
V1alpha1, and the snake_case format of 2022.

All share one `Spec` (an engine name with a `Docker`, `Wasm` or `Language` section, or
from August 2023 an `EngineSpec{Type,Params}`; `inputs`, `Contexts` and `outputs` as
storage specs; `Resources`, `Timeout`, `Deal`, …), so one reader takes the union of
their fields; the era is told by `APIVersion` and by where the job keeps its `Deal`:

| format | when | shape |
|---|---|---|
| `bacalhau/v1beta2` | 2023-06 → 2024-07 | `APIVersion: V1beta2`, `Metadata`, `Spec` with `Deal` |
| `bacalhau/v1beta1` | 2023-02 → 2023-06 | `APIVersion: V1beta1`, `Metadata`, `Spec` with `Deal` |
| `bacalhau/v1beta1-2022-12` | 2022-12 → 2023-02 | also a `Status`, or `Spec.ExecutionPlan` |
| `bacalhau/v1beta1-2022-11` | 2022-11 → 2022-12 | flat: `Deal`, `ID`, `ClientID` beside `Spec` |
| `bacalhau/v1alpha1` | 2022-09 → 2022-11 | `APIVersion: V1alpha1`, `Spec`, `Deal` |
| `bacalhau/v1alpha1-snake` | 2022 | `apiVersion: v1alpha1`, `engine_name`, `job_spec_docker` |

The snake_case format is read with the same code through a table of its field names.
"""

from __future__ import annotations

from typing import Any

from compiler.frontends import Options, Parsed
from compiler.frontends.bacalhau.common import BacalhauReader, format_duration
from compiler.frontends.bacalhau.fields import Fields
from compiler.frontends.loader import SourceDocument
from compiler.ir import (
    Content,
    DockerTask,
    FrozenMap,
    Input,
    OtherTask,
    Task,
    WasmTask,
)
from compiler.passes.normalize import clean_path

VERSIONS = {"v1alpha1": "V1alpha1", "v1beta1": "V1beta1", "v1beta2": "V1beta2"}
VERSION_KEYS = ("APIVersion", "JobAPIVersion")

SNAKE_NAMES = {
    "EngineName": "engine_name",
    "VerifierName": "verifier_name",
    "PublisherName": "publisher_name",
    "Docker": "job_spec_docker",
    "Language": "job_spec_language",
    "EnvironmentVariables": "env",
    "WorkingDirectory": "workdir",
    "StorageSource": "engine",
    "StorageSourceName": "engine_name",
    "MinBids": "min_bids",
    "GlobPattern": "glob_pattern",
    "BatchSize": "batch_size",
    "GlobPatternBasePath": "glob_pattern_base_path",
    "RequesterNodeID": "requester_node_id",
    "ClientID": "client_id",
    "ExecutionPlan": "execution_plan",
    "CreatedAt": "created_at",
    "LanguageVersion": "language_version",
    "DeterministicExecution": "deterministic",
    "JobContext": "context",
    "ProgramPath": "program_path",
    "RequirementsPath": "requirements_path",
}
"""Field → its snake_case name (fields equal up to case need no entry: keys are
read case-insensitively)."""
SNAKE_ONLY = frozenset(
    ("engine_name", "job_spec_docker", "job_spec_language", "verifier_name", "publisher_name")
)

JOB_FIELDS = (
    "APIVersion", "JobAPIVersion", "Metadata", "Spec", "Status", "Deal", "ID",
    "RequesterNodeID", "RequesterPublicKey", "ClientID", "ExecutionPlan", "CreatedAt",
    "JobState", "JobEvents", "LocalJobEvents",
)  # fmt: skip
SERVER_FIELDS = JOB_FIELDS[2:]
SPEC_FIELDS = (
    "Engine", "EngineName", "EngineSpec", "Verifier", "VerifierName", "Publisher",
    "PublisherName", "PublisherSpec", "Docker", "Language", "Wasm", "Resources", "Network",
    "Timeout", "Inputs", "Contexts", "Outputs", "Annotations", "NodeSelectors", "Sharding",
    "DoNotTrack", "ExecutionPlan", "Deal",
)  # fmt: skip
DOCKER_FIELDS = ("Image", "Entrypoint", "Parameters", "EnvironmentVariables", "WorkingDirectory")
WASM_FIELDS = ("EntryModule", "EntryPoint", "Parameters", "EnvironmentVariables", "ImportModules")
STORAGE_FIELDS = (
    "StorageSource", "StorageSourceName", "Name", "CID", "URL", "S3", "Repo", "SourcePath",
    "ReadWrite", "Path", "Metadata",
)  # fmt: skip
S3_FIELDS = ("Bucket", "Key", "Checksum", "ChecksumSHA256", "VersionID", "Endpoint", "Region")
DEAL_FIELDS = ("Concurrency", "Confidence", "MinBids", "TargetingMode")


def version_of(tree: Any) -> tuple[str, str] | None:
    """(the JSON pointer of its version, the version) if `tree` says `APIVersion`,
    directly or in a `{Job: …}` wrapper; else None."""
    if not isinstance(tree, dict):
        return None
    for key, value in tree.items():
        if key.casefold() in ("apiversion", "jobapiversion"):
            return "/" + key, value if isinstance(value, str) else str(value)
    inner = unwrap(tree)
    if inner is None:  # the snake_case format kept its version in `spec`
        inner = next(((k, v) for k, v in tree.items() if k == "spec" and isinstance(v, dict)), None)
    if inner is not None:
        found = version_of(inner[1])
        if found is not None:
            return "/" + inner[0] + found[0], found[1]
    return None


def unwrap(tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(key, job) of a `{Job: …}` wrapper around a job that has no `Tasks` or `Spec`
    beside it, else None."""
    keys = {k.casefold() for k in tree}
    if keys & {"tasks", "spec", "apiversion", "jobapiversion"}:
        return None
    for key, value in tree.items():
        if key.casefold() == "job" and isinstance(value, dict):
            return key, value
    return None


def is_snake(tree: dict[str, Any]) -> bool:
    """Whether a job is written in the snake_case format of 2022."""
    keys = {k.casefold() for k in tree}
    spec = next((v for k, v in tree.items() if k == "spec"), None)
    if isinstance(spec, dict):
        keys |= {k.casefold() for k in spec}
    return bool(keys & SNAKE_ONLY)


def era_of(tree: dict[str, Any], version: str) -> str:
    """The format name of a legacy job (`version` is V1alpha1, V1beta1 or V1beta2)."""
    if is_snake(tree):
        return "bacalhau/v1alpha1-snake"
    if version != "V1beta1":
        return "bacalhau/" + version.lower()
    keys = {k.casefold() for k in tree}
    spec = next((v for k, v in tree.items() if k.casefold() == "spec"), None)
    spec_keys = {k.casefold() for k in spec} if isinstance(spec, dict) else set()
    if keys & {"deal", "id", "clientid", "requesternodeid", "executionplan", "createdat"}:
        return "bacalhau/v1beta1-2022-11"
    if "status" in keys or "executionplan" in spec_keys or "sharding" in spec_keys:
        return "bacalhau/v1beta1-2022-12"
    return "bacalhau/v1beta1"


def parse(doc: SourceDocument, options: Options, version: str) -> Parsed:
    """Read a legacy Bacalhau job (its `APIVersion` already known) into the IR."""
    tree = doc.tree
    assert isinstance(tree, dict)
    wrapped = unwrap(tree)
    job = wrapped[1] if wrapped is not None else tree
    return _LegacyReader(doc, options, era_of(job, version)).read()


class _LegacyReader(BacalhauReader):
    def __init__(self, doc: SourceDocument, options: Options, format: str) -> None:
        super().__init__(doc, options, format)
        self.names = SNAKE_NAMES if format.endswith("-snake") else {}
        self.bacalhau: dict[str, Any] = {}

    def n(self, name: str) -> str:
        """A field's name in this document's dialect."""
        return self.names.get(name, name)

    def read(self) -> Parsed:
        top = self.fields(self.doc.tree, "", "")
        assert isinstance(self.doc.tree, dict)
        if unwrap(self.doc.tree) is not None:
            outer = top
            top = outer.sub("Job")
            request = {
                key: self.as_written(value, outer.at(key), key)
                for key, value in outer.unread().items()
            }
            if request:
                self.bacalhau["request"] = request
        for key in VERSION_KEYS:
            top.get(key)
        spec_in_job = top.has("Spec")
        spec = top.sub("Spec") if spec_in_job else top
        if spec_in_job:
            for key in VERSION_KEYS:
                spec.get(key)
            for name in SERVER_FIELDS:
                if name not in ("Spec", "Deal"):
                    self.keep_as_is(top, self.n(name), self.bacalhau)
        deal = top.sub("Deal") if top.has("Deal") else spec.sub("Deal")
        self.deal(deal)
        task, inputs, outputs = self.spec(spec)
        network = self.network(spec.sub("Network"))
        if spec_in_job:
            self.keep_unknown(top, "", JOB_FIELDS)
        self.keep_unknown(spec, "Spec." if spec_in_job else "", SPEC_FIELDS + JOB_FIELDS)
        if self.bacalhau:
            self.meta["bacalhau"] = self.bacalhau
        return self.finish(task, inputs, outputs, network)

    def deal(self, deal: Fields) -> None:
        if deal.has("Concurrency"):
            value = deal.get("Concurrency")
            if isinstance(value, int) and not isinstance(value, bool) and value:
                self.execution["count"] = value
        rest = {}
        for name in DEAL_FIELDS[1:]:
            if deal.has(self.n(name)):
                rest[name] = self.as_written(deal.get(self.n(name)), deal.at(self.n(name)), name)
        if rest:
            self.execution["deal"] = rest
        self.keep_unknown(deal, "Deal.", DEAL_FIELDS)

    # -- the spec

    def spec(self, spec: Fields) -> tuple[Task, dict[str, Input], list[str]]:
        for name in ("Verifier", "VerifierName"):
            value = spec.get(self.n(name))
            if isinstance(value, str) and value:
                self.execution["verifier"] = value
        self.publisher(spec)
        self.resources(spec.sub("Resources"))
        self.legacy_timeout(spec)
        self.annotations_list(spec)
        self.constraints(spec, "NodeSelectors")
        self.sharding(spec.sub("Sharding"))
        for name in ("DoNotTrack", "ExecutionPlan"):
            self.keep_as_is(spec, self.n(name), self.bacalhau)

        inputs: dict[str, Input] = {}
        names: dict[str, str] = {}
        options: dict[str, Any] = {}
        contexts = list(spec.items("Contexts"))
        engine = self.engine_name(spec)
        task = self.task(engine, spec, contexts, options)
        for p, item, label in [*spec.items("Inputs"), *contexts]:
            s = self.fields(item, p, label)
            target = self.target(s, "Path")
            content = self.storage_spec(s, target, options)
            if content is None:
                continue
            self.add_input(inputs, target, content, p)
            name = s.string("Name")
            if name:
                names[name] = clean_path(target) if target else ""
            self.keep_unknown(s, f"Inputs[{target}].", STORAGE_FIELDS)
        if names:
            self.meta["input_names"] = names
        if options:
            self.execution["inputs"] = options
        outputs: list[str] = []
        output_names: dict[str, str] = {}
        for p, item, label in spec.items("Outputs"):
            s = self.fields(item, p, label)
            path = self.target(s, "Path")
            if path in outputs:
                self.error(p, f"two outputs have the path {path!r}", code="duplicate-output")
                continue
            outputs.append(path)
            self.locations[f"/outputs/{path}"] = p
            for name in ("StorageSource", "StorageSourceName", "CID", "Metadata"):
                s.get(self.n(name))  # where results are published: the publisher says
            if s.string("Name"):
                output_names[s.string("Name")] = clean_path(path) if path else ""
            self.keep_unknown(s, f"Outputs[{path}].", STORAGE_FIELDS)
        if output_names:
            self.meta["output_names"] = output_names
        return task, inputs, outputs

    def engine_name(self, spec: Fields) -> str:
        """The engine: `EngineSpec.Type` (2023-08 on), else `Engine` (a name), else
        `EngineName`; lower case."""
        engine_spec = spec.sub("EngineSpec")
        if engine_spec.has("Type"):
            return engine_spec.string("Type").casefold()
        for name in ("Engine", "EngineName"):
            value = spec.get(self.n(name))
            if isinstance(value, str) and value:
                return value.casefold()
            if value is not None and not isinstance(value, str):
                self.error(
                    spec.at(self.n(name)),
                    f"`{spec.label(self.n(name))}` must be an engine's name, not {value!r}",
                    "write the name: Docker, Wasm, Noop or Language",
                    code="engine",
                )
                return ""
        self.error(
            spec.pointer,
            "the job says no engine",
            "add `Engine: Docker` (or Wasm) and its section",
            key=bool(spec.pointer),
            code="missing",
        )
        return ""

    def task(
        self,
        engine: str,
        spec: Fields,
        contexts: list[tuple[str, Any, str]],
        options: dict[str, Any],
    ) -> Task:
        engine_spec = spec.sub("EngineSpec")
        if engine_spec.has("Type"):
            params = engine_spec.sub("Params")
            self.keep_unknown(engine_spec, "EngineSpec.", ("Type", "Params"))
            for name in ("Engine", "Docker", "Wasm"):
                spec.get(name)  # the deprecated copies EngineSpec replaces
        else:
            section = {"docker": "Docker", "wasm": "Wasm", "language": "Language"}.get(engine, "")
            params = spec.sub(self.n(section)) if section else Fields.empty(self, "", "")
        prefix = "EngineSpec.Params." if engine_spec.has("Type") else f"{params.where}."
        if engine == "docker":
            return self.docker(params, prefix)
        if engine in ("wasm", "pythonwasm"):
            return self.wasm(params, prefix, contexts, options)
        if engine == "language":
            values = {k: params.get(k) for k in params}
            return OtherTask(engine="language", params=self.frozen(values, params.pointer))
        values = {k: params.get(k) for k in params}
        return OtherTask(engine=engine or "none", params=self.frozen(values, params.pointer))

    def frozen(self, value: Any, pointer: str) -> FrozenMap[Any]:
        frozen = self.generic(value, pointer)
        return frozen if isinstance(frozen, FrozenMap) else FrozenMap()

    def docker(self, params: Fields, prefix: str) -> DockerTask:
        image = params.string("Image")
        if not image:
            self.error(
                params.at("Image") if "Image" in params else params.pointer,
                "the docker section has no `Image`",
                "add `Image:` with an image reference, e.g. ubuntu:22.04",
                key=bool(params.pointer) and "Image" not in params,
                code="missing",
            )
        self.locations["/task/image"] = params.at("Image")
        env: dict[str, str] = {}
        self.env_list(params, self.n("EnvironmentVariables"), env)
        value = params.get("Entrypoint")
        task = DockerTask(
            image=image,
            entrypoint=(value,) if isinstance(value, str) else params.strings("Entrypoint"),
            args=params.strings("Parameters"),
            env=FrozenMap(env),
            workdir=params.string(self.n("WorkingDirectory")),
        )
        self.keep_unknown(params, prefix, DOCKER_FIELDS)
        return task

    def wasm(
        self,
        params: Fields,
        prefix: str,
        contexts: list[tuple[str, Any, str]],
        options: dict[str, Any],
    ) -> WasmTask:
        """The module is `EntryModule` (a storage spec, 2023) or, before, the first of
        the job's `Contexts` (which then is not an input)."""
        module: Content = ""
        if params.has("EntryModule"):
            entry = params.sub("EntryModule")
            module = self.storage_spec(entry, "EntryModule", options) or ""
            self.locations["/task/module"] = entry.pointer
            self.keep_unknown(entry, prefix + "EntryModule.", STORAGE_FIELDS)
        elif contexts:
            p, item, label = contexts.pop(0)
            entry = self.fields(item, p, label)
            module = self.storage_spec(entry, "Contexts[0]", options) or ""
            entry.get("Path")
            self.locations["/task/module"] = p
            self.keep_unknown(entry, "Contexts[0].", STORAGE_FIELDS)
        else:
            self.error(
                params.pointer,
                "the WASM job names no module",
                "add `EntryModule:` with a storage spec (e.g. {StorageSource: IPFS, CID: …})",
                key=bool(params.pointer),
                code="missing",
            )
        imports: dict[str, Content] = {}
        for i, (p, item, label) in enumerate(params.items("ImportModules")):
            s = self.fields(item, p, label)
            name = s.string("Path") or s.string("Name") or f"import-{i}"
            content = self.storage_spec(s, name, options)
            if content is not None:
                imports[name] = content
                self.locations[f"/task/imports/{name}"] = p
            self.keep_unknown(s, f"{prefix}ImportModules[{name}].", STORAGE_FIELDS)
        env: dict[str, str] = {}
        if params.has(self.n("EnvironmentVariables")):
            name = self.n("EnvironmentVariables")
            self.env_map(params.get(name), params.at(name), params.label(name), env)
        task = WasmTask(
            module=module,
            entrypoint=params.string("EntryPoint") or "_start",
            args=params.strings("Parameters"),
            env=FrozenMap(env),
            imports=FrozenMap(imports),
        )
        self.keep_unknown(params, prefix, WASM_FIELDS)
        return task

    def storage_spec(self, s: Fields, target: str, options: dict[str, Any]) -> Content | None:
        """The content of a legacy storage spec ({StorageSource, CID, URL, S3, …})."""
        kind = ""
        for name in ("StorageSource", "StorageSourceName"):
            value = s.get(self.n(name))
            if isinstance(value, str) and value:
                kind = kind or value
            elif value is not None and value != 0:
                self.error(
                    s.at(self.n(name)),
                    f"`{s.label(self.n(name))}` must be a storage type's name, not {value!r}",
                    "write the name: IPFS, URLDownload, Inline, LocalDirectory, S3, RepoClone",
                    code="storage",
                )
        if not kind:  # lenient: the fields say which kind
            kind = "ipfs" if s.has("CID") else "urldownload" if s.has("URL") else ""
        folded = kind.casefold()
        found: dict[str, Any] = {}
        content: Content | None
        if folded in ("estuary", "filecoin", "filecoinunsealed"):
            folded = "ipfs"  # content-addressed by the CID they carry
        if folded in ("repoclone", "repoclonelfs"):
            repo = self.nonempty(s, "Repo")
            content = ("git+" if folded == "repoclone" else "git-lfs+") + repo
        elif folded == "s3":
            content = self.s3_content(s.sub("S3"), found)
        else:
            content = self.storage_content(folded, s, target, found) if folded else None
        if content is None:
            message = (
                f"jobc does not know the storage type {kind!r}"
                if kind
                else "the storage spec says neither its type nor a CID or URL"
            )
            pointer = s.at(self.n("StorageSource")) if kind else s.pointer
            if self.strict or not kind:
                hint = "write StorageSource: IPFS (with CID) or URLDownload (with URL)"
                self.error(pointer, message, hint, code="storage")
            else:
                self.warn(pointer, message + " (the input is kept under `x`)", code="storage")
                self.add_x(f"Inputs[{target}]", {k: s.get(k) for k in s}, s.pointer)
            return None
        if found:
            options[target] = found
        return content

    def publisher(self, spec: Fields) -> None:
        publisher_spec = spec.sub("PublisherSpec")
        if publisher_spec.has("Type"):
            self.execution["publisher"] = self.spec_config(publisher_spec)
            spec.get("Publisher")
            spec.get(self.n("PublisherName"))
            return
        for name in ("Publisher", "PublisherName"):
            value = spec.get(self.n(name))
            if isinstance(value, str) and value:
                self.execution["publisher"] = {"type": value}
                return

    def legacy_timeout(self, spec: Fields) -> None:
        """`Timeout`: seconds (a float until 2024, then an integer)."""
        value = spec.get("Timeout")
        if value is None or value == 0:
            return
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            self.execution["timeout"] = format_duration(value)
            return
        self.error(
            spec.at("Timeout"),
            f"`{spec.label('Timeout')}` must be a whole number of seconds, not {value!r}",
            "write e.g. 600",
            code="timeout",
        )

    def annotations_list(self, spec: Fields) -> None:
        annotations = spec.strings("Annotations")
        if annotations:
            self.meta["annotations"] = list(annotations)

    def sharding(self, sharding: Fields) -> None:
        """A glob pattern splits the inputs among executions: each computes something
        else, so the sharding config is identity (`x.Sharding`). Without a pattern
        there is one shard, whatever the batch size says."""
        pattern = sharding.string(self.n("GlobPattern"))
        values = {k: sharding.get(k) for k in sharding}
        if pattern:
            plain = {
                name: values[key]
                for name in ("GlobPattern", "BatchSize", "GlobPatternBasePath")
                if (key := sharding.key(self.n(name))) is not None
            }
            self.add_x("Sharding", plain, sharding.pointer)
        elif values:
            self.bacalhau["Sharding"] = self.as_written(values, sharding.pointer, "Sharding")
