"""`jobc verify`: check a compiled document, from its own contents and, if given, its spec."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compiler import identity
from compiler.emitters.compiled import CompiledDocument
from compiler.passes import PARSE
from compiler.records import Check, replay

if TYPE_CHECKING:
    from pathlib import Path

    from compiler.oracles import Oracle
    from compiler.oracles.live import LiveOracle


def verify_document(
    doc: CompiledDocument,
    spec: bytes | None = None,
    spec_name: str = "",
    *,
    rebuild: Oracle | None = None,
) -> list[Check]:
    """Every check `jobc verify` makes, in order; the document is verified if all pass.
    With `rebuild` (see `rebuild_oracle`), lowering runs again and must give the
    recorded modules."""
    checks: list[Check] = []
    chain = doc.chain
    if not chain:
        return [Check(False, "chain", "the chain is empty")]
    for record, listed in zip(chain, doc.listed_record_cids, strict=True):
        if listed is not None and listed != record.cid:
            checks.append(Check(False, f"record {listed}", f"its content hashes to {record.cid}"))
    first = chain[0]
    checks.append(
        Check(
            first.pass_name == PARSE and first.source == doc.document_cid,
            "the chain starts at the document",
            "" if first.pass_name == PARSE else f"first record is {first.pass_name!r}, not parse",
        )
    )
    checks.append(
        Check(
            first.target == doc.original,
            f"parse → original {doc.original}",
            "" if first.target == doc.original else f"parse leads to {first.target}",
        )
    )
    broken = [i for i in range(1, len(chain)) if chain[i].source != chain[i - 1].target]
    checks.append(
        Check(
            not broken,
            "every record starts where the previous one ended",
            f"break before record {broken[0]}" if broken else "",
        )
    )
    checks.append(
        Check(
            chain[-1].target == doc.cid,
            f"the chain ends at {doc.cid}",
            "" if chain[-1].target == doc.cid else f"it ends at {chain[-1].target}",
        )
    )
    got = identity.job_cid(doc.job)
    checks.append(
        Check(
            got == doc.cid,
            "the job hashes to the final CID",
            "" if got == doc.cid else f"it hashes to {got}",
        )
    )
    got = identity.job_cid(doc.original_job)
    checks.append(
        Check(
            got == doc.original,
            "the original job hashes to the original CID",
            "" if got == doc.original else f"it hashes to {got}",
        )
    )
    if spec is not None:
        checks.extend(_check_spec(doc, spec, spec_name))
    if all(c.ok for c in checks):
        checks.extend(replay(doc.original_job, chain, rebuild=rebuild))
    return checks


def rebuild_oracle(doc: CompiledDocument, base_dir: Path, store: str | None = None) -> LiveOracle:
    """A live oracle that lowers again with no memo: sources come from the store, or from
    the places the document lists (relative to `base_dir`, the spec's folder). Close it."""
    from compiler.oracles.live import LiveContext, LiveOracle

    oracle = LiveOracle(
        LiveContext(base_dir=base_dir, settings={"lower_no_memo": True}, store_location=store)
    )
    sources = doc.raw.get("sources")
    if isinstance(sources, dict):
        for key, places in sources.items():
            for place in places if isinstance(places, list) else ():
                oracle.source(str(key), str(place))
    return oracle


def _check_spec(doc: CompiledDocument, spec: bytes, name: str) -> list[Check]:
    from compiler.diagnostics import SpecError
    from compiler.driver import CompileOptions, compile_bytes

    out: list[Check] = []
    got = identity.cid_of_raw(spec)
    out.append(
        Check(
            got == doc.document_cid,
            f"{name} is the document {doc.document_cid}",
            "" if got == doc.document_cid else f"its bytes hash to {got}",
        )
    )
    try:
        again = compile_bytes(spec, name, CompileOptions(passes=()))
    except SpecError as exc:
        return [*out, Check(False, f"re-parse {name}", str(exc))]
    out.append(
        Check(
            again.original == doc.original,
            f"re-parsing {name} gives the original CID",
            "" if again.original == doc.original else f"it gives {again.original}",
        )
    )
    return out
