"""The gateway's configuration: its policy for compiling, its limits, and its upstream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MemoMode = Literal["on", "off", "header-only"]

KiB = 1 << 10
MiB = 1 << 20


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """Everything a gateway is told: one immutable value, shared by every request.

    The compile policy (what a submitted job is compiled with) is the gateway's alone: a
    client cannot widen it (no request option reads files, fetches URLs or lowers code).
    """

    upstream: str = ""
    """The orchestrator's base URL (`http://127.0.0.1:1234`); empty when the gateway runs
    as middleware in front of an ASGI app instead of a reverse proxy."""
    store: str | None = None
    """The store for caches, chains, receipts and aliases: None for the default SQLite
    file in the data dir, a SQLite path, or a `postgresql://` URL (shared by replicas)."""

    # --- compile policy ---------------------------------------------------------------
    strict: bool = False
    """Unknown fields in a submitted job are errors, not warnings."""
    require_pinned: bool = False
    """An image that cannot be pinned is an error (the submission is refused)."""
    skip_passes: frozenset[str] = frozenset({"lower"})
    """Passes the gateway never runs: lowering (running a compiler on a client's source)
    is off by default (`--no-lower`); a pass named here that does not exist is ignored."""
    offline: bool = False
    """Ask no registry: images resolve from the cache only."""
    fetch_urls: bool = False
    """Download `http(s)://` inputs to hash them. Off by default: a gateway that fetches
    what clients name can be made to reach its own private network (SSRF)."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Settings of the live oracles (`registries_conf`, `authfile`, `insecure_registries`,
    `registry_timeout`, `max_download`, …), as `CompileOptions.settings`."""
    memo: MemoMode = "on"
    """On a trusted receipt: answer without forwarding (`on`), only say so in a header
    (`header-only`), or never look (`off`)."""

    # --- limits -------------------------------------------------------------------------
    max_body: int = 1 * MiB
    """The largest submission or compile body read (pass-through bodies are streamed and
    not limited here)."""
    compile_timeout: float = 20.0
    """Seconds one request's compile may take, waiting for a slot included."""
    max_compiles: int = 4
    """Compiles running at once; more wait in line (within their time budget)."""
    upstream_timeout: float = 60.0
    """Seconds to wait for the upstream to start answering."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection to the upstream."""
    max_upstream_connections: int = 100
    """Connections kept to the upstream (a pool, reused across requests)."""

    # --- operations ---------------------------------------------------------------------
    admin_token: str = field(default="", repr=False)
    """The bearer token admin actions need; empty: admin actions are off."""
    log_requests: bool = True
    """Write one structured (JSON) log line per request on the `jobc.gateway` logger."""

    def __post_init__(self) -> None:
        if self.memo not in ("on", "off", "header-only"):
            raise ValueError(f"memo must be on, off or header-only, not {self.memo!r}")
        for name in ("max_body", "max_compiles", "max_upstream_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("compile_timeout", "upstream_timeout", "connect_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
