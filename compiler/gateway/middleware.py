"""The gateway as ASGI middleware: it compiles job submissions on their way to the app.

`Gateway(app, config)` wraps any ASGI app. What it does with a request:
- `PUT`/`POST /api/v1/orchestrator/jobs` (Bacalhau's job submission, body `{"Job": …}`):
  reads the body (up to `max_body`), compiles it with the gateway's policy, rewrites the
  job (image pinned to its digest, the CIDs in `Meta`), and hands that to the app; the
  app's answer goes back as it came, with `X-Jobc-Cid` and `X-Jobc-Original`. A body
  that does not compile is a `400` problem and the app never sees it.
- `/jobc/v1/…` and `/metrics`: the gateway's own API (`compiler.gateway.api`).
- anything else: straight to the app, untouched.

Behind `jobc gateway`, the app is a `ReverseProxy` to the orchestrator; inside a
Starlette or FastAPI application, it is that application. Every request is logged as
one JSON line on the `jobc.gateway` logger and counted in the metrics.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import orjson

from compiler.gateway import rewrite
from compiler.gateway.asgi import (
    ASGIApp,
    Disconnected,
    Message,
    Receive,
    Scope,
    Send,
    TooLarge,
    answer,
    header,
    read_body,
    replay,
    with_headers,
)
from compiler.gateway.compiling import GatewayCompiler
from compiler.gateway.config import GatewayConfig
from compiler.gateway.metrics import Metrics
from compiler.gateway.problems import MEDIA_TYPE, Problem

if TYPE_CHECKING:
    from compiler.driver import Compiled
    from compiler.store import Store

log = logging.getLogger("jobc.gateway")

SUBMIT_PATH = "/api/v1/orchestrator/jobs"
SUBMIT_METHODS = frozenset({"PUT", "POST"})
"""Bacalhau routes both methods of this path to its job submission (`putJob`)."""
API_PREFIX = "/jobc/"
METRICS_PATH = "/metrics"
ALIAS_NAMESPACE = "bacalhau"
"""The store's alias namespace for the job IDs a Bacalhau orchestrator gives."""
MAX_ANSWER_READ = 64 << 10
"""The longest answer to a submission held back for its job ID (they are ~100 bytes)."""

H_CID = b"x-jobc-cid"
H_ORIGINAL = b"x-jobc-original"


@dataclass
class Exchange:
    """One request as the log line tells it."""

    method: str
    path: str
    route: str
    started: float = field(default_factory=time.perf_counter)
    status: int = 0
    bytes_out: int = 0
    cid: str = ""
    original: str = ""
    memo: str = ""
    compile_ms: float | None = None
    upstream_ms: float | None = None
    store_ms: float | None = None
    problem: str = ""
    job_id: str = ""

    def line(self) -> str:
        """The log line: JSON, the fields that have a value."""
        record: dict[str, Any] = {
            "event": "request",
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "status": self.status,
            "ms": round((time.perf_counter() - self.started) * 1000, 3),
            "bytes_out": self.bytes_out,
        }
        for key in ("cid", "original", "memo", "problem", "job_id"):
            value = getattr(self, key)
            if value:
                record[key] = value
        if self.compile_ms is not None:
            record["compile_ms"] = round(self.compile_ms, 3)
        if self.upstream_ms is not None:
            record["upstream_ms"] = round(self.upstream_ms, 3)
        if self.store_ms is not None:
            record["store_ms"] = round(self.store_ms, 3)
        return orjson.dumps(record).decode()


class Gateway:
    """ASGI middleware that compiles, pins and stamps Bacalhau job submissions."""

    def __init__(
        self,
        app: ASGIApp | None = None,
        config: GatewayConfig | None = None,
        *,
        store: Store | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        from compiler.gateway.api import Api

        self.app = app
        self.config = config if config is not None else GatewayConfig()
        self.metrics = metrics if metrics is not None else Metrics()
        self.compiler = GatewayCompiler(self.config, self.metrics, store)
        self.api = Api(self)

    # --- dispatch -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            if self.app is not None:
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": "no app"})
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path == SUBMIT_PATH and method in SUBMIT_METHODS:
            route = "submit"
        elif path.startswith(API_PREFIX) or path == METRICS_PATH:
            route = "compile" if path == "/jobc/v1/compile" else "api"
            route = "metrics" if path == METRICS_PATH else route
        else:
            route = "proxy"
        exchange = Exchange(method, path, route)
        observed = self._observe(send, exchange)
        try:
            if route == "submit":
                await self._submit(scope, receive, observed, exchange)
            elif route == "proxy":
                await self.forward(scope, receive, observed, exchange)
            else:
                await self.api(scope, receive, observed, exchange)
        except Problem as problem:
            await self.problem(observed, problem, scope, exchange)
        except Exception as exc:
            if exchange.status:  # the answer has started: only cutting it is left
                raise
            log.error("jobc gateway: %s %s failed with a bug", method, path, exc_info=exc)
            bug = Problem("internal-error", f"{type(exc).__name__}: {exc}")
            await self.problem(observed, bug, scope, exchange)
        finally:
            self.metrics.requests.labels(route, method, str(exchange.status)).inc()
            if self.config.log_requests and log.isEnabledFor(logging.INFO):
                log.info("%s", exchange.line())

    def _observe(self, send: Send, exchange: Exchange) -> Send:
        """`send`, noting the status and size of the answer for the log and metrics."""

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = int(message["status"])
            elif message["type"] == "http.response.body":
                exchange.bytes_out += len(message.get("body", b""))
            await send(message)

        return observed

    async def problem(
        self, send: Send, problem: Problem, scope: Scope, exchange: Exchange | None = None
    ) -> None:
        """Answer with a problem document (unless an answer has already started)."""
        if exchange is not None:
            if exchange.status:  # too late to answer: the connection is cut instead
                raise RuntimeError(f"{problem.kind} after the answer started: {problem.detail}")
            exchange.problem = problem.kind
        extra = [(k.encode(), v.encode()) for k, v in problem.headers.items()]
        if exchange is not None and exchange.cid:
            extra += [(H_CID, exchange.cid.encode()), (H_ORIGINAL, exchange.original.encode())]
        await answer(
            send, problem.status, problem.body(scope.get("path", "")), MEDIA_TYPE.encode(), extra
        )

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the server's lifespan to the app; close the store when it shuts down."""

        async def watched() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await anyio.to_thread.run_sync(self.compiler.close)
            return message

        if self.app is not None:
            await self.app(scope, watched, send)
            return
        while True:
            message = await watched()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def forward(self, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        """Hand the request to the app behind the gateway (the upstream)."""
        if self.app is None:
            raise Problem("no-upstream", "this gateway has no upstream to forward to")
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start" and exchange.upstream_ms is None:
                exchange.upstream_ms = (time.perf_counter() - started) * 1000
            await send(message)

        await self.app(scope, receive, timed)

    async def read(self, scope: Scope, receive: Receive) -> bytes:
        """The request body, within `max_body`; a Problem when it cannot be had."""
        encoding = header(scope, b"content-encoding")
        if encoding is not None and encoding.strip().lower() not in (b"", b"identity"):
            raise Problem(
                "unsupported-encoding",
                f"the body is sent with Content-Encoding {encoding.decode('latin-1')!r}",
                hint="send it uncompressed",
            )
        try:
            return await read_body(scope, receive, self.config.max_body)
        except TooLarge as exc:
            raise Problem(
                "body-too-large",
                f"the body is over the gateway's limit of {exc.limit} bytes",
                hint="a job spec is small: are inputs inlined? put them in IPFS and "
                "name their CIDs",
                extra={"limit": exc.limit},
            ) from None
        except Disconnected:
            raise Problem("bad-request", "the client went away before sending its body") from None

    async def compile(self, raw: bytes, name: str, exchange: Exchange, **kw: Any) -> Compiled:
        """Compile `raw` with the gateway's policy, noting the time and CIDs for the log."""
        started = time.perf_counter()
        try:
            compiled = await self.compiler.compile(raw, name, **kw)
        finally:
            exchange.compile_ms = (time.perf_counter() - started) * 1000
        exchange.cid = str(compiled.cid)
        exchange.original = str(compiled.original)
        return compiled

    # --- submissions ------------------------------------------------------------------------

    async def _submit(self, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        raw = await self.read(scope, receive)
        compiled = await self.compile(raw, "<submission>", exchange, syntax="json")
        body = forwarded_body(raw, compiled)
        # The memo lookup (a trusted receipt answers without forwarding) comes with the
        # receipts of the runtime; until then every submission is forwarded, and the log
        # line has no `memo` field.
        stamp = [(H_CID, exchange.cid.encode()), (H_ORIGINAL, exchange.original.encode())]
        seen = Answer()

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", ()), *stamp]}
            elif message["type"] == "http.response.body" and seen.accepted:
                # An accepted job's answer (~100 bytes) is held back until the gateway
                # has recorded what it learned: a client that asks about the job as soon
                # as it has the answer finds it. A longer answer passes as it comes.
                more = bool(message.get("more_body", False))
                if seen.hold(message.get("body", b"")) and more:
                    return
                if not more:
                    await self._record(compiled, seen.job_id(), exchange)
                message = {"type": "http.response.body", "body": seen.release(), "more_body": more}
            await send(message)

        forwarded = with_headers(
            scope,
            {b"content-length": str(len(body)).encode()},
            drop=(b"transfer-encoding", b"content-encoding"),
        )
        await self.forward(forwarded, replay(body, receive), stamped, exchange)

    async def _record(self, compiled: Compiled, job_id: str, exchange: Exchange) -> None:
        """Keep what the upstream accepted, all or nothing: the compile's chain (document,
        jobs, records, its final CID) and the upstream's job ID as an alias of the job
        CID. The upstream has the job whatever happens here: a failure is logged, and the
        client still gets the upstream's answer."""
        exchange.job_id = job_id
        started = time.perf_counter()
        try:
            await anyio.to_thread.run_sync(self._store_accepted, compiled, job_id)
        except Exception:
            log.exception("jobc gateway: cannot store %s (job %s)", compiled.cid, job_id)
        finally:
            exchange.store_ms = (time.perf_counter() - started) * 1000

    def _store_accepted(self, compiled: Compiled, job_id: str) -> None:
        from compiler.store.ingest import store_compiled

        store = self.compiler.store
        with store.transaction():
            store_compiled(store, compiled)
            if job_id:
                store.put_alias(ALIAS_NAMESPACE, job_id, compiled.cid)

    async def aclose(self) -> None:
        """Close what the gateway opened (for hosts that run no lifespan)."""
        await anyio.to_thread.run_sync(self.compiler.close)


class Answer:
    """What the gateway needs of the upstream's answer to a submission: its status and
    body (for the job ID), held back while it is small. The answer passes on unchanged."""

    def __init__(self) -> None:
        self.status = 0
        self._held: list[bytes] = []
        self._size = 0
        self._passing = False

    @property
    def accepted(self) -> bool:
        """Whether the upstream took the job (a 2xx status)."""
        return 200 <= self.status < 300

    def hold(self, chunk: bytes) -> bool:
        """Keep `chunk`; False once the body is too long to hold (it passes on then)."""
        if not self._passing:
            self._size += len(chunk)
            self._passing = self._size > MAX_ANSWER_READ
        self._held.append(chunk)
        return not self._passing

    def release(self) -> bytes:
        """What was held, to send on now."""
        out = b"".join(self._held)
        self._held.clear()
        return out

    def job_id(self) -> str:
        """The `JobID` of a Bacalhau `PutJobResponse` held, or "" when there is none (or
        the answer was too long to hold)."""
        if self._passing:
            return ""
        try:
            data = orjson.loads(b"".join(self._held))
        except orjson.JSONDecodeError:
            return ""
        if not isinstance(data, dict):
            return ""
        key = rewrite.find_key(data, "JobID")
        value = data.get(key) if key is not None else None
        return value if isinstance(value, str) else ""


def forwarded_body(raw: bytes, compiled: Compiled) -> bytes:
    """The submission to forward for `raw`, compiled as `compiled`; a Problem if it is
    not a Bacalhau job submission."""
    if not compiled.format.startswith("bacalhau"):
        raise Problem(
            "not-a-submission",
            f"this endpoint takes Bacalhau jobs; the body is a {compiled.format} document",
            hint="POST it to /jobc/v1/compile, or write it as a Bacalhau job",
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:  # an integer beyond 64 bits: jobc's reader takes it
        data = json.loads(raw)
    try:
        new = rewrite.rewrite_submission(data, compiled)
    except rewrite.RewriteError as exc:
        raise Problem("not-a-submission", f"cannot rewrite the job: {exc}") from None
    try:
        return orjson.dumps(new)
    except TypeError:
        return json.dumps(new, ensure_ascii=False, separators=(",", ":")).encode()
