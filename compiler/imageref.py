"""Container image references, read and normalised as distribution/reference does.

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path
    domain     := host [ ":" port ]          host: DNS name, IPv4, or [IPv6]
    path       := component ( "/" component )*
    component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex      algorithm: [A-Za-z][A-Za-z0-9]* ( [+._-] … )*

The first component is a domain only when it contains "." or ":" or is "localhost",
and more components follow; otherwise the reference is on Docker Hub (`docker.io`),
where a single-component path gets `library/`. `index.docker.io` is `docker.io`.
A reference with neither tag nor digest gets `:latest`; one with a digest drops its tag
(the digest says everything). A repository path is at most 255 characters (with the
`library/` it may gain); a bare 64-hex-digit name is an image ID, not a reference;
digests are sha256, sha384 or sha512 in lowercase hex.

`grammars/image_reference.lark` is the normative grammar; this module reads the same
language with regular expressions (the hot path imports no parser), and the tests check
that both accept the same strings and find the same parts. `split` is the syntax,
`normalise` everything after it; the grammar's reader (`imageref_grammar`) shares
`normalise`. Errors say which character is wrong, as an offset into the reference, so the
caller can put a caret under it in the user's file; where the checks here find no
better place, the grammar's (the first character no valid reference can have there).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_DOMAIN_COMPONENT = re.compile(r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\Z")
_PORT = re.compile(r"[0-9]+\Z")
_IPV6 = re.compile(r"\[[a-fA-F0-9:]+\]\Z")
_ALGORITHM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*\Z")
_DIGEST_SYNTAX = re.compile(
    r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z"
)
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
"""The algorithms Docker registers with go-digest, and their hex lengths."""
_IDENTIFIER = re.compile(r"[a-f0-9]{64}\Z")
PINNED_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
"""The digest a pinned image carries: sha256, 64 lowercase hex digits (DESIGN §3)."""
_DOMAIN_NAME = (
    r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(
    rf"(?:(?:{_DOMAIN_NAME}|\[[a-fA-F0-9:]+\])(?::[0-9]+)?/)?"
    rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*\Z"
)
"""distribution/reference's `namePat`: [domain[:port] "/"] path, syntax only."""
_IPV6_HINT = "write an IPv6 registry in brackets, e.g. [::1]:5000/repo"


class ReferenceError(ValueError):
    """A malformed image reference; `offset` is the index of the offending character."""

    def __init__(self, message: str, offset: int, hint: str = "") -> None:
        super().__init__(message)
        self.offset = offset
        self.hint = hint


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed, normalised reference."""

    domain: str
    path: str
    tag: str
    digest: str

    @property
    def repository(self) -> str:
        """`domain/path`, e.g. `docker.io/library/ubuntu`."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


@functools.lru_cache(maxsize=4096)
def parse(ref: str) -> ImageReference:
    """Parse and normalise a reference; raises ReferenceError pointing at the bad character."""
    try:
        name, tag, digest = split(ref)
    except ReferenceError as exc:
        raise _no_later_than_the_grammar(ref, exc) from None
    return normalise(ref, name, tag, digest)


def split(ref: str) -> tuple[str, str, str]:
    """The syntax alone: (name, tag, digest) as written, or ReferenceError.

    Accepts exactly what `grammars/image_reference.lark` accepts (the tests check it),
    with regular expressions: this is the hot path, and it never imports lark.
    """
    if not ref:
        raise ReferenceError("the image reference is empty", 0, "write e.g. ubuntu:22.04")
    name, digest = ref, ""
    at = ref.find("@")
    if at >= 0:
        name, digest = ref[:at], ref[at + 1 :]
        if not _DIGEST_SYNTAX.match(digest):
            _fail_digest(ref, digest, at + 1)
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            _fail_tag(tag, colon + 1)
    if not name:
        raise ReferenceError(
            "the image reference has no repository name", 0, "write e.g. ubuntu:22.04"
        )
    if not _NAME.match(name):
        domain, path, path_offset = _split_domain(name)
        if domain != DEFAULT_DOMAIN:
            _check_domain(domain)
        _check_path(path, path_offset)
        raise _grammar_error(ref)  # the checks above found nothing to point at
    return name, tag, digest


def normalise(ref: str, name: str, tag: str, digest: str) -> ImageReference:
    """What distribution/reference does after the syntax (ParseNormalizedNamed, ParseDockerRef).

    The registry domain, `library/`, `:latest`, lowercase names, the length of the
    path, the bare-identifier rule and the digest algorithms. `ref` is the whole
    reference, for the offsets of errors; `name` starts it.
    """
    if _IDENTIFIER.match(ref):
        raise ReferenceError(
            "a 64-hex-digit string is an image ID, not a reference",
            0,
            "write repository@sha256:<digest>, e.g. ubuntu@sha256:…",
        )
    domain, path, path_offset = _split_domain(name)
    if domain != DEFAULT_DOMAIN or path_offset:
        _check_domain(domain)
    _check_path(path, path_offset)
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        shown = len(path) - (len(name) - path_offset)  # `library/` the user did not write
        raise ReferenceError(
            f"the repository path is {len(path)} characters long, over {NAME_TOTAL_LENGTH_MAX}",
            path_offset + NAME_TOTAL_LENGTH_MAX - shown,
            f"shorten the repository path to at most {NAME_TOTAL_LENGTH_MAX} characters",
        )
    if digest:
        _check_digest(digest, len(ref) - len(digest))
        tag = ""
    elif not tag:
        tag = DEFAULT_TAG
    return ImageReference(domain, path, tag, digest)


def _no_later_than_the_grammar(ref: str, exc: ReferenceError) -> ReferenceError:
    """`exc`, unless its caret is after the first character the grammar cannot take
    (the checks here read the tag before the name): then the grammar's error."""
    from compiler import imageref_grammar

    bound = imageref_grammar.failure_offset(ref)
    if bound is None or exc.offset <= bound:
        return exc
    return imageref_grammar.syntax_error(ref) or exc


def _grammar_error(ref: str) -> ReferenceError:
    """The error the normative grammar gives (lark is imported only here, on the error path)."""
    from compiler import imageref_grammar

    return imageref_grammar.syntax_error(ref) or ReferenceError(
        f"invalid image reference {ref!r}", 0, "write e.g. ubuntu:22.04"
    )


@functools.lru_cache(maxsize=4096)
def normalize(ref: str) -> str:
    """The normalised string form: `docker.io/library/ubuntu:latest`, `…@sha256:…`."""
    return str(parse(ref))


def _split_domain(name: str) -> tuple[str, str, int]:
    slash = name.find("/")
    if slash < 0:
        return DEFAULT_DOMAIN, name, 0
    first = name[:slash]
    if not ("." in first or ":" in first or first == "localhost"):
        return DEFAULT_DOMAIN, name, 0
    _check_domain(first)
    return first, name[slash + 1 :], slash + 1


def _check_domain(domain: str) -> None:
    host, port = domain, ""
    if domain.startswith("["):
        end = domain.find("]")
        if end < 0:
            raise ReferenceError("an IPv6 address must end with ']'", len(domain), _IPV6_HINT)
        host, rest = domain[: end + 1], domain[end + 1 :]
        if not _IPV6.match(host):
            raise ReferenceError(f"{host!r} is not an IPv6 address", 1, _IPV6_HINT)
        if rest:
            if not rest.startswith(":"):
                raise ReferenceError(
                    "expected ':' and a port after the IPv6 address", end + 1, _IPV6_HINT
                )
            port = rest[1:]
            _check_port(port, end + 2)
        return
    if ":" in domain:
        host, port = domain.split(":", 1)
        _check_port(port, len(host) + 1)
    offset = 0
    for comp in host.split("."):
        if not _DOMAIN_COMPONENT.match(comp):
            raise ReferenceError(
                f"{comp!r} is not a valid part of a domain name",
                offset + _first_bad(comp, r"[a-zA-Z0-9-]", edge_dash=True),
                "a registry domain has letters, digits, '-' and '.'",
            )
        offset += len(comp) + 1


def _check_port(port: str, offset: int) -> None:
    if not _PORT.match(port):
        raise ReferenceError(
            f"the registry port {port!r} is not a number",
            offset + _first_bad(port, r"[0-9]"),
            "write the registry as host:port, e.g. localhost:5000",
        )


def _check_path(path: str, offset: int) -> None:
    for comp in path.split("/"):
        if not _COMPONENT.match(comp):
            bad = _first_bad_component(comp)
            char = comp[bad] if bad < len(comp) else ""
            if char and char.isupper():
                message = "repository names must be lowercase"
                hint = f"write {path.lower()!r}"
            elif not comp:
                message = "the repository name has an empty component"
                hint = "remove the doubled or trailing '/'"
            else:
                message = (
                    f"invalid character {char!r} in the repository name"
                    if char
                    else "the repository name must not end with a separator"
                )
                hint = "repository names use a-z, 0-9 and the separators '.', '_', '__', '-'"
            raise ReferenceError(message, offset + bad, hint)
        offset += len(comp) + 1


def _first_bad_component(comp: str) -> int:
    """Where a path component stops matching its grammar."""
    i = 0
    n = len(comp)
    if not comp:
        return 0
    while True:
        start = i
        while i < n and (comp[i].isdigit() or "a" <= comp[i] <= "z"):
            i += 1
        if i == start:
            return i
        if i == n:
            return n
        if comp.startswith("__", i):
            i += 2
        elif comp[i] in "._":
            i += 1
        elif comp[i] == "-":
            while i < n and comp[i] == "-":
                i += 1
        else:
            return i
        if i == n:
            return n - 1


def _first_bad(text: str, allowed: str, *, edge_dash: bool = False) -> int:
    pattern = re.compile(allowed)
    for i, ch in enumerate(text):
        if not pattern.match(ch) or (edge_dash and ch == "-" and i in (0, len(text) - 1)):
            return i
    return len(text)


def _fail_tag(tag: str, offset: int) -> None:
    if not tag:
        raise ReferenceError("the tag after ':' is empty", offset, "write e.g. :22.04, or drop ':'")
    if len(tag) > 128:
        raise ReferenceError(
            f"the tag is {len(tag)} characters long, over 128",
            offset + 128,
            "a tag has at most 128 characters",
        )
    bad = (
        0
        if not re.match(r"\w", tag[0], re.ASCII)
        else next(i for i, ch in enumerate(tag) if not re.match(r"[\w.-]", ch, re.ASCII))
    )
    raise ReferenceError(
        f"invalid character {tag[bad]!r} in the tag",
        offset + bad,
        "a tag has letters, digits, '_', '.' and '-', and starts with a letter, digit or '_'",
    )


def _fail_digest(ref: str, digest: str, offset: int) -> None:
    _check_digest(digest, offset)
    raise _grammar_error(ref)


def _check_digest(digest: str, offset: int) -> None:
    """A digest's syntax and algorithm, as go-digest checks them (sha256 = 64 lowercase hex)."""
    algo, sep, hexpart = digest.partition(":")
    if not sep:
        raise ReferenceError(
            "a digest is written algorithm:hex",
            offset + len(digest),
            "e.g. @sha256:<64 hex digits>",
        )
    if not _ALGORITHM.match(algo):
        raise ReferenceError(
            f"invalid digest algorithm {algo!r}", offset, "e.g. @sha256:<64 hex digits>"
        )
    size = _DIGEST_LENGTHS.get(algo)
    if size is None:
        raise ReferenceError(
            f"unsupported digest algorithm {algo!r}",
            offset,
            "digests are sha256 (or sha384, sha512): @sha256:<64 hex digits>",
        )
    hex_offset = offset + len(algo) + 1
    bad = next((i for i, ch in enumerate(hexpart) if ch not in "0123456789abcdef"), None)
    if bad is not None:
        raise ReferenceError(
            f"invalid character {hexpart[bad]!r} in a {algo} digest",
            hex_offset + bad,
            f"a {algo} digest is {size} lowercase hex digits",
        )
    if len(hexpart) != size:
        raise ReferenceError(
            f"a {algo} digest has {size} hex digits, not {len(hexpart)}",
            hex_offset + min(len(hexpart), size),
            f"a {algo} digest is {size} lowercase hex digits",
        )
