"""Small ASGI helpers: headers, reading a body under a limit, replaying it, answering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
"""Headers that describe one connection, not the message (RFC 9110 §7.6.1): a proxy
never forwards them. Headers named in `Connection` are dropped too (`end_to_end`)."""


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (`name` in lowercase), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def end_to_end(headers: Iterable[tuple[bytes, bytes]], drop: Iterable[bytes] = ()) -> Headers:
    """`headers` without the hop-by-hop ones, those `Connection` names, and `drop`."""
    pairs = [(bytes(k).lower(), bytes(v)) for k, v in headers]
    named = {
        token.strip().lower()
        for key, value in pairs
        if key == b"connection"
        for token in value.split(b",")
    }
    skip = HOP_BY_HOP | named | set(drop)
    return [(k, v) for k, v in pairs if k not in skip]


class TooLarge(Exception):
    """The body is over the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is over {limit} bytes")
        self.limit = limit


class Disconnected(Exception):
    """The client went away before its body was read."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body; raises TooLarge past `limit` bytes (before reading any of
    it when Content-Length says so), Disconnected if the client leaves."""
    length = header(scope, b"content-length")
    if length is not None and length.strip().isdigit() and int(length) > limit:
        raise TooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` as the request's whole body, then the client's own
    messages (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def with_headers(scope: Scope, replace: dict[bytes, bytes], drop: Iterable[bytes] = ()) -> Scope:
    """A copy of `scope` whose request headers have `replace` set and `drop` removed."""
    gone = set(replace) | set(drop)
    headers = [(k, v) for k, v in scope["headers"] if k not in gone]
    headers.extend(replace.items())
    return {**scope, "headers": headers}


async def answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a whole response."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
