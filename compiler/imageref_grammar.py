"""Image references read with the normative grammar, `grammars/image_reference.lark`.

The hot path (`compiler.imageref`) reads references with regular expressions and never
imports lark. This module is for the error path and the tests: `syntax_error` says where
a rejected reference goes wrong (the first character that no valid reference can have
there, with what could have come instead), and `parse` reads a reference with the
grammar and `imageref.normalise`, which the tests compare with `imageref.parse`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from compiler.imageref import ImageReference, ReferenceError, normalise

if TYPE_CHECKING:
    from lark import Lark

_PART_OF = {
    "TAG_HEAD": "the tag",
    "TAG_TAIL": "the tag",
    "ALGORITHM_HEAD": "the digest",
    "ALGORITHM_CHAR": "the digest",
    "ALGORITHM_SEPARATOR": "the digest",
    "HEX": "the digest",
    "IPV6_CHAR": "the IPv6 address",
    "RSQB": "the IPv6 address",
    "PATH_ALNUM": "the repository name",
    "PERIOD": "the repository name",
    "UNDERSCORE": "the repository name",
    "DASH": "the repository name",
    "SLASH": "the repository name",
    "LSQB": "the repository name",
    "DOMAIN_ALNUM": "the registry domain",
    "DOMAIN_INNER": "the registry domain",
    "DIGIT": "the registry port",
}
"""Which part of a reference a terminal belongs to, for messages; when several could
come next, the first listed names the part (a tag before a port, a path before a domain)."""

_HINTS = {
    "the repository name": "repository names use a-z, 0-9 and the separators '.', '_', '__', '-'",
    "the registry domain": "a registry domain has letters, digits, '-' and '.'",
    "the registry port": "write the registry as host:port, e.g. localhost:5000",
    "the IPv6 address": "write an IPv6 registry in brackets, e.g. [::1]:5000/repo",
    "the tag": "a tag has letters, digits, '_', '.' and '-' (at most 128), and starts "
    "with a letter, digit or '_'",
    "the digest": "e.g. @sha256:<64 hex digits>",
}


@functools.cache
def parser() -> Lark:
    """The grammar, built once (Earley: the grammar is ambiguous where a reference is)."""
    from lark import Lark

    from compiler.resources import grammar_text

    return Lark(
        grammar_text("image_reference"),
        parser="earley",
        lexer="dynamic",
        propagate_positions=True,
        ambiguity="resolve",
    )


def split(ref: str) -> tuple[str, str, str]:
    """(name, tag, digest) as written, by the grammar; ReferenceError where it fails."""
    from lark.exceptions import UnexpectedInput

    try:
        tree = parser().parse(ref)
    except UnexpectedInput:
        error = syntax_error(ref)
        assert error is not None
        raise error from None
    parts = {"name": "", "tag": "", "digest": ""}
    for child in tree.children:
        parts[str(child.data)] = ref[child.meta.start_pos : child.meta.end_pos]  # type: ignore[union-attr]
    return parts["name"], parts["tag"], parts["digest"]


def parse(ref: str) -> ImageReference:
    """Read and normalise a reference with the grammar (slow; `imageref.parse` is the same)."""
    name, tag, digest = split(ref)
    return normalise(ref, name, tag, digest)


def failure_offset(ref: str) -> int | None:
    """Where the grammar stops: the first character no valid reference has there (or the
    end, for a reference cut short); None if the syntax is valid."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput

    try:
        parser().parse(ref)
    except UnexpectedCharacters as exc:
        return int(exc.pos_in_stream or 0)
    except UnexpectedInput:
        return len(ref)
    return None


def syntax_error(ref: str) -> ReferenceError | None:
    """The grammar's reason for rejecting `ref`, or None if its syntax is valid."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

    if not ref:
        return ReferenceError("the image reference is empty", 0, "write e.g. ubuntu:22.04")
    try:
        parser().parse(ref)
    except UnexpectedCharacters as exc:
        offset, expected = int(exc.pos_in_stream or 0), set(exc.allowed)
    except UnexpectedEOF as exc:
        offset, expected = len(ref), {str(t) for t in exc.expected}
    except UnexpectedInput:
        offset, expected = len(ref), set()
    else:
        return None
    if failure_offset(ref.lower()) is None:
        first = next(i for i, ch in enumerate(ref) if ch.isupper())
        return ReferenceError("repository names must be lowercase", first, f"write {ref.lower()!r}")
    part = next((p for t, p in _PART_OF.items() if t in expected), "the image reference")
    hint = _HINTS.get(part, "write e.g. ubuntu:22.04")
    if offset >= len(ref):
        return ReferenceError(f"{part} ends too early", offset, hint)
    colon = ref.rfind(":", 0, offset)
    if "TAG_TAIL" not in expected and colon >= 0 and offset - colon - 1 == 128:
        length = len(ref[colon + 1 :].partition("@")[0])
        return ReferenceError(
            f"the tag is {length} characters long, over 128",
            offset,
            "a tag has at most 128 characters",
        )
    if expected == {"AT"} and part == "the image reference":
        return ReferenceError(
            f"invalid character {ref[offset]!r} after the tag",
            offset,
            "a tag ends the reference, or is followed by @digest",
        )
    return ReferenceError(f"invalid character {ref[offset]!r} in {part}", offset, hint)
