"""Passes: pure functions of (IR, oracle answers), run in the order of `PIPELINE`.

Each pass is a frozen dataclass with a kebab-case `name`, a `version` (bumped whenever
its output for some input changes), its options as fields, and a docstring saying what
it assumes and guarantees. `pass_(job, oracle)` returns the new job and the facts it
used; the driver turns a change into a record (DESIGN §5). A pass never mutates its
input and touches the outside world only through `oracle`.

A pass with nothing to do hands back `job` itself (the same object, not an equal copy):
the driver then hashes nothing and records nothing, so such a pass costs only its own
check. Every compile runs every pass, and most jobs need few of them (a jobspec/1 job
awaits nothing and has no Rust to lower), so that check must be cheap: look at the few
fields the pass acts on and return at once, before building anything. Measured: a pass
that returns at once costs the driver ~1.7k instructions (~0.1 µs), under 0.5% of a
compile; tests/test_perf_invariants.py checks every pass in `PIPELINE` on jobs it has
nothing left to do for.

`-p` on the command line selects passes and sets options, as
`normalize,resolve-images{refresh=true}`: see `parse_pipeline`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, ClassVar, Protocol

from compiler.diagnostics import SpecError, error
from compiler.ir import Job
from compiler.oracles import Fact, Oracle
from compiler.passes.link_workflow import LinkWorkflow
from compiler.passes.lower import Lower
from compiler.passes.normalize import Normalize
from compiler.passes.resolve_awaits import ResolveAwaits
from compiler.passes.resolve_content import ResolveContent
from compiler.passes.resolve_images import ResolveImages


class Pass(Protocol):
    """The shape every pass has."""

    name: ClassVar[str]
    version: ClassVar[int]

    def __call__(self, job: Job, oracle: Oracle) -> tuple[Job, list[Fact]]: ...


PARSE = "parse"
PARSE_VERSION = 1
"""The parse step is the front-end; it records document CID → original CID."""

PIPELINE: tuple[type[Pass], ...] = (
    Normalize,
    LinkWorkflow,
    ResolveAwaits,
    ResolveImages,
    ResolveContent,
    Lower,
)
"""Every pass after parse, in order (DESIGN §5); later issues add theirs here."""

PASSES: dict[str, type[Pass]] = {p.name: p for p in PIPELINE}


@functools.cache
def default_pipeline() -> tuple[Pass, ...]:
    """One instance of every pass, with default options (passes are immutable: shared)."""
    return tuple(p() for p in PIPELINE)


def configure(
    passes: tuple[Pass, ...] | None, name: str, options: dict[str, Any]
) -> tuple[Pass, ...]:
    """`passes` (None: the default pipeline) with the pass `name` given `options` (as
    command-line flags do: `--require-pinned` sets resolve-images' `require_pinned`)."""
    chosen = default_pipeline() if passes is None else passes
    return tuple(
        dataclasses.replace(p, **options) if p.name == name else p  # type: ignore[type-var]
        for p in chosen
    )


_ITEM = re.compile(r"\s*([a-z][a-z0-9-]*)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def parse_pipeline(text: str) -> tuple[Pass, ...]:
    """Read `-p name,name{opt=value,...}` into pass instances, in pipeline order."""
    chosen: dict[str, Pass] = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if not m or m.end() == pos:
            raise SpecError(
                error(
                    f"cannot read the pass list at {text[pos:]!r}",
                    hint="write e.g. -p normalize,resolve-images{refresh=true}",
                )
            )
        name, opts = m.group(1), m.group(2)
        pos = m.end()
        if name == PARSE:
            continue
        cls = PASSES.get(name)
        if cls is None:
            raise SpecError(
                error(f"unknown pass {name!r}", hint="passes: " + ", ".join([PARSE, *PASSES]))
            )
        chosen[name] = cls(**_options(cls, opts or ""))
    return tuple(chosen[p.name] for p in PIPELINE if p.name in chosen)


def _options(cls: type[Pass], text: str) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            known = ", ".join(fields) or "none"
            raise SpecError(
                error(f"pass {cls.name!r} has no option {key!r}", hint=f"its options: {known}")
            )
        default = fields[key].default
        raw = raw.strip()
        if isinstance(default, bool):
            if raw not in ("true", "false"):
                raise SpecError(error(f"option {key} of {cls.name} takes true or false"))
            out[key] = raw == "true"
        elif isinstance(default, int):
            try:
                out[key] = int(raw)
            except ValueError:
                raise SpecError(error(f"option {key} of {cls.name} takes a number")) from None
        else:
            out[key] = raw
    return out
