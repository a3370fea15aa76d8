"""`jobc verify`: check a compiled document, from its own contents and, if given, its spec."""

from __future__ import annotations

from compiler import identity
from compiler.emitters.compiled import CompiledDocument
from compiler.passes import PARSE
from compiler.records import Check, replay


def verify_document(
    doc: CompiledDocument, spec: bytes | None = None, spec_name: str = ""
) -> list[Check]:
    """Every check `jobc verify` makes, in order; the document is verified if all pass."""
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
        checks.extend(replay(doc.original_job, chain))
    return checks


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
