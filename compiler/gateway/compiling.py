"""Compiling what clients send, under the gateway's policy, budget and concurrency limit.

A compile is the driver's (`compile_bytes`) with the gateway's options and an oracle
whose answers respect what a server may do for strangers:
- `file:` sources are never read: a path in a submitted job names a file on the
  client's machine or on the node that runs it, not on the gateway (reading it would
  let anyone learn the hash of the gateway's own files);
- `http(s)://` sources are fetched only under `fetch_urls` (off by default: fetching
  what clients name lets them reach the gateway's private network);
- images are resolved with the store's shared cache, registry calls bounded by the
  compile budget; lowering does not run (`skip_passes`).

Compiles run in worker threads (they parse, hash and wait for skopeo), at most
`max_compiles` at once; a request waits in line for a slot within its budget. A compile
still running when its budget ends is left to finish in its thread (nothing it does can
be interrupted safely) and keeps its slot until it does, so stalled compiles cannot
pile up beyond the limit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.from_thread
import anyio.to_thread

from compiler import sources
from compiler.diagnostics import SpecError
from compiler.driver import Compiled, CompileOptions, compile_bytes
from compiler.frontends.loader import Syntax
from compiler.gateway import reuse
from compiler.gateway.problems import Problem, describe
from compiler.oracles import Fact, OracleUnavailable, live
from compiler.oracles.live import LiveContext, LiveOracle
from compiler.passes import configure, default_pipeline
from compiler.sources import Unpinnable

if TYPE_CHECKING:
    from compiler.gateway.config import GatewayConfig
    from compiler.gateway.metrics import Metrics
    from compiler.store import Store

log = logging.getLogger("jobc.gateway")

FACTORIES: dict[str, str] = {
    **live.FACTORIES,
    "content": "compiler.gateway.compiling:content_handler",
}
"""The live oracle's factories with the gateway's own content handler."""

HERE_FACTORIES: dict[str, str] = {
    **dict.fromkeys(FACTORIES, "compiler.gateway.compiling:needs_the_world"),
    "image": "compiler.gateway.compiling:cached_images",
    "content": "compiler.gateway.compiling:content_handler",
}
"""The factories of a compile in the event loop: answers the store's caches and the
policy give at once, and `NeedsTheWorld` for any other."""

_NO_DIR = Path("/")
"""The base directory of a gateway's compiles (never read: the gateway reads no file)."""

MAX_HERE = 64 << 10
"""The largest document compiled in the event loop (a compile of a few kilobytes takes
well under a millisecond; a bigger one would hold up every other request)."""


class NeedsTheWorld(Exception):
    """A compile in the event loop asked what only the outside world can answer (a
    registry, a URL): it is done again in a worker thread. Passes do not catch it."""


def needs_the_world(context: LiveContext) -> Callable[[Fact], Fact]:
    """The handler of a kind of question an event-loop compile never answers."""

    def answer(question: Fact) -> Fact:
        raise NeedsTheWorld(dict(question))

    return answer


class CachedImages:
    """Image answers from the store's cache alone; `NeedsTheWorld` on a miss (unless the
    gateway is offline, when a miss is the answer)."""

    def __init__(self, context: LiveContext) -> None:
        from compiler.oracles.registry import Resolver

        self.offline = context.offline
        self.resolver = Resolver(dataclasses.replace(context, offline=True))

    def prefetch(self, questions: list[Fact], *, refresh: bool = False) -> None:
        """Answer from the cache what it knows (the rest fails when asked)."""
        self.resolver.prefetch(questions)

    def __call__(self, question: Fact) -> Fact:
        try:
            return self.resolver(question)
        except OracleUnavailable:
            if self.offline:
                raise
            raise NeedsTheWorld(dict(question)) from None


def cached_images(context: LiveContext) -> CachedImages:
    """The `image` handler of a compile in the event loop."""
    return CachedImages(context)


def content_handler(context: LiveContext) -> Callable[[Fact], Fact]:
    """Content answers for a gateway: URLs under `fetch_urls`, never a local file."""
    fetch = bool(context.settings.get("fetch_urls", False))
    here = bool(context.settings.get("here", False))
    fetcher: Callable[[Fact], Fact] | None = None

    def answer(question: Fact) -> Fact:
        nonlocal fetcher
        source = question.get("source")
        kind = sources.kind(source) if isinstance(source, str) else "other"
        if kind == "http" and fetch:
            if here:
                raise NeedsTheWorld(dict(question))
            if fetcher is None:
                from compiler.oracles.content import handler

                fetcher = handler(context)
            return fetcher(question)
        if kind == "file":
            raise Unpinnable(
                "the gateway reads no file: a path in a submitted job is on the machine "
                "that runs it",
                hint="for a reproducible job, add the data to IPFS and use its ipfs:// CID",
            )
        raise Unpinnable(
            "this gateway does not download URLs (`jobc gateway --fetch-urls` does)",
            hint="for a reproducible job, add the data to IPFS and use its ipfs:// CID",
        )

    return answer


class CountingStore:
    """A store that counts its cache lookups into the gateway's metrics (the resolution
    cache hit rate); everything else goes to the store it wraps."""

    def __init__(self, inner: Store, count: Callable[[str, bool], None]) -> None:
        self._inner = inner
        self._count = count

    def cache_get(self, namespace: str, key: str, *, now: float | None = None) -> Any | None:
        """The wrapped store's answer, counted as a hit or a miss."""
        value = self._inner.cache_get(namespace, key, now=now)
        self._count(namespace, value is not None)
        return value

    def close(self) -> None:
        """Compiles never close the gateway's store: it lives as long as the gateway."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class GatewayCompiler:
    """Compiles documents for one gateway: its options, store, slots and metrics."""

    def __init__(self, config: GatewayConfig, metrics: Metrics, store: Store | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self._store = store
        self._own_store = store is None
        self._inline_store: Store | None = None
        self._inline_opened = False
        self._store_lock = threading.Lock()
        self._slots = anyio.CapacityLimiter(config.max_compiles)
        self.reused = reuse.CompiledCache()
        self._trusted: frozenset[str] | None = None
        settings: dict[str, Any] = dict(config.settings)
        # A registry call must not outlive the budget of the compile that made it.
        given = float(settings.get("registry_timeout") or config.compile_timeout)
        settings["registry_timeout"] = min(given, config.compile_timeout)
        settings["fetch_urls"] = config.fetch_urls
        settings["progress"] = False
        passes = tuple(p for p in default_pipeline() if p.name not in config.skip_passes)
        if config.require_pinned:
            passes = configure(passes, "resolve-images", {"require_pinned": True})
        self._options: dict[tuple[Syntax | None, bool], CompileOptions] = {}
        self.options = CompileOptions(
            strict=config.strict,
            passes=passes,
            offline=config.offline,
            store=config.store,
            settings=settings,
        )

    @property
    def store(self) -> Store:
        """The gateway's store, opened on first use (from any thread)."""
        with self._store_lock:
            if self._store is None:
                from compiler.store import open_store

                self._store = open_store(self.config.store)
            return self._store

    def inline_store(self) -> Store | None:
        """A second connection to a SQLite store that never waits for its lock, for the
        writes done in the event loop (`GroupCommitter`); None for other stores."""
        from compiler.store.sqlite import SQLiteStore

        store = self.store
        with self._store_lock:
            if not self._inline_opened:
                self._inline_opened = True
                if isinstance(store, SQLiteStore):
                    # Checkpoints (copying the log into the database, and a sync) would
                    # stall the event loop: the committer's thread does them instead.
                    self._inline_store = SQLiteStore(
                        store.path, busy_timeout_ms=0, wal_autocheckpoint=0
                    )
            return self._inline_store

    def close(self) -> None:
        """Close the store if the gateway opened it (and the inline store)."""
        with self._store_lock:
            if self._inline_store is not None:
                self._inline_store.close()
                self._inline_store = None
            self._inline_opened = False
            if self._store is not None and self._own_store:
                self._store.close()
                self._store = None

    # --- compiling ----------------------------------------------------------------------

    def compile_now(
        self,
        raw: bytes,
        name: str,
        syntax: Syntax | None = None,
        *,
        here: bool = False,
        counted: bool = True,
        offline: bool = False,
    ) -> Compiled:
        """Compile in this thread, with the gateway's policy; raises SpecError. `here`:
        with the answers at hand only (raises NeedsTheWorld when that is not enough).
        `counted`: cache lookups count in the metrics (not when a compile `here` made
        the same lookups already). `offline`: ask no registry or URL, whatever the
        gateway's policy (for queries)."""
        options = self._options.get((syntax, offline))
        if options is None:  # made once per kind: a compile in the loop is ~0.5 ms
            options = self.options
            if syntax is not None:
                options = dataclasses.replace(options, syntax=syntax)
            if offline:
                options = dataclasses.replace(options, offline=True)
            self._options[(syntax, offline)] = options
        context = LiveContext(
            base_dir=_NO_DIR,  # never read: the content handler reads no file
            offline=options.offline,
            settings={**options.settings, "here": here},
            store_location=options.store,
            _store=cast("Store", CountingStore(self.store, self.metrics.cache_lookup))
            if counted
            else self.store,
        )
        oracle = LiveOracle(context, HERE_FACTORIES if here else FACTORIES)
        return compile_bytes(raw, name, options, oracle)

    async def compile(self, raw: bytes, name: str, syntax: Syntax | None = None) -> Compiled:
        """Compile in a worker thread, within the budget (or reuse the compile of the same
        bytes, while it holds: `compiler.gateway.reuse`); raises Problem on any failure."""
        k = reuse.key(raw, name, syntax)
        kept = self.reused.get(k)
        self.metrics.cache_lookup("compiled", kept is not None)
        if kept is not None:
            return kept
        here = len(raw) <= MAX_HERE
        compiled = self._compile_here(raw, name, syntax) if here else None
        if compiled is None:
            compiled = await self._compile(raw, name, syntax, counted=not here)
        self.reused.put(k, compiled)
        return compiled

    def _compile_here(self, raw: bytes, name: str, syntax: Syntax | None) -> Compiled | None:
        """Compile in the event loop when the caches and the policy answer every question
        (most compiles, once an image has been seen): a thread's round trips cost more
        than such a compile. None when the outside world must be asked."""
        started = time.perf_counter()
        try:
            compiled = self.compile_now(raw, name, syntax, here=True)
        except NeedsTheWorld:
            return None
        except SpecError as exc:
            self.metrics.compile_seconds.observe(time.perf_counter() - started)
            raise self.invalid(exc) from None
        except Exception as exc:
            raise self._bug(name, exc) from None
        self.metrics.compile_seconds.observe(time.perf_counter() - started)
        self.metrics.compiles.labels("here").inc()
        return compiled

    def trusted_nodes(self) -> frozenset[str]:
        """The nodes whose receipts this gateway trusts (its own key, the data dir's
        `trusted-nodes`), read once."""
        with self._store_lock:
            if self._trusted is None:
                from compiler.runtime.receipts import trusted_nodes

                self._trusted = trusted_nodes()
            return self._trusted

    def invalid(self, exc: SpecError) -> Problem:
        """The problem of a document that does not compile (and count it)."""
        self.metrics.compile_failures.labels("invalid").inc()
        return Problem(
            "invalid-job",
            describe(exc.diagnostics),
            hint=next((d.hint for d in exc.errors if d.hint), ""),
            diagnostics=exc.diagnostics,
        )

    def _bug(self, name: str, exc: Exception) -> Problem:
        self.metrics.compile_failures.labels("internal").inc()
        log.error("jobc gateway: the compile of %s failed with a bug", name, exc_info=exc)
        return Problem("internal-error", f"{type(exc).__name__}: {exc}")

    async def _compile(
        self, raw: bytes, name: str, syntax: Syntax | None, *, counted: bool
    ) -> Compiled:
        """Compile in a worker thread, within the budget and a slot."""
        budget = self.config.compile_timeout
        deadline = anyio.current_time() + budget
        token = object()
        acquired = False
        with anyio.move_on_after(budget):
            await self._slots.acquire_on_behalf_of(token)
            acquired = True  # no checkpoint between: a slot taken is always seen here
        if not acquired:
            self.metrics.compile_failures.labels("busy").inc()
            raise Problem(
                "busy",
                f"no compile slot came free within {budget:g} s",
                headers={"retry-after": "1"},
            )
        release = functools.partial(self._release, token)
        self.metrics.compiles_running.inc()
        started = time.perf_counter()

        def work() -> Compiled:
            try:
                return self.compile_now(raw, name, syntax, counted=counted)
            finally:
                self.metrics.compiles_running.dec()
                # RuntimeError: the event loop is gone (the server is shutting down).
                with contextlib.suppress(RuntimeError):
                    anyio.from_thread.run_sync(release)

        try:
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as scope:
                compiled = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except SpecError as exc:
            self.metrics.compile_seconds.observe(time.perf_counter() - started)
            raise self.invalid(exc) from None
        except Exception as exc:
            raise self._bug(name, exc) from None
        if scope.cancelled_caught:
            self.metrics.compile_failures.labels("timeout").inc()
            raise Problem(
                "compile-timeout",
                f"the compile took longer than {budget:g} s",
                hint="a registry may be slow or unreachable from the gateway; try again",
            )
        self.metrics.compile_seconds.observe(time.perf_counter() - started)
        self.metrics.compiles.labels("thread").inc()
        return compiled

    def _release(self, token: object) -> None:
        self._slots.release_on_behalf_of(token)
