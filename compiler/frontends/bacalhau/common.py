"""What every Bacalhau era shares: storage sources as content, environment variables,
network, resources, timeouts, unknown fields under `x`, and the `jobc.stash`.

Each era's module reads its own layout and calls these to turn Bacalhau's pieces into
the IR (what the job computes) and the execution options (how to run it), in the
vocabulary `docs/formats.md` fixes, so a compiled document looks the same whatever
format the job was written in.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from compiler import identity
from compiler.frontends import Options, Parsed
from compiler.frontends.bacalhau.fields import Fields
from compiler.frontends.loader import SourceDocument
from compiler.frontends.reader import ExtensionReader, Reader, child, unwritable
from compiler.ir import (
    Content,
    FrozenMap,
    Input,
    Job,
    Network,
    Task,
    default_determinism,
    freeze,
)

STASH_KEY = "jobc.stash"
"""The `Meta` key (a string map in every era) where jobc keeps what Bacalhau cannot say."""
CID_KEY = "jobc.cid"
ORIGINAL_KEY = "jobc.original"
JOBC_META_KEYS = (STASH_KEY, CID_KEY, ORIGINAL_KEY)


class BacalhauReader(ExtensionReader):
    """A Reader that also collects `x`, locations, meta and execution for one job."""

    def __init__(self, doc: SourceDocument, options: Options, format: str) -> None:
        super().__init__(doc)
        self.strict = options.strict
        self.format = format
        self.meta: dict[str, Any] = {}
        self.execution: dict[str, Any] = {}
        self.stash: tuple[str, str] | None = None
        """(pointer, text) of a `jobc.stash` found in the document's Meta."""

    def fields(self, value: Any, pointer: str, where: str) -> Fields:
        """`value` as a case-insensitive map."""
        return Fields(self, value, pointer, where)

    # -- what the document says beyond what jobc knows

    def keep_unknown(self, fields: Fields, prefix: str, expected: tuple[str, ...] = ()) -> None:
        """Keep every field of `fields` that is not read and not in `expected` under `x`,
        with a warning (an error under --strict): unknown fields may change what a job
        computes. A field in `expected` that was not read belongs to another variant of
        the map (a `URL` on an IPFS storage spec) and is ignored, as Bacalhau ignores it."""
        for key, value in fields.unread(expected).items():
            pointer = child(fields.pointer, key)
            near = _closest(key, list(expected))
            hint = (
                f"did you mean `{near}`?"
                if near
                else "it is kept in the job's identity under `x`; remove it if it is a typo"
            )
            message = f"unknown field `{key}` in {fields.where or 'the job'}"
            if self.strict:
                self.error(pointer, message, hint, key=True, code="unknown-field")
                continue
            self.warn(pointer, message + " (kept under `x`)", hint, key=True, code="unknown-field")
            self.add_x(prefix + key, value, pointer)

    def keep_as_is(self, fields: Fields, name: str, into: dict[str, Any]) -> None:
        """Put field `name` of `fields`, if given, into `into` as written (under its key
        as written): fields jobc carries along without reading (server fields)."""
        key = fields.key(name)
        if key is not None and fields.has(name):
            into[key] = self.as_written(fields.get(name), fields.at(name), key)

    def as_written(self, value: Any, pointer: str, what: str) -> Any:
        """A value kept beside identity as written (execution, meta): JSON must carry it."""
        for p, bad in unwritable(value, pointer):
            self.error(
                p,
                f"{what} cannot hold "
                + (f"the number {bad!r}" if isinstance(bad, float) else "binary data"),
                "it is written as JSON in the compiled document: write it as a string",
                code="not-json",
            )
        return value

    # -- pieces every era has

    def env_list(self, fields: Fields, name: str, env: dict[str, str]) -> None:
        """Add `K=V` strings (or a map, as some eras wrote) of field `name` to `env`."""
        value = fields.get(name)
        if value is None:
            return
        pointer = fields.at(name)
        if isinstance(value, dict):
            self.env_map(value, pointer, fields.label(name), env)
            return
        for p, item in _items(self, value, pointer, fields.label(name)):
            text = self.string(item, p, fields.label(name) + "[]")
            key, sep, val = text.partition("=")
            if not isinstance(item, str):
                continue
            if not sep or not key:
                self.error(
                    p,
                    f"`{text}` in {fields.label(name)} must look like NAME=value",
                    "write NAME=value, e.g. LC_ALL=C",
                    code="env",
                )
                continue
            self.put_env(env, key, val, p)

    def env_map(self, value: Any, pointer: str, label: str, env: dict[str, str]) -> None:
        """Add the variables of a map (`Env`) to `env`."""
        for key, val in self.mapping(value, pointer, label).items():
            p = child(pointer, key)
            self.put_env(env, key, self.string(val, p, f"{label}.{key}", allow_int=True), p)

    def put_env(self, env: dict[str, str], key: str, value: str, pointer: str) -> None:
        if key in env:
            self.error(
                pointer,
                f"environment variable {key!r} is given twice",
                "keep one of them (a job's env is one map, however it is written)",
                code="duplicate-env",
            )
            return
        env[key] = value
        self.locations.setdefault(f"/task/env/{key}", pointer)

    def network(self, fields: Fields) -> Network | None:
        """The network a job asks for; Bacalhau-only details go to execution.

        Bacalhau's default (no `Network`, or `Type: Default`) changed between releases
        (none before v1.7, a bridge after); jobc reads it as "asks for none", the
        meaning the job's author can count on (docs/decisions.md).
        """
        if not fields.keys():
            return None
        mode_text = fields.string("Type")
        domains = fields.strings("Domains")
        ports = fields.get("Ports")
        details: dict[str, Any] = {}
        if ports:
            details["ports"] = self.as_written(ports, fields.at("Ports"), "`Network.Ports`")
        self.keep_unknown(fields, "Network.")
        folded = mode_text.casefold()
        network: Network | None
        if folded in ("", "default", "none"):
            network = None
        elif folded in ("full", "host", "bridge"):
            network = Network("full")
        elif folded == "http":
            network = Network("http", domains)
        else:
            self.error(
                fields.at("Type"),
                f"unknown network type {mode_text!r}",
                "use None, HTTP (with Domains), Full, Host or Bridge",
                code="network",
            )
            return None
        if domains and folded != "http":
            self.error(
                fields.at("Domains"),
                "domains are given but the network type is not HTTP",
                "set `Type: HTTP`, or remove `Domains` (Bacalhau refuses them too)",
                code="network",
            )
        written = {None: "None", "full": "Full", "http": "HTTP"}
        if mode_text and mode_text != written[network.mode if network else None]:
            details["type"] = mode_text  # what the emitter restores: Host, Bridge, none, …
        if details:
            self.execution["network"] = details
        self.locations["/network"] = fields.pointer
        return network

    def resources(self, fields: Fields) -> None:
        """`Resources` (CPU, Memory, Disk, GPU): how, never what."""
        if not fields.keys():
            return
        out: dict[str, Any] = {}
        for name in ("CPU", "Memory", "Disk", "GPU"):
            if fields.has(name):
                out[name.lower()] = fields.string(name, allow_int=True)
        for key, value in fields.unread().items():
            self.warn(
                child(fields.pointer, key),
                f"unknown field `{key}` in {fields.where} (kept in the execution options)",
                "resources say how to run a job, never what it computes",
                key=True,
                code="unknown-field",
            )
            out[key] = self.as_written(value, child(fields.pointer, key), "`Resources`")
        if out:
            self.execution["resources"] = out

    def timeout(self, fields: Fields, name: str, option: str) -> None:
        """A timeout in seconds (Bacalhau's unit) as a duration string in execution."""
        value = fields.get(name)
        if value is None or value == 0:
            return
        pointer = fields.at(name)
        seconds = -1
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        elif isinstance(value, str):
            seconds = parse_duration(value)
        if seconds < 0:
            self.error(
                pointer,
                f"`{fields.label(name)}` must be a number of seconds, not {value!r}",
                "write e.g. 600 (or a duration such as 10m)",
                code="timeout",
            )
            return
        self.execution[option] = format_duration(seconds)

    def constraints(self, fields: Fields, name: str) -> None:
        """Node selectors ({Key, Operator, Values}): placement, never identity."""
        out: list[dict[str, Any]] = []
        for p, item, label in fields.items(name):
            c = self.fields(item, p, label)
            entry: dict[str, Any] = {"key": c.string("Key"), "operator": c.string("Operator")}
            values = c.strings("Values")
            if values:
                entry["values"] = list(values)
            for key, value in c.unread().items():
                entry[key] = self.as_written(value, child(p, key), "a constraint")
            out.append(entry)
        if out:
            self.execution["constraints"] = out

    def spec_config(self, fields: Fields) -> dict[str, Any]:
        """A {Type, Params} map (a publisher) as execution writes it: {type, params}."""
        out: dict[str, Any] = {"type": fields.string("Type")}
        params = fields.get("Params")
        if params:
            out["params"] = self.as_written(params, fields.at("Params"), fields.label("Params"))
        for key, value in fields.unread().items():
            out[key] = self.as_written(value, child(fields.pointer, key), fields.where)
        return out

    def string_map(self, value: Any, pointer: str, label: str) -> dict[str, str]:
        """A map of strings (Labels, Meta): integers are written out."""
        return {
            k: self.string(v, child(pointer, k), f"{label}.{k}", allow_int=True)
            for k, v in self.mapping(value, pointer, label).items()
        }

    def annotations(self, value: Any, pointer: str, label: str) -> None:
        """`Meta`: kept in meta as `annotations`; jobc's own keys are read, not kept."""
        meta = self.string_map(value, pointer, label)
        if STASH_KEY in meta:
            self.stash = (child(pointer, STASH_KEY), meta[STASH_KEY])
        kept = {k: v for k, v in meta.items() if k not in JOBC_META_KEYS}
        if kept:
            self.meta["annotations"] = kept

    # -- sources

    def storage_content(
        self, kind: str, params: Fields, target: str, options: dict[str, Any]
    ) -> Content | None:
        """The content a storage source names, or None when jobc does not know `kind`.

        Where the data may be fetched from (an S3 region, a local path's read-write
        flag) goes to `options` (execution), never to identity (DESIGN §2).
        """
        folded = kind.casefold()
        if folded == "ipfs":
            cid = params.string("CID")
            self.check_cid(cid, params.at("CID"))
            return "ipfs://" + cid
        if folded in ("urldownload", "url"):
            return self.nonempty(params, "URL")
        if folded == "inline":
            return self.nonempty(params, "URL")
        if folded in ("local", "localdirectory"):
            path = self.nonempty(params, "SourcePath")
            for name in ("ReadWrite", "CreateAs"):
                if params.has(name):
                    options[name] = self.as_written(params.get(name), params.at(name), name)
            return path
        if folded in ("s3", "s3presigned"):
            return self.s3_content(params, options)
        return None

    def s3_content(self, params: Fields, options: dict[str, Any]) -> str:
        """An S3 object as a URI: `s3://bucket/key`, what selects data in the query
        (`endpoint`: another store's namespace; `filter`; `versionId`), the expected
        SHA-256 in the fragment (`#sha256=<hex>`, as for URLs). The region says where
        to ask, not what: execution."""
        bucket = self.nonempty(params, "Bucket")
        key = params.string("Key")
        query = {
            name: params.string(field)
            for name, field in (
                ("endpoint", "Endpoint"),
                ("filter", "Filter"),
                ("versionId", "VersionID"),
            )
            if params.has(field)
        }
        for name in ("Region", "PreSignedURL"):
            if params.has(name):
                options[name] = params.string(name)
        uri = "s3://" + bucket + "/" + key.lstrip("/")
        query = {k: v for k, v in query.items() if v}
        if query:
            uri += "?" + urllib.parse.urlencode(sorted(query.items()))
        checksum = params.string("ChecksumSHA256") or params.string("Checksum")
        if checksum:
            digest = sha256_hex(checksum)
            if digest is None:
                self.error(
                    params.at("ChecksumSHA256") if params.has("ChecksumSHA256") else params.at(""),
                    f"{checksum!r} is not a SHA-256 checksum",
                    "give the object's SHA-256, base64 (as S3 writes it) or hex",
                    code="checksum",
                )
            else:
                uri += "#sha256=" + digest
        return uri

    def nonempty(self, fields: Fields, name: str) -> str:
        """A required string parameter."""
        text = fields.string(name)
        if not text:
            self.error(
                fields.at(name),
                f"`{fields.label(name)}` is missing"
                if name not in fields
                else f"`{fields.label(name)}` is empty",
                f"give `{name}`",
                code="missing",
            )
        return text

    def check_cid(self, cid: str, pointer: str) -> None:
        from compiler.ir import Link

        if not cid:
            self.error(pointer, "the IPFS source has no CID", "give `CID: <cid>`", code="missing")
            return
        try:
            Link.parse(cid.partition("/")[0])
        except ValueError as exc:
            self.error(pointer, f"{cid!r} is not a CID: {exc}", "give the data's CID", code="cid")

    def target(self, fields: Fields, name: str = "Target") -> str:
        """An absolute mount path."""
        text = fields.string(name).strip()
        if not text:
            self.error(
                fields.at(name),
                f"`{fields.label(name)}` is missing",
                "give the absolute path to mount the data at, e.g. /inputs",
                code="missing",
            )
        elif not text.startswith("/"):
            self.error(
                fields.at(name),
                f"`{fields.label(name)}` must be an absolute path, not {text!r}",
                f"write /{text}",
                code="relative-path",
            )
        return text

    def add_input(
        self, inputs: dict[str, Input], target: str, content: Content, pointer: str
    ) -> None:
        if target in inputs:
            self.error(
                pointer,
                f"two inputs are mounted at {target!r}",
                f"the other one is at {self.doc.span(self.locations['/inputs/' + target])}",
                code="duplicate-target",
            )
            return
        inputs[target] = Input(target, content)
        self.locations[f"/inputs/{target}"] = pointer

    # -- the job

    def finish(
        self,
        task: Task,
        inputs: dict[str, Input],
        outputs: list[str],
        network: Network | None,
    ) -> Parsed:
        """The parsed job: the IR, with the stash applied, and everything beside it."""
        self.sink.raise_if_errors()
        job = Job(
            task=task,
            inputs=tuple(inputs.values()),
            outputs=tuple(outputs),
            determinism=default_determinism(task.engine),
            network=network,
            x=FrozenMap(self.x),
        )
        if self.stash is not None:
            # Read once: whether it rebuilds the job, what it puts back, what else it holds.
            pointer, text = self.stash
            try:
                data = read_stash(text)
            except ValueError as exc:
                self.stash_error(pointer, exc)
                data = {}
            if set(data) & set(STASH_FIELDS):
                job = self.apply_stash(job, pointer, data)
            execution, meta = extras_of(data)
            self.execution = merge_execution(execution, self.execution)
            self.meta = merge_meta(meta, self.meta)
        self.sink.raise_if_errors()
        return Parsed(
            job=job,
            format=self.format,
            meta=self.meta,
            execution=self.execution,
            locations=self.locations,
            diagnostics=tuple(self.diagnostics),
        )

    def apply_stash(self, job: Job, pointer: str, data: dict[str, Any]) -> Job:
        """Put back what an emitter could not say in Bacalhau's terms (`jobc.stash`,
        read by `read_stash`)."""
        try:
            return apply_stash_data(job, data)
        except (ValueError, identity.IdentityError) as exc:
            self.stash_error(pointer, exc)
            return job

    def stash_error(self, pointer: str, exc: Exception) -> None:
        self.error(
            pointer,
            f"the `{STASH_KEY}` in Meta cannot be read: {exc}",
            "it is written by `jobc export`/`jobc migrate`; remove it or restore it",
            code="stash",
        )


# --- the stash ----------------------------------------------------------------------------

STASH_FIELDS = ("determinism", "nonce", "network", "x", "inputs", "outputs", "task")
"""Identity fields a stash may hold (DAG-JSON forms of identity-map pieces)."""
STASH_EXTRAS = ("execution", "meta")
"""What else it may hold: execution options and meta the format has no place for."""


def has_identity(text: str) -> bool:
    """Whether a stash holds identity fields (else the job needs no rebuilding); a stash
    that cannot be read says so when it is applied."""
    try:
        return bool(set(read_stash(text)) & set(STASH_FIELDS))
    except ValueError:
        return True


def read_stash(text: str) -> dict[str, Any]:
    """The fields of a stash (its JSON), or ValueError saying why it cannot be read."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("it must be a JSON object")
    unknown = sorted(set(data) - set(STASH_FIELDS) - set(STASH_EXTRAS))
    if unknown:
        raise ValueError(f"unknown fields {', '.join(unknown)}")
    return data


def stash_extras(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The execution options and meta a stash holds (read after `apply_stash`, which
    reports a stash that cannot be read: then there are none)."""
    try:
        data = read_stash(text)
    except ValueError:
        return {}, {}
    return extras_of(data)


def extras_of(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The execution options and meta of a stash's fields (`read_stash`)."""
    execution, meta = data.get("execution", {}), data.get("meta", {})
    return (execution if isinstance(execution, dict) else {}), (
        meta if isinstance(meta, dict) else {}
    )


def merge_execution(stashed: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    """Execution options read from a document with those its stash kept (a map such as
    `resources`, split between the two, is united; the document's own values win)."""
    merged = {**stashed, **read}
    for key, value in stashed.items():
        if isinstance(value, dict) and isinstance(read.get(key), dict):
            merged[key] = {**value, **read[key]}
    return merged


def merge_meta(stashed: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    """Meta read from a document with the meta its stash kept: the document's own wins;
    the names of inputs and outputs are united (a stashed input keeps its name)."""
    merged = {**stashed, **read}
    for key in ("input_names", "output_names"):
        if isinstance(stashed.get(key), dict) and key in read:
            merged[key] = {**stashed[key], **read[key]}
    return merged


def apply_stash(job: Job, text: str) -> Job:
    """`job` with the identity fields of a stash (DAG-JSON of identity-map pieces) put
    back: task fields and top-level fields replace, inputs and `x` entries add."""
    return apply_stash_data(job, read_stash(text))


def apply_stash_data(job: Job, fields: dict[str, Any]) -> Job:
    """`apply_stash` with the stash's fields read (`read_stash`)."""
    data = {k: v for k, v in fields.items() if k in STASH_FIELDS}
    stash = identity.from_dag_json(data)
    assert isinstance(stash, FrozenMap)
    base = dict(freeze(identity.identity_map(job)))  # type: ignore[arg-type]
    for key, value in stash.items():
        if key == "task":
            if not isinstance(value, FrozenMap) or "engine" in value:
                raise ValueError("`task` must be a map of task fields (not the engine)")
            task = base["task"]
            assert isinstance(task, FrozenMap)
            base["task"] = FrozenMap({**task, **value})
        elif key == "inputs":
            if not isinstance(value, tuple):
                raise ValueError("`inputs` must be a list")
            base["inputs"] = (*base.get("inputs", ()), *value)  # type: ignore[misc]
        elif key == "x":
            if not isinstance(value, FrozenMap):
                raise ValueError("`x` must be a map")
            given = base.get("x", FrozenMap())
            assert isinstance(given, FrozenMap)
            both = sorted(set(given) & set(value))
            if both:
                raise ValueError(f"`x` fields given twice: {', '.join(both)}")
            base["x"] = FrozenMap({**given, **value})
        else:
            base[key] = value
    rebuilt = identity.job_from_identity(FrozenMap(base))
    targets = [i.target for i in rebuilt.inputs]
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise ValueError(f"inputs mounted twice: {', '.join(twice)}")
    return rebuilt


# --- durations and checksums --------------------------------------------------------------

_DURATION = re.compile(r"(\d+)(h|m|s)")


def parse_duration(text: str) -> int:
    """Seconds in `90`, `10m`, `1h30m`, `45s`; -1 if `text` is none of these."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    total, pos = 0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return -1
        total += int(m.group(1)) * {"h": 3600, "m": 60, "s": 1}[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else -1


def format_duration(seconds: int) -> str:
    """`5400` → `1h30m`, `600` → `10m`, `45` → `45s`, `0` → `0s`."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    text += f"{secs}s" if secs or not text else ""
    return text


def sha256_hex(checksum: str) -> str | None:
    """A SHA-256 given in hex or base64 (S3's form) as lowercase hex, or None."""
    import base64
    import binascii

    text = checksum.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    return raw.hex() if len(raw) == 32 else None


def _items(reader: Reader, value: Any, pointer: str, label: str) -> list[tuple[str, Any]]:
    return [(child(pointer, i), v) for i, v in enumerate(reader.sequence(value, pointer, label))]


def _closest(word: str, choices: list[str]) -> str:
    import difflib

    folded = {c.casefold(): c for c in choices if c.casefold() != word.casefold()}
    found = difflib.get_close_matches(word.casefold(), sorted(folded), n=1, cutoff=0.75)
    return folded[found[0]] if found else ""
