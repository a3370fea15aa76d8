"""Transformation records and chains (DESIGN §5).

A record says that pass `pass`@`version` turned the block `from` into the block `to`,
using `facts` from the outside world. Records are content-addressed like jobs; the
chain of a compile is the list of its records, from the document CID to the final
job CID. `replay` re-runs a chain from its facts alone and checks every CID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compiler import identity
from compiler.identity import from_dag_json, value_dag_json
from compiler.ir import FrozenMap, Link, Value
from compiler.oracles import Fact

if TYPE_CHECKING:
    from compiler.oracles import Oracle

RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class Record:
    """One rewrite: pass@version took `source` to `target`, knowing `facts`."""

    pass_name: str
    version: int
    source: Link
    target: Link
    facts: tuple[Fact, ...] = ()
    _cid: Link | None = field(default=None, init=False, compare=False, repr=False)
    """The CID once computed (a cache: set once, never part of the record's value; not an
    argument, so `dataclasses.replace` never carries it over to other fields)."""

    @classmethod
    def make(
        cls,
        pass_name: str,
        version: int,
        source: Link,
        target: Link,
        facts: list[Fact] | tuple[Fact, ...] = (),
    ) -> Record:
        """A record with its facts in canonical order (by their DAG-CBOR bytes), deduplicated."""
        if len(facts) < 2:  # most passes learn one fact or none: already in order
            return cls(pass_name, version, source, target, tuple(facts))
        ordered = tuple(sorted({identity.encode_value(f): f for f in facts}.items()))
        return cls(pass_name, version, source, target, tuple(f for _, f in ordered))

    def to_value(self) -> FrozenMap[Value]:
        """The record map that is hashed."""
        return FrozenMap(self._fields())

    def _fields(self) -> dict[str, Value]:
        # The keys in sorted order, as `to_value` iterates them: `to_dag_json` keeps it.
        return {
            "facts": self.facts,
            "from": self.source,
            "pass": self.pass_name,
            "record": RECORD_VERSION,
            "to": self.target,
            "version": self.version,
        }

    @property
    def cid(self) -> Link:
        """The record's CID (computed once)."""
        cid = self._cid
        if cid is None:
            cid = identity.map_cid(self._fields())
            object.__setattr__(self, "_cid", cid)
        return cid

    def to_dag_json(self, *, with_cid: bool = True) -> dict[str, Any]:
        """The record in DAG-JSON data forms, with its `cid` beside it for readers."""
        # `value_dag_json(self.to_value())`, written out: links as {"/": cid}, keys sorted.
        out: dict[str, Any] = {
            "facts": _facts_dag_json(self.facts) if self.facts else [],
            "from": {"/": str(self.source)},
            "pass": self.pass_name,
            "record": RECORD_VERSION,
            "to": {"/": str(self.target)},
            "version": _version_dag_json(self.version),
        }
        if with_cid:
            out["cid"] = {"/": str(self.cid)}
        return out

    @classmethod
    def from_dag_json(cls, obj: Any) -> Record:
        """Read a record back; raises ValueError (or IdentityError) if malformed."""
        if not isinstance(obj, dict):
            raise ValueError("a record must be a map")
        data = dict(obj)
        data.pop("cid", None)
        v = from_dag_json(data)
        assert isinstance(v, FrozenMap)
        if v.get("record") != RECORD_VERSION:
            raise ValueError(f"unsupported record version {v.get('record')!r}")
        src, dst, facts = v.get("from"), v.get("to"), v.get("facts", ())
        name, version = v.get("pass"), v.get("version")
        if not (
            isinstance(src, Link)
            and isinstance(dst, Link)
            and isinstance(name, str)
            and isinstance(version, int)
            and isinstance(facts, tuple)
            and all(isinstance(f, FrozenMap) for f in facts)
        ):
            raise ValueError("a record needs pass, version, from, to and facts")
        extra = set(v) - {"record", "pass", "version", "from", "to", "facts"}
        if extra:
            raise ValueError(f"unknown record fields: {', '.join(sorted(extra))}")
        return cls(name, version, src, dst, facts)  # type: ignore[arg-type]


def _facts_dag_json(facts: tuple[Fact, ...]) -> list[Any]:
    """`value_dag_json(facts)`; a fact of strings only (most are) is copied as it is."""
    return [
        f.to_dict() if set(map(type, f.values())) == _STR_ONLY else value_dag_json(f) for f in facts
    ]


_STR_ONLY = {str}


def _version_dag_json(version: int) -> Any:
    """`value_dag_json(version)`; a pass's version is a small int, taken as it is."""
    return version if type(version) is int and 0 <= version < 2**63 else value_dag_json(version)


# --- replay -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One verification step and its outcome."""

    ok: bool
    what: str
    detail: str = ""


def replay(
    original_job: Any, chain: tuple[Record, ...], *, rebuild: Oracle | None = None
) -> list[Check]:
    """Re-run every recorded pass from its facts alone and check each CID it reaches.

    `original_job` is the job right after parsing; the parse record itself is checked
    by the caller (it needs the document's bytes). With `rebuild` (a live oracle), the
    `lower` records are re-run against it instead of their facts: the compiler runs
    again, and the module it makes must be the recorded one, byte for byte.
    """
    from compiler.diagnostics import SpecError
    from compiler.oracles import OracleError, OracleUnavailable, RecordedOracle
    from compiler.passes import PASSES

    checks: list[Check] = []
    job = original_job
    for record in chain[1:]:
        label = f"{record.pass_name}@{record.version} {record.source} → {record.target}"
        cls = PASSES.get(record.pass_name)
        if cls is None:
            checks.append(Check(False, label, f"this jobc has no pass {record.pass_name!r}"))
            return checks
        if cls.version != record.version:
            checks.append(
                Check(
                    False,
                    label,
                    f"this jobc has {cls.name}@{cls.version}; the record was made "
                    f"by version {record.version} and cannot be replayed exactly",
                )
            )
            return checks
        rebuilding = rebuild is not None and record.pass_name == REBUILT_PASS
        oracle = rebuild if rebuild is not None and rebuilding else RecordedOracle(record.facts)
        try:
            new, facts = cls()(job, oracle)
        except (SpecError, OracleUnavailable, OracleError) as exc:
            what = "rebuild" if rebuilding else "replay"
            checks.append(Check(False, label, f"{what} failed: {exc}"))
            return checks
        if rebuilding:
            check = _rebuilt(label, record, facts)
            if check.ok and identity.job_cid(new) != record.target:
                check = Check(False, label, f"rebuild gives {identity.job_cid(new)}")
            checks.append(check)
            if not check.ok:
                return checks
            job = new
            continue
        got = identity.job_cid(new)
        if got != record.target:
            checks.append(Check(False, label, f"replay gives {got}"))
            return checks
        if Record.make(record.pass_name, record.version, record.source, got, facts) != record:
            checks.append(Check(False, label, "replay used other facts than the recorded ones"))
            return checks
        checks.append(Check(True, label, "replayed from its facts"))
        job = new
    return checks


REBUILT_PASS = "lower"
"""The pass `replay(rebuild=…)` runs again for real: the one whose facts are builds."""


def _rebuilt(label: str, record: Record, facts: list[Fact]) -> Check:
    """Compare a lowering done again with its record: the module bytes must agree."""
    if len(facts) != len(record.facts):
        found, wanted = len(facts), len(record.facts)
        return Check(False, label, f"rebuild gives {found} facts, the record {wanted}")
    pairs = zip(sorted(facts, key=_source), sorted(record.facts, key=_source), strict=True)
    other_toolchain = ""
    for got, want in pairs:
        if got.get("source") != want.get("source"):
            return Check(False, label, "rebuild lowered another source than the record")
        module, toolchain = str(got.get("module")), str(got.get("toolchain"))
        if got.get("toolchain") != want.get("toolchain"):
            other_toolchain = toolchain
        if got.get("module") == want.get("module"):
            continue
        if other_toolchain:
            return Check(
                False,
                label,
                f"rebuilt with another toolchain ({toolchain}, the record's is "
                f"{want.get('toolchain')!s}): it gives the module {module}, so the recorded "
                "one cannot be checked here",
            )
        return Check(
            False,
            label,
            f"NOT reproducible: the same source and toolchain give the module {module}, "
            f"the record says {want.get('module')!s}",
        )
    if other_toolchain:
        detail = f"rebuilt: the same module bytes, from another toolchain ({other_toolchain})"
        return Check(True, label, detail)
    return Check(True, label, "rebuilt: the compiler gives the recorded module, byte for byte")


def _source(f: Fact) -> bytes:
    return identity.encode_value(f.get("source"))
