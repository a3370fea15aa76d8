"""The gateway as ASGI middleware: it compiles job submissions on their way to the app.

`Gateway(app, config)` wraps any ASGI app. What it does with a request:
- `PUT`/`POST /api/v1/orchestrator/jobs` (Bacalhau's job submission, body `{"Job": …}`):
  reads the body (up to `max_body`), compiles it with the gateway's policy, rewrites the
  job (image pinned to its digest, the CIDs in `Meta`), and hands that to the app; the
  app's answer goes back as it came, with `X-Jobc-Cid` and `X-Jobc-Original`. A body
  that does not compile is a `400` problem and the app never sees it.
  A job of an older Bacalhau era is migrated to the Job API first. A `strict` or
  `unordered` job with a trusted receipt is answered from it (`compiler.gateway.memo`)
  and never reaches the app.
- `POST /api/v1/requester/submit` (the signed submission before the Job API): compiled,
  and forwarded unchanged (the signature covers it) with the CID headers.
- `/jobc/v1/…` and `/metrics`: the gateway's own API (`compiler.gateway.api`).
- anything else: straight to the app, untouched.

Behind `jobc gateway`, the app is a `ReverseProxy` to the orchestrator; inside a
Starlette or FastAPI application, it is that application. Every request is logged as
one JSON line on the `jobc.gateway` logger and counted in the metrics.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
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
from compiler.gateway.committer import GroupCommitter
from compiler.gateway.compiling import GatewayCompiler
from compiler.gateway.config import GatewayConfig
from compiler.gateway.memo import HIT, MISS, Hit, Memo, answer_body
from compiler.gateway.metrics import Metrics
from compiler.gateway.problems import MEDIA_TYPE, Problem, describe

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic
    from compiler.driver import Compiled
    from compiler.ir import Link
    from compiler.store import Store

log = logging.getLogger("jobc.gateway")

SUBMIT_PATH = "/api/v1/orchestrator/jobs"
SUBMIT_METHODS = frozenset({"PUT", "POST"})
"""Bacalhau routes both methods of this path to its job submission (`putJob`)."""
SIGNED_SUBMIT_PATHS = frozenset({"/api/v1/requester/submit", "/requester/submit"})
"""The signed submission of Bacalhau before the Job API (`POST`; v0.x, to 2024)."""
PAYLOAD_KEYS = ("payload", "data", "job_create_payload")
"""Where a signed submission keeps the job, by era (Go's decoder: any case)."""
JOB_API_FORMATS = frozenset({"bacalhau/job", "bacalhau/job-2023"})
"""Formats forwarded as written (pinned, stamped); other Bacalhau eras are migrated."""
API_PREFIX = "/jobc/"
METRICS_PATH = "/metrics"
ALIAS_NAMESPACE = "bacalhau"
"""The store's alias namespace for the job IDs a Bacalhau orchestrator gives."""
MAX_ANSWER_READ = 64 << 10
"""The longest answer to a submission held back for its job ID (they are ~100 bytes)."""

H_CID = b"x-jobc-cid"
H_ORIGINAL = b"x-jobc-original"
H_MEMO = b"x-jobc-memo"
H_RECEIPT = b"x-jobc-receipt"


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
        self.memo = Memo(lambda: self.compiler.store, self.compiler.trusted_nodes)
        self.committer = GroupCommitter(
            lambda: self.compiler.store, inline=self.compiler.inline_store
        )
        self._chains = StoredChains()
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
        elif path in SIGNED_SUBMIT_PATHS and method == "POST":
            route = "submit-signed"
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
            elif route == "submit-signed":
                await self._submit_signed(scope, receive, observed, exchange)
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
        stamp = [(H_CID, exchange.cid.encode()), (H_ORIGINAL, exchange.original.encode())]
        body = forwarded_body(raw, compiled)  # refuses what is no Bacalhau job first
        hit = self._memo(compiled, exchange, stamp)
        if hit is not None and self.config.memo == "on":
            await self._answer_from_memo(send, compiled, hit, exchange, stamp)
            return
        forwarded = with_headers(
            scope,
            {b"content-length": str(len(body)).encode()},
            drop=(b"transfer-encoding", b"content-encoding"),
        )
        await self._forward_submission(
            forwarded, replay(body, receive), send, compiled, exchange, stamp, Answer.job_id
        )

    async def _submit_signed(
        self, scope: Scope, receive: Receive, send: Send, exchange: Exchange
    ) -> None:
        """`POST /api/v1/requester/submit`, the signed submission of Bacalhau before the
        Job API: `{"payload": {job}, "client_public_key", "signature"}`. The orchestrator
        checks the signature over the payload's bytes, so the gateway cannot rewrite the
        job: it compiles the payload (a job that does not compile is refused as on the
        Job API), forwards the body unchanged with the CIDs in headers, and stores the
        chain when the orchestrator accepts it. A memo hit is only said in a header: a
        client of this API waits for its job as the orchestrator echoes it."""
        raw = await self.read(scope, receive)
        payload = signed_payload(raw)
        try:
            compiled = await self.compile(payload.raw, "<submission>", exchange, syntax="json")
        except Problem as problem:
            raise payload.place(problem) from None
        if not compiled.format.startswith("bacalhau"):
            raise Problem(
                "not-a-submission",
                f"the signed payload is a {compiled.format} document, not a Bacalhau job",
            )
        stamp = [(H_CID, exchange.cid.encode()), (H_ORIGINAL, exchange.original.encode())]
        self._memo(compiled, exchange, stamp, answers=False)
        await self._forward_submission(
            scope, replay(raw, receive), send, compiled, exchange, stamp, Answer.legacy_job_id
        )

    def _memo(
        self,
        compiled: Compiled,
        exchange: Exchange,
        stamp: list[tuple[bytes, bytes]],
        *,
        answers: bool = True,
    ) -> Hit | None:
        """Look for a trusted receipt of the job (unless memo is off); note the result
        in the log, the metrics and (when looked up) the `X-Jobc-Memo` header. The hit,
        or None. `answers`: whether a hit may answer (else it is only said)."""
        if self.config.memo == "off":
            return None
        try:
            result, hit = self.memo.lookup(compiled)
        except Exception:  # the store failing: the orchestrator can still run the job
            log.exception("jobc gateway: memo lookup of %s failed", compiled.cid)
            result, hit = "error", None
        exchange.memo = result
        self.metrics.memo.labels(result).inc()
        if result in (HIT, MISS) and (
            self.config.memo == "header-only" or not answers or hit is None
        ):
            stamp.append((H_MEMO, result.encode()))
        return hit

    async def _answer_from_memo(
        self,
        send: Send,
        compiled: Compiled,
        hit: Hit,
        exchange: Exchange,
        stamp: list[tuple[bytes, bytes]],
    ) -> None:
        """Answer a submission with its trusted receipt, without forwarding it. Its chain
        is stored first, as for a forwarded job (the document as sent leads to the job)."""
        await self._record(compiled, "", exchange)
        headers = [*stamp, (H_MEMO, HIT.encode()), (H_RECEIPT, hit.cid.encode())]
        await answer(send, 200, answer_body(compiled, hit), b"application/json", headers)

    async def _forward_submission(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        compiled: Compiled,
        exchange: Exchange,
        stamp: list[tuple[bytes, bytes]],
        job_id: Callable[[Answer], str],
    ) -> None:
        """Forward a compiled submission; its answer comes back with `stamp` added, and
        the chain is stored when the upstream accepted the job (`job_id` reads the
        upstream's ID for it from the answer)."""
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
                    await self._record(compiled, job_id(seen), exchange)
                message = {"type": "http.response.body", "body": seen.release(), "more_body": more}
            await send(message)

        await self.forward(scope, receive, stamped, exchange)

    async def _record(self, compiled: Compiled, job_id: str, exchange: Exchange) -> None:
        """Keep what the upstream accepted (or a memo hit answered), all or nothing: the
        compile's chain (document, jobs, records, its final CID) and the upstream's job
        ID as an alias of the job CID. The writes of concurrent requests share one
        transaction (`GroupCommitter`); this returns once it has committed. The upstream
        has the job whatever happens here: a failure is logged, and the client still
        gets the upstream's answer."""
        exchange.job_id = job_id
        chain = (compiled.document, compiled.cid)
        if chain in self._chains and not job_id:
            return  # nothing new to keep: the same document's chain is stored
        started = time.perf_counter()
        known = chain in self._chains

        def write(store: Store) -> None:
            from compiler.store.ingest import store_compiled

            if not known:
                store_compiled(store, compiled)
            if job_id:
                store.put_alias(ALIAS_NAMESPACE, job_id, compiled.cid)

        try:
            await self.committer.write(write)
        except Exception:
            log.exception("jobc gateway: cannot store %s (job %s)", compiled.cid, job_id)
        else:
            self._chains.add(chain)
        finally:
            exchange.store_ms = (time.perf_counter() - started) * 1000

    async def aclose(self) -> None:
        """Close what the gateway opened (for hosts that run no lifespan)."""
        await anyio.to_thread.run_sync(self.compiler.close)


class StoredChains:
    """The (document, final job) pairs whose chain this gateway has stored, most recent
    first: a document sent again (a retry, a memo hit asked again) has nothing new to
    store but its alias. Bounded: one forgotten is stored again (the store takes a chain
    twice as once)."""

    def __init__(self, capacity: int = 16384) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[tuple[Link, Link], None] = OrderedDict()

    def __contains__(self, chain: object) -> bool:
        return chain in self._seen

    def add(self, chain: tuple[Link, Link]) -> None:
        """Note that `chain` is stored."""
        self._seen[chain] = None
        self._seen.move_to_end(chain)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def clear(self) -> None:
        """Forget every chain (they are stored again when seen)."""
        self._seen.clear()


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
        return _string_at(self._json(), ("JobID",))

    def legacy_job_id(self) -> str:
        """The job ID in the answer to a signed submission (`{"job": {job}}`): the job's
        `Metadata.ID` (V1beta1 on), or its `ID` (before); "" when there is none."""
        data = self._json()
        return _string_at(data, ("job", "Metadata", "ID")) or _string_at(data, ("job", "ID"))

    def _json(self) -> Any:
        if self._passing:
            return None
        try:
            return orjson.loads(b"".join(self._held))
        except orjson.JSONDecodeError:
            return None


def _string_at(data: Any, path: tuple[str, ...]) -> str:
    """The string at `path` in `data` (keys matched as Go's decoder does), or ""."""
    for name in path:
        if not isinstance(data, dict):
            return ""
        key = rewrite.find_key(data, name)
        data = data.get(key) if key is not None else None
    return data if isinstance(data, str) else ""


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
    if compiled.format not in JOB_API_FORMATS:
        return orjson.dumps({"Job": migrated_job(compiled)})
    try:
        new = rewrite.rewrite_submission(data, compiled)
    except rewrite.RewriteError as exc:
        raise Problem("not-a-submission", f"cannot rewrite the job: {exc}") from None
    try:
        return orjson.dumps(new)
    except TypeError:
        return json.dumps(new, ensure_ascii=False, separators=(",", ":")).encode()


def migrated_job(compiled: Compiled) -> Any:
    """A job of an era before the Job API, written as a Job API job (`jobc export --to
    bacalhau`): images pinned, `Meta` with the CIDs, what the Job API cannot say
    stashed in `Meta` so the job keeps its CID."""
    from compiler.diagnostics import SpecError
    from compiler.emitters import emitter, job_docs_of

    try:
        emitted = emitter("bacalhau")(job_docs_of(compiled), {})
    except SpecError as exc:
        raise Problem(
            "not-a-submission",
            f"this {compiled.format} job cannot be written as a Job API job: "
            + describe(exc.diagnostics),
        ) from None
    return emitted.data


@dataclass(frozen=True)
class SignedPayload:
    """The job of a signed submission: its bytes as the client signed them."""

    raw: bytes
    key: str
    """The body's member that holds it (`payload`, `data`, …)."""
    line: int = 1
    column: int = 1
    offset: int = 0
    """Where it starts in the body (1-based line and column, 0-based offset)."""

    def place(self, problem: Problem) -> Problem:
        """`problem` of the payload compiled alone, its diagnostics placed in the body."""
        if not problem.diagnostics:
            return problem
        placed = [self._place(d) for d in problem.diagnostics]
        return dataclasses.replace(problem, detail=describe(placed), diagnostics=placed)

    def _place(self, d: Diagnostic) -> Diagnostic:
        span = d.span
        if span is not None:
            span = dataclasses.replace(
                span,
                line=span.line + self.line - 1,
                column=span.column + (self.column - 1 if span.line == 1 else 0),
                offset=span.offset + self.offset if span.offset >= 0 else -1,
                end_offset=span.end_offset + self.offset if span.end_offset >= 0 else -1,
            )
        return dataclasses.replace(d, span=span, pointer=f"/{self.key}{d.pointer}")


_SPACE = re.compile(r"[ \t\n\r]*")


def signed_payload(raw: bytes) -> SignedPayload:
    """The payload of a signed submission, byte for byte (its signature is over these
    bytes, so they are compiled as they are); a Problem if the body has none."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem("invalid-job", "the body is not UTF-8 text") from None
    decoder = json.JSONDecoder()
    members: dict[str, tuple[int, int]] = {}
    try:
        i = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
        if text[i : i + 1] != "{":
            raise ValueError("the body is not a JSON object")
        i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
        while text[i : i + 1] != "}":
            key, i = decoder.raw_decode(text, i)
            if not isinstance(key, str):
                raise ValueError(f"a member name is missing at offset {i}")
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if text[i : i + 1] != ":":
                raise ValueError(f"a ':' is missing at offset {i}")
            i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
            _, end = decoder.raw_decode(text, i)
            members.setdefault(str(key).lower(), (i, end))
            i = _SPACE.match(text, end).end()  # type: ignore[union-attr]
            if text[i : i + 1] == ",":
                i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
    except ValueError as exc:
        raise Problem(
            "invalid-job",
            f"the signed submission is not a JSON object: {exc}",
            hint='send {"payload": {job}, "client_public_key": …, "signature": …}',
        ) from None
    for key in PAYLOAD_KEYS:
        if key in members:
            start, end = members[key]
            line = text.count("\n", 0, start) + 1
            column = start - (text.rfind("\n", 0, start) + 1) + 1
            return SignedPayload(text[start:end].encode(), key, line, column, start)
    raise Problem(
        "not-a-submission",
        "the signed submission has no payload (`payload`, `data` or `job_create_payload`)",
        hint='send {"payload": {job}, "client_public_key": …, "signature": …}',
    )
