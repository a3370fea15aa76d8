"""The gateway's own API under `/jobc/v1/`, and `/metrics` (OpenAPI: `compiler.gateway.openapi`).

Routes are Starlette's (path parameters, HEAD for GET); what does not match is a
problem+json `404`, a known path with another method a `405` with `Allow`. Admin
actions need `Authorization: Bearer <token>` with the token the gateway was given, and
are off (`403`) when it was given none.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from compiler.diagnostics import SpecError
from compiler.gateway import openapi
from compiler.gateway.asgi import Receive, Scope, Send
from compiler.gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from compiler.gateway.problems import KINDS, TYPE_PREFIX, Problem

if TYPE_CHECKING:
    from compiler.driver import Compiled
    from compiler.gateway.middleware import Exchange, Gateway
    from compiler.ir import Link

Handler = Callable[[Request, "Exchange"], Awaitable[Response]]

_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (orjson: links and bytes are already in DAG-JSON form)."""
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def version() -> str:
    """jobc's version, as installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("jobc")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "0+unknown"


class Api:
    """The routes of one gateway's own API."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.routes = [
            Route("/jobc/v1/health", self.health, methods=["GET"]),
            Route("/jobc/v1/compile", self.compile, methods=["POST"]),
            Route("/jobc/v1/openapi.json", self.openapi, methods=["GET"]),
            Route("/jobc/v1/problems/{kind}", self.problem_type, methods=["GET"]),
            Route("/jobc/v1/jobs/{cid}", self.job, methods=["GET"]),
            Route("/jobc/v1/find", self.find, methods=["GET"]),
            Route("/jobc/v1/admin/cache/purge", self.purge_cache, methods=["POST"]),
            Route("/jobc/v1/admin/disown", self.disown, methods=["POST"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, exchange: Exchange
    ) -> None:
        """Answer a request to the gateway's own API (raises Problem for errors)."""
        allowed: set[str] = set()
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope = {**scope, **child}
                handler: Handler = route.endpoint
                response = await handler(Request(scope, receive), exchange)
                await response(scope, receive, send)
                return
            if match is Match.PARTIAL and route.methods:
                allowed |= route.methods
        if allowed:
            raise Problem(
                "method-not-allowed",
                f"{scope['path']} takes {', '.join(sorted(allowed))}, not {scope['method']}",
                headers={"allow": ", ".join(sorted(allowed))},
            )
        raise Problem("not-found", f"the gateway has nothing at {scope['path']}")

    # --- routes ----------------------------------------------------------------------------

    async def health(self, request: Request, exchange: Exchange) -> Response:
        """The gateway's state: ok when its store answers."""
        config = self.gateway.config
        body: dict[str, Any] = {
            "status": "ok",
            "version": version(),
            "upstream": config.upstream or None,
            "memo": config.memo,
        }
        try:
            await anyio.to_thread.run_sync(self._touch_store)
        except Exception as exc:
            body["status"] = "failing"
            body["store"] = f"{type(exc).__name__}: {exc}"
            return json_response(body, 503)
        body["store"] = "ok"
        return json_response(body)

    def _touch_store(self) -> None:
        self.gateway.compiler.store.cache_get("health", "")

    async def compile(self, request: Request, exchange: Exchange) -> Response:
        """Compile the posted document with the gateway's policy."""
        from compiler.emitters.compiled import to_document

        raw = await self.gateway.read(request.scope, request.receive)
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        syntax = "yaml" if media in _YAML_TYPES else "json" if media.endswith("json") else None
        compiled = await self.gateway.compile(raw, "<request>", exchange, syntax=syntax)
        result = {
            "cid": str(compiled.cid),
            "original": str(compiled.original),
            "format": compiled.format,
            "pinned": compiled.pinned,
            "compiled": to_document(compiled),
            "diagnostics": [d.to_json() for d in compiled.diagnostics],
        }
        headers = {"x-jobc-cid": exchange.cid, "x-jobc-original": exchange.original}
        return json_response(result, headers=headers)

    async def job(self, request: Request, exchange: Exchange) -> Response:
        """The chains through a CID (any CID on them), the receipts of the final jobs they
        lead to, and the foreign names (aliases) of those jobs."""
        from compiler.store.queries import QueryError, parse_cid

        try:
            cid = parse_cid(request.path_params["cid"])
        except QueryError as exc:
            raise Problem("bad-request", exc.message, hint=exc.hint) from None
        try:
            body = await anyio.to_thread.run_sync(self._job, cid)
        except QueryError as exc:
            raise Problem("not-found", exc.message, hint=exc.hint) from None
        return json_response(body)

    def _job(self, cid: Link) -> dict[str, Any]:
        from compiler.store.queries import trace

        store = self.gateway.compiler.store
        found = trace(store, cid)
        trusted = self.gateway.compiler.trusted_nodes()
        body = found.to_json()
        body["receipts"] = {
            str(final): [
                {
                    "cid": str(r.cid),
                    "node": r.node,
                    "exit": r.exit,
                    "outputs": {path: str(c) for path, c in r.outputs.items()},
                    "trusted": r.node in trusted,
                }
                for r in store.receipts(final)
            ]
            for final in found.finals
        }
        body["aliases"] = [
            {"namespace": ns, "name": name, "job": str(job)}
            for ns, name, job in store.aliases_among(found.finals)
        ]
        return body

    async def find(self, request: Request, exchange: Exchange) -> Response:
        """The final jobs a spec (any format jobc reads) led to, here or wherever its chain
        was stored, with their receipts: the spec is compiled offline, with the gateway's
        policy and caches."""
        spec = request.query_params.get("spec")
        if not spec:
            raise Problem(
                "bad-request",
                "find needs the spec: ?spec=<the document, URL-encoded>",
                hint="any format jobc reads: a jobspec, a Bacalhau job, …",
            )
        raw = spec.encode()
        if len(raw) > self.gateway.config.max_body:
            raise Problem(
                "body-too-large",
                f"the spec is over the gateway's limit of {self.gateway.config.max_body} bytes",
            )
        compiler = self.gateway.compiler
        try:
            compiled = await anyio.to_thread.run_sync(
                functools.partial(compiler.compile_now, raw, "<spec>", None, offline=True)
            )
        except SpecError as exc:
            raise compiler.invalid(exc) from None
        exchange.cid, exchange.original = str(compiled.cid), str(compiled.original)
        result = await anyio.to_thread.run_sync(self._find, compiled)
        return json_response(result)

    def _find(self, compiled: Compiled) -> dict[str, Any]:
        from compiler.store.queries import find_compiled

        compiler = self.gateway.compiler
        found = find_compiled(compiler.store, compiled, trusted=compiler.trusted_nodes())
        return found.to_json()

    async def openapi(self, request: Request, exchange: Exchange) -> Response:
        """The OpenAPI document of this API."""
        return json_response(openapi.document(version()))

    async def problem_type(self, request: Request, exchange: Exchange) -> Response:
        """What a problem type means (its `type` URI leads here)."""
        kind = KINDS.get(request.path_params["kind"])
        if kind is None:
            raise Problem("not-found", f"no problem type {request.path_params['kind']!r}")
        return json_response(
            {
                "type": TYPE_PREFIX + kind.name,
                "title": kind.title,
                "status": kind.status,
                "description": kind.description,
            }
        )

    async def purge_cache(self, request: Request, exchange: Exchange) -> Response:
        """Admin: empty a cache of the store (all of them without `namespace`)."""
        self.authorize(request)
        namespace = request.query_params.get("namespace") or None
        compiler = self.gateway.compiler
        purged = await anyio.to_thread.run_sync(compiler.store.cache_purge, namespace)
        # Compiles kept for reuse hold what the store's caches said: they go too.
        forgotten = compiler.reused.clear()
        return json_response({"purged": purged, "namespace": namespace, "compiles": forgotten})

    async def disown(self, request: Request, exchange: Exchange) -> Response:
        """Admin: stop following the records a pass version made (`jobc disown`)."""
        from compiler.store import queries

        self.authorize(request)
        which = request.query_params.get("pass", "")
        reason = request.query_params.get("reason", "")
        try:
            queries.parse_pass_version(which)
        except queries.QueryError as exc:
            raise Problem("bad-request", exc.message, hint=exc.hint) from None
        compiler = self.gateway.compiler
        result = await anyio.to_thread.run_sync(queries.disown, compiler.store, which, reason)
        compiler.reused.clear()  # kept compiles may have been made by that pass version
        return json_response(result.to_json())

    async def metrics(self, request: Request, exchange: Exchange) -> Response:
        """The metrics, in Prometheus' text format."""
        return Response(
            self.gateway.metrics.render(), headers={"content-type": METRICS_CONTENT_TYPE}
        )

    def authorize(self, request: Request) -> None:
        """Let an admin action through, or raise the problem that says why not."""
        token = self.gateway.config.admin_token
        if not token:
            raise Problem(
                "admin-disabled",
                "admin actions are off: the gateway was started without an admin token",
                hint="start it with --admin-token-file FILE (or JOBC_ADMIN_TOKEN)",
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise Problem(
                "unauthorized",
                "this admin action needs the gateway's bearer token",
                headers={"www-authenticate": 'Bearer realm="jobc-gateway"'},
            )
