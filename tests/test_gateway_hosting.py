"""Where the gateway runs: as `jobc gateway` (a real process), as middleware inside a
Starlette application, and under another ASGI host than uvicorn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from compiler.gateway import Gateway, GatewayConfig
from tests.gatewayharness import BacalhauStandIn, served
from tests.localregistry import free_port

ROOT = Path(__file__).resolve().parent.parent
JOBC = [sys.executable, "-m", "compiler"]
SUBMIT = "/api/v1/orchestrator/jobs"


# --- jobc gateway --------------------------------------------------------------------------


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"jobc gateway exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/jobc/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("jobc gateway did not come up")


@pytest.fixture
def standin() -> Iterator[tuple[BacalhauStandIn, str]]:
    s = BacalhauStandIn()
    with served(s.app()) as up:
        yield s, up.url


def test_jobc_gateway_serves_logs_and_stops_cleanly(
    standin: tuple[BacalhauStandIn, str], tmp_path: Path
) -> None:
    s, upstream = standin
    port = free_port()
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    process = subprocess.Popen(
        [
            *JOBC,
            "gateway",
            "--upstream",
            upstream,
            "--listen",
            f"127.0.0.1:{port}",
            "--store",
            str(tmp_path / "store.sqlite"),
            "--admin-token-file",
            str(token),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "JOBC_HOME": str(tmp_path / "home")},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        assert httpx.get(f"{url}/api/v1/agent/alive").json() == {"Status": "OK"}
        bad = httpx.put(f"{url}{SUBMIT}", content=b"{not json")
        assert bad.status_code == 400
        purge = httpx.post(
            f"{url}/jobc/v1/admin/cache/purge", headers={"Authorization": "Bearer t0ken"}
        )
        assert purge.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    by_path = {(x["method"], x["path"]): x for x in lines}
    alive = by_path[("GET", "/api/v1/agent/alive")]
    assert alive["status"] == 200
    assert alive["route"] == "proxy"
    assert alive["upstream_ms"] >= 0
    refused = by_path[("PUT", SUBMIT)]
    assert refused["status"] == 400
    assert refused["problem"] == "invalid-job"
    assert refused["compile_ms"] >= 0
    assert [r.path for r in s.received] == ["/api/v1/agent/alive"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nowhere"], "is not HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "is not HOST:PORT"),
        (["--max-body", "lots"], "is not a size"),
        (["--upstream", "ftp://example.com"], "must be an http:// or https:// URL"),
    ],
)
def test_jobc_gateway_refuses_bad_options(args: list[str], message: str) -> None:
    argv = [*JOBC, "gateway", "--upstream", "http://127.0.0.1:1", *args]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=60, check=False)
    assert done.returncode == 2
    assert message in done.stderr.decode()


# --- inside a Starlette application ----------------------------------------------------------


def starlette_app(calls: list[Any], store: Path, **config: Any) -> Starlette:
    """An application of its own (it takes submissions itself), with the gateway in it."""

    async def put_job(request: Request) -> Response:
        calls.append(await request.json())
        return JSONResponse({"JobID": "j-1", "EvaluationID": "e-1", "Warnings": []})

    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello from the app")

    return Starlette(
        routes=[Route(SUBMIT, put_job, methods=["PUT"]), Route("/hello", hello)],
        middleware=[Middleware(Gateway, config=GatewayConfig(store=str(store), **config))],
    )


def test_inside_a_starlette_application(tmp_path: Path) -> None:
    calls: list[Any] = []
    with served(starlette_app(calls, tmp_path / "s.sqlite")) as app:
        assert httpx.get(f"{app.url}/hello").text == "hello from the app"
        assert httpx.get(f"{app.url}/jobc/v1/health").json()["status"] == "ok"
        r = httpx.put(f"{app.url}{SUBMIT}", content=b'{"Job": ')
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/problem+json"
        assert calls == []  # the app never saw what did not compile
        assert "jobc_gateway_requests_total" in httpx.get(f"{app.url}/metrics").text


def test_under_another_asgi_host(tmp_path: Path) -> None:
    """httpx's in-process ASGI transport instead of uvicorn: nothing in the middleware
    depends on the server it runs under."""
    calls: list[Any] = []
    app = starlette_app(calls, tmp_path / "s.sqlite")

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
            return [
                await c.get("/hello"),
                await c.put(SUBMIT, content=b"[1, 2"),
                await c.get("/jobc/v1/problems/busy"),
            ]

    import anyio

    hello, refused, problem = anyio.run(run)
    assert hello.text == "hello from the app"
    assert refused.status_code == 400
    assert problem.json()["status"] == 503
    assert calls == []
