"""The jobc gateway: compiles, pins and stamps jobs on their way to a Bacalhau orchestrator.

- `Gateway` (`middleware.py`): the pure ASGI middleware. It wraps any ASGI app (the
  orchestrator's own, a Starlette or FastAPI app, or `ReverseProxy`), intercepts job
  submissions and serves jobc's own API under `/jobc/v1/` and `/metrics`.
- `ReverseProxy` (`proxy.py`): forwards every request to an upstream URL, streaming.
- `serve` (`server.py`): both under uvicorn: `jobc gateway --upstream URL`.

docs/gateway.md describes the behaviour, the API and the operations side.
"""

from __future__ import annotations

from compiler.gateway.config import GatewayConfig
from compiler.gateway.middleware import Gateway
from compiler.gateway.proxy import ReverseProxy

__all__ = ["Gateway", "GatewayConfig", "ReverseProxy"]
