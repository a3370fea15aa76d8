"""Rewriting a submitted Bacalhau job into the job the gateway forwards.

What the client wrote is kept as written, field for field, except:
- the image the compile pinned becomes `repository@sha256:…` (the repository as the
  user named it, normalised: `ubuntu:22.04` → `docker.io/library/ubuntu@sha256:…`), so
  every node runs the bytes the CID names even after the tag moves;
- the job's `Meta` gains `jobc.cid` (the final job CID) and `jobc.original` (the CID
  right after parsing), so the orchestrator's records lead back to jobc's.

The image is found where the front-end says it read it (`Compiled.document_pointer`
of `/task/image`), so this module knows nothing of Bacalhau's eras and shapes. Keys are
matched as Bacalhau's Go decoder matches them: exactly first, else ignoring case.
The body given is never modified: every function returns a new tree, sharing what did
not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from compiler import imageref
from compiler.ir import DockerTask, ImageDigest

if TYPE_CHECKING:
    from compiler.driver import Compiled

META_CID = "jobc.cid"
META_ORIGINAL = "jobc.original"
IMAGE_PATH = "/task/image"


class RewriteError(ValueError):
    """The body does not have the shape the rewrite needs."""


def split_pointer(pointer: str) -> list[str]:
    """A JSON pointer's reference tokens (RFC 6901), unescaped."""
    if not pointer:
        return []
    if not pointer.startswith("/"):
        raise RewriteError(f"{pointer!r} is not a JSON pointer")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def find_key(node: dict[str, Any], name: str) -> str | None:
    """The key of `node` that `name` names: itself, else one equal ignoring case."""
    if name in node:
        return name
    folded = name.lower()
    return next((k for k in node if isinstance(k, str) and k.lower() == folded), None)


def get(doc: Any, tokens: Sequence[str]) -> Any:
    """The value at `tokens` (keys matched as `find_key` does); raises RewriteError."""
    node = doc
    for token in tokens:
        node = node[_step(node, token)]
    return node


def put(doc: Any, tokens: Sequence[str], value: Any) -> Any:
    """A copy of `doc` with `value` at `tokens`: the containers on the way are copied,
    the rest shared. The last key is created in a map when absent."""
    if not tokens:
        return value
    token, rest = tokens[0], tokens[1:]
    if isinstance(doc, dict):
        key = find_key(doc, token)
        if key is None:
            if rest:
                raise RewriteError(f"no {token!r} here")
            key = token
        copy = dict(doc)
        copy[key] = put(doc.get(key), rest, value)
        return copy
    if isinstance(doc, list):
        index = _step(doc, token)
        copy_list = list(doc)
        copy_list[index] = put(doc[index], rest, value)  # type: ignore[index]
        return copy_list
    raise RewriteError(f"cannot step into a {type(doc).__name__} with {token!r}")


def _step(node: Any, token: str) -> str | int:
    if isinstance(node, dict):
        key = find_key(node, token)
        if key is None:
            raise RewriteError(f"no {token!r} here")
        return key
    if isinstance(node, list):
        if not token.isdigit() or int(token) >= len(node):
            raise RewriteError(f"no item {token!r} in a list of {len(node)}")
        return int(token)
    raise RewriteError(f"cannot step into a {type(node).__name__} with {token!r}")


def pinned_reference(written: str, digest: str) -> str:
    """`repository@digest` for the image reference `written` (normalised)."""
    return f"{imageref.parse(written).repository}@{digest}"


def pin_image(body: Any, compiled: Compiled) -> Any:
    """`body` with the image the compile pinned written as `repository@digest`; the body
    itself when the job has no image, or its image stayed a tag."""
    task = compiled.job.task
    if not isinstance(task, DockerTask) or not isinstance(task.image, ImageDigest):
        return body
    tokens = split_pointer(compiled.document_pointer(IMAGE_PATH))
    written = get(body, tokens)
    if not isinstance(written, str):
        raise RewriteError(f"the image at {'/'.join(tokens)} is not a string")
    pinned = pinned_reference(written, task.image.digest)
    return body if pinned == written else put(body, tokens, pinned)


def stamp_meta(body: Any, compiled: Compiled, job_key: str = "Job") -> Any:
    """`body` with `jobc.cid` and `jobc.original` in its job's `Meta` (made if absent)."""
    if not isinstance(body, dict):
        raise RewriteError("the body is not a JSON object")
    key = find_key(body, job_key)
    job = body.get(key) if key is not None else None
    if not isinstance(job, dict):
        raise RewriteError(f"the body has no {job_key!r} object")
    meta_key = find_key(job, "Meta") or "Meta"
    meta = job.get(meta_key)
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise RewriteError(f"the job's {meta_key!r} is not an object")
    stamped = {**meta, META_CID: str(compiled.cid), META_ORIGINAL: str(compiled.original)}
    return {**body, key: {**job, meta_key: stamped}}


def rewrite_submission(body: Any, compiled: Compiled) -> Any:
    """The job to forward: the image pinned, the CIDs in `Meta`."""
    return stamp_meta(pin_image(body, compiled), compiled)
