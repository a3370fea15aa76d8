"""The oracle a compile uses by default: handlers that reach the outside world.

Each kind of question has a handler factory in its own module, named here as
`module:function` and imported only when a pass first asks that kind of question, so
a compile that needs no registry or file never imports (or starts) what answers them.
A factory takes the compile's `LiveContext` and returns the handler.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compiler.oracles import Fact, Oracle, OracleUnavailable

if TYPE_CHECKING:
    from pathlib import Path

    from compiler.store import Store

Handler = Callable[[Fact], Fact]

FACTORIES: dict[str, str] = {
    "content": "compiler.oracles.content:handler",
    "image": "compiler.oracles.registry:handler",
    "toolchain": "compiler.oracles.toolchain:handler",
    "receipt": "compiler.oracles.receipt:handler",
}
"""Kind of question → `module:function` of its handler factory. Later issues add
theirs here: `image` (registry), `content` (files, URLs), `toolchain` (lowering)."""


@dataclass
class LiveContext:
    """What live handlers may use: the compile's settings and the store."""

    base_dir: Path
    """The folder of the spec file (the working directory for stdin)."""
    offline: bool = False
    refresh: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Per-oracle settings from the command line or the API (e.g. `registries_conf`)."""
    store_location: str | None = None
    session: dict[Any, Any] | None = None
    """State the handlers of one run share across its compiles (answers already found,
    the open store), or None: nothing shared. See `CompileOptions.session`."""
    _store: Store | None = field(default=None, repr=False)
    """The store: given by the caller (who closes it), else opened on first use."""
    _owns_store: bool = field(default=False, repr=False)

    @property
    def store(self) -> Store:
        """The store, opened on first use. The compiles of one run (one session) share it:
        opening a SQLite store costs far more than most compiles (its write-ahead log
        is made and checkpointed again each time), and every WASM job asks it whether
        its module needs lowering."""
        if self._store is None:
            from compiler.store import open_store

            if self.session is None:
                self._store = open_store(self.store_location)
                self._owns_store = True
            else:
                key = ("store", self.store_location)
                shared = self.session.get(key)
                if shared is None:
                    shared = self.session[key] = open_store(self.store_location)
                self._store = shared
        return self._store

    def close(self) -> None:
        """Close the store if this context opened it for itself (a session's store stays
        open for the run's other compiles, and is closed when the session is dropped)."""
        if self._store is not None and self._owns_store:
            self._store.close()
        self._store = None
        self._owns_store = False


class LiveOracle(Oracle):
    """An oracle whose handlers are made on first use from `FACTORIES`; its context too,
    so a compile that asks nothing pays for neither."""

    def __init__(
        self,
        context: LiveContext | Callable[[], LiveContext],
        factories: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._context = context
        self._factories = factories

    @property
    def context(self) -> LiveContext:
        """The context, made on first use."""
        if not isinstance(self._context, LiveContext):
            self._context = self._context()
        return self._context

    def prefetch(
        self, kind: str, questions: Iterable[Mapping[str, Any]], *, refresh: bool = False
    ) -> None:
        self._handler(kind)
        super().prefetch(kind, questions, refresh=refresh)

    def ask(
        self,
        kind: str,
        question: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> Fact:
        self._handler(kind)
        return super().ask(kind, question, context=context)

    def _handler(self, kind: str) -> None:
        """Make the handler of `kind` if it is not made yet."""
        if kind not in self.handlers:
            factories = FACTORIES if self._factories is None else self._factories
            target = factories.get(kind)
            if target is None:
                raise OracleUnavailable(f"no oracle for {kind!r} questions here")
            module, _, name = target.partition(":")
            factory: Callable[[LiveContext], Handler] = getattr(
                importlib.import_module(module), name
            )
            self.handlers[kind] = factory(self.context)

    def close(self) -> None:
        """Close what the context opened (the store), if it was made."""
        if isinstance(self._context, LiveContext):
            self._context.close()
