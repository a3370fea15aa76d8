"""Oracles: the only way a pass learns anything about the outside world.

A pass asks a question (`ask(kind, question)`) and gets an answer; the question and
answer together are a *fact*, written into the pass's record. Replaying a record
answers the same questions from its facts (`RecordedOracle`), with no network, so a
chain can be verified anywhere (DESIGN §2, §5). Oracles that reach a registry, a
toolchain, a URL or a file live in this package and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from compiler.diagnostics import Diagnostic
from compiler.ir import FrozenMap, Value

Fact = FrozenMap[Value]


class OracleUnavailable(LookupError):
    """The oracle cannot answer this kind of question (offline, or no such handler)."""


class OracleError(Exception):
    """The outside world answered, and the answer makes the spec wrong (an unknown image
    tag, a registry that is down): the pass reports it at the value that asked."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        code: str = "oracle",
        diagnostics: list[Diagnostic] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.diagnostics: list[Diagnostic] = list(diagnostics or ())
        """Problems placed elsewhere than the spec (a compiler's, in the source files)."""


class Oracle:
    """Answers questions about the outside world, and takes the passes' warnings."""

    def __init__(self, handlers: Mapping[str, Callable[[Fact], Fact]] | None = None) -> None:
        self.handlers: dict[str, Callable[[Fact], Fact]] = dict(handlers or {})
        self.diagnostics: list[Diagnostic] = []
        self.sources: dict[str, list[str]] = {}
        """Where pinned things can be fetched (digest or CID → places): the compiled
        document's `sources`, never identity."""

    def ask(
        self,
        kind: str,
        question: Mapping[str, Value],
        *,
        context: Mapping[str, Value] | None = None,
    ) -> Fact:
        """The answer to `question`; the fact to record is `question | answer`.

        `context` is what a live handler needs besides the question, and which the
        answer itself accounts for (the toolchain block a lowering answer names says
        which edition was used): handlers see it merged into the question, a recorded
        oracle never sees it, since the fact alone must answer on replay.
        """
        handler = self.handlers.get(kind)
        if handler is None:
            raise OracleUnavailable(f"no oracle for {kind!r} questions here")
        if context:
            return handler(FrozenMap({**context, **question}))
        return handler(FrozenMap(question))

    def prefetch(
        self, kind: str, questions: Iterable[Mapping[str, Value]], *, refresh: bool = False
    ) -> None:
        """Say which questions are coming, so a handler that can answer them together
        (a bounded pool of registry calls) does; `refresh` bypasses its caches. Errors
        wait for `ask`. The default answers nothing ahead."""
        handler = self.handlers.get(kind)
        batch = getattr(handler, "prefetch", None)
        if batch is not None:
            batch([FrozenMap(q) for q in questions], refresh=refresh)

    def source(self, key: str, where: str) -> None:
        """Note that `key` (a digest or CID) can be fetched from `where`."""
        places = self.sources.setdefault(key, [])
        if where not in places:
            places.append(where)

    def report(self, diagnostic: Diagnostic) -> None:
        """Take a warning from a pass (errors are raised as SpecError instead)."""
        self.diagnostics.append(diagnostic)


class RecordedOracle(Oracle):
    """Answers only from recorded facts: replay, offline and exact."""

    def __init__(self, facts: Iterable[Fact]) -> None:
        super().__init__()
        self.facts = list(facts)

    def ask(
        self,
        kind: str,
        question: Mapping[str, Value],
        *,
        context: Mapping[str, Value] | None = None,
    ) -> Fact:
        for fact in self.facts:
            if all(fact.get(k) == v for k, v in question.items()):
                return FrozenMap({k: v for k, v in fact.items() if k not in question})
        raise OracleUnavailable(f"no recorded fact answers {dict(question)!r}")


def fact(question: Mapping[str, Value], answer: Mapping[str, Any]) -> Fact:
    """A fact: a question and its answer in one map."""
    return FrozenMap({**question, **answer})
