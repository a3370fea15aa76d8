"""The fast path of a compile: the common jobspec/1 document, compiled without the IR chain.

A gateway or a `jobc compile` run over many files sees mostly one kind of document: a
jobspec/1 job whose image is pinned by digest (or by tag, which the registry's oracle
answers from its cache or a lock, as for the pipeline) and whose data are `ipfs://`
CIDs (or files and URLs the content oracle hashes, or inline text). For it, the general
pipeline builds four versions of the job as IR dataclasses, renders each to an identity
map, and walks every pass over it. This module computes the same results directly from
the document's data tree: the identity maps of the original job and of the job after
each pass, their DAG-CBOR blocks and CIDs, the records, and the compiled document
(`emitters.compiled.to_document`'s dict), byte for byte what the pipeline gives. The IR
(original and final job, chain, locations) is made only when someone asks for it
(`FastCompiled`), by the pipeline's own code.

It **declines** (returns None, and the pipeline runs) on anything it does not handle
exactly: another format or engine (rust, c), a field it does not know, a value of
another type than the clean one (an integer for a string, a float, a byte string), an
image the registry's oracle cannot pin (offline, unknown), a source other than
`ipfs://`, `data:` (inline `text` is one), a file or a URL (`s3://`, another host's
file), a file or URL the content oracle cannot pin, an await, two inputs or outputs that
collide, a network with a strict job, any error, warning or note, passes other than the
default pipeline's (`-p normalize`, `--verify-digests`; it takes the pipeline without
`lower`, as `--no-lower` and the gateway run it, and `--require-pinned`). Its rules are
listed in docs/decisions.md; `tests/test_fastpath.py` compares it with the pipeline on thousands
of generated documents and on every example.

`JOBC_FASTPATH=0` in the environment (or `CompileOptions(fast=False)`) turns it off, so
the pipeline can always be compared with it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import libipld

from compiler import imageref
from compiler import sources as uris
from compiler.driver import Compiled, CompileOptions, maybe_jobfile, parse_facts
from compiler.frontends.jobspec1 import (
    FORMAT,
    INPUT_FIELDS,
    NETWORK_FIELDS,
    OUTPUT_FIELDS,
    TASK_FIELDS,
    TOP_FIELDS,
)
from compiler.frontends.loader import Limits, SourceDocument, Syntax, orjson_tree
from compiler.ir import FrozenMap, Link, Value
from compiler.oracles import Fact, Oracle, OracleError, OracleUnavailable
from compiler.passes import PARSE, PARSE_VERSION, Pass, default_pipeline
from compiler.passes.lower import Lower
from compiler.passes.normalize import (
    CANONICAL_PREFIXES,
    PLATFORM,
    Normalize,
    clean_path,
    normal_content,
)
from compiler.passes.resolve_content import ResolveContent
from compiler.passes.resolve_images import ResolveImages
from compiler.records import RECORD_VERSION, Record

if TYPE_CHECKING:
    from compiler.ir import Job

ENABLED = os.environ.get("JOBC_FASTPATH", "1") != "0"
"""Off when the environment says `JOBC_FASTPATH=0` (read once, at import)."""

_TOP = frozenset(TOP_FIELDS)
_DOCKER = frozenset(TASK_FIELDS["docker"])
_WASM = frozenset(TASK_FIELDS["wasm"])
_INPUT = frozenset(INPUT_FIELDS)
_OUTPUT = frozenset(OUTPUT_FIELDS)
_NETWORK = frozenset(NETWORK_FIELDS)
_INT_MIN, _INT_END = -(2**64), 2**64
_CID_PREFIX = b"\x01\x71\x12\x20"
_RAW_PREFIX = b"\x01\x55\x12\x20"
_sha256 = hashlib.sha256
_encode = libipld.encode_dag_cbor
_multibase = libipld.encode_multibase
"""`_multibase("b", cid)` is `str(Link(cid))` for a CIDv1."""


_RecordLinks = tuple[str, int, tuple[dict[str, Any], ...], bytes, bytes, bytes]
"""A record as the fast path keeps it: pass, version, facts, from, to, its own CID."""


class _Decline(Exception):
    """The document needs the pipeline."""


def attempt(
    raw: bytes,
    name: str,
    options: CompileOptions,
    oracle: Oracle | None,
    make_oracle: Callable[[], Oracle],
) -> tuple[Compiled | None, SourceDocument | None]:
    """The compile of `raw` if the fast path handles it exactly, else None; and when it
    declines, the document it read on the way (if it read one with `load`), so that the
    pipeline does not read the same bytes again.

    `oracle` is the caller's (None: the driver's own, made by `make_oracle` only if a
    question must be asked). A result equals the pipeline's: same CIDs, records,
    sources, meta and execution, and the same compiled document.
    """
    plan = _plan(options.passes)
    if plan is None:
        return None, None
    read: list[SourceDocument] = []
    try:
        return _compile(raw, name, options, oracle, make_oracle, plan, read), None
    except _Decline:
        pass
    except Exception:  # a fault here must not cost the user the compile: the pipeline
        pass  # runs and reports (tests/test_fastpath.py checks none occurs)
    return None, read[0] if read else None


class _Plan(NamedTuple):
    """What the passes to run do that the fast path must do alike."""

    lowers: bool
    """The lower pass runs (and asks about a WASM module)."""
    refresh: bool
    """resolve-images asks the registry even when its cache has the answer."""


_DEFAULT_PLAN = _Plan(lowers=True, refresh=False)


@functools.lru_cache(maxsize=64)
def _plan(passes: tuple[Pass, ...] | None) -> _Plan | None:
    """The plan when the passes to run are the default pipeline's, or those without
    `lower` or with it disabled (as a gateway runs them); None for any other choice.
    Options of resolve-images that change nothing for the jobs taken are allowed:
    `refresh` (passed on to the registry's oracle) and `require_pinned` (every image taken
    is pinned)."""
    if passes is None:
        return _DEFAULT_PLAN
    wanted = [p for p in default_pipeline() if p.name != Lower.name]
    given = [p for p in passes if p.name != Lower.name]
    if len(given) != len(wanted) or len(passes) - len(given) > 1:
        return None
    refresh = False
    for mine, theirs in zip(given, wanted, strict=True):
        if isinstance(mine, ResolveImages) and isinstance(theirs, ResolveImages):
            if mine.verify_digests:
                return None  # the registry must confirm every digest
            refresh = mine.refresh
            continue
        if mine != theirs:
            return None
    lower = next((p for p in passes if isinstance(p, Lower)), None)
    if lower is not None and passes[-1] is not lower:
        return None
    return _Plan(lowers=lower is not None and lower.enabled, refresh=refresh)


# --- reading --------------------------------------------------------------------------------


def _tree(
    raw: bytes, name: str, options: CompileOptions, read: list[SourceDocument] | None = None
) -> tuple[Any, bool]:
    """The document's data tree and whether it is plain (`SourceDocument.plain`), read as
    `loader.load` reads it. Compact JSON (what orjson writes back byte for byte) is read
    here; anything else by `load` itself (the document it gives is left in `read`)."""
    syntax = options.syntax
    if syntax is None and maybe_jobfile(name, raw):
        from compiler.frontends.jobfile import looks_like_jobfile

        if looks_like_jobfile(name, raw[:4096].decode("utf-8", errors="replace")):
            raise _Decline
    limits = options.limits
    # `sniff_syntax`, for a document that starts with `{` (no BOM, no space before it).
    if (
        raw[:1] == b"{"
        and (syntax == "json" or (syntax is None and not name.endswith((".yaml", ".yml"))))
        and len(raw) <= limits.max_bytes
        and raw.count(b"{") + raw.count(b"[") <= limits.max_depth
    ):
        compact = orjson_tree(raw, limits)  # the loader's first tier, on the bytes
        if compact is not None and compact[1]:
            return compact[0], True
    from compiler.diagnostics import SpecError
    from compiler.frontends.loader import load

    try:
        doc = load(name, raw, limits=limits, syntax=syntax)
    except SpecError:
        raise _Decline from None
    if read is not None:
        read.append(doc)
    return doc.tree, doc.plain


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _Decline
    return value


def _filled(value: Any) -> str:
    if type(value) is not str or not value:
        raise _Decline
    return value


def _strings(value: Any) -> list[str]:
    """A list of strings, copied."""
    if type(value) is not list:
        raise _Decline
    for item in value:
        if type(item) is not str:
            raise _Decline
    return list(value)


def _env(task: dict[str, Any]) -> dict[str, str]:
    """The environment as identity has it: a map sorted by name."""
    env = task["env"]
    if type(env) is dict:
        for value in env.values():
            if type(value) is not str:
                raise _Decline
        return dict(sorted(env.items())) if len(env) > 1 else dict(env)
    if type(env) is not list:
        raise _Decline
    out: dict[str, str] = {}
    for item in env:
        key, sep, value = _str(item).partition("=")
        if not sep or not key or key in out:
            raise _Decline
        out[key] = value
    return dict(sorted(out.items())) if len(out) > 1 else out


def _generic(value: Any) -> Any:
    """A value kept as written (WASM arguments, `x`, extension parameters) in identity's
    DAG-JSON form: maps sorted by key, as `FrozenMap` orders them. No floats, no byte
    strings (a YAML `!!binary` may look like a CID: the pipeline knows what to do), no
    map whose only key is `/`."""
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is int:
        if _INT_MIN <= value < _INT_END:
            return value
        raise _Decline
    if t is list:
        return [_generic(v) for v in value]
    if t is dict:
        if "/" in value and len(value) == 1:
            raise _Decline  # DAG-JSON's form of a link: the reader reports it
        return {k: _generic(value[k]) for k in sorted(value)}
    raise _Decline


def _source(value: Any) -> str:
    """A source as written: a non-empty string, not an await (`job:`)."""
    if type(value) is not str or not value or value.startswith("job:"):
        raise _Decline
    return value


def _inline(text: Any) -> str:
    """An input's `text`, as the front-end reads it: a `data:` URI of its UTF-8 bytes."""
    if type(text) is not str:
        raise _Decline
    return uris.text_uri(text)


@functools.lru_cache(maxsize=8192)
def _normal_source(source: str) -> str:
    """A source as normalize writes it (a `file:` URI, a lowercase scheme)."""
    return normal_content(source)  # type: ignore[return-value]  # a str for a str


@functools.lru_cache(maxsize=8192)
def _ipfs_cid(source: str) -> bytes | None:
    """The binary CIDv1 of an `ipfs://` source, or None where the pipeline would say
    something (a malformed CID, a path inside a DAG) or would encode the link by the
    reference encoder (a CID longer than libipld reliably writes as a link)."""
    try:
        raw = uris.ipfs_cid(source).raw
    except Exception:  # ContentError, Unpinnable: the pipeline reports them
        return None
    return raw if len(raw) <= 36 else None


# --- the compile ------------------------------------------------------------------------------


def _compile(
    raw: bytes,
    name: str,
    options: CompileOptions,
    oracle: Oracle | None,
    make_oracle: Callable[[], Oracle],
    plan: _Plan = _DEFAULT_PLAN,
    read: list[SourceDocument] | None = None,
) -> Compiled:
    tree, plain = _tree(raw, name, options, read)
    if type(tree) is not dict or not tree.keys() <= _TOP:
        raise _Decline
    version = tree.get("jobspec")
    if not ((type(version) is int and version == 1) or version == "1"):
        raise _Decline
    if oracle is not None and oracle.diagnostics:
        raise _Decline  # a shared oracle's earlier warnings would be this compile's too

    meta: dict[str, Any] = {}
    if "name" in tree:
        meta["name"] = _str(tree["name"])
    if "labels" in tree:
        labels = tree["labels"]
        if type(labels) is not dict:
            raise _Decline
        for value in labels.values():
            if type(value) is not str:
                raise _Decline
        meta["labels"] = dict(labels)

    task = tree.get("task")
    if type(task) is not dict:
        raise _Decline
    engine = task.get("engine")

    # Identity maps: `t0` the task as read, `t1` after normalize, `t2` after
    # resolve-images; resolve-content pins their contents.
    image: _Image | None = None
    if engine == "docker":
        t0, t1, image = _docker(task)
        t2 = t1
    elif engine == "wasm":
        t0, t1 = _wasm(task)
        t2 = t1
    elif type(engine) is str and engine and engine not in ("rust", "c"):
        t0 = {k: _generic(task[k]) for k in sorted(task) if k != "engine"}
        t0["engine"] = engine
        t1 = t2 = t0
    else:
        raise _Decline

    inputs0, inputs1, input_names = _inputs(tree.get("inputs", []))
    outputs0, outputs1, output_names = _outputs(tree.get("outputs", []))
    if input_names:
        meta["input_names"] = input_names
    if output_names:
        meta["output_names"] = output_names

    determinism = "strict" if engine == "wasm" else "none"
    if "deterministic" in tree:
        deterministic = tree["deterministic"]
        if type(deterministic) is not bool:
            raise _Decline
        determinism = "strict" if deterministic else "none"
    network0 = network1 = None
    if "network" in tree:
        network0, network1 = _network(tree["network"])
        if network1 is not None and determinism == "strict":
            raise _Decline  # normalize warns and makes it `none`
    nonce = _str(tree["nonce"]) if "nonce" in tree else ""
    execution: dict[str, Any] = {}
    if "execution" in tree:
        execution = tree["execution"]
        if type(execution) is not dict:
            raise _Decline
        if not plain:
            from compiler.frontends.reader import unwritable

            if unwritable(execution, "/execution"):
                raise _Decline
    x: dict[str, Any] | None = None
    if "x" in tree:
        given = tree["x"]
        if type(given) is not dict:
            raise _Decline
        x = _generic(given) or None

    # Questions, asked as the passes ask them and only once the document is known to
    # need no report (the pipeline asks them again if the fast path declines), in the
    # order of the passes. `sources` is the oracle's (the compiled document's), as the
    # passes fill it.
    contents = _contents(t1, inputs1)  # normalised sources, in resolve-content's order
    module = t1.get("module") if t1["engine"] == "wasm" else None
    asking = (
        (image is not None and not (image.digest and not image.platform))
        or (module is not None and plan.lowers)
        or not _all_ipfs(contents)
    )
    asked = oracle or (make_oracle() if asking else None)
    sources: dict[str, list[str]] = asked.sources if asked is not None else {}
    image_fact: dict[str, str] | None = None
    if image is not None:
        if image.digest and not image.platform:
            digest = image.digest  # resolve-images pins it from its text
        else:
            assert asked is not None
            digest = _ask_image(image, asked, plan.refresh)
        t2 = dict(t1)  # the keys keep their order: the image's value changes in place
        t2["image"] = {"digest": digest}
        if image.platform:
            del t2["platform"]
            image_fact = {"digest": digest, "platform": image.platform, "ref": image.ref}
        else:
            image_fact = {"digest": digest, "ref": image.ref}
        _add_source(sources, digest, image.repository)
    links, content_facts = _pin_contents(contents, asked, sources)
    # The lower pass asks about a WASM module (is it WAT text?): only "no" or "cannot
    # tell" leave the job as it is.
    if module is not None and plan.lowers:
        assert asked is not None
        _ask_lower(links[module], asked)

    def job(
        task_map: dict[str, Any], inputs: list[dict[str, Any]] | None, outputs: Any, network: Any
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"ir": 1, "task": task_map}
        if inputs:
            out["inputs"] = inputs
        if outputs:
            out["outputs"] = outputs
        out["determinism"] = determinism
        if network is not None:
            out["network"] = network
        if nonce:
            out["nonce"] = nonce
        if x is not None:
            out["x"] = x
        return out

    # Every version of the job, hashed; a pass whose output hashes the same as its
    # input writes no record.
    m0 = job(t0, inputs0, outputs0, network0)
    b0 = _encode(m0)
    c0 = _CID_PREFIX + _sha256(b0).digest()
    s0 = _multibase("b", c0)
    doc_cid = _RAW_PREFIX + _sha256(raw).digest()
    doc_s = _multibase("b", doc_cid)
    parse_fact = {"format": FORMAT}
    records: list[tuple[str, int, list[dict[str, Any]], bytes, str, bytes, str]] = [
        (PARSE, PARSE_VERSION, [parse_fact], doc_cid, doc_s, c0, s0)
    ]
    c1, s1, b1 = c0, s0, b0
    # Normalize changed nothing when every part is the part as read (the same object).
    if not (t1 is t0 and inputs1 is inputs0 and outputs1 is outputs0 and network1 is network0):
        b1 = _encode(job(t1, inputs1, outputs1, network1))
    if b1 != b0:
        c1 = _CID_PREFIX + _sha256(b1).digest()
        s1 = _multibase("b", c1)
        records.append((Normalize.name, Normalize.version, [], c0, s0, c1, s1))
    c2, s2, b2 = c1, s1, b1
    if image is not None and image_fact is not None:
        b2 = _encode(job(t2, inputs1, outputs1, network1))
        if b2 != b1:
            c2 = _CID_PREFIX + _sha256(b2).digest()
            s2 = _multibase("b", c2)
            facts: list[dict[str, Any]] = [image_fact]
            records.append((ResolveImages.name, ResolveImages.version, facts, c1, s1, c2, s2))
    c3, s3 = c2, s2
    if links:
        t3 = _pinned_task(t2, links.__getitem__)
        inputs3 = [{"target": i["target"], "content": links[i["content"]]} for i in inputs1]
        b3 = _encode(job(t3, inputs3, outputs1, network1))
        if b3 != b2:
            c3 = _CID_PREFIX + _sha256(b3).digest()
            s3 = _multibase("b", c3)
            records.append(
                (ResolveContent.name, ResolveContent.version, content_facts, c2, s2, c3, s3)
            )
        texts = {source: {"/": _multibase("b", link)} for source, link in links.items()}
        final_json = job(
            _pinned_task(t2, texts.__getitem__),
            [{"target": i["target"], "content": texts[i["content"]]} for i in inputs1],
            outputs1,
            network1,
        )
        final_block = b3
    else:
        final_block = b2
        final_json = job(t2, inputs1, outputs1, network1)

    chain_json = []
    record_links: list[_RecordLinks] = []
    for pass_name, version, facts, source, source_s, target, target_s in records:
        block = _encode(
            {
                "facts": facts,
                "from": source,
                "pass": pass_name,
                "record": RECORD_VERSION,
                "to": target,
                "version": version,
            }
        )
        cid = _CID_PREFIX + _sha256(block).digest()
        chain_json.append(
            {
                "facts": [_fact_json(f) for f in facts],
                "from": {"/": source_s},
                "pass": pass_name,
                "record": RECORD_VERSION,
                "to": {"/": target_s},
                "version": version,
                "cid": {"/": _multibase("b", cid)},
            }
        )
        record_links.append((pass_name, version, tuple(facts), source, target, cid))

    document = {
        "compiled": 1,
        "cid": {"/": s3},
        "original": {"/": s0},
        "document": {"format": FORMAT, "cid": {"/": doc_s}},
        "job": final_json,
        "original_job": m0,
        "pinned": True,  # every content is a CID and the image a digest (or no docker)
        "chain": chain_json,
        "sources": sources,
        "meta": meta,
        "execution": execution,
    }
    return FastCompiled.make(
        name=name,
        document=Link(doc_cid),
        meta=meta,
        execution=execution,
        sources=sources,
        raw=raw,
        options=options,
        state=_State(Link(c0), Link(c3), final_block, record_links, document),
    )


class _Image(NamedTuple):
    """A docker image as normalize and resolve-images see it."""

    normal: str
    """The normalised reference (normalize's)."""
    ref: str
    """The reference resolve-images asks about (and its fact names)."""
    digest: str
    """The digest the reference names, or "" (a tag)."""
    repository: str
    """Where the image can be fetched (`sources`)."""
    platform: str
    """The platform, lowercase, or ""."""


def _docker(task: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], _Image]:
    """The docker task as read and normalised, and its image."""
    if not task.keys() <= _DOCKER:
        raise _Decline
    image = _filled(task.get("image"))
    platform = _str(task["platform"]) if "platform" in task else ""
    normal_platform = platform.lower()
    # isascii: str.lower() maps some non-ASCII letters (the Kelvin sign) to ASCII ones.
    if platform and not (platform.isascii() and PLATFORM.match(normal_platform)):
        raise _Decline  # normalize reports it
    entrypoint: list[str] = []
    if "entrypoint" in task:
        ep = task["entrypoint"]
        entrypoint = [ep] if type(ep) is str else _strings(ep)
    args = _strings(task["args"]) if "args" in task else []
    env = _env(task) if "env" in task else None
    workdir = _str(task["workdir"]) if "workdir" in task else ""
    reference = _reference(image, normal_platform)
    if reference is None:
        raise _Decline  # normalize reports the reference
    normal = reference.normal
    clean_workdir = clean_path(workdir) if workdir else ""
    t0 = _docker_map(image, platform, entrypoint, args, env, workdir)
    t1 = t0  # normal already: normalize hands the task back (the same map here)
    if (
        normal != image
        or normal_platform != platform
        or (entrypoint and args)
        or clean_workdir != workdir
    ):
        if entrypoint and args:  # the whole argv is the entrypoint (DESIGN §3)
            entrypoint, args = entrypoint + args, []
        t1 = _docker_map(normal, normal_platform, entrypoint, args, env, clean_workdir)
    return t0, t1, reference


def _docker_map(
    image: str,
    platform: str,
    entrypoint: list[str],
    args: list[str],
    env: dict[str, str] | None,
    workdir: str,
) -> dict[str, Any]:
    """A docker task's identity map with an unresolved image, in the key order of
    `identity._task`, which the compiled document shows."""
    out: dict[str, Any] = {"engine": "docker", "image": image}
    if platform:
        out["platform"] = platform
    if entrypoint:
        out["entrypoint"] = entrypoint
    if args:
        out["args"] = args
    if env:
        out["env"] = env
    if workdir:
        out["workdir"] = workdir
    return out


@functools.lru_cache(maxsize=4096)
def _reference(image: str, platform: str) -> _Image | None:
    """What normalize and resolve-images make of an image reference (and a normalised
    platform); None for a reference they report about."""
    try:
        normal = imageref.normalize(image)
        parsed = imageref.parse(normal)
    except imageref.ReferenceError:
        return None
    return _Image(normal, str(parsed), parsed.digest, parsed.repository, platform)


def _ask_image(image: _Image, oracle: Oracle, refresh: bool) -> str:
    """resolve-images' question about a tag (or a digest with a platform): the digest,
    or a decline where the pass would warn or report."""
    question = {"ref": image.ref}
    if image.platform:
        question["platform"] = image.platform
    try:
        oracle.prefetch("image", [question], refresh=refresh)
        answer = oracle.ask("image", question)
    except (OracleUnavailable, OracleError):
        raise _Decline from None
    digest = answer.get("digest")
    if not isinstance(digest, str) or not imageref.PINNED_DIGEST.match(digest):
        raise _Decline
    return digest


def _wasm(task: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The WASM task as read and normalised (its contents; resolve-images leaves it)."""
    if not task.keys() <= _WASM:
        raise _Decline
    t0: dict[str, Any] = {"engine": "wasm", "module": _source(task.get("module"))}
    if "entrypoint" in task:
        entrypoint = _str(task["entrypoint"])
        if entrypoint and entrypoint != "_start":
            t0["entrypoint"] = entrypoint
    if "args" in task:
        args = task["args"]
        if type(args) is not list:
            raise _Decline
        if args:
            t0["args"] = [_generic(a) for a in args]
    if "env" in task:
        env = _env(task)
        if env:
            t0["env"] = env
    if "imports" in task:
        imports = task["imports"]
        if type(imports) is not dict:
            raise _Decline
        if imports:
            t0["imports"] = {key: _source(imports[key]) for key in sorted(imports)}
    if "stdin" in task:
        t0["stdin"] = _source(task["stdin"])
    if _all_canonical(t0):
        return t0, t0  # normalize leaves the contents as they are
    t1 = _pinned_task(t0, _normal_source)
    return t0, t1 if t1 != t0 else t0


def _all_canonical(task: dict[str, Any]) -> bool:
    """Whether a WASM task's contents all start as normalize leaves them."""
    if not task["module"].startswith(CANONICAL_PREFIXES):
        return False
    if "stdin" in task and not task["stdin"].startswith(CANONICAL_PREFIXES):
        return False
    return all(c.startswith(CANONICAL_PREFIXES) for c in task.get("imports", {}).values())


def _pinned_task(task: dict[str, Any], pin: Callable[[str], Any]) -> dict[str, Any]:
    """A WASM task with each content replaced by `pin(content)`; any other task as it is."""
    if task["engine"] != "wasm":
        return task
    out = dict(task)
    out["module"] = pin(task["module"])
    if "imports" in task:
        out["imports"] = {k: pin(v) for k, v in task["imports"].items()}
    if "stdin" in task:
        out["stdin"] = pin(task["stdin"])
    return out


def _contents(task: dict[str, Any], inputs: list[dict[str, Any]]) -> list[str]:
    """Every content of a normalised job, once, in the order resolve-content pins them:
    module, imports, stdin, then the inputs by target."""
    if task["engine"] != "wasm":
        return list(dict.fromkeys([item["content"] for item in inputs]))
    found: dict[str, None] = {task["module"]: None}
    for content in task.get("imports", {}).values():
        found[content] = None
    if "stdin" in task:
        found[task["stdin"]] = None
    for item in inputs:
        found[item["content"]] = None
    return list(found)


def _all_ipfs(contents: list[str]) -> bool:
    """Whether every content is an `ipfs://` CID (a loop: cheaper than `all()` over a
    generator on a few items)."""
    for content in contents:  # noqa: SIM110 (see the docstring)
        if not content.startswith("ipfs://"):
            return False
    return True


def _pin_contents(
    contents: list[str], oracle: Oracle | None, sources: dict[str, list[str]]
) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """resolve-content: each content's binary CID and the facts learned, in the pass's
    canonical order; `ipfs://` and `data:` from their text, a file or URL by asking the
    oracle. Declines on anything else (`s3://`, …) and where the pass would warn or
    report."""
    links: dict[str, bytes] = {}
    facts: list[dict[str, Any]] = []
    for content in contents:
        if content.startswith("ipfs://"):
            link = _ipfs_cid(content)
            if link is None:
                raise _Decline
            links[content] = link
            continue
        if content.startswith("data:"):
            link = _data_cid(content)
            links[content] = link
            _add_source(sources, _multibase("b", link), content)
            continue
        if oracle is None or uris.kind(content) not in ("file", "http"):
            raise _Decline
        try:
            answer = oracle.ask("content", {"source": content})
        except Exception:  # unreadable, unpinnable, offline: the pass says so
            raise _Decline from None
        cid = answer.get("cid")
        if not isinstance(cid, Link) or len(cid.raw) > 36:
            raise _Decline
        links[content] = cid.raw
        facts.append({"cid": cid.raw, "source": content})
        _add_source(sources, str(cid), content)
    if len(facts) > 1:  # `Record.make`: by their DAG-CBOR bytes (sources are distinct)
        facts.sort(key=_encode)
    return links, facts


def _data_cid(source: str) -> bytes:
    """The binary CID of a `data:` URI's bytes (as `ipfs add` gives it); declines on a
    malformed URI (the pass reports it)."""
    try:
        return uris.data_cid(source).raw
    except Exception:
        raise _Decline from None


def _add_source(sources: dict[str, list[str]], key: str, where: str) -> None:
    """`Oracle.source`: `key` can be fetched from `where`."""
    places = sources.setdefault(key, [])
    if where not in places:
        places.append(where)


def _fact_json(fact: dict[str, Any]) -> dict[str, Any]:
    """A fact in DAG-JSON form (its keys are in order already): links as `{"/": cid}`."""
    return {k: {"/": _multibase("b", v)} if type(v) is bytes else v for k, v in fact.items()}


def _clean_target(value: Any) -> str:
    if type(value) is not str or value[:1] != "/" or "\x00" in value:
        raise _Decline
    return value


def _inputs(value: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """The inputs as read (sorted by target, as identity has them) and normalised
    (targets cleaned, sources as normalize writes them), and the input names."""
    if type(value) is not list:
        raise _Decline
    read: list[tuple[str, str]] = []
    names: dict[str, str] = {}
    cleaned: set[str] = set()
    changed = False
    for item in value:
        if type(item) is not dict or not item.keys() <= _INPUT:
            raise _Decline
        target = _clean_target(item.get("target"))
        if "text" in item:
            if "source" in item:
                raise _Decline  # the front-end's `conflict` error
            source = _inline(item["text"])
        else:
            source = _source(item.get("source"))
        clean = clean_path(target)
        if clean in cleaned:
            raise _Decline  # two inputs at one target (maybe only once cleaned)
        cleaned.add(clean)
        changed = (
            changed
            or clean != target
            or (not source.startswith(CANONICAL_PREFIXES) and _normal_source(source) != source)
        )
        read.append((target, source))
        if "name" in item:
            name = item["name"]
            if type(name) is not str or name in names:
                raise _Decline
            names[name] = clean
    read.sort()
    inputs0 = [{"target": t, "content": s} for t, s in read]
    if not changed:
        return inputs0, inputs0, names  # normal already
    inputs1 = sorted(
        ({"target": clean_path(t), "content": _normal_source(s)} for t, s in read),
        key=_BY_TARGET,
    )
    return inputs0, inputs1, names


def _by_target(item: dict[str, Any]) -> str:
    target: str = item["target"]
    return target


_BY_TARGET = _by_target


def _outputs(value: Any) -> tuple[list[str], list[str], dict[str, str]]:
    """The output paths as read and normalised, sorted, and the output names."""
    if type(value) is not list:
        raise _Decline
    paths: list[str] = []
    names: dict[str, str] = {}
    cleaned: set[str] = set()
    changed = False
    for item in value:
        if type(item) is str:
            path = _clean_target(item)
        else:
            if type(item) is not dict or not item.keys() <= _OUTPUT:
                raise _Decline
            path = _clean_target(item.get("path"))
            if "name" in item:
                name = item["name"]
                if type(name) is not str or name in names:
                    raise _Decline
                names[name] = clean_path(path)
        clean = clean_path(path)
        if clean in cleaned:
            raise _Decline
        cleaned.add(clean)
        paths.append(path)
        changed = changed or clean != path
    paths.sort()
    return paths, sorted(clean_path(p) for p in paths) if changed else paths, names


def _network(value: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The network as read and normalised (domains lowercase, sorted, unique)."""
    domains: list[str] = []
    if type(value) is str:
        mode = value
    elif type(value) is dict and value.keys() <= _NETWORK:
        mode = _str(value.get("mode", "none"))
        if "domains" in value:
            domains = _strings(value["domains"])
    else:
        raise _Decline
    if mode == "none":
        if domains:
            raise _Decline
        return None, None
    if mode not in ("http", "full"):
        raise _Decline
    read: dict[str, Any] = {"mode": mode}
    if not domains:
        return read, read
    read["domains"] = domains
    normal = sorted({d.lower() for d in domains})
    if normal == domains:
        return read, read  # normal already
    return read, {"mode": mode, "domains": normal}


def _ask_lower(link: bytes, oracle: Oracle) -> None:
    """The lower pass's question about a WASM module; declines unless the answer leaves
    the job as it is (a binary module, or nothing known here)."""
    source = Link(link)
    context: dict[str, Value] = {
        "language": "wasm",
        "places": tuple(oracle.sources.get(str(source), ())),
    }
    try:
        answer = oracle.ask("toolchain", {"source": source}, context=context)
    except OracleUnavailable:
        return
    except OracleError:
        raise _Decline from None
    if answer.get("module") != source:
        raise _Decline


# --- the result -------------------------------------------------------------------------------


class _State:
    """What the fast path computed beyond `Compiled`'s plain fields."""

    __slots__ = ("document", "final_block", "original", "records", "target")

    def __init__(
        self,
        original: Link,
        target: Link,
        final_block: bytes,
        records: list[_RecordLinks],
        document: dict[str, Any] | None,
    ) -> None:
        self.original = original
        self.target = target
        self.final_block = final_block
        self.records = records
        self.document = document


class FastCompiled(Compiled):
    """A `Compiled` made by the fast path: CIDs and the compiled document are computed;
    the IR (original and final job, the chain's records, locations) is made on first
    use, by the front-end and the identity module, as the pipeline makes it."""

    _fast: _State
    _reading: tuple[bool, Limits, Syntax | None]
    """The options the front-end reads with (strict, limits, syntax): not the whole
    `CompileOptions`, whose session holds the run's open store."""

    @classmethod
    def make(
        cls,
        *,
        name: str,
        document: Link,
        meta: dict[str, Any],
        execution: dict[str, Any],
        sources: dict[str, list[str]],
        raw: bytes,
        options: CompileOptions,
        state: _State,
    ) -> FastCompiled:
        """A result without running the dataclass's `__init__` (which wants the IR)."""
        self = cls.__new__(cls)
        fields = self.__dict__
        fields["name"] = name
        fields["document"] = document
        fields["format"] = FORMAT
        fields["meta"] = meta
        fields["execution"] = execution
        fields["sources"] = sources
        fields["diagnostics"] = ()
        fields["document_bytes"] = raw
        fields["_identity_maps"] = {}
        fields["_fast"] = state
        fields["_reading"] = (options.strict, options.limits, options.syntax)
        return self

    # `dataclasses.replace` makes a FastCompiled from fields alone (no `_fast`): then
    # these are `Compiled`'s.

    @property
    def cid(self) -> Link:
        """The final job CID."""
        fast: _State | None = self.__dict__.get("_fast")
        return fast.target if fast is not None else super().cid

    @property
    def original(self) -> Link:
        """The job CID right after parsing."""
        fast: _State | None = self.__dict__.get("_fast")
        return fast.original if fast is not None else super().original

    @property
    def pinned(self) -> bool:
        """Always: the fast path takes only jobs it pins entirely."""
        return "_fast" in self.__dict__ or super().pinned

    def prebuilt_document(self) -> dict[str, Any] | None:
        """The compiled document made with the CIDs (handed over once)."""
        fast: _State | None = self.__dict__.get("_fast")
        if fast is None:
            return None
        document, fast.document = fast.document, None
        return document

    @functools.cached_property
    def _parsed(self) -> Any:
        """What the front-end reads from the document (the pipeline's own reading)."""
        from compiler.driver import read_document

        strict, limits, syntax = self._reading
        options = CompileOptions(strict=strict, limits=limits, syntax=syntax)
        return read_document(self.document_bytes, self.name, options)[1]

    @functools.cached_property
    def original_job(self) -> Job:
        """The job right after parsing, as the front-end reads it."""
        job: Job = self._parsed.job
        return job

    @functools.cached_property
    def locations(self) -> dict[str, str]:
        """IR path → JSON pointer, as the front-end records them."""
        locations: dict[str, str] = self._parsed.locations
        return locations

    @functools.cached_property
    def job(self) -> Job:
        """The final job, read back from its identity block."""
        from compiler import identity

        return identity.job_from_identity(identity.decode_value(self._fast.final_block))

    @functools.cached_property
    def chain(self) -> tuple[Record, ...]:
        """The records, from the document CID to the final job CID."""
        out = []
        for pass_name, version, facts, source, target, cid in self._fast.records:
            facts_ir: tuple[Fact, ...] = (
                parse_facts(FORMAT)
                if pass_name == PARSE
                else tuple(
                    FrozenMap[Value]({k: Link(v) if type(v) is bytes else v for k, v in f.items()})
                    for f in facts
                )
            )
            record = Record(pass_name, version, Link(source), Link(target), facts_ir)
            object.__setattr__(record, "_cid", Link(cid))
            out.append(record)
        return tuple(out)
