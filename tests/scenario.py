"""A small call tree of real compiles and signed receipts, for the store's query tests.

```
words.txt (D) ─┐
m.wasm (M) ────┴─> count (J1) ──/outputs──> O1 ──(await)──> double (J2) ──/outputs──> O2
                                                                                      │
                            out2.txt (the same bytes as O2) ───────────> report (J3) <┘
```
J1 ran on three nodes: A and B agree, C reports another output. J2 ran on A.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from compiler.driver import Compiled, compile_file
from compiler.identity import cid_of_raw
from compiler.ir import FrozenMap, Link
from compiler.runtime.receipts import NodeKey, Receipt, timestamp
from compiler.store import Store
from compiler.store.ingest import store_compiled

MODULE = b"\x00asm\x01\x00\x00\x00"
WORDS = b"apple\nbanana\n"
O1_BYTES = b"2\n"
O2_BYTES = b"4\n"

COUNT = """\
jobspec: 1
name: count
task: {engine: wasm, module: m.wasm, args: [/in/words.txt]}
inputs: [{name: words, source: words.txt, target: /in/words.txt}]
outputs: [/outputs]
"""
DOUBLE = """\
jobspec: 1
name: double
task: {{engine: wasm, module: m.wasm}}
inputs: [{{name: count, source: "job:{j1}#/outputs", target: /in/count}}]
outputs: [/outputs]
"""
REPORT = """\
jobspec: 1
name: report
task: {engine: wasm, module: m.wasm, args: [report]}
inputs: [{name: doubled, source: out2.txt, target: /in/doubled}]
outputs: [/outputs]
"""


@dataclass
class Scenario:
    """The specs, their compiles and the receipts, as stored."""

    folder: Path
    specs: dict[str, Path] = field(default_factory=dict)
    compiled: dict[str, Compiled] = field(default_factory=dict)
    keys: dict[str, NodeKey] = field(default_factory=dict)
    receipts: list[Receipt] = field(default_factory=list)

    @property
    def data(self) -> Link:
        return cid_of_raw(WORDS)

    @property
    def module(self) -> Link:
        return cid_of_raw(MODULE)

    @property
    def o1(self) -> Link:
        return cid_of_raw(O1_BYTES)

    @property
    def o2(self) -> Link:
        return cid_of_raw(O2_BYTES)

    def job(self, name: str) -> Link:
        return self.compiled[name].cid


def receipt(job: Link, key: NodeKey, outputs: dict[str, Link], stdout: bytes = b"") -> Receipt:
    """A signed receipt of a successful run."""
    return key.sign(
        Receipt(
            job=job,
            outputs=FrozenMap(outputs),
            exit=0,
            stdout=cid_of_raw(stdout),
            stderr=cid_of_raw(b""),
            runner=FrozenMap({"name": "jobc-test", "version": "1", "engine": "wasm"}),
            node="",
            meta=FrozenMap({"started": timestamp(), "finished": timestamp()}),
        )
    )


def build(store: Store, folder: Path) -> Scenario:
    """Write the specs and data into `folder`, compile them into `store`, add receipts."""
    s = Scenario(folder)
    (folder / "m.wasm").write_bytes(MODULE)
    (folder / "words.txt").write_bytes(WORDS)
    (folder / "out2.txt").write_bytes(O2_BYTES)
    s.keys = {n: NodeKey.generate() for n in ("A", "B", "C")}

    def compile_(name: str, text: str) -> Compiled:
        path = folder / f"{name}.yaml"
        path.write_text(text)
        s.specs[name] = path
        compiled = compile_file(path)
        store_compiled(store, compiled)
        s.compiled[name] = compiled
        return compiled

    j1 = compile_("count", COUNT).cid
    for node, out in (("A", s.o1), ("B", s.o1), ("C", cid_of_raw(b"3\n"))):
        s.receipts.append(receipt(j1, s.keys[node], {"/outputs": out}, b"counted"))
    j2 = compile_("double", DOUBLE.format(j1=j1)).cid
    s.receipts.append(receipt(j2, s.keys["A"], {"/outputs": s.o2}))
    compile_("report", REPORT)
    for r in s.receipts:
        store.put_receipt(r)
    return s
