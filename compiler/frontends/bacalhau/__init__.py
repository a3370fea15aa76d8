"""Bacalhau jobs of every era, told apart by shape (keys read case-insensitively).

- `bacalhau/job`: the Job API, v1.1 (2023-08) to today: `Tasks[]` with
  `Engine{Type,Params}`, maybe inside `{Job: …}` (`job.py`);
- `bacalhau/job-2023`: the same with WASM as written before 2025 (`EntryModule` an
  input source rather than a path);
- `bacalhau/v1beta2`, `bacalhau/v1beta1` (three layouts), `bacalhau/v1alpha1` and the
  snake_case format of 2022: jobs with an `APIVersion` and a `Spec` (`legacy.py`).

`docs/formats.md` maps every field to the IR, the execution options or meta. A
document that looks like Bacalhau's but fits no era gets a diagnostic naming the
closest era and the fields that did not fit (`closest_era`).
"""

from __future__ import annotations

from typing import Any

from compiler.diagnostics import SpecError, error
from compiler.frontends import Options, Parsed
from compiler.frontends.loader import SourceDocument


def detect(tree: Any) -> bool:
    """Whether `tree` is a Bacalhau job of an era jobc reads (or says an `APIVersion`)."""
    from compiler.frontends.bacalhau.job import looks_like_job
    from compiler.frontends.bacalhau.legacy import version_of

    return looks_like_job(tree) or version_of(tree) is not None


def parse(doc: SourceDocument, options: Options) -> Parsed:
    """Read a Bacalhau job of any era into the IR."""
    from compiler.frontends.bacalhau import job, legacy

    found = legacy.version_of(doc.tree)
    if found is None:
        return job.parse(doc, options)
    pointer, version = found
    canonical = legacy.VERSIONS.get(version.casefold())
    if canonical is None:
        era, unfit = closest_era(doc.tree)
        raise SpecError(
            error(
                f"unknown Bacalhau API version {version!r}",
                span=doc.span(pointer),
                pointer=pointer,
                hint=f"jobc reads V1alpha1, V1beta1 and V1beta2 (and the Job API, which has "
                f"no APIVersion); by its fields this job is closest to `{era}`"
                + (f" (not fitting: {', '.join(unfit)})" if unfit else ""),
                code="unknown-format",
            )
        )
    return legacy.parse(doc, options, canonical)


ERA_FIELDS: dict[str, frozenset[str]] = {}
"""Every era's field names (case-folded, all levels together), newest first, for
`closest_era`."""

_BASE = (
    "APIVersion", "Spec", "Engine", "Publisher", "Docker", "Wasm", "Resources", "Timeout",
    "Inputs", "Outputs", "Annotations", "DoNotTrack", "Deal", "Concurrency", "Image",
    "Entrypoint", "EnvironmentVariables", "WorkingDirectory", "StorageSource", "Name",
    "CID", "URL", "Path", "EntryPoint", "Parameters", "CPU", "Memory", "Disk", "GPU",
)  # fmt: skip
_LEGACY_ERAS = {
    "bacalhau/v1beta2": (
        "EngineSpec", "Type", "Params", "PublisherSpec", "Network", "Domains",
        "NodeSelectors", "Key", "Operator", "Values", "TargetingMode", "Metadata",
        "Requester", "EntryModule", "ImportModules", "S3", "Repo", "SourcePath", "ReadWrite",
    ),
    "bacalhau/v1beta1": (
        "Verifier", "PublisherSpec", "Network", "Domains", "NodeSelectors", "Metadata",
        "Requester", "EntryModule", "ImportModules", "Language", "S3", "SourcePath",
    ),
    "bacalhau/v1beta1-2022-12": (
        "Verifier", "Metadata", "Status", "ExecutionPlan", "Sharding", "Contexts",
        "JobState", "Requester", "ImportModules", "Language", "GlobPattern", "BatchSize",
    ),
    "bacalhau/v1beta1-2022-11": (
        "ID", "ClientID", "RequesterNodeID", "CreatedAt", "ExecutionPlan", "Sharding",
        "Contexts", "Verifier", "JobState", "Language", "Confidence", "MinBids",
        "GlobPattern", "BatchSize", "ImportModules",
    ),
    "bacalhau/v1alpha1": (
        "ID", "ClientID", "RequesterNodeID", "CreatedAt", "ExecutionPlan", "Sharding",
        "Contexts", "Verifier", "JobState", "Language", "Confidence", "MinBids",
        "GlobPattern", "BatchSize",
    ),
}  # fmt: skip


def _era_fields() -> dict[str, frozenset[str]]:
    if not ERA_FIELDS:
        from compiler.frontends.bacalhau import job, legacy

        current = {
            *job.JOB_FIELDS, *job.TASK_FIELDS, *job.DOCKER_PARAMS, *job.WASM_PARAMS,
            *job.INPUT_FIELDS, *job.SOURCE_PARAMS["s3presigned"], "Job", "Type", "Params",
            "Source", "Target", "Alias", "Path", "Key", "Operator", "Values", "Domains",
        }  # fmt: skip
        ERA_FIELDS["bacalhau/job"] = frozenset(f.casefold() for f in current)
        for era, fields in _LEGACY_ERAS.items():
            ERA_FIELDS[era] = frozenset(f.casefold() for f in (*_BASE, *fields))
        pascal = {*_BASE, *_LEGACY_ERAS["bacalhau/v1alpha1"]}
        snake = {legacy.SNAKE_NAMES.get(f, f).casefold() for f in pascal}
        snake |= set(legacy.SNAKE_NAMES.values())  # engine_name, … have no PascalCase twin here
        ERA_FIELDS["bacalhau/v1alpha1-snake"] = frozenset(snake | {"engine", "spec"})
    return ERA_FIELDS


def keys_of(tree: Any) -> set[str]:
    """Every map key in `tree`, case-folded (values of data maps included: a cost of
    not knowing the shape; they rarely look like field names)."""
    out: set[str] = set()
    stack = [tree]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            out.update(k.casefold() for k in value if isinstance(k, str))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return out


def closest_era(tree: Any) -> tuple[str, list[str]]:
    """The era whose fields a document's keys overlap most, and its top-level keys
    that are not fields of that era."""
    keys = keys_of(tree)
    eras = _era_fields()
    order = list(eras)  # newest first: a tie goes to the newer era
    best = max(order, key=lambda era: (len(keys & eras[era]), -order.index(era)))
    return best, _unfit(tree, eras[best])


def _unfit(tree: Any, fields: frozenset[str], where: str = "") -> list[str]:
    """The keys of the job's own maps (the top, what a `{Job: …}` wrapper holds, `Spec`)
    that are no field of an era, named by their path (`Spec.Foo`). Deeper maps hold data
    maps (`Env`, `Labels`) whose keys are no fields at all: they are not looked into."""
    if not isinstance(tree, dict):
        return []
    out: list[str] = []
    for key, value in tree.items():
        if not isinstance(key, str):
            continue
        if key.casefold() not in fields:
            out.append(where + key)
        if key.casefold() in ("job", "spec") and isinstance(value, dict):
            out += _unfit(value, fields, f"{where}{key}.")
    return sorted(out)


def looks_bacalhau(tree: Any) -> bool:
    """Whether a document no front-end took is likely meant as a Bacalhau job: its top
    level uses some of Bacalhau's job fields."""
    if not isinstance(tree, dict):
        return False
    top = {k.casefold() for k in tree if isinstance(k, str)}
    return bool(top & {"spec", "tasks", "job", "engine", "deal", "metadata", "apiversion"})


def job_id(meta: dict[str, Any]) -> str:
    """The ID Bacalhau gave a job (its server fields, kept in `meta.bacalhau`), or "": the
    Job API's `ID`, V1beta1/V1beta2's `Metadata.ID`, the 2022 formats' `ID`/`id`."""
    fields = meta.get("bacalhau", {})
    if not isinstance(fields, dict):
        return ""
    for key, value in fields.items():
        if key.casefold() == "id" and isinstance(value, str) and value:
            return value
        if key.casefold() == "metadata" and isinstance(value, dict):
            for inner, found in value.items():
                if inner.casefold() == "id" and isinstance(found, str) and found:
                    return found
    return ""
