"""`jobc migrate`: rewrite a document into another format or version.

The document is read (no pass runs: tags, paths and names stay as written), and its
jobs are written by the target's emitter. What the target cannot say goes to its stash
or is refused (`compiler.emitters`). When the format family stays the same (a
Bacalhau V1beta1 job to the current Job API, jobspec/1 to jobspec/1), the original's
comments and key order are kept where its keys still are: the new document is merged
into the original with ruamel.yaml's round-trip nodes (keys matched case-insensitively
for Bacalhau, whose decoder reads them so), and read back to check that the merge says
exactly what the emitter wrote (else the plain rewrite is used, with a note).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from compiler.diagnostics import Diagnostic, SpecError, error, warning
from compiler.driver import CompileOptions, read_document
from compiler.emitters import EMITTERS, Emitted, JobDoc, emitter, placed
from compiler.frontends import Parsed

TARGETS = {
    "jobspec": "jobspec/2",
    "jobspec/2": "jobspec/2",
    "jobspec/1": "jobspec/1",
    "bacalhau": "bacalhau",
    "bacalhau/job": "bacalhau",
    "homestar": "homestar",
    "jobfile": "jobfile",
}
"""What `--to` accepts → the emitter that writes it."""


@dataclass(frozen=True)
class Migrated:
    """A rewritten document."""

    text: str
    source_format: str
    target: str
    diagnostics: tuple[Diagnostic, ...]
    kept_comments: bool


def family(fmt: str) -> str:
    """A format's family: `bacalhau/v1beta1` → `bacalhau`, `jobspec/1` → `jobspec`."""
    return fmt.split("/", 1)[0]


def migrate(raw: bytes, name: str, to: str, options: CompileOptions | None = None) -> Migrated:
    """Rewrite the document `raw` in the format `to` (`TARGETS`)."""
    options = options or CompileOptions()
    target = TARGETS.get(to.lower())
    if target is None or target not in EMITTERS:
        hint = "targets: " + ", ".join(sorted(TARGETS))
        if to.lower().startswith("bacalhau/"):
            hint = (
                "jobc writes Bacalhau's current Job API (`--to bacalhau`), which every "
                "release since v1.1 reads; the legacy layouts are read, never written"
            )
        raise SpecError(error(f"jobc cannot migrate to {to!r}", hint=hint, code="format"))
    doc, parsed = read_document(raw, name, options)
    if isinstance(parsed, Parsed):
        jobs = [JobDoc("", parsed.job, parsed.meta, parsed.execution)]
        meta: dict[str, Any] = {}
        source = parsed.format
        notes = list(parsed.diagnostics)
    else:
        jobs = [JobDoc(n, p.job, p.meta, p.execution) for n, p in parsed.jobs]
        meta, source, notes = parsed.meta, parsed.format, list(parsed.diagnostics)
    try:
        emitted = emitter(target)(jobs, meta)
    except SpecError as exc:
        raise SpecError(list(placed(exc.diagnostics, doc.span("")))) from None
    notes.extend(placed(emitted.diagnostics, doc.span("")))
    text, kept = emitted.text, False
    if emitted.syntax == "yaml" and doc.syntax == "yaml" and family(source) == family(target):
        moved = _moved_job(source, target, jobs)
        merged = keep_comments(doc.text, emitted, fold=family(target) == "bacalhau", moved=moved)
        if merged is not None:
            text, kept = merged, True
        else:
            notes.append(
                warning(
                    "the original's comments could not be carried over exactly: rewritten plainly",
                    code="comments",
                )
            )
    return Migrated(text, source, target, tuple(notes), kept)


def _moved_job(source: str, target: str, jobs: list[JobDoc]) -> tuple[str, str] | None:
    """Where a job's map moves between jobspec/1 (the root) and jobspec/2 (`jobs.NAME`):
    ("down"|"up", NAME), so its comments move with it."""
    if (source, target) == ("jobspec/1", "jobspec/2"):
        return "down", jobs[0].name or jobs[0].meta.get("name") or "main"
    if (source, target) == ("jobspec/2", "jobspec/1") and len(jobs) == 1:
        return "up", jobs[0].name
    return None


def keep_comments(
    original: str, emitted: Emitted, *, fold: bool, moved: tuple[str, str] | None = None
) -> str | None:
    """`emitted`'s document with the original's comments and key order where its keys
    still are (a job's map moved by `moved` carries its own); None if the result would
    not read back as exactly the emitted data."""
    from ruamel.yaml import YAML

    from compiler.frontends.loader import load

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        old = yaml.load(original)
    except Exception:  # ruamel raises several error types; the plain rewrite is kept
        return None
    if moved is not None and isinstance(old, dict):
        old = _move(old, *moved)
    merged = _merge(old, emitted.data, fold)
    out = io.StringIO()
    yaml.dump(merged, out)
    text = out.getvalue()
    try:
        again = load("<merged>", text.encode()).tree
    except SpecError:
        return None
    return text if _same(again, emitted.data, fold) else None


def _move(old: Any, direction: str, name: str) -> Any:
    """The original seen in the target's shape: a jobspec/1 root under `jobs.NAME`, or a
    jobspec/2 job as the root."""
    from ruamel.yaml.comments import CommentedMap

    if direction == "down":
        shaped = CommentedMap()
        shaped["jobspec"] = old.get("jobspec")
        if "jobspec" in old.ca.items:
            shaped.ca.items["jobspec"] = old.ca.items["jobspec"]
        shaped.ca.comment = old.ca.comment
        shaped["jobs"] = CommentedMap({name: old})
        return shaped
    job = old.get("jobs", {}).get(name)
    if not isinstance(job, CommentedMap):
        return old
    shaped = CommentedMap()
    shaped["jobspec"] = old.get("jobspec")
    if "jobspec" in old.ca.items:
        shaped.ca.items["jobspec"] = old.ca.items["jobspec"]
    shaped["name"] = name  # jobspec/1 names its job at the top
    shaped.ca.comment = old.ca.comment
    for key, value in job.items():
        shaped[key] = value
        if key in job.ca.items:
            shaped.ca.items[key] = job.ca.items[key]
    return shaped


def _merge(old: Any, new: Any, fold: bool) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def norm(key: str) -> str:
        return key.casefold() if fold else key

    if isinstance(new, dict):
        out = CommentedMap()
        if isinstance(old, CommentedMap):
            by_key = {norm(k): k for k in old if isinstance(k, str)}
            new_by_key = {norm(k): k for k in new}
            order = [new_by_key[f] for f in by_key if f in new_by_key]
            order += [k for k in new if norm(k) not in by_key]
            for key in order:
                before = by_key.get(norm(key))
                written = before if before is not None else key
                out[written] = _merge(old[before] if before is not None else None, new[key], fold)
                if before is not None and before in old.ca.items:
                    out.ca.items[written] = old.ca.items[before]
            out.ca.comment = old.ca.comment
            _keep_style(old, out)
        else:
            for key, value in new.items():
                out[key] = _merge(None, value, fold)
        return out
    if isinstance(new, list):
        seq = CommentedSeq()
        olds = old if isinstance(old, CommentedSeq) else []
        for i, value in enumerate(new):
            seq.append(_merge(olds[i] if i < len(olds) else None, value, fold))
        if isinstance(old, CommentedSeq):
            for i in range(min(len(olds), len(new))):
                if i in old.ca.items:
                    seq.ca.items[i] = old.ca.items[i]
            seq.ca.comment = old.ca.comment
            _keep_style(old, seq)
        return seq
    if (
        old is not None
        and not isinstance(old, dict | list)
        and old == new
        and type(new) is not bool
    ):
        return old  # the scalar as written (its quotes kept)
    return new


def _keep_style(old: Any, new: Any) -> None:
    """A map or list written in flow style (`[a, b]`, `{k: v}`) stays so."""
    if old.fa.flow_style():
        new.fa.set_flow_style()


def _same(read: Any, data: Any, fold: bool) -> bool:
    """Whether the merged document (read back) says what the emitter wrote."""
    if isinstance(data, dict):
        if not isinstance(read, dict) or len(read) != len(data):
            return False
        by_key = {(k.casefold() if fold else k): v for k, v in read.items()}
        return all(
            (k.casefold() if fold else k) in by_key
            and _same(by_key[k.casefold() if fold else k], v, fold)
            for k, v in data.items()
        )
    if isinstance(data, list):
        return (
            isinstance(read, list)
            and len(read) == len(data)
            and all(_same(r, d, fold) for r, d in zip(read, data, strict=True))
        )
    return type(read) is type(data) and read == data
