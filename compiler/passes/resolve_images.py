"""The `resolve-images` pass: every docker image tag becomes the digest of its manifest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from compiler import imageref
from compiler.diagnostics import SpecError, error, warning
from compiler.ir import DockerTask, ImageDigest, Job, replace
from compiler.oracles import Fact, Oracle, OracleError, OracleUnavailable, fact

POINTER = "/task/image"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveImages:
    """Pin a docker task's image to the digest of its manifest (DESIGN §3 Image).

    Assumes: the image reference is normalised (normalize ran; it is normalised again
    here, which changes nothing then) and the platform, if any, is `os/arch[/variant]`.
    Guarantees: a resolved image is `{"digest": "sha256:…"}` and nothing else: registry,
    repository and tag leave identity (they go to the compiled document's `sources`), and
    so does the platform, which the digest of the index's child now says. One fact
    `{"ref", "digest"}` (plus `"platform"` when the task names one) per resolved image.
    A reference by digest is pinned from its own text, with no registry call, unless
    `verify_digests` (then the registry must serve a manifest with that digest) or a
    platform is named (then the digest's index is read for the platform's child).
    What cannot be resolved here (offline with no cached answer, a reference this
    skopeo cannot read) stays a tag, with a warning, and the job is `pinned: false`;
    under `require_pinned` that is an error. A registry's error is an error at the image.
    """

    name: ClassVar[str] = "resolve-images"
    version: ClassVar[int] = 1
    refresh: bool = False
    """Ask the registry even when the cache has an answer."""
    verify_digests: bool = False
    """Check that references by digest exist in their registry, with that digest."""
    require_pinned: bool = False
    """An image left unpinned is an error, not a warning."""

    def __call__(self, job: Job, oracle: Oracle) -> tuple[Job, list[Fact]]:
        task = job.task
        if not isinstance(task, DockerTask) or not isinstance(task.image, str):
            return job, []
        try:
            parsed = imageref.parse(task.image)
        except imageref.ReferenceError as exc:
            raise SpecError(
                error(
                    f"invalid image reference {task.image!r}: {exc}",
                    pointer=POINTER,
                    hint=exc.hint,
                    code="image-ref",
                    value_offset=exc.offset,
                )
            ) from None
        ref = str(parsed)
        question: dict[str, str] = {"ref": ref}
        if task.platform:
            question["platform"] = task.platform
        if parsed.digest and not task.platform and not self.verify_digests:
            digest = parsed.digest  # the reference says it: no registry call
        else:
            try:
                oracle.prefetch("image", [question], refresh=self.refresh)
                answer = oracle.ask("image", question)
            except OracleUnavailable as exc:
                return self._unpinned(job, ref, str(exc), oracle)
            except OracleError as exc:
                raise SpecError(
                    error(
                        f"cannot pin {ref}: {exc.message}",
                        pointer=POINTER,
                        hint=exc.hint,
                        code=exc.code,
                    )
                ) from None
            got = answer.get("digest")
            if not isinstance(got, str) or not imageref.PINNED_DIGEST.match(got):
                raise SpecError(
                    error(
                        f"the image oracle gave no sha256 digest for {ref}",
                        pointer=POINTER,
                        code="oracle",
                    )
                )
            digest = got
        oracle.source(digest, parsed.repository)
        new = replace(job, task=replace(task, image=ImageDigest(digest), platform=""))
        return new, [fact(question, {"digest": digest})]

    def _unpinned(self, job: Job, ref: str, reason: str, oracle: Oracle) -> tuple[Job, list[Fact]]:
        message = f"the image {ref} stays unpinned: {reason}"
        if self.require_pinned:
            raise SpecError(
                error(
                    message,
                    pointer=POINTER,
                    hint="pin it by digest (repo@sha256:…), use --lock, or drop --require-pinned",
                    code="unpinned",
                )
            )
        oracle.report(
            warning(
                message,
                pointer=POINTER,
                hint="the job is `pinned: false`: its CID names a tag, which can move",
                code="unpinned",
            )
        )
        return job, []
