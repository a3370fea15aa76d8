"""`jobc gateway`: the middleware in front of a reverse proxy, served by uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
from typing import Any

from compiler.gateway.config import GatewayConfig
from compiler.gateway.metrics import Metrics
from compiler.gateway.middleware import Gateway
from compiler.gateway.proxy import ReverseProxy


def build(config: GatewayConfig) -> Gateway:
    """The gateway app for `config`: a reverse proxy to `config.upstream` behind the
    middleware (no app behind it when there is no upstream: the own API alone)."""
    metrics = Metrics()
    proxy = (
        ReverseProxy(
            config.upstream,
            timeout=config.upstream_timeout,
            connect_timeout=config.connect_timeout,
            max_connections=config.max_upstream_connections,
            metrics=metrics,
        )
        if config.upstream
        else None
    )
    return Gateway(proxy, config, metrics=metrics)


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`127.0.0.1:8080`, `[::1]:8080`, `:8080` for 127.0.0.1) → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    host = host or "127.0.0.1"
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        ipaddress.IPv6Address(host)  # raises ValueError when it is not one
    return host, int(port)


def log_to_stderr(level: str) -> None:
    """Request lines (JSON) of the `jobc.gateway` logger on stderr, one per line."""
    logger = logging.getLogger("jobc.gateway")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def uvicorn_config(
    app: Any, host: str, port: int, *, max_connections: int | None = None, log_level: str = "info"
) -> Any:
    """The uvicorn configuration jobc serves a gateway with."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level=log_level,
        access_log=False,  # the gateway logs every request itself, with CIDs and timings
        server_header=False,  # the upstream's own Server and Date headers pass through
        date_header=False,
        proxy_headers=False,  # the gateway is the edge: X-Forwarded-* from clients are data
        limit_concurrency=max_connections,
        timeout_graceful_shutdown=10,
    )


def serve(
    config: GatewayConfig,
    host: str,
    port: int,
    *,
    max_connections: int | None = None,
    log_level: str = "info",
) -> None:
    """Run the gateway until interrupted."""
    import uvicorn

    log_to_stderr(log_level)
    server = uvicorn.Server(
        uvicorn_config(
            build(config), host, port, max_connections=max_connections, log_level=log_level
        )
    )
    # uvicorn handles SIGINT and SIGTERM while it runs (a graceful shutdown), then raises
    # the signal again with the handlers it found: a stop asked for is no failure.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    server.run()
