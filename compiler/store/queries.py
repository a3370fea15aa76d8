"""The questions users ask of the store (DESIGN §6, §8), as a Python API.

Each function takes an open `Store` and returns plain frozen dataclasses with a
`to_json()`; the `jobc` commands of the same names print them (`compiler/cli/store.py`).

- `trace(store, cid)`: the chain a CID is on, backward to the documents and forward to
  the final jobs, as two trees.
- `find(store, raw, name)`: compile a spec offline and find the final jobs (and their
  receipts) that its chain led to, wherever that chain was recorded.
- `lineage(store, cid)`: which job made a content CID (from receipts), from which
  inputs, recursively up the call tree.
- `refcount(store, cid)` / `most_used(store, n, by)`: how many final jobs use a content
  CID, directly and through other jobs' outputs; the most used, ranked either way.
- `reputation(store)`: for deterministic jobs with receipts from several nodes, how often
  each node agrees with the majority.
- `disown(store, "pass@version")`: stop trusting a pass version's records.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from compiler.ir import Link
from compiler.store import OutputRef, ReceiptRef, RecordRef, Store, UsageGraph

if TYPE_CHECKING:
    from compiler.driver import Compiled, CompileOptions


class QueryError(LookupError):
    """A query has no answer (an unknown CID), or its argument is malformed."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_cid(text: str) -> Link:
    """A CID from the command line; raises QueryError with a hint if malformed."""
    try:
        return Link.parse(text.strip())
    except ValueError:
        raise QueryError(
            f"{text!r} is not a CID", "write a CID such as bafyrei… or bafkrei…"
        ) from None


# --- trace --------------------------------------------------------------------------------

Kind = Literal["document", "original", "job", "final"]


@dataclass(frozen=True)
class Step:
    """One record in a trace tree, and the node it leads to."""

    record: RecordRef
    node: TraceNode


@dataclass(frozen=True)
class TraceNode:
    """A CID in a trace tree: what it is, and the records on from it (or back to it)."""

    cid: Link
    kind: Kind
    steps: tuple[Step, ...] = ()
    seen: bool = False
    """Already shown elsewhere in this tree (chains merge): not expanded again."""
    receipts: int = 0

    def to_json(self, direction: str) -> dict[str, Any]:
        """The node as data; each step names its record and the node `from` or `to`."""
        out: dict[str, Any] = {"cid": str(self.cid), "kind": self.kind}
        if self.receipts:
            out["receipts"] = self.receipts
        if self.seen:
            out["seen"] = True
        if self.steps:
            side = "to" if direction == "forward" else "from"
            out["records"] = [
                {
                    "record": str(s.record.cid),
                    "pass": s.record.pass_name,
                    "version": s.record.version,
                    **({"disowned": True} if s.record.disowned else {}),
                    side: s.node.to_json(direction),
                }
                for s in self.steps
            ]
        return out


@dataclass(frozen=True)
class Trace:
    """The chains through a CID: back to the documents, forward to the finals."""

    cid: Link
    kind: Kind
    backward: TraceNode
    forward: TraceNode
    finals: tuple[Link, ...]

    def to_json(self) -> dict[str, Any]:
        """The trace as data."""
        return {
            "cid": str(self.cid),
            "kind": self.kind,
            "finals": [str(f) for f in self.finals],
            "backward": self.backward.to_json("backward"),
            "forward": self.forward.to_json("forward"),
        }


def trace(store: Store, cid: Link) -> Trace:
    """The chain `cid` is on (any CID of it: document, original, intermediate, final)."""
    forward, backward, finals_found = store.chain_of(cid)
    everything = [*forward, *backward]
    receipts = Counter(finals_found)
    final_set = set(receipts)
    if not everything and cid not in final_set:
        raise QueryError(
            f"{cid} is on no chain in the store ({store.location})",
            "compile the spec with `jobc compile` (it stores its chain), or `jobc import` a CAR",
        )
    parse_sources = {r.source for r in everything if r.pass_name == "parse"}
    parse_targets = {r.target for r in everything if r.pass_name == "parse"}
    reached = {cid, *(r.target for r in forward if not r.disowned)}
    finals = tuple(sorted(reached & final_set, key=lambda link: link.raw))

    def kind(c: Link) -> Kind:
        if c in final_set:
            return "final"
        if c in parse_sources:
            return "document"
        if c in parse_targets:
            return "original"
        return "job"

    def tree(root: Link, refs: list[RecordRef], direction: str) -> TraceNode:
        by_end: dict[Link, list[RecordRef]] = defaultdict(list)
        for r in refs:
            by_end[r.source if direction == "forward" else r.target].append(r)
        shown: set[Link] = set()

        def node(c: Link) -> TraceNode:
            if c in shown:
                return TraceNode(c, kind(c), seen=True, receipts=receipts[c])
            shown.add(c)
            steps = []
            for r in by_end.get(c, []):
                # A disowned record is shown, but not followed forward.
                nxt = r.target if direction == "forward" else r.source
                child = (
                    TraceNode(nxt, kind(nxt), receipts=receipts[nxt])
                    if direction == "forward" and r.disowned
                    else node(nxt)
                )
                steps.append(Step(r, child))
            return TraceNode(c, kind(c), tuple(steps), receipts=receipts[c])

        return node(root)

    return Trace(
        cid, kind(cid), tree(cid, backward, "backward"), tree(cid, forward, "forward"), finals
    )


# --- find ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptInfo:
    """A receipt of a found job, and whether this node trusts its signer."""

    cid: Link
    node: str
    exit: int
    outputs: dict[str, Link]
    trusted: bool

    def to_json(self) -> dict[str, Any]:
        """The receipt's summary as data."""
        return {
            "cid": str(self.cid),
            "node": self.node,
            "exit": self.exit,
            "outputs": {p: str(c) for p, c in self.outputs.items()},
            "trusted": self.trusted,
        }


@dataclass(frozen=True)
class Found:
    """A final job the spec's chain leads to."""

    cid: Link
    via: Link
    """The CID of this compile's chain that leads there (the furthest one)."""
    receipts: tuple[ReceiptInfo, ...]

    def to_json(self) -> dict[str, Any]:
        """The found job as data."""
        return {
            "cid": str(self.cid),
            "via": str(self.via),
            "receipts": [r.to_json() for r in self.receipts],
        }


@dataclass(frozen=True)
class FindResult:
    """What a spec compiles to here, offline, and the finals the store knows it led to."""

    name: str
    document: Link
    original: Link
    compiled: Link
    """The final CID of the offline compile (it may stop early: an image not cached)."""
    pinned: bool
    found: tuple[Found, ...]

    def to_json(self) -> dict[str, Any]:
        """The result as data."""
        return {
            "file": self.name,
            "document": str(self.document),
            "original": str(self.original),
            "compiled": str(self.compiled),
            "pinned": self.pinned,
            "found": [f.to_json() for f in self.found],
        }


def find(
    store: Store,
    raw: bytes,
    name: str,
    options: CompileOptions | None = None,
    *,
    trusted: Iterable[str] | None = None,
) -> FindResult:
    """Compile a spec offline (with `store`'s caches) and find the final jobs its chain
    leads to: from the furthest CID of this compile's chain backward to its document,
    every final the chain index knows for it. Raises SpecError if the spec has errors."""
    compiled = compile_offline(store, raw, name, options)
    return find_compiled(store, compiled, trusted=trusted)


def compile_offline(
    store: Store, raw: bytes, name: str, options: CompileOptions | None = None
) -> Compiled:
    """Compile with no network, with `store` answering the caches (and receipts)."""
    import dataclasses
    from pathlib import Path

    from compiler.driver import CompileOptions, compile_bytes
    from compiler.oracles.live import LiveContext, LiveOracle

    options = dataclasses.replace(options or CompileOptions(), offline=True)
    context = LiveContext(
        base_dir=Path(name).parent if name != "<stdin>" else Path.cwd(),
        offline=True,
        refresh=options.refresh,
        settings=options.settings,
        store_location=store.location,
        session=options.session,
        _store=store,
    )
    # The oracle is not closed: the store is the caller's.
    return compile_bytes(raw, name, options, LiveOracle(context))


def find_compiled(
    store: Store, compiled: Compiled, *, trusted: Iterable[str] | None = None
) -> FindResult:
    """`find` for a compile already made. The lookup starts from the CIDs of its chain up
    to the first record a disowned pass version made (what follows that is suspect)."""
    disowned = {(d.pass_name, d.version) for d in store.disowned()}
    chain = [compiled.document]
    for record in compiled.chain:
        if (record.pass_name, record.version) in disowned:
            break
        chain.append(record.target)
    seen: dict[Link, Link] = {}
    for cid in reversed(chain):
        for final in store.finals(cid):
            seen.setdefault(final, cid)
    trusted_set = _trusted(trusted)
    found = tuple(
        Found(final, via, tuple(_receipt_infos(store, final, trusted_set)))
        for final, via in seen.items()
    )
    return FindResult(
        compiled.name,
        compiled.document,
        compiled.original,
        compiled.cid,
        compiled.pinned,
        found,
    )


def _trusted(trusted: Iterable[str] | None) -> frozenset[str]:
    if trusted is not None:
        return frozenset(trusted)
    from compiler.runtime.receipts import trusted_nodes

    return trusted_nodes()


def _receipt_infos(store: Store, job: Link, trusted: frozenset[str]) -> list[ReceiptInfo]:
    return [
        ReceiptInfo(r.cid, r.node, r.exit, dict(r.outputs), r.node in trusted)
        for r in store.receipts(job)
    ]


# --- lineage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineageInput:
    """One input of a job in a lineage: a content CID, or another job's output."""

    place: str
    content: LineageContent | None = None
    upstream: LineageJob | None = None
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        """The input as data."""
        out: dict[str, Any] = {"place": self.place}
        if self.content is not None:
            out["content"] = self.content.to_json()
        if self.upstream is not None:
            out["await"] = {"path": self.path, "job": self.upstream.to_json()}
        return out


@dataclass(frozen=True)
class LineageJob:
    """A job in a lineage: its inputs, each traced further up."""

    cid: Link
    inputs: tuple[LineageInput, ...] = ()
    seen: bool = False
    known: bool = True
    """Whether the store holds the job (else its inputs are unknown)."""

    def to_json(self) -> dict[str, Any]:
        """The job as data."""
        out: dict[str, Any] = {"cid": str(self.cid)}
        if self.seen:
            out["seen"] = True
        elif not self.known:
            out["known"] = False
        else:
            out["inputs"] = [i.to_json() for i in self.inputs]
        return out


@dataclass(frozen=True)
class Made:
    """A receipt's claim that a job made a content CID."""

    output: OutputRef
    job: LineageJob

    def to_json(self) -> dict[str, Any]:
        """The claim as data."""
        o = self.output
        return {
            "receipt": str(o.receipt),
            "node": o.node,
            "exit": o.exit,
            "path": o.path,
            "job": self.job.to_json(),
        }


@dataclass(frozen=True)
class LineageContent:
    """A content CID in a lineage and the jobs receipts say made it (none: source data)."""

    cid: Link
    made_by: tuple[Made, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The content node as data."""
        out: dict[str, Any] = {"cid": str(self.cid)}
        if self.made_by:
            out["made_by"] = [m.to_json() for m in self.made_by]
        return out


def lineage(store: Store, cid: Link, *, depth: int = 64) -> LineageContent:
    """Which jobs made `cid` (from receipts), from which inputs, recursively (up to `depth`
    jobs deep). A job met twice is shown once and marked `seen` after."""
    shown: set[Link] = set()

    def content(c: Link, level: int) -> LineageContent:
        if level >= depth:
            return LineageContent(c)
        made = [Made(o, job(o.job, level + 1)) for o in store.makers(c)]
        return LineageContent(c, tuple(made))

    def job(j: Link, level: int) -> LineageJob:
        if j in shown:
            return LineageJob(j, seen=True)
        shown.add(j)
        if store.determinism(j) is None:
            return LineageJob(j, known=False)
        inputs: list[LineageInput] = [
            LineageInput(ref.place, content=content(ref.content, level))
            for ref in store.content_refs(j)
        ]
        inputs += [
            LineageInput(a.place, upstream=job(a.upstream, level + 1), path=a.path)
            for a in store.awaits(j)
        ]
        inputs.sort(key=lambda i: i.place)
        return LineageJob(j, tuple(inputs))

    return content(cid, 0)


def lineage_graph(
    root: LineageContent,
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """The lineage as a graph: nodes (id, kind `content`|`job`, CID) and edges (from, to,
    label), for drawing."""
    nodes: dict[str, tuple[str, str, str]] = {}
    edges: dict[tuple[str, str, str], None] = {}

    def add_content(c: LineageContent) -> str:
        key = f"c_{c.cid}"
        nodes.setdefault(key, (key, "content", str(c.cid)))
        for made in c.made_by:
            edges[(add_job(made.job), key, made.output.path)] = None
        return key

    def add_job(j: LineageJob) -> str:
        key = f"j_{j.cid}"
        nodes.setdefault(key, (key, "job", str(j.cid)))
        for inp in j.inputs:
            label = place_label(inp.place)
            if inp.content is not None:
                edges[(add_content(inp.content), key, label)] = None
            elif inp.upstream is not None:
                edges[(add_job(inp.upstream), key, f"{inp.path} → {label}")] = None
        return key

    add_content(root)
    return list(nodes.values()), list(edges)


def place_label(place: str) -> str:
    """`/inputs//data` → `/data`; `/task/module` → `module`."""
    if place.startswith("/inputs/"):
        return place[len("/inputs/") :]
    return place.removeprefix("/task/")


def _short(cid: str) -> str:
    return f"{cid[:10]}…{cid[-6:]}" if len(cid) > 20 else cid


def render_dot(root: LineageContent) -> str:
    """The lineage in Graphviz's dot language: jobs as boxes, content as ellipses."""
    nodes, edges = lineage_graph(root)
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="monospace"];']
    for key, kind, cid in nodes:
        shape = "box" if kind == "job" else "ellipse"
        label = ("job " if kind == "job" else "") + _short(cid)
        lines.append(f'  "{key}" [shape={shape}, label="{label}", tooltip="{cid}"];')
    for a, b, label in edges:
        lines.append(f'  "{a}" -> "{b}" [label="{_dot_escape(label)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render_mermaid(root: LineageContent) -> str:
    """The lineage as a Mermaid flowchart: jobs as boxes, content as rounded nodes."""
    nodes, edges = lineage_graph(root)
    lines = ["flowchart LR"]
    for key, kind, cid in nodes:
        text = ("job " if kind == "job" else "") + _short(cid)
        lines.append(f'  {key}["{text}"]' if kind == "job" else f'  {key}(["{text}"])')
    for a, b, label in edges:
        lines.append(f'  {a} -->|"{_mermaid_escape(label)}"| {b}')
    return "\n".join(lines) + "\n"


def _mermaid_escape(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")


# --- refcount -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Refcount:
    """How many final jobs use a content CID."""

    cid: Link
    direct: int
    total: int
    """Direct users and every job downstream of them (through outputs and awaits)."""

    @property
    def indirect(self) -> int:
        """Jobs that use it only through other jobs' outputs."""
        return self.total - self.direct

    def to_json(self) -> dict[str, Any]:
        """The counts as data."""
        return {
            "cid": str(self.cid),
            "direct": self.direct,
            "indirect": self.indirect,
            "total": self.total,
        }


def refcount(store: Store, cid: Link) -> Refcount:
    """How many final jobs use `cid`: directly, and through other jobs' outputs."""
    direct, total = store.refcount(cid)
    return Refcount(cid, direct, total)


RankBy = Literal["direct", "total"]


def most_used(store: Store, limit: int, by: RankBy = "direct") -> list[Refcount]:
    """The `limit` content CIDs used by the most final jobs, with both counts: ranked by
    direct use (an index scan), or by `total` use, direct and transitive (every content
    CID counted at once over the whole call tree: `transitive_counts`). Ties go to the
    larger other count, then to the smaller CID."""
    if by == "direct":
        return [refcount(store, cid) for cid, _ in store.most_used(limit)]
    counts = transitive_counts(store.usage_graph())
    ranked = sorted(counts.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))
    return [Refcount(Link(raw), direct, total) for raw, (direct, total) in ranked[:limit]]


COUNT_CHUNK = 1 << 16
"""Content CIDs counted together by `transitive_counts` (a bit each in every job's set)."""


def transitive_counts(graph: UsageGraph) -> dict[bytes, tuple[int, int]]:
    """For every content CID the call tree reads: how many final jobs read it directly,
    and how many in all (directly, or downstream of a job that does), as `refcount`.

    A walk per content CID costs the size of its downstream tree each time (a popular
    data set's is most of the store). Instead every job gets the set of content CIDs it
    depends on, as the bits of an integer (its own reads, or-ed with its upstream jobs'
    sets, in topological order), and the final jobs' sets are added up bit by bit in a
    bit-sliced counter (one integer per binary digit of the counts). Content CIDs go
    `COUNT_CHUNK` at a time, and a job's set is dropped once its last downstream job has
    taken it, so memory stays bounded; the cost is a few operations on integers of
    `COUNT_CHUNK` bits per edge and per final job, for each chunk."""
    contents = sorted({c for _, c in graph.refs})
    position = {c: i for i, c in enumerate(contents)}
    jobs = sorted({j for j, _ in graph.refs} | {j for e in graph.edges for j in e})
    number = {j: i for i, j in enumerate(jobs)}
    upstream: list[list[int]] = [[] for _ in jobs]
    downstream: list[list[int]] = [[] for _ in jobs]
    for up, down in set(graph.edges):
        upstream[number[down]].append(number[up])
        downstream[number[up]].append(number[down])
    order = _topological(upstream, downstream)
    final = [j in graph.finals for j in jobs]
    reads: list[list[int]] = [[] for _ in jobs]
    direct = [0] * len(contents)
    for j, c in set(graph.refs):
        reads[number[j]].append(position[c])
        if final[number[j]]:
            direct[position[c]] += 1
    out: dict[bytes, tuple[int, int]] = {}
    for start in range(0, len(contents), COUNT_CHUNK):
        chunk = range(start, min(start + COUNT_CHUNK, len(contents)))
        totals = _count_chunk(chunk, order, upstream, downstream, reads, final)
        for i, total in zip(chunk, totals, strict=True):
            out[contents[i]] = (direct[i], total)
    return out


def _topological(upstream: list[list[int]], downstream: list[list[int]]) -> tuple[list[int], int]:
    """The jobs, each after its upstream jobs (Kahn's algorithm), and how many of them
    are so ordered. Content addressing makes a cycle impossible (a job names its
    upstream's CID), but a store may hold one (receipts are claims): the jobs on a cycle
    or after one come last, in number order, and `_count_chunk` iterates over them."""
    waiting = [len(u) for u in upstream]
    ready = [j for j, n in enumerate(waiting) if n == 0]
    order: list[int] = []
    while ready:
        j = ready.pop()
        order.append(j)
        for d in downstream[j]:
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)
    acyclic = len(order)
    if acyclic < len(upstream):
        placed = set(order)
        order += [j for j in range(len(upstream)) if j not in placed]
    return order, acyclic


def _count_chunk(
    chunk: range,
    order: tuple[list[int], int],
    upstream: list[list[int]],
    downstream: list[list[int]],
    reads: list[list[int]],
    final: list[bool],
) -> list[int]:
    """How many final jobs depend on each of the content CIDs numbered in `chunk`."""
    jobs, acyclic = order
    sets: dict[int, int] = {}
    pending = [len(d) for d in downstream]  # downstream jobs yet to take a job's set
    counter = _BitSlicedCounter()

    def own(j: int) -> int:
        mine = 0
        for c in reads[j]:
            if c in chunk:
                mine |= 1 << (c - chunk.start)
        return mine

    for j in jobs[:acyclic]:
        mine = own(j) if reads[j] else 0
        for u in upstream[j]:
            mine |= sets[u]
            pending[u] -= 1
            if pending[u] == 0:
                del sets[u]
        if pending[j]:
            sets[j] = mine
        if final[j] and mine:
            counter.add(mine)
    # Jobs on a cycle or after one (never, but for a store that holds one): their sets
    # are or-ed together until none grows, then counted.
    rest = jobs[acyclic:]
    for j in rest:
        sets[j] = own(j)
    grew = bool(rest)
    while grew:
        grew = False
        for j in rest:
            mine = sets[j]
            for u in upstream[j]:
                mine |= sets.get(u, 0)
            if mine != sets[j]:
                sets[j], grew = mine, True
    for j in rest:
        if final[j] and sets[j]:
            counter.add(sets[j])
    return counter.counts(len(chunk))


class _BitSlicedCounter:
    """Counts, for every bit position at once, how many of the integers added have that
    bit set: `digits[k]` holds bit k of every count. Added integers wait in groups of
    eight, summed by a tree of carry-save adders (Harley and Seal's popcount) into
    `ones`, `twos` and `fours`, so a carry runs up the digits once a group, not once an
    integer (five operations a number instead of some thirty, at 100k final jobs)."""

    def __init__(self) -> None:
        self.digits: list[int] = []
        self.ones = self.twos = self.fours = 0
        self.group: list[int] = []

    def add(self, bits: int) -> None:
        """Count the set bits of `bits`."""
        self.group.append(bits)
        if len(self.group) == 8:
            self._fold(self.group)
            self.group = []

    def _fold(self, x: list[int]) -> None:
        twos_a, self.ones = _csa(self.ones, x[0], x[1])
        twos_b, self.ones = _csa(self.ones, x[2], x[3])
        fours_a, self.twos = _csa(self.twos, twos_a, twos_b)
        twos_a, self.ones = _csa(self.ones, x[4], x[5])
        twos_b, self.ones = _csa(self.ones, x[6], x[7])
        fours_b, self.twos = _csa(self.twos, twos_a, twos_b)
        eights, self.fours = _csa(self.fours, fours_a, fours_b)
        self._carry(eights, 3)

    def _carry(self, bits: int, level: int) -> None:
        """Add `bits` at digit `level` (each set bit counts 2**level)."""
        digits = self.digits
        digits.extend([0] * (level - len(digits)))
        while bits:
            if level == len(digits):
                digits.append(bits)
                return
            digits[level], bits = digits[level] ^ bits, digits[level] & bits
            level += 1

    def counts(self, width: int) -> list[int]:
        """The count of each of the `width` bit positions."""
        for bits in self.group:
            self._carry(bits, 0)
        self._carry(self.ones, 0)
        self._carry(self.twos, 1)
        self._carry(self.fours, 2)
        self.group, self.ones, self.twos, self.fours = [], 0, 0, 0
        out = [0] * width
        for k, digit in enumerate(self.digits):
            for i, bit in enumerate(reversed(f"{digit:b}")):  # one pass over each digit
                if bit == "1":
                    out[i] += 1 << k
        return out


def _csa(a: int, b: int, c: int) -> tuple[int, int]:
    """A carry-save adder on every bit position: (carries, sums) of a + b + c."""
    u = a ^ b
    return (a & b) | (u & c), u ^ c


# --- reputation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Disagreement:
    """A job on which a node's receipt differs from the majority's."""

    job: Link
    receipt: Link
    majority: tuple[Link, ...]
    """Receipts (one per node) of the majority."""

    def to_json(self) -> dict[str, Any]:
        """The disagreement as data."""
        return {
            "job": str(self.job),
            "receipt": str(self.receipt),
            "majority": [str(r) for r in self.majority],
        }


@dataclass(frozen=True)
class NodeReputation:
    """How often a node's receipts agree with the majority of nodes."""

    node: str
    agreed: int
    disagreed: tuple[Disagreement, ...]
    undecided: int
    """Jobs it ran where no outcome had a majority (a tie)."""

    @property
    def compared(self) -> int:
        """Jobs with a majority that this node ran."""
        return self.agreed + len(self.disagreed)

    @property
    def score(self) -> float:
        """Agreements over comparisons (1.0 when never compared)."""
        return self.agreed / self.compared if self.compared else 1.0

    def to_json(self) -> dict[str, Any]:
        """The node's record as data."""
        return {
            "node": self.node,
            "compared": self.compared,
            "agreed": self.agreed,
            "disagreed": len(self.disagreed),
            "undecided": self.undecided,
            "score": round(self.score, 6),
            "disagreements": [d.to_json() for d in self.disagreed],
        }


@dataclass(frozen=True)
class Reputation:
    """Every node's agreement with the majority, over the jobs several nodes ran."""

    jobs: int
    """Deterministic jobs with receipts from two nodes or more."""
    nodes: tuple[NodeReputation, ...]

    def to_json(self) -> dict[str, Any]:
        """The reputation table as data."""
        return {"jobs": self.jobs, "nodes": [n.to_json() for n in self.nodes]}


def reputation(store: Store, node: str | None = None) -> Reputation:
    """For `strict` and `unordered` jobs with receipts from two nodes or more: which
    outcome (exit code, outputs, stdout) most nodes report, and for each node how often
    it reports that; `unordered` jobs' outputs and stdout agree up to the order of the
    lines in each file (DESIGN §3), when the store holds their blocks. A node counts once
    per job (its latest receipt). A tie has no majority: the job is `undecided` for the
    nodes that ran it. `node` keeps one row."""
    jobs = store.contested_jobs()
    by_job: dict[Link, dict[str, ReceiptRef]] = defaultdict(dict)
    for ref in store.receipt_refs(jobs):
        by_job[ref.job][ref.node] = ref  # oldest first: the latest wins
    agreed: Counter[str] = Counter()
    undecided: Counter[str] = Counter()
    disagreed: dict[str, list[Disagreement]] = defaultdict(list)
    digests: dict[Link, bytes | None] = {}
    for job, latest in by_job.items():
        outcomes: dict[str, object] = {n: r.outcome for n, r in latest.items()}
        if len(set(outcomes.values())) > 1 and store.determinism(job) == "unordered":
            outcomes = _unordered_outcomes(store, job, latest, digests)
        votes = Counter(outcomes.values())
        (top, top_votes), *rest = votes.most_common()
        if rest and rest[0][1] == top_votes:
            for n in latest:
                undecided[n] += 1
            continue
        majority = tuple(sorted((r.cid for n, r in latest.items() if outcomes[n] == top), key=_raw))
        for n, r in latest.items():
            if outcomes[n] == top:
                agreed[n] += 1
            else:
                disagreed[n].append(Disagreement(job, r.cid, majority))
    names = sorted({*agreed, *undecided, *disagreed})
    if node is not None:
        names = [n for n in names if n == node]
    rows = [NodeReputation(n, agreed[n], tuple(disagreed[n]), undecided[n]) for n in names]
    rows.sort(key=lambda r: (-r.score, -r.compared, r.node))
    return Reputation(len(by_job), tuple(rows))


def _unordered_outcomes(
    store: Store, job: Link, latest: dict[str, ReceiptRef], digests: dict[Link, bytes | None]
) -> dict[str, object]:
    """What each node's receipt of an `unordered` job claims, up to the order of lines in
    each file (DESIGN §3): its exit code, and each output and stdout as the digest of
    its contents in that order (`memo.unordered_digest`), or as its CID when the store
    lacks its blocks (then only equal CIDs agree). `digests` caches them by CID."""
    from compiler.runtime.memo import unordered_digest

    def form(cid: Link) -> bytes:
        if cid not in digests:
            digests[cid] = unordered_digest(store, cid)
        digest = digests[cid]
        return b"lines:" + digest if digest is not None else b"cid:" + cid.raw

    receipts = {r.cid: r for r in store.receipts(job)}
    out: dict[str, object] = {}
    for n, ref in latest.items():
        receipt = receipts[ref.cid]
        outputs = tuple(sorted((path, form(c)) for path, c in receipt.outputs.items()))
        out[n] = (receipt.exit, outputs, form(receipt.stdout))
    return out


def _raw(link: Link) -> bytes:
    return link.raw


# --- disown -------------------------------------------------------------------------------

_PASS_VERSION = re.compile(r"^([a-z][a-z0-9-]*)@([0-9]+)$")


def parse_pass_version(text: str) -> tuple[str, int]:
    """`resolve-images@1` → ("resolve-images", 1); raises QueryError if malformed."""
    m = _PASS_VERSION.match(text.strip())
    if not m:
        raise QueryError(
            f"{text!r} is not PASS@VERSION", "write e.g. resolve-images@1 (see `jobc explain`)"
        )
    return m.group(1), int(m.group(2))


@dataclass(frozen=True)
class DisownResult:
    """What disowning a pass version affected."""

    pass_name: str
    version: int
    records: int
    """Stored records the pass version made (no longer followed)."""
    current: bool
    """Whether this jobc's own pass is that version (its compiles would make more)."""

    def to_json(self) -> dict[str, Any]:
        """The result as data."""
        return {
            "pass": self.pass_name,
            "version": self.version,
            "records": self.records,
            "current": self.current,
        }


def disown(store: Store, which: str, reason: str = "") -> DisownResult:
    """Mark the records of `pass@version` untrusted: `find`, `trace` forward and the
    chain index stop following them (like Bazel's salt, without changing any CID)."""
    from compiler.passes import PARSE, PARSE_VERSION, PASSES

    name, version = parse_pass_version(which)
    cls = PASSES.get(name)
    current = (cls is not None and cls.version == version) or (
        name == PARSE and version == PARSE_VERSION
    )
    records = store.disown(name, version, reason)
    return DisownResult(name, version, records, current)
