"""Compiles reused by the exact bytes that made them, while what they learned still holds.

Clients resubmit the same job byte for byte (retries, a scheduler's loop, a memo hit
asked again), and a compile is a pure function of the document and the outside answers
it used. So a gateway keeps recent compiles by (document name, syntax, sha256 of the
bytes), and reuses one only as long as every outside answer in its chain would still be
given:
- no outside answer (images given by digest, `ipfs://` and `data:` inputs): for as long
  as the entry stays among the most recently used;
- an image tag resolved by a registry: the resolution cache's time for that tag, and never
  more than `MAX_TAG_REUSE` (the cache entry it came from may already have been old, so a
  tag that moves is seen within its cache time plus that);
- anything else (a URL's content, a lowered module, a transient warning such as an
  image left unpinned because a registry was down): never.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from compiler import imageref
from compiler.diagnostics import Severity
from compiler.oracles import registry

if TYPE_CHECKING:
    from compiler.driver import Compiled

MAX_TAG_REUSE = 60.0
"""Seconds a compile that resolved an image tag is reused, at most."""
CAPACITY = 4096
"""Compiles kept (the least recently used go first)."""
_PURE_PASSES = frozenset({"parse", "normalize"})


def lifetime(compiled: Compiled) -> float:
    """How many seconds `compiled` may be reused for the same bytes (0: never)."""
    if any(
        d.severity is Severity.WARNING and d.code == "unpinned"
        for d in compiled.unplaced_diagnostics
    ):
        return 0.0
    seconds = math.inf
    for record in compiled.chain:
        if record.pass_name in _PURE_PASSES:
            continue
        if record.pass_name == "resolve-content" and not record.facts:
            continue  # `ipfs://` and `data:`: pinned from their text
        if record.pass_name != "resolve-images":
            return 0.0
        for fact in record.facts:
            ref = fact.get("ref")
            if not isinstance(ref, str):
                return 0.0
            ttl = registry.ttl(imageref.parse(ref))
            if ttl is not None:
                seconds = min(seconds, ttl, MAX_TAG_REUSE)
    return seconds


def key(raw: bytes, name: str, syntax: str | None) -> bytes:
    """The key of a compile: what it read, and how."""
    return hashlib.sha256(f"{name}\0{syntax or ''}\0".encode() + raw).digest()


class CompiledCache:
    """Recent compiles by `key`, each until its `lifetime` ends; safe across threads."""

    def __init__(
        self, capacity: int = CAPACITY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.clock = clock
        self._entries: OrderedDict[bytes, tuple[Compiled, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, k: bytes) -> Compiled | None:
        """The compile kept under `k` if it may still be used."""
        with self._lock:
            entry = self._entries.get(k)
            if entry is None:
                return None
            compiled, until = entry
            if until <= self.clock():
                del self._entries[k]
                return None
            self._entries.move_to_end(k)
            return compiled

    def put(self, k: bytes, compiled: Compiled) -> bool:
        """Keep `compiled` under `k` if it may be reused at all; whether it was kept."""
        seconds = lifetime(compiled)
        if seconds <= 0:
            return False
        with self._lock:
            self._entries[k] = (compiled, self.clock() + seconds)
            self._entries.move_to_end(k)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return True

    def clear(self) -> int:
        """Forget every compile; how many there were."""
        with self._lock:
            n = len(self._entries)
            self._entries.clear()
        return n

    def __len__(self) -> int:
        return len(self._entries)
