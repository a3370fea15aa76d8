"""Emitters: one module per output format, each writing jobs back as a format says them.

`EMITTERS` names each format's `emit` function (imported when used). An emitter takes
`JobDoc`s — a job's IR with what is beside it (meta, execution, where pinned content
comes from, its CIDs) — and returns an `Emitted` document. What the target cannot
say is either kept in a stash field the target carries untouched (and read back by the
matching front-end) or refused with one diagnostic listing it (`Refused`). `jobc export`
writes the final job of a compiled spec; `jobc migrate` writes a document's jobs as
read (their original IR), so tags and paths stay as written.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from compiler import identity
from compiler.diagnostics import Diagnostic, Span, SpecError, error, warning
from compiler.ir import Content, DockerTask, ImageDigest, Job, Link, Value

EMITTERS: dict[str, str] = {
    "jobspec/2": "compiler.emitters.jobspec:emit_jobspec2",
    "jobspec/1": "compiler.emitters.jobspec:emit_jobspec1",
    "bacalhau": "compiler.emitters.bacalhau:emit",
    "homestar": "compiler.emitters.homestar:emit",
    "jobfile": "compiler.emitters.jobfile:emit",
}
"""Format → `module:function` of its emitter. Other areas add theirs here (`car`)."""


@dataclass(frozen=True)
class JobDoc:
    """One job to write out, with everything beside its identity."""

    name: str
    """Its name in a workflow ("" for a document of one job)."""
    job: Job
    meta: dict[str, Any] = field(default_factory=dict)
    execution: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    """Digest or CID → where it can be fetched (the compiled document's `sources`)."""
    cid: Link | None = None
    """The job's final CID, when it was compiled (export); None for a migration."""
    original: Link | None = None


@dataclass(frozen=True)
class Emitted:
    """A written document, and what came with writing it."""

    text: str
    syntax: Literal["yaml", "json", "jobfile"]
    diagnostics: tuple[Diagnostic, ...] = ()
    """Warnings: what went into a stash, what the target will not see."""
    aliases: tuple[tuple[str, str, Link], ...] = ()
    """(namespace, foreign name, job CID): the target's identifiers for the jobs, to
    store as aliases (Homestar instruction CIDs)."""
    ids: dict[str, str] = field(default_factory=dict)
    """The target's identifiers by job name (and "" for the workflow), for the user."""
    data: Any = None
    """The document as data (what `text` serialises), for `jobc migrate` to merge with
    the original's comments."""


Emitter = Callable[[Sequence[JobDoc], dict[str, Any]], Emitted]


def emitter(fmt: str) -> Emitter:
    """The emit function of format `fmt` (`jobspec/2`, `bacalhau`, `homestar`, …)."""
    target = EMITTERS.get(fmt)
    if target is None:
        raise SpecError(
            error(
                f"jobc cannot write {fmt!r}",
                hint="formats: " + ", ".join(sorted(EMITTERS)),
                code="format",
            )
        )
    module, _, name = target.partition(":")
    found: Emitter = getattr(importlib.import_module(module), name)
    return found


def refuse(what: str, items: Sequence[str], hint: str = "") -> SpecError:
    """The diagnostic for a job the target cannot say (and that no stash may carry)."""
    listed = "; ".join(items)
    return SpecError(error(f"{what}: {listed}", hint=hint, code="inexpressible"))


def placed(diagnostics: Sequence[Diagnostic], span: Span) -> tuple[Diagnostic, ...]:
    """An emitter's diagnostics placed in the document the jobs were read from: an
    emitter sees jobs, not text, so what it says about a job is about the whole file."""
    return tuple(
        d if d.span is not None else dataclasses.replace(d, span=span) for d in diagnostics
    )


def stashed(fmt: str, job: str, items: Sequence[str]) -> Diagnostic:
    """The warning that some of a job went into the target's stash."""
    where = f"job {job!r}: " if job else ""
    return warning(
        f"{where}{fmt} cannot say {', '.join(items)}: kept in jobc.stash",
        hint="jobc reads it back (so the CID survives the trip); the target itself ignores it",
        code="stashed",
    )


def content_uri(content: Content) -> str:
    """Content as a source string: a CID as `ipfs://<CID>`, anything else as written."""
    return "ipfs://" + str(content) if isinstance(content, Link) else content


def image_reference(task: DockerTask, sources: dict[str, list[str]]) -> str:
    """The image as a reference: a pinned digest as `repository@sha256:…` (the sources say
    which repository it came from), an unpinned reference as written."""
    image = task.image
    if not isinstance(image, ImageDigest):
        return image
    repositories = sources.get(image.digest, [])
    if not repositories:
        raise SpecError(
            error(
                f"the image {image.digest} was pinned, but nothing says from which repository",
                hint="export from a compile that resolved the image (its `sources` name the "
                "repository), or write the image as repo@sha256:… in the spec",
                code="image-source",
            )
        )
    return f"{repositories[0]}@{image.digest}"


def stash_text(stash: dict[str, Any]) -> str:
    """A stash as canonical JSON (its values already in DAG-JSON forms)."""
    return json.dumps(stash, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def job_docs_of(compiled: Any) -> list[JobDoc]:
    """The final jobs of a `Compiled` or `CompiledWorkflow`, ready to emit."""
    from compiler.driver import CompiledWorkflow

    pairs = compiled.jobs if isinstance(compiled, CompiledWorkflow) else [("", compiled)]
    return [
        JobDoc(name, c.job, c.meta, c.execution, c.sources, c.cid, c.original) for name, c in pairs
    ]


_YAML_BREAKS = frozenset("\x85\u2028\u2029\ufeff")


def dump_yaml(doc: Any) -> str:
    """YAML as people write it (block style, keys in the order given) that jobc's YAML 1.2
    reader reads back exactly: a string it would read as something else is quoted."""
    import yaml

    text: str = yaml.dump(
        doc,
        Dumper=_dumper(),
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return text


@functools.cache
def _dumper() -> type:
    """PyYAML's dumper with libyaml's emitter (the pure-Python one was most of an export's
    time), writing strings as jobc reads them back."""
    import yaml

    from compiler.frontends.loader import resolve_plain

    class Dumper(yaml.CSafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # a map given twice is written twice, not as an anchor

    def represent_str(dumper: Any, value: str) -> yaml.ScalarNode:
        try:
            plain = resolve_plain(value)
        except ValueError:  # an integer too long for int(): quote it
            plain = None
        style = None if isinstance(plain, str) and plain == value else "'"
        if any(not ch.isprintable() or ch in _YAML_BREAKS for ch in value):
            style = '"'  # escaped: YAML reads these as line breaks or drops them
        node: yaml.ScalarNode = dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)
        return node

    Dumper.add_representer(str, represent_str)
    return Dumper


def dag_json(value: Value) -> Any:
    """An IR value in DAG-JSON's data forms (links `{"/": …}`, bytes `{"/": {"bytes": …}}`)."""
    return identity.value_dag_json(value)
