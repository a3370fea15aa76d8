"""The compiled document (DESIGN §5): written as JSON, DAG-JSON or DAG-CBOR, and read back.

```
{"cid": final, "original": CID, "document": {"format": …, "cid": CID},
 "job": <identity map as DAG-JSON>, "original_job": <identity map>, "pinned": bool,
 "chain": [Record + "cid"], "sources": {…}, "meta": {…}, "execution": {…}}
```
`original_job` (an addition to DESIGN §5, see docs/decisions.md) makes a compiled
document self-contained: `jobc verify` replays the whole chain from it, offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from compiler import identity
from compiler.driver import Compiled, CompiledWorkflow
from compiler.ir import Job, Link
from compiler.records import Record

OutputFormat = Literal["json", "dag-json", "dag-cbor"]
COMPILED_VERSION = 1


def to_document(c: Compiled) -> dict[str, Any]:
    """The compiled document as JSON-ready data (links in DAG-JSON form)."""
    prebuilt = c.prebuilt_document()
    if prebuilt is not None:
        return prebuilt
    doc: dict[str, Any] = {
        "compiled": COMPILED_VERSION,
        "cid": {"/": str(c.cid)},
        "original": {"/": str(c.original)},
        "document": {"format": c.format, "cid": {"/": str(c.document)}},
        "job": c.identity_map(c.job),
        "original_job": c.identity_map(c.original_job),
        "pinned": c.pinned,
        "chain": [r.to_dag_json() for r in c.chain],
        "sources": c.sources,
        "meta": c.meta,
        "execution": c.execution,
    }
    return doc


def to_workflow_document(w: CompiledWorkflow) -> dict[str, Any]:
    """A compiled workflow: its CID, the map it hashes (job names → final job CIDs) and
    every job's compiled document, upstream first."""
    return {
        "compiled": COMPILED_VERSION,
        "cid": {"/": str(w.cid)},
        "original": {"/": str(w.original)},
        "document": {"format": w.format, "cid": {"/": str(w.document)}},
        "workflow": {name: {"/": str(c.cid)} for name, c in w.jobs},
        "pinned": w.pinned,
        "meta": w.meta,
        "jobs": [to_document(c) for _, c in w.jobs],
    }


def to_any_document(c: Compiled | CompiledWorkflow) -> dict[str, Any]:
    """The compiled document of a job or of a workflow."""
    return to_workflow_document(c) if isinstance(c, CompiledWorkflow) else to_document(c)


def dumps(
    c: Compiled | CompiledWorkflow | list[Compiled | CompiledWorkflow], fmt: OutputFormat = "json"
) -> bytes:
    """Serialise one compiled document (or a list of them) in the chosen format."""
    data: Any = [to_any_document(x) for x in c] if isinstance(c, list) else to_any_document(c)
    if fmt == "json":
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()
    if fmt == "dag-json":
        return identity.dag_json_dumps(data).encode()
    return _dag_cbor(data)


def _dag_cbor(data: Any) -> bytes:
    """DAG-CBOR of a document: links as tag 42 (via the reference encoder: no guessing)."""
    import dag_cbor
    from multiformats import CID

    def convert(v: Any) -> Any:
        if isinstance(v, dict):
            if len(v) == 1 and "/" in v:
                value = identity.from_dag_json(v)
                if isinstance(value, Link):
                    return CID.decode(value.raw)
                return value
            return {k: convert(x) for k, x in v.items()}
        if isinstance(v, list):
            return [convert(x) for x in v]
        return v

    out: bytes = dag_cbor.encode(convert(data))
    return out


@dataclass(frozen=True)
class CompiledDocument:
    """A compiled document read back, for `verify` and `explain`."""

    cid: Link
    original: Link
    document_format: str
    document_cid: Link
    job: Job
    original_job: Job
    chain: tuple[Record, ...]
    listed_record_cids: tuple[Link | None, ...]
    pinned: bool
    raw: dict[str, Any]


class NotCompiled(ValueError):
    """The data is not a compiled document."""


def looks_compiled(data: Any) -> bool:
    """Whether parsed data is a compiled document rather than a spec."""
    return isinstance(data, dict) and "chain" in data and "cid" in data and "job" in data


def looks_workflow(data: Any) -> bool:
    """Whether parsed data is a compiled workflow."""
    return isinstance(data, dict) and "workflow" in data and "jobs" in data and "cid" in data


@dataclass(frozen=True)
class CompiledWorkflowDocument:
    """A compiled workflow read back: its CID, its map and its jobs' documents."""

    cid: Link
    original: Link
    document_format: str
    document_cid: Link
    workflow: dict[str, Link]
    jobs: tuple[CompiledDocument, ...]
    raw: dict[str, Any]


def read_json_or_cbor(raw: bytes) -> Any:
    """A compiled document's data, from JSON/DAG-JSON or DAG-CBOR bytes."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        if not raw or not 0xA0 <= raw[0] <= 0xBF:  # a DAG-CBOR document is a CBOR map
            raise NotCompiled(
                "not a compiled job document (it is not JSON; a spec? compile it first)"
            ) from None
        return _from_dag_cbor(raw)


def load_any_document(raw: bytes) -> CompiledDocument | CompiledWorkflowDocument:
    """Read a compiled job or workflow; raises NotCompiled if the bytes are neither."""
    data = read_json_or_cbor(raw)
    if not looks_workflow(data):
        return _document(data)
    try:
        jobs = tuple(_document(j) for j in data["jobs"])
        return CompiledWorkflowDocument(
            cid=_link(data["cid"]),
            original=_link(data["original"]),
            document_format=str(data["document"]["format"]),
            document_cid=_link(data["document"]["cid"]),
            workflow={str(k): _link(v) for k, v in data["workflow"].items()},
            jobs=jobs,
            raw=data,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NotCompiled(f"malformed compiled workflow: {exc}") from None


def load_document(raw: bytes) -> CompiledDocument:
    """Read a compiled document (JSON/DAG-JSON, or DAG-CBOR); raises NotCompiled if it is not."""
    return _document(read_json_or_cbor(raw))


def _document(data: Any) -> CompiledDocument:
    if not looks_compiled(data):
        raise NotCompiled("not a compiled job document (it has no cid, job and chain)")
    try:
        chain = tuple(Record.from_dag_json(r) for r in data["chain"])
        listed = tuple(
            _link(r["cid"]) if isinstance(r, dict) and "cid" in r else None for r in data["chain"]
        )
        job = identity.job_from_identity(identity.from_dag_json(data["job"]))
        original_job = identity.job_from_identity(
            identity.from_dag_json(data.get("original_job", data["job"]))
        )
        return CompiledDocument(
            cid=_link(data["cid"]),
            original=_link(data["original"]),
            document_format=str(data["document"]["format"]),
            document_cid=_link(data["document"]["cid"]),
            job=job,
            original_job=original_job,
            chain=chain,
            listed_record_cids=listed,
            pinned=bool(data.get("pinned", False)),
            raw=data,
        )
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise NotCompiled(f"malformed compiled document: {exc}") from None


def _link(obj: Any) -> Link:
    value = identity.from_dag_json(obj)
    if not isinstance(value, Link):
        raise ValueError(f"expected a link, got {obj!r}")
    return value


def _from_dag_cbor(raw: bytes) -> Any:
    """DAG-CBOR back to DAG-JSON data forms (links `{"/": …}`, bytes `{"/": {"bytes": …}}`)."""
    import dag_cbor
    from multiformats import CID

    try:
        data = dag_cbor.decode(raw)
    except Exception as exc:  # the decoder raises several error types
        raise NotCompiled(f"neither JSON nor DAG-CBOR: {exc}") from None

    def convert(v: Any) -> Any:
        if isinstance(v, CID):
            return {"/": str(Link(bytes(v)))}
        if isinstance(v, bytes):
            return identity.value_dag_json(v)
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        if isinstance(v, list):
            return [convert(x) for x in v]
        return v

    return convert(data)
