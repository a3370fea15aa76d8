"""What the gateway's tests and benchmark run against, all real HTTP on 127.0.0.1.

- `BacalhauStandIn`: the only stand-in the gateway's tests use, for the one part that
  cannot run here (a Bacalhau orchestrator). It speaks Bacalhau's submission wire format
  (`PUT`/`POST /api/v1/orchestrator/jobs` with a `PutJobRequest` body → `PutJobResponse`
  `{"JobID", "EvaluationID", "Warnings"}`, errors as Bacalhau's `APIError`, `GET
  /api/v1/orchestrator/jobs/{id}` → `{"Job": …}`, `GET /api/v1/agent/alive`), and
  records every request it receives, byte for byte. A few extra routes (`/echo/…`,
  `/stream`, `/slow`) let the tests see what a pass-through request looked like when it
  arrived.
- `Served`: an ASGI app under uvicorn in a thread, on a free port.
- `Stalled`: a TCP server that accepts connections and never answers (a hung registry
  or orchestrator).

Shapes follow bacalhau-project/bacalhau's `pkg/publicapi/apimodels` (job.go, error.go)
and `pkg/publicapi/endpoint/orchestrator/job.go`.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.localregistry import free_port

JOB_TYPES = ("batch", "service", "daemon", "ops")


@dataclass(frozen=True)
class Received:
    """One request as the stand-in received it."""

    method: str
    path: str
    raw_path: bytes
    query: bytes
    headers: list[tuple[str, str]]
    body: bytes
    peer: tuple[str, int] = ("", 0)
    """The address the request came from (one per connection)."""

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def api_error(status: int, message: str, code: str, component: str = "Orchestrator") -> Response:
    """An error as Bacalhau's `APIError` (pkg/publicapi/apimodels/error.go)."""
    return JSONResponse(
        {
            "Status": status,
            "Message": message,
            "RequestID": "",
            "Code": code,
            "Component": component,
        },
        status,
    )


def _get(mapping: Any, name: str) -> Any:
    """A key of a JSON object, matched as Go's decoder does (exactly, else ignoring case)."""
    if not isinstance(mapping, dict):
        return None
    if name in mapping:
        return mapping[name]
    return next((v for k, v in mapping.items() if k.lower() == name.lower()), None)


@dataclass
class BacalhauStandIn:
    """A Bacalhau orchestrator's submission API, recording what it receives."""

    received: list[Received] = field(default_factory=list)
    jobs: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering a submission or `/slow` (a slow orchestrator)."""
    stream_gate: threading.Event = field(default_factory=threading.Event)
    """`/stream` sends its first chunk, waits for this, then sends the rest."""

    def app(self) -> Starlette:
        """The ASGI app."""
        return Starlette(
            routes=[
                Route("/api/v1/orchestrator/jobs", self.put_job, methods=["PUT", "POST"]),
                Route("/api/v1/orchestrator/jobs/{id}", self.get_job, methods=["GET"]),
                Route("/api/v1/agent/alive", self.alive, methods=["GET"]),
                Route("/api/v1/requester/submit", self.submit_signed, methods=["POST"]),
                Route(
                    "/echo/{rest:path}",
                    self.echo,
                    methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
                ),
                Route("/stream", self.stream, methods=["GET"]),
                Route("/slow", self.slow, methods=["GET"]),
            ]
        )

    @property
    def submissions(self) -> list[Received]:
        """The job submissions received (both APIs)."""
        paths = ("/api/v1/orchestrator/jobs", "/api/v1/requester/submit")
        return [r for r in self.received if r.path in paths]

    async def _record(self, request: Request) -> Received:
        body = await request.body()
        got = Received(
            method=request.method,
            path=request.url.path,
            raw_path=request.scope.get("raw_path", b""),
            query=request.scope.get("query_string", b""),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            body=body,
            peer=(request.client.host, request.client.port) if request.client else ("", 0),
        )
        self.received.append(got)
        return got

    async def put_job(self, request: Request) -> Response:
        got = await self._record(request)
        if self.delay:
            await anyio.sleep(self.delay)
        try:
            data = json.loads(got.body)
        except ValueError as exc:
            return api_error(400, f"code=400, message={exc}", "InternalError", "APIServer")
        job = _get(data, "Job")
        if not isinstance(job, dict):
            return api_error(400, "empty/nil job", "ValidationError")
        problems = []
        job_type = _get(job, "Type") or ""
        if job_type == "":
            problems.append("missing job type")
        elif job_type not in JOB_TYPES:
            problems.append(f"invalid job type: {job_type!r}")
        if not _get(job, "Tasks"):
            problems.append("missing job tasks")
        if problems:
            return api_error(400, "\n".join(problems), "ValidationError")
        job_id = f"j-{uuid.uuid4()}"
        self.jobs[job_id] = {**job, "ID": job_id}
        return JSONResponse({"JobID": job_id, "EvaluationID": str(uuid.uuid4()), "Warnings": []})

    async def submit_signed(self, request: Request) -> Response:
        """The signed submission before the Job API (pkg/publicapi/apimodels/submit.go,
        v1.0 to v1.4): `{"payload": {ClientID, APIVersion, Spec}, "client_public_key",
        "signature"}` → `{"job": {APIVersion, Metadata: {ID, ClientID, …}, Spec}}`. The
        signature is not checked (the tests send the bytes they check arrived)."""
        got = await self._record(request)
        try:
            data = json.loads(got.body)
        except ValueError as exc:
            return api_error(400, f"code=400, message={exc}", "InternalError", "APIServer")
        payload = _get(data, "payload") or _get(data, "data")
        if not isinstance(payload, dict) or not _get(data, "signature"):
            return api_error(400, "invalid submit request", "ValidationError")
        spec = _get(payload, "Spec") or _get(_get(payload, "Job"), "Spec")
        if not isinstance(spec, dict):
            return api_error(400, "job spec is required", "ValidationError")
        job_id = str(uuid.uuid4())
        job = {
            "APIVersion": _get(payload, "APIVersion") or "V1beta2",
            "Metadata": {"ID": job_id, "ClientID": _get(payload, "ClientID") or ""},
            "Spec": spec,
        }
        self.jobs[job_id] = job
        return JSONResponse({"job": job})

    async def get_job(self, request: Request) -> Response:
        await self._record(request)
        job = self.jobs.get(request.path_params["id"])
        if job is None:
            return api_error(404, f"job not found: {request.path_params['id']}", "NotFound")
        return JSONResponse({"Job": job})

    async def alive(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"Status": "OK"})

    async def echo(self, request: Request) -> Response:
        """What arrived, as JSON (the body by size and sha256)."""
        got = await self._record(request)
        status = int(request.query_params.get("status", "200"))
        return JSONResponse(
            {
                "method": got.method,
                "path": got.path,
                "raw_path": got.raw_path.decode("latin-1"),
                "query": got.query.decode("latin-1"),
                "headers": got.headers,
                "size": len(got.body),
                "sha256": hashlib.sha256(got.body).hexdigest(),
            },
            status,
            headers={
                "x-standin": "echo",
                "connection": "x-upstream-private",
                "x-upstream-private": "hop-by-hop: never forwarded",
            },
        )

    async def stream(self, request: Request) -> Response:
        await self._record(request)
        gate = self.stream_gate

        async def chunks() -> AsyncIterator[bytes]:
            yield b"first chunk\n"
            # The rest waits until the client has seen the first: a proxy that buffered
            # the answer would never show it, and the test would fail on its timeout.
            await anyio.to_thread.run_sync(gate.wait, 10)
            for i in range(3):
                yield f"chunk {i}\n".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    async def slow(self, request: Request) -> Response:
        await self._record(request)
        await anyio.sleep(self.delay)
        return JSONResponse({"slow": True})


class Served:
    """An ASGI app served by uvicorn on 127.0.0.1, in a thread of this process."""

    def __init__(self, app: Any, port: int | None = None, **config: Any) -> None:
        from compiler.gateway.server import uvicorn_config

        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn_config(app, "127.0.0.1", self.port, log_level="warning", **config)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Served:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@contextmanager
def served(app: Any, **config: Any) -> Iterator[Served]:
    """`app` served on a free port for the block."""
    server = Served(app, **config).start()
    try:
        yield server
    finally:
        server.stop()


class Stalled:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.socket.settimeout(0.2)
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.socket.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                self.accepted.append(self.socket.accept()[0])
            except OSError:
                continue

    def __enter__(self) -> Stalled:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for s in self.accepted:
            s.close()
        self.socket.close()


def main(argv: list[str]) -> int:
    """`standin PORT` or `proxy UPSTREAM PORT`: serve until interrupted (bench/gateway.py
    runs each server in a process of its own, so none shares the load generator's GIL)."""
    import signal

    from compiler.gateway.proxy import ReverseProxy
    from compiler.gateway.server import uvicorn_config

    if argv[:1] == ["standin"] and len(argv) == 2:
        app: Any = BacalhauStandIn().app()
        port = int(argv[1])
    elif argv[:1] == ["proxy"] and len(argv) == 3:
        app, port = ReverseProxy(argv[1]), int(argv[2])
    else:
        print("usage: python -m tests.gatewayharness standin PORT | proxy UPSTREAM PORT")
        return 2
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, log_level="warning"))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    server.run()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
