"""The gateway's memo: a submitted job that a trusted node has already run is answered
from its receipt, and never reaches the orchestrator (DESIGN §6).

A submission qualifies when its job's determinism is `strict` or `unordered`
(`runtime.memo.reusable`) and the store holds a receipt of its final job CID signed by
a node the gateway trusts (its own key and the data dir's `trusted-nodes`), whose
signature holds (`runtime.memo.find_trusted_receipt`: the oldest such receipt).

The answer (`MEMO_MEDIA_TYPE` is plain JSON, so Bacalhau's clients decode it) is
Bacalhau's `PutJobResponse` with jobc's own member beside it:

```json
{"JobID": "bafyrei…(the job CID)", "EvaluationID": "", "Warnings": ["…"],
 "jobc": {"memo": "hit", "cid": "bafyrei…", "original": "bafyrei…",
          "receipt": {…the receipt in DAG-JSON, with its "cid"…}}}
```

A client tells it apart from the orchestrator's answer by the `X-Jobc-Memo: hit` header
or the `jobc` member; the `JobID` is the job CID (an orchestrator's IDs never are CIDs).

A hit found is kept in memory (by job CID): receipts are immutable and the oldest trusted
one stays the oldest, so the answer cannot change while the gateway's trust does not.
A miss is asked again each time (a receipt may come at any moment).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from compiler.runtime.memo import find_trusted_receipt, reusable
from compiler.runtime.receipts import Receipt

if TYPE_CHECKING:
    from compiler.driver import Compiled
    from compiler.ir import Link
    from compiler.store import Store

HIT, MISS, SKIP = "hit", "miss", "skip"
CAPACITY = 4096
"""Hits kept in memory (the least recently used go first)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A trusted receipt found for a job, with what its answers need made once."""

    receipt: Receipt
    cid: str
    """The receipt's CID."""
    dag_json: dict[str, Any]
    """The receipt in DAG-JSON (with its `cid`)."""

    @classmethod
    def of(cls, receipt: Receipt) -> Hit:
        """The hit of `receipt`."""
        dag_json = receipt.to_dag_json()
        return cls(receipt, dag_json["cid"]["/"], dag_json)


class Memo:
    """Trusted receipts of submitted jobs, looked up in the store and kept once found."""

    def __init__(
        self,
        store: Callable[[], Store],
        trusted: Callable[[], frozenset[str]],
        capacity: int = CAPACITY,
    ) -> None:
        self._store = store
        self._trusted = trusted
        self.capacity = capacity
        self._hits: OrderedDict[Link, Hit] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, compiled: Compiled) -> tuple[str, Hit | None]:
        """(`hit`, the hit), (`miss`, None), or (`skip`, None) for a job whose
        determinism does not allow reusing a run of it."""
        if not reusable(compiled.job):
            return SKIP, None
        cid = compiled.cid
        with self._lock:
            hit = self._hits.get(cid)
            if hit is not None:
                self._hits.move_to_end(cid)
                return HIT, hit
        receipt = find_trusted_receipt(self._store(), cid, self._trusted())
        if receipt is None:
            return MISS, None
        hit = Hit.of(receipt)
        with self._lock:
            self._hits[cid] = hit
            while len(self._hits) > self.capacity:
                self._hits.popitem(last=False)
        return HIT, hit

    def clear(self) -> None:
        """Forget the hits kept in memory."""
        with self._lock:
            self._hits.clear()


def answer_body(compiled: Compiled, hit: Hit) -> bytes:
    """The body of a memo hit: a `PutJobResponse` with the receipt under `jobc`."""
    cid = str(compiled.cid)
    doc: dict[str, Any] = {
        "JobID": cid,
        "EvaluationID": "",
        "Warnings": [
            f"jobc: answered from receipt {hit.cid} of job {cid}, signed by node "
            f"{hit.receipt.node}: the job was not run again"
        ],
        "jobc": {
            "memo": HIT,
            "cid": cid,
            "original": str(compiled.original),
            "receipt": hit.dag_json,
        },
    }
    return orjson.dumps(doc)
