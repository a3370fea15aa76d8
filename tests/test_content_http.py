"""URL sources against a real HTTP server on 127.0.0.1: honest, slow, lying and missing."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler import unixfs
from compiler.ir import Link
from compiler.oracles.content import Hasher
from compiler.sources import ContentError, Unpinnable
from tests.test_content import at, compile_spec, fails, where, write_spec

BODY = os.urandom(700_000)
SHA = hashlib.sha256(BODY).hexdigest()
CID = Link(unixfs.file_entry(BODY).cid)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def _head(self, status: int, length: int | None, **headers: str) -> None:
        self.send_response(status)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()

    def do_GET(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route()  # (the client may give up, as it should)

    def _route(self) -> None:
        path = self.path
        if path == "/ok":
            self._head(200, len(BODY))
            self.wfile.write(BODY)
        elif path == "/redirect":
            self._head(302, 0, Location="/ok")
        elif path == "/chunked":
            self._head(200, None, Transfer_Encoding="chunked")
            for i in range(0, len(BODY), 65_537):
                piece = BODY[i : i + 65_537]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/missing":
            self._head(404, 9)
            self.wfile.write(b"not found")
        elif path == "/liar":  # says 1000 bytes, sends 10, hangs up
            self._head(200, 1000)
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/huge":  # declares more than the limit
            self._head(200, 50_000_000)
            self.close_connection = True
        elif path == "/endless":  # no length, more than the limit
            self._head(200, None, Transfer_Encoding="chunked")
            piece = b"x" * 65_536
            for _ in range(200):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        elif path == "/trickle":  # a byte at a time: each read is quick, the whole is not
            self._head(200, 1000)
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.02)
        elif path == "/silent":  # headers, then nothing
            self._head(200, 10)
            self.wfile.flush()
            time.sleep(3)
        else:
            self._head(500, 0)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def fetch(url: str, **options: Any) -> Link:
    limits = {"max_bytes": 10_000_000, "timeout": 10.0, **options}
    return Link(Hasher(progress=False).url(url, **limits).cid)


def test_a_url_is_hashed_as_a_file(server: str) -> None:
    assert fetch(f"{server}/ok") == CID
    assert fetch(f"{server}/chunked") == CID
    assert fetch(f"{server}/redirect") == CID
    assert fetch(f"{server}/ok#sha256={SHA}") == CID


def test_a_404(server: str) -> None:
    with pytest.raises(ContentError, match="HTTP 404 Not Found"):
        fetch(f"{server}/missing")


def test_a_server_that_lies_about_content_length(server: str) -> None:
    with pytest.raises(ContentError, match="broke off the transfer") as info:
        fetch(f"{server}/liar")
    assert info.value.code == "http-protocol"


def test_over_the_size_limit(server: str) -> None:
    with pytest.raises(ContentError, match="larger than the download limit") as info:
        fetch(f"{server}/huge")  # refused from its Content-Length, before any body
    assert "50,000,000 bytes" in info.value.message
    with pytest.raises(ContentError, match="larger than the download limit"):
        fetch(f"{server}/endless", max_bytes=1_000_000)  # counted while it streams


def test_a_slow_server(server: str) -> None:
    start = time.monotonic()
    with pytest.raises(ContentError, match=r"took longer than 0\.5 s"):
        fetch(f"{server}/trickle", timeout=0.5)
    with pytest.raises(ContentError, match="did not answer in time"):
        fetch(f"{server}/silent", timeout=0.5)
    assert time.monotonic() - start < 5


def test_a_host_that_cannot_be_reached() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unpinnable, match=r"cannot connect to 127\.0\.0\.1"):
        fetch(f"http://127.0.0.1:{port}/x")


def test_url_sources_in_a_spec(server: str, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, f"{server}/ok#sha256={SHA}", f"{server}/chunked")
    c = compile_spec(spec)
    assert [i.source for i in c.job.inputs] == [CID, CID]
    facts = {f["source"]: f["cid"] for f in c.chain[-1].facts}
    assert facts == {f"{server}/ok#sha256={SHA}": CID, f"{server}/chunked": CID}
    assert c.sources[str(CID)] == [f"{server}/ok#sha256={SHA}", f"{server}/chunked"]


def test_faults_in_a_spec(server: str, tmp_path: Path) -> None:
    wrong = "0" * 64
    spec = write_spec(
        tmp_path,
        f"{server}/ok#sha256={wrong}",
        f"{server}/missing",
        f"{server}/ok#sha256=ABC",
        f"{server}/huge",
    )
    diags = fails(spec, store_content=True, max_download=10_000_000)
    assert [d.code for d in diags] == ["digest-mismatch", "http-status", "bad-digest", "too-large"]
    assert [where(d) for d in diags] == [at(spec, n, "http") for n in (4, 5, 6, 7)]
    assert f"its sha256 is {SHA}" in diags[0].message
    spec = write_spec(tmp_path, f"{server}/ok", name="limited.yaml")
    (d,) = fails(spec, max_download=1000)
    assert d.code == "too-large"
    (d,) = fails(write_spec(tmp_path, f"{server}/trickle", name="slow.yaml"), http_timeout=0.3)
    assert d.code == "http-timeout"
