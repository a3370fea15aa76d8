"""Content sources: what a normalised source URI names, and what can be known from it alone.

`file:`, `http:`/`https:` need the outside world (`oracles/content.py`); `ipfs://` and
`data:` do not: the CID of `ipfs://Qm…` is in its text, and a `data:` URI holds its
bytes. Everything else (`s3://`, `gs://`, a `file://host/…` on another machine) cannot be
pinned by jobc and stays a string (DESIGN §4).

An expected digest rides in the URL's fragment, as pip writes it:
`https://example.org/words.txt#sha256=<64 hex>` (a fragment is never sent to the server).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from compiler.ir import Link
from compiler.oracles import OracleUnavailable

Kind = Literal["file", "http", "ipfs", "data", "other"]

_DIGEST = re.compile(r"sha256=([0-9a-f]{64})\Z")
_CODECS = {0x55: "raw", 0x70: "dag-pb", 0x71: "dag-cbor", 0x0129: "dag-json"}


class ContentError(Exception):
    """A source names content that cannot be read as asked: an error in the spec."""

    def __init__(self, message: str, hint: str = "", code: str = "content") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class Unpinnable(OracleUnavailable):
    """A source jobc cannot (or was told not to) pin: it stays a string, the job unpinned.

    `warn` says whether the user should hear about it as a warning (offline, so a URL
    was not fetched) or only as a note (an `s3://` bucket, a host path: expected).
    """

    def __init__(self, reason: str, *, warn: bool = False, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.warn = warn
        self.hint = hint


def kind(source: str) -> Kind:
    """What sort of source a normalised source URI is."""
    if source.startswith("file:"):
        return "other" if source.startswith("file://") else "file"
    if source.startswith(("https://", "http://")):
        return "http"
    if source.startswith("ipfs://"):
        return "ipfs"
    if source.startswith("data:"):
        return "data"
    return "other"


def file_path(source: str) -> str:
    """The path of a `file:` source, as written (relative to the spec's folder or absolute).

    Not percent-decoded: normalize makes `file:` URIs of bare paths as written, so a `%`
    in one is a `%` in the file's name.
    """
    return source[len("file:") :]


def ipfs_cid(source: str) -> Link:
    """The CIDv1 an `ipfs://<cid>` source names; raises ContentError if malformed."""
    text = source[len("ipfs://") :]
    cid_text, slash, rest = text.partition("/")
    if not cid_text:
        raise ContentError(
            "the ipfs:// source has no CID", "write ipfs://<CID>, e.g. ipfs://bafy…", "bad-cid"
        )
    try:
        link = Link.parse(cid_text)
    except ValueError as exc:
        raise ContentError(
            f"{cid_text!r} is not a valid CID: {str(exc).removeprefix('not a valid CID: ')}",
            "copy the CID again: CIDv1 (bafy…, bafk…) or CIDv0 (Qm…, 46 characters)",
            "bad-cid",
        ) from None
    if slash and rest.strip("/"):
        raise Unpinnable(
            f"ipfs://{cid_text}/{rest}: a path inside a DAG is not resolved without fetching it",
            hint=f"give the CID of the file itself instead of a path under {cid_text}",
        )
    return link.v1()


def codec_name(link: Link) -> str:
    """The name of a CID's codec (for messages)."""
    raw = link.v1().raw
    code, i = 0, 1
    shift = 0
    while i < len(raw):
        byte = raw[i]
        code |= (byte & 0x7F) << shift
        shift += 7
        i += 1
        if byte < 0x80:
            break
    return _CODECS.get(code, hex(code))


def data_bytes(source: str) -> bytes:
    """The bytes of a `data:` URI (RFC 2397); raises ContentError if malformed."""
    import base64  # here, not at the top: `jobc cid` loads this module for every compile
    import binascii
    import urllib.parse

    header, comma, payload = source[len("data:") :].partition(",")
    if not comma:
        raise ContentError(
            "a data: URI needs a comma before its data",
            "write data:,<percent-encoded text> or data:;base64,<base64>",
            "bad-data-uri",
        )
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(urllib.parse.unquote_to_bytes(payload), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ContentError(
                f"the data: URI's base64 is malformed: {exc}", code="bad-data-uri"
            ) from None
    return urllib.parse.unquote_to_bytes(payload)


def data_cid(source: str) -> Link:
    """The CID `ipfs add` gives the bytes of a `data:` URI; raises ContentError if the
    URI is malformed."""
    from compiler import unixfs  # here: most compiles hash no data: URI

    return Link(unixfs.file_entry(data_bytes(source)).cid)


def text_uri(text: str) -> str:
    """Inline text as a `data:` URI (the form an input's `text` is read in)."""
    import urllib.parse  # here: few specs have inline text

    return "data:," + urllib.parse.quote(text, safe="")


@dataclass(frozen=True, slots=True)
class Url:
    """An http(s) source: where to fetch, and the sha256 the spec expects, if any."""

    fetch: str
    """The URL without its fragment."""
    sha256: str = ""
    """64 lowercase hex digits, or "" when the spec gives none."""


def url(source: str) -> Url:
    """Split an http(s) source into URL and expected digest; ContentError if malformed."""
    where, hash_, fragment = source.partition("#")
    if not hash_ or not fragment.startswith("sha256"):
        return Url(where)
    m = _DIGEST.match(fragment)
    if not m:
        raise ContentError(
            f"malformed expected digest {fragment!r} in the URL",
            "write #sha256=<64 lowercase hex digits> after the URL",
            "bad-digest",
        )
    return Url(where, m.group(1))
