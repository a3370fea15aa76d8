"""A streaming reverse proxy as an ASGI app: every request goes to the upstream as it came.

Method, path (as the client encoded it), query and body pass through untouched; headers
too, except the hop-by-hop ones (RFC 9110 §7.6.1) and `Host`, which becomes the
upstream's (as nginx's `proxy_pass` does), with `X-Forwarded-For`, `-Proto` and `-Host`
saying who asked. Bodies stream both ways (nothing is buffered), the upstream's answer
comes back with its status, headers and bytes as sent (compressed stays compressed).
Connections to the upstream are pooled (httpx) and reused across requests.

A connection the upstream refuses or breaks is a `502`; an upstream slower than its
timeout a `504`; both as problem+json. A failure after the answer has started can only
cut the connection, which tells the client the answer is incomplete.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx

from compiler.gateway.asgi import Message, Receive, Scope, Send, answer, end_to_end, header
from compiler.gateway.problems import MEDIA_TYPE, Problem

if TYPE_CHECKING:
    from compiler.gateway.metrics import Metrics


class ReverseProxy:
    """Forwards every HTTP request to `upstream`; the app behind a gateway that is a proxy."""

    def __init__(
        self,
        upstream: str,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_connections: int = 100,
        metrics: Metrics | None = None,
    ) -> None:
        url = httpx.URL(upstream)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"the upstream must be an http:// or https:// URL, not {upstream!r}")
        self.upstream = url
        self._prefix = url.raw_path.rstrip(b"/")
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout)
        self.limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self.metrics = metrics
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The pooled client, made on first use (inside the server's event loop)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, limits=self.limits, follow_redirects=False
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            # WebSocket (Bacalhau's log streaming) is not proxied: refuse it cleanly.
            await send({"type": "websocket.close", "code": 1008, "reason": "not proxied"})
            return
        try:
            await self.forward(scope, receive, send)
        except Problem as problem:
            await answer(
                send,
                problem.status,
                problem.body(scope.get("path", "")),
                MEDIA_TYPE.encode(),
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def request(self, scope: Scope, receive: Receive) -> httpx.Request:
        """The request to send upstream for the one in `scope`."""
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = self._prefix + raw_path + (b"?" + query if query else b"")
        url = self.upstream.copy_with(raw_path=target)
        headers = end_to_end(scope["headers"], drop=(b"host",))
        client = scope.get("client")
        if client:
            forwarded = header(scope, b"x-forwarded-for")
            address = client[0].encode()
            headers = [(k, v) for k, v in headers if k != b"x-forwarded-for"]
            headers.append(
                (b"x-forwarded-for", forwarded + b", " + address if forwarded else address)
            )
        host = header(scope, b"host")
        if host is not None and header(scope, b"x-forwarded-host") is None:
            headers.append((b"x-forwarded-host", host))
        if header(scope, b"x-forwarded-proto") is None:
            headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        has_body = (
            header(scope, b"content-length") not in (None, b"0")
            or header(scope, b"transfer-encoding") is not None
        )
        return self.client.build_request(
            scope["method"],
            url,
            headers=headers,
            content=_body(receive) if has_body else None,
        )

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the request upstream and stream its answer back."""
        request = self.request(scope, receive)
        started = time.perf_counter()
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            self._failed("timeout")
            raise Problem(
                "upstream-timeout",
                f"the upstream {self.upstream} did not answer within "
                f"{_which_timeout(exc, self.timeout):g} s",
            ) from None
        except httpx.TransportError as exc:
            self._failed("unreachable")
            raise Problem(
                "upstream-unreachable",
                f"cannot reach the upstream {self.upstream}: {_reason(exc)}",
                hint="is the orchestrator running, and is `--upstream` its address?",
            ) from None
        if self.metrics is not None:
            self.metrics.upstream_seconds.observe(time.perf_counter() - started)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": end_to_end(response.headers.raw),
                }
            )
            async for chunk in response.aiter_raw():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    def _failed(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.upstream_failures.labels(reason).inc()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives."""
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _reason(exc: httpx.TransportError) -> str:
    """Why a connection failed, in a few words (httpx's message, or its cause's)."""
    text = str(exc) or str(exc.__cause__ or "") or type(exc).__name__
    return text.rstrip(".")


def _which_timeout(exc: httpx.TimeoutException, timeout: httpx.Timeout) -> float:
    if isinstance(exc, httpx.ConnectTimeout):
        return timeout.connect or 0.0
    if isinstance(exc, httpx.PoolTimeout):
        return timeout.pool or 0.0
    if isinstance(exc, httpx.WriteTimeout):
        return timeout.write or 0.0
    return timeout.read or 0.0
