"""The `normalize` pass: one spelling for everything that has several."""

from __future__ import annotations

import operator
import posixpath
import re
from dataclasses import dataclass
from typing import ClassVar

from compiler import imageref
from compiler.diagnostics import Diagnostic, SpecError, error, warning
from compiler.ir import (
    Await,
    Content,
    DockerTask,
    FrozenMap,
    Input,
    Job,
    Network,
    SourceTask,
    Task,
    WasmTask,
    replace,
)
from compiler.oracles import Fact, Oracle

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
PLATFORM = re.compile(r"[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_]+)?\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class Normalize:
    """Write every reference, path and list in its one canonical form.

    Assumes: a job as a front-end read it.
    Guarantees: image references are normalised as distribution/reference does
    (`ubuntu` → `docker.io/library/ubuntu:latest`, digest refs drop their tag); a docker
    entrypoint holds the whole argv (entrypoint + args); paths are absolute and clean
    (`/data/../x/` → `/x`) and unique; source paths are `file:` URIs relative to the
    spec's folder, URI schemes are lowercase; network domains are lowercase, sorted and
    unique; a job with network access is not `strict` (a warning says so).
    No oracle questions: the pass is pure syntax.
    """

    name: ClassVar[str] = "normalize"
    version: ClassVar[int] = 1

    def __call__(self, job: Job, oracle: Oracle) -> tuple[Job, list[Fact]]:
        errors: list[Diagnostic] = []
        task = _task(job.task, errors)
        inputs: list[Input] = []
        seen: dict[str, str] = {}
        for inp in job.inputs:
            target = clean_path(inp.target)
            if target in seen:
                errors.append(
                    error(
                        f"inputs {seen[target]!r} and {inp.target!r} both mount at {target!r}",
                        pointer=f"/inputs/{inp.target}",
                        code="duplicate-target",
                    )
                )
                continue
            seen[target] = inp.target
            src = inp.source
            source = (
                Await(src.job, clean_path(src.path))
                if isinstance(src, Await)
                else normal_content(src)
            )
            inputs.append(inp if target == inp.target and source == src else Input(target, source))
        outputs: dict[str, str] = {}
        for out in job.outputs:
            path = clean_path(out)
            if path in outputs:
                errors.append(
                    error(
                        f"outputs {outputs[path]!r} and {out!r} are the same path {path!r}",
                        pointer=f"/outputs/{out}",
                        code="duplicate-output",
                    )
                )
            outputs[path] = out
        if errors:
            raise SpecError(errors)

        network = job.network
        if network is not None:
            network = Network(network.mode, tuple(sorted({d.lower() for d in network.domains})))
        determinism = job.determinism
        if network is not None and determinism == "strict":
            oracle.report(
                warning(
                    "a job with network access cannot be strict: its determinism is now `none`",
                    pointer="/determinism",
                    hint="remove `network`, or drop `deterministic: true`",
                    code="network-strict",
                )
            )
            determinism = "none"
        sorted_inputs = tuple(sorted(inputs, key=_BY_TARGET))
        sorted_outputs = tuple(sorted(outputs))
        if (
            task is job.task  # `_task` hands back its input exactly when nothing changed
            and sorted_inputs == job.inputs
            and sorted_outputs == job.outputs
            and network == job.network
            and determinism == job.determinism
        ):
            return job, []  # already normal: the driver then writes no record
        new = replace(
            job,
            task=task,
            inputs=sorted_inputs,
            outputs=sorted_outputs,
            network=network,
            determinism=determinism,
        )
        return new, []


_BY_TARGET = operator.attrgetter("target")


def _task(task: Task, errors: list[Diagnostic]) -> Task:
    if isinstance(task, DockerTask):
        image = task.image
        if isinstance(image, str):
            try:
                image = imageref.normalize(image)
            except imageref.ReferenceError as exc:
                errors.append(
                    error(
                        f"invalid image reference {image!r}: {exc}",
                        pointer="/task/image",
                        hint=exc.hint,
                        code="image-ref",
                        value_offset=exc.offset,
                    )
                )
        platform = task.platform.lower()
        # isascii: str.lower() maps some non-ASCII letters (the Kelvin sign) to ASCII ones.
        if platform and not (task.platform.isascii() and PLATFORM.match(platform)):
            errors.append(
                error(
                    f"invalid platform {task.platform!r}",
                    pointer="/task/platform",
                    hint="write os/arch or os/arch/variant, e.g. linux/arm64",
                    code="platform",
                )
            )
        entrypoint, args = task.entrypoint, task.args
        if entrypoint and args:
            entrypoint, args = entrypoint + args, ()
        workdir = clean_path(task.workdir) if task.workdir else ""
        if (
            image == task.image
            and platform == task.platform
            and entrypoint == task.entrypoint
            and args == task.args
            and workdir == task.workdir
        ):
            return task  # already normal (the usual case for a gateway's pinned specs)
        return replace(
            task,
            image=image,
            platform=platform,
            entrypoint=entrypoint,
            args=args,
            workdir=workdir,
        )
    if isinstance(task, WasmTask):
        module = normal_content(task.module)
        imports = {k: normal_content(v) for k, v in task.imports.items()}
        stdin = None if task.stdin is None else normal_content(task.stdin)
        if module == task.module and task.imports == imports and stdin == task.stdin:
            return task
        return replace(task, module=module, imports=FrozenMap(imports), stdin=stdin)
    if isinstance(task, SourceTask):
        source = normal_content(task.source)
        edition = "" if task.edition == "2021" else task.edition
        if source == task.source and edition == task.edition:
            return task
        return replace(task, source=source, edition=edition)
    return task


def clean_path(path: str) -> str:
    """An absolute path, clean: no `.`, `..`, doubled or trailing slashes."""
    if path[:1] == "/" and path[-1:] != "/" and "//" not in path and "/." not in path:
        return path  # already clean: no empty, `.` or `..` component, no trailing slash
    clean = posixpath.normpath("/" + path.lstrip("/"))
    return "/" + clean.lstrip("/")


CANONICAL_PREFIXES = ("ipfs://", "https://", "http://", "data:", "s3://")
"""Sources that start so are already normal (a lowercase scheme other than file:)."""


def normal_content(content: Content) -> Content:
    """A content source in its normal form (a CID link or canonical text stays as it is;
    the fast path shares this rule)."""
    if not isinstance(content, str):
        return content
    if content.startswith(CANONICAL_PREFIXES):
        return content
    m = _SCHEME.match(content)
    if m and len(m.group(1)) > 1:  # a one-letter "scheme" is a Windows drive: a path
        scheme = m.group(1).lower()
        rest = content[m.end() :]
        if scheme == "file":
            # file:///p and file://localhost/p are the local path /p (RFC 8089): file:/p
            if rest.startswith("///") or rest.lower().startswith("//localhost/"):
                return "file:" + _relative(rest[rest.index("/", 2) :])
            if not rest.startswith("//"):
                return "file:" + _relative(rest)
        return scheme + ":" + rest
    return "file:" + _relative(content)


def _relative(path: str) -> str:
    """A source path as written, cleaned (`./a//b/` → `a/b/`); absolute paths stay absolute."""
    trailing = "/" if path.endswith("/") and path.strip("/") else ""
    clean = posixpath.normpath(path) if path else "."
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    return clean + trailing if clean != "." else "./"
