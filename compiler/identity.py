"""Identity: IR → identity map → strict DAG-CBOR → CIDv1. The only place hashing is defined.

The identity map (DESIGN §3) is the IR as plain data with every default omitted,
inputs sorted by target and outputs by path. It is encoded as strict DAG-CBOR by
`libipld` (map keys length-first, shortest integers, links as tag 42) and hashed with
sha2-256 into a CIDv1 (codec dag-cbor, `bafyrei…`).

One pitfall of libipld 3.5 is handled here: it writes *every* `bytes` value that parses
as a CID as a link. A genuine byte string that happens to look like a CID (a random
nonce, a WASM argument) must stay a byte string, so a value holding one is encoded by
the `dag-cbor` package, which keeps bytes and links apart. Both give the same bytes for
everything else (tests/test_identity_differential.py checks thousands of values).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Mapping
from typing import Any

import libipld

from compiler.ir import (
    IR_VERSION,
    Await,
    Determinism,
    DockerTask,
    FrozenMap,
    ImageDigest,
    Input,
    Job,
    Link,
    Network,
    OtherTask,
    SourceTask,
    Task,
    Value,
    WasmTask,
)

DAG_CBOR = 0x71
RAW = 0x55
SHA2_256 = 0x12
SHA3_256 = 0x16
"""Homestar's hash: its instruction and workflow CIDs are DAG-CBOR hashed with sha3-256
(`bafyrmi…`). jobc's own CIDs are sha2-256 (DESIGN §1); these name a foreign network's
objects, stored as aliases."""
_CIDV1_DAG_CBOR_SHA3_PREFIX = b"\x01\x71\x16\x20"
_CIDV1_DAG_CBOR_PREFIX = b"\x01\x71\x12\x20"
_CIDV1_RAW_PREFIX = b"\x01\x55\x12\x20"


class IdentityError(ValueError):
    """A value cannot be part of an identity (a float, a non-string key, …)."""


# --- rendering the IR as plain data -------------------------------------------------------


class _NeedsReferenceEncoder(Exception):
    """libipld would encode this tree wrongly: encode it with the `dag-cbor` package."""


class _Render:
    """How links and byte strings appear in the plain tree being built (for libipld).

    Renders hold no state, so one instance of each serves every call.
    """

    __slots__ = ()

    def link(self, link: Link) -> Any:
        raw = link.raw
        # libipld writes bytes as tag 42 only if it can parse them as a CID, and it cannot
        # parse some valid ones (a multihash digest over 64 bytes, e.g. an inlined block):
        # it would write such a link as a byte string.
        if len(raw) > 36 and libipld.encode_dag_cbor(raw)[:2] != b"\xd8\x2a":
            raise _NeedsReferenceEncoder
        return raw

    def raw(self, data: bytes) -> Any:
        if data[:1] in (b"\x01", b"\x12") and libipld.encode_dag_cbor(data)[:2] == b"\xd8\x2a":
            raise _NeedsReferenceEncoder  # libipld would write these bytes as a link
        return data


class _DagJsonRender(_Render):
    """Links as `{"/": cid}`, bytes as `{"/": {"bytes": base64}}` (DAG-JSON's forms)."""

    __slots__ = ()

    def link(self, link: Link) -> Any:
        return {"/": str(link)}

    def raw(self, data: bytes) -> Any:
        import base64  # here: byte strings are rare in identity (`jobc cid` is measured)

        return {"/": {"bytes": base64.b64encode(data).decode().rstrip("=")}}


class _NeutralRender(_Render):
    """Links stay `Link` objects, bytes stay bytes: for the reference encoder and tests."""

    __slots__ = ()

    def link(self, link: Link) -> Any:
        return link

    def raw(self, data: bytes) -> Any:
        return data


class _Noting(_Render):
    """The libipld render, noting whether it met a link or a byte string."""

    __slots__ = ("plain",)

    def __init__(self) -> None:
        self.plain = True

    def link(self, link: Link) -> Any:
        self.plain = False
        return _Render.link(self, link)

    def raw(self, data: bytes) -> Any:
        self.plain = False
        return _Render.raw(self, data)


_LIBIPLD = _Render()
_DAG_JSON = _DagJsonRender()
_NEUTRAL = _NeutralRender()


def _value(v: Value, r: _Render) -> Any:
    # Exact types first, in order of frequency: this runs for every value of every record,
    # fact and `x` field, and `isinstance(v, FrozenMap)` is an ABC check (slow when false).
    # Strings, the commonest values inside maps and lists, are taken as they are without
    # a call per value.
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if type(v) is FrozenMap:
        return {k: x if type(x) is str else _value(x, r) for k, x in v.items()}
    if type(v) is Link:
        return r.link(v)
    if type(v) is int and -(2**64) <= v < 2**64:
        return v
    if type(v) is tuple:
        return [x if type(x) is str else _value(x, r) for x in v]
    return _other_value(v, r)


def _other_value(v: Value, r: _Render) -> Any:
    """`_value` for subclasses, bytes, and what cannot be part of an identity."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        if not -(2**64) <= v < 2**64:
            raise IdentityError(f"integer {v} does not fit in 64 bits")
        return v
    if isinstance(v, FrozenMap):
        return {k: _value(x, r) for k, x in v.items()}
    if isinstance(v, tuple):
        return [_value(x, r) for x in v]
    if isinstance(v, Link):
        return r.link(v)
    if isinstance(v, bytes):
        return r.raw(v)
    if isinstance(v, float):
        raise IdentityError(f"a float ({v!r}) cannot be part of a job's identity")
    raise IdentityError(f"not an identity value: {type(v).__name__}")


def _content(c: Link | str, r: _Render) -> Any:
    return c if isinstance(c, str) else r.link(c)


def _task(task: Task, r: _Render) -> dict[str, Any]:
    if isinstance(task, DockerTask):
        image = task.image
        out: dict[str, Any]
        if isinstance(image, ImageDigest):
            out = {"engine": "docker", "image": {"digest": image.digest}}
        else:
            out = {"engine": "docker", "image": image}
            if task.platform:
                out["platform"] = task.platform
        if task.entrypoint:
            out["entrypoint"] = list(task.entrypoint)
        if task.args:
            out["args"] = list(task.args)
        env = task.env.to_dict()
        if env:
            out["env"] = env
        if task.workdir:
            out["workdir"] = task.workdir
        return out
    if isinstance(task, WasmTask):
        out = {"engine": "wasm", "module": _content(task.module, r)}
        if task.entrypoint != "_start":
            out["entrypoint"] = task.entrypoint
        if task.args:
            out["args"] = [_value(a, r) for a in task.args]
        env = task.env.to_dict()
        if env:
            out["env"] = env
        if task.imports:
            out["imports"] = {k: _content(c, r) for k, c in task.imports.items()}
        if task.stdin is not None:
            out["stdin"] = _content(task.stdin, r)
        return out
    if isinstance(task, SourceTask):
        out = {"engine": task.engine, "source": _content(task.source, r)}
        if task.engine == "rust" and task.edition and task.edition != "2021":
            out["edition"] = task.edition
        if task.args:
            out["args"] = list(task.args)
        env = task.env.to_dict()
        if env:
            out["env"] = env
        return out
    out = {k: _value(v, r) for k, v in task.params.items()}
    out["engine"] = task.engine
    return out


def _input(inp: Input, r: _Render) -> dict[str, Any]:
    src = inp.source
    if isinstance(src, str):
        return {"target": inp.target, "content": src}
    if isinstance(src, Await):
        return {"target": inp.target, "await": {"job": r.link(src.job), "path": src.path}}
    return {"target": inp.target, "content": r.link(src)}


def _network(net: Network) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": net.mode}
    if net.domains:
        out["domains"] = list(net.domains)
    return out


def _job(job: Job, r: _Render) -> dict[str, Any]:
    out: dict[str, Any] = {"ir": IR_VERSION, "task": _task(job.task, r)}
    if job.inputs:
        inputs = []  # a loop, not a comprehension: no frame of its own per render
        for inp in sorted(job.inputs, key=_BY_TARGET):
            inputs.append(_input(inp, r))
        out["inputs"] = inputs
    if job.outputs:
        out["outputs"] = sorted(job.outputs)
    out["determinism"] = job.determinism
    if job.network is not None:
        out["network"] = _network(job.network)
    if job.nonce:
        out["nonce"] = job.nonce
    if job.x:
        out["x"] = {k: _value(v, r) for k, v in job.x.items()}
    return out


_BY_TARGET = operator.attrgetter("target")


def identity_map(job: Job) -> dict[str, Any]:
    """The identity map of a job, links as `Link` objects and bytes as bytes."""
    return _job(job, _NEUTRAL)


def identity_dag_json(job: Job) -> dict[str, Any]:
    """The identity map in DAG-JSON's data forms (links `{"/": cid}`), ready for `json`."""
    return _job(job, _DAG_JSON)


def value_dag_json(value: Value) -> Any:
    """Any IR value in DAG-JSON's data forms."""
    return _value(value, _DAG_JSON)


# --- encoding and hashing -----------------------------------------------------------------


def _reference_encode(tree: Any) -> bytes:
    """Encode with the `dag-cbor` package, which keeps bytes and links apart."""
    import dag_cbor
    from multiformats import CID

    def convert(v: Any) -> Any:
        if isinstance(v, Link):
            return CID.decode(v.raw)
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        if isinstance(v, list):
            return [convert(x) for x in v]
        return v

    data: bytes = dag_cbor.encode(convert(tree))
    return data


def _encode_tree(build: Callable[[_Render], Any]) -> bytes:
    try:
        tree = build(_LIBIPLD)
    except _NeedsReferenceEncoder:
        return _reference_encode(build(_NEUTRAL))
    data: bytes = libipld.encode_dag_cbor(tree)
    return data


def encode_job(job: Job) -> bytes:
    """The strict DAG-CBOR bytes of a job's identity map."""
    return _encode_tree(lambda r: _job(job, r))


def encode_value(value: Value) -> bytes:
    """The strict DAG-CBOR bytes of any IR value (records, facts, receipts)."""
    return _encode_tree(lambda r: _value(value, r))


def cid_of_block(block: bytes) -> Link:
    """The CIDv1 (dag-cbor, sha2-256) of an encoded block."""
    return Link(_CIDV1_DAG_CBOR_PREFIX + hashlib.sha256(block).digest())


def cid_of_raw(data: bytes) -> Link:
    """The CIDv1 (raw, sha2-256) of bytes as written: the document CID (DESIGN §1)."""
    return Link(_CIDV1_RAW_PREFIX + hashlib.sha256(data).digest())


def job_cid(job: Job) -> Link:
    """The job CID: sha2-256 of the DAG-CBOR identity map."""
    return cid_of_block(encode_job(job))


def job_cid_and_dag_json(job: Job) -> tuple[Link, dict[str, Any] | None]:
    """`job_cid(job)`, with `identity_dag_json(job)` when it comes free, else None.

    A job without links and byte strings renders the same for hashing as for DAG-JSON,
    so the tree just hashed is handed over: a new tree, the caller's to keep.
    """
    r = _Noting()
    try:
        tree = _job(job, r)
    except _NeedsReferenceEncoder:
        return cid_of_block(_reference_encode(_job(job, _NEUTRAL))), None
    block: bytes = libipld.encode_dag_cbor(tree)
    return cid_of_block(block), (tree if r.plain else None)


def value_cid(value: Value) -> Link:
    """The CID of any IR value encoded as DAG-CBOR (records, receipts, descriptors)."""
    return cid_of_block(encode_value(value))


def map_cid(fields: Mapping[str, Value]) -> Link:
    """`value_cid(FrozenMap(fields))`, without building the FrozenMap (DAG-CBOR sorts keys)."""
    try:
        tree = _map_tree(fields, _LIBIPLD)
    except _NeedsReferenceEncoder:
        return cid_of_block(_reference_encode(_map_tree(fields, _NEUTRAL)))
    return cid_of_block(libipld.encode_dag_cbor(tree))


def _map_tree(fields: Mapping[str, Value], r: _Render) -> dict[str, Any]:
    """`_value(FrozenMap(fields), r)`, with the value types of records taken first."""
    out: dict[str, Any] = {}
    for k, v in fields.items():
        t = type(v)
        if t is str or (t is int and -(2**64) <= v < 2**64):  # type: ignore[operator]
            out[k] = v
        elif t is Link:
            out[k] = r.link(v)  # type: ignore[arg-type]
        elif t is tuple and not v:
            out[k] = []
        else:
            out[k] = _value(v, r)
    return out


def sha3_cid_of_value(value: Value) -> Link:
    """The CIDv1 (dag-cbor, sha3-256) of an IR value: a Homestar instruction's CID."""
    return Link(_CIDV1_DAG_CBOR_SHA3_PREFIX + hashlib.sha3_256(encode_value(value)).digest())


def sha3_cid_of_foreign(tree: Any) -> Link:
    """The CIDv1 (dag-cbor, sha3-256) of a foreign document's IPLD data (links as `Link`,
    bytes as bytes, and floats, which a foreign document may hold and jobc's identity
    never does): a Homestar workflow's CID. Encoded by the `dag-cbor` package."""
    return Link(_CIDV1_DAG_CBOR_SHA3_PREFIX + hashlib.sha3_256(_reference_encode(tree)).digest())


def workflow_cid(jobs: Mapping[str, Link]) -> Link:
    """The CID of a workflow: a map of its job names to their job CIDs (DESIGN §7)."""
    return map_cid(jobs)


def verify_block(link: Link, block: bytes) -> bool:
    """Whether `block` hashes to `link` (sha2-256 CIDs only)."""
    raw = link.raw
    if raw[:2] == b"\x12\x20":
        return raw[2:] == hashlib.sha256(block).digest()
    return raw[2:4] == b"\x12\x20" and raw[4:] == hashlib.sha256(block).digest()


def decode_value(block: bytes) -> Value:
    """Read a strict DAG-CBOR block back into an IR value (links as `Link`, bytes as bytes).

    libipld decodes links and byte strings alike (DESIGN §3), so its tree is taken only
    when encoding it again gives the block back: then every byte string that parses as a
    CID was a link and every other was bytes. Otherwise (a byte string that looks like a
    CID, a block that is not strict) the block is decoded by the `dag-cbor` package, which
    keeps links and byte strings apart, and is some 500 times slower. Raises
    IdentityError when the block is not strict DAG-CBOR or holds a float (identity has
    none).
    """
    fast = _decode_libipld(block)
    if fast is not None:
        return fast
    import dag_cbor
    from multiformats import CID

    try:
        tree = dag_cbor.decode(block)
    except Exception as exc:  # the decoder raises several error types
        raise IdentityError(f"not a strict DAG-CBOR block: {exc}") from None

    def convert(v: Any) -> Value:
        if isinstance(v, CID):
            return Link(bytes(v))
        if isinstance(v, dict):
            return FrozenMap({k: convert(x) for k, x in v.items()})
        if isinstance(v, list):
            return tuple(convert(x) for x in v)
        if isinstance(v, float):
            raise IdentityError(f"a float ({v!r}) cannot be part of an identity")
        if v is None or isinstance(v, bool | int | str | bytes):
            return v
        raise IdentityError(f"not an IR value: {type(v).__name__}")

    return convert(tree)


def decode_plain(block: bytes) -> Any | None:
    """libipld's tree of a block when it is exact (encoding it again gives the block
    back, so a byte string is a link iff `is_link_bytes`), else None."""
    try:
        tree = libipld.decode_dag_cbor(block)
        if libipld.encode_dag_cbor(tree) != block:
            return None
    except Exception:  # libipld raises ValueError subclasses of its own
        return None
    return tree


def is_link_bytes(data: bytes) -> bool:
    """Whether libipld writes these bytes as a link (so, in an exact tree, they were one)."""
    return data[:1] in (b"\x01", b"\x12") and libipld.encode_dag_cbor(data)[:2] == b"\xd8\x2a"


def _decode_libipld(block: bytes) -> Value | None:
    """`decode_value` through libipld when that is exact (see there), else None."""
    tree = decode_plain(block)
    if tree is None:
        return None
    try:
        return _from_libipld(tree)
    except IdentityError:
        return None


def value_from_plain(tree: Any) -> Value:
    """The IR value of an exact libipld tree (`decode_plain`'s), without decoding its
    block again; raises IdentityError if it holds what IR cannot (a float)."""
    return _from_libipld(tree)


def _from_libipld(v: Any) -> Value:
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v  # type: ignore[no-any-return]
    if t is dict:
        return FrozenMap({k: _from_libipld(x) for k, x in v.items()})
    if t is list:
        return tuple(_from_libipld(x) for x in v)
    if t is bytes:
        return Link(v) if is_link_bytes(v) else v
    raise IdentityError(f"not an IR value: {t.__name__}")


def block_links(block: bytes) -> list[Link]:
    """Every link in a DAG-CBOR block (an empty list if it is not one)."""
    tree: Any = decode_plain(block)
    plain = tree is not None  # libipld's tree: links are the bytes it writes as links
    if not plain:
        try:
            tree = decode_value(block)
        except IdentityError:
            return []
    out: list[Link] = []
    stack = [tree]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is dict or t is FrozenMap:
            stack.extend(v.values())
        elif t is list or t is tuple:
            stack.extend(v)
        elif t is Link:
            out.append(v)
        elif t is bytes and plain and is_link_bytes(v):
            out.append(Link(v))
    return out


# --- DAG-JSON -----------------------------------------------------------------------------


def dag_json_dumps(tree: Any, *, indent: int | None = None) -> str:
    """Serialise DAG-JSON data forms; canonical (sorted keys, no spaces) unless `indent`."""
    import json  # here: `jobc cid` writes no DAG-JSON

    if indent is None:
        return json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(tree, sort_keys=True, indent=indent, ensure_ascii=False)


def from_dag_json(obj: Any) -> Value:
    """Read DAG-JSON data forms back into IR values (`{"/": cid}` → Link, bytes form → bytes)."""
    if isinstance(obj, Mapping):
        if len(obj) == 1 and "/" in obj:
            inner = obj["/"]
            if isinstance(inner, str):
                return Link.parse(inner)
            if isinstance(inner, Mapping) and set(inner) == {"bytes"}:
                import base64

                text = str(inner["bytes"])
                return base64.b64decode(text + "=" * (-len(text) % 4))
            raise IdentityError(
                f"a map whose only key is `/` is a link or bytes in DAG-JSON, not {inner!r}"
            )
        return FrozenMap({str(k): from_dag_json(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(from_dag_json(v) for v in obj)
    if isinstance(obj, float):
        raise IdentityError(f"a float ({obj!r}) cannot be part of an identity")
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    raise IdentityError(f"not a DAG-JSON value: {type(obj).__name__}")


# --- back from an identity map ------------------------------------------------------------


def job_from_identity(tree: Value) -> Job:
    """Rebuild a Job from its identity map (as read by `from_dag_json`); inverse of `_job`."""
    m = _as_map(tree, "job")
    if m.get("ir") != IR_VERSION:
        raise IdentityError(
            f"unsupported IR version {m.get('ir')!r} (this jobc reads ir {IR_VERSION})"
        )
    known = {"ir", "task", "inputs", "outputs", "determinism", "network", "nonce", "x"}
    extra = sorted(set(m) - known)
    if extra:
        raise IdentityError(f"unknown identity fields: {', '.join(extra)}")
    inputs = tuple(_input_from(v) for v in _as_tuple(m.get("inputs", ()), "inputs"))
    outputs = tuple(_as_str(v, "outputs[]") for v in _as_tuple(m.get("outputs", ()), "outputs"))
    determinism_v = m.get("determinism")
    determinism: Determinism
    if determinism_v == "strict":
        determinism = "strict"
    elif determinism_v == "unordered":
        determinism = "unordered"
    elif determinism_v == "none":
        determinism = "none"
    else:
        raise IdentityError(f"bad determinism {determinism_v!r}")
    net = m.get("network")
    network = None
    if net is not None:
        nm = _as_map(net, "network")
        mode = nm.get("mode")
        if mode not in ("http", "full"):
            raise IdentityError(f"bad network mode {mode!r}")
        domains = tuple(
            _as_str(d, "domains[]") for d in _as_tuple(nm.get("domains", ()), "domains")
        )
        network = Network(mode="http" if mode == "http" else "full", domains=domains)
    return Job(
        task=_task_from(m.get("task")),
        inputs=inputs,
        outputs=outputs,
        determinism=determinism,
        network=network,
        nonce=_as_str(m.get("nonce", ""), "nonce"),
        x=_as_map(m.get("x", FrozenMap()), "x"),
    )


def _as_map(v: Value, what: str) -> FrozenMap[Value]:
    if not isinstance(v, FrozenMap):
        raise IdentityError(f"{what} must be a map")
    return v


def _as_tuple(v: Value, what: str) -> tuple[Value, ...]:
    if not isinstance(v, tuple):
        raise IdentityError(f"{what} must be a list")
    return v


def _as_str(v: Value, what: str) -> str:
    if not isinstance(v, str):
        raise IdentityError(f"{what} must be a string")
    return v


def _as_content(v: Value, what: str) -> Link | str:
    if not isinstance(v, Link | str):
        raise IdentityError(f"{what} must be a link or a source string")
    return v


def _str_map(v: Value, what: str) -> FrozenMap[str]:
    m = _as_map(v, what)
    return FrozenMap({k: _as_str(x, f"{what}.{k}") for k, x in m.items()})


def _task_from(v: Value) -> Task:
    m = _as_map(v, "task")
    engine = _as_str(m.get("engine"), "task.engine")
    if engine == "docker":
        image_v = m.get("image")
        image: str | ImageDigest
        if isinstance(image_v, FrozenMap):
            image = ImageDigest(_as_str(image_v.get("digest"), "image.digest"))
        else:
            image = _as_str(image_v, "image")
        return DockerTask(
            image=image,
            platform=_as_str(m.get("platform", ""), "platform"),
            entrypoint=tuple(
                _as_str(a, "entrypoint[]") for a in _as_tuple(m.get("entrypoint", ()), "entrypoint")
            ),
            args=tuple(_as_str(a, "args[]") for a in _as_tuple(m.get("args", ()), "args")),
            env=_str_map(m.get("env", FrozenMap()), "env"),
            workdir=_as_str(m.get("workdir", ""), "workdir"),
        )
    if engine == "wasm":
        stdin = m.get("stdin")
        return WasmTask(
            module=_as_content(m.get("module"), "module"),
            entrypoint=_as_str(m.get("entrypoint", "_start"), "entrypoint"),
            args=_as_tuple(m.get("args", ()), "args"),
            env=_str_map(m.get("env", FrozenMap()), "env"),
            imports=FrozenMap(
                {
                    k: _as_content(c, "imports")
                    for k, c in _as_map(m.get("imports", FrozenMap()), "imports").items()
                }
            ),
            stdin=None if stdin is None else _as_content(stdin, "stdin"),
        )
    if engine in ("rust", "c"):
        return SourceTask(
            engine="rust" if engine == "rust" else "c",
            source=_as_content(m.get("source"), "source"),
            edition=_as_str(m.get("edition", ""), "edition"),
            args=tuple(_as_str(a, "args[]") for a in _as_tuple(m.get("args", ()), "args")),
            env=_str_map(m.get("env", FrozenMap()), "env"),
        )
    return OtherTask(engine=engine, params=FrozenMap({k: x for k, x in m.items() if k != "engine"}))


def _input_from(v: Value) -> Input:
    m = _as_map(v, "input")
    target = _as_str(m.get("target"), "input.target")
    if "await" in m:
        a = _as_map(m["await"], "await")
        job = a.get("job")
        if not isinstance(job, Link):
            raise IdentityError("await.job must be a link")
        return Input(target, Await(job, _as_str(a.get("path"), "await.path")))
    return Input(target, _as_content(m.get("content"), "input.content"))
