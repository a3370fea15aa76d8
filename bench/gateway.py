"""The gateway's cost per request, on loopback, against baselines measured in the same run.

    .venv/bin/python bench/gateway.py [--requests 2000] [--concurrency 8] [--seconds 20]

Each server runs in a process of its own (none shares the load generator's GIL): the
Bacalhau stand-in (tests/gatewayharness.py), a plain pass-through proxy (the gateway's
`ReverseProxy` alone, no middleware), and `jobc gateway` itself, with a local registry
(tests/localregistry.py) for its image resolutions. The load generator keeps HTTP/1.1
connections open and sends a real `PutJobRequest` (tests/cases/gateway/put-job.json)
to `PUT /api/v1/orchestrator/jobs`:

- (a) the stand-in alone;
- (b) through the plain proxy: what forwarding costs;
- (c) through the gateway, caches warm: compile, pin, stamp, forward, record the alias
  (each submission's bytes differ, by its job name, so each is compiled anew);
- (c') the same bytes again and again: the gateway reuses their compile;
- (d) memo hits: a WASM job (examples/wasm-hello.yaml) run once by jobc's runner, its
  receipt signed by the gateway's own node; the gateway answers it without forwarding.

Two passes per case, bounded in count and time: one request at a time (latency: p50
and p99), then `--concurrency` at once (throughput: requests/s). Targets (issue 8): (c)
adds at most 2 ms p50 over (b); (d) serves at least 1,500 requests/s on this 2-core
machine. The machine is shared: the load average is printed beside the figures.

Not a pytest test: run it by hand or with `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.localregistry import free_port, running  # noqa: E402

SUBMIT = "/api/v1/orchestrator/jobs"
BODY = (ROOT / "tests" / "cases" / "gateway" / "put-job.json").read_bytes()
MAX_ADDED_P50_MS = 2.0
MIN_MEMO_RPS = 1500.0


class Submissions:
    """The submissions to send, as the load generator writes them on the wire: the same
    bytes every time, or each one distinct (its job `Name` numbered: not identity, so
    every one is compiled anew to the same CID)."""

    def __init__(self, port: int, *, distinct: bool, body: bytes = BODY) -> None:
        self.port = port
        self.distinct = distinct
        self.sent = 0
        self._same = self._wire(body)

    def _wire(self, body: bytes) -> bytes:
        head = (
            f"PUT {SUBMIT} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def next(self) -> bytes:
        """The next request's bytes."""
        self.sent += 1
        if not self.distinct:
            return self._same
        return self._wire(BODY.replace(b'"word-count"', f'"word-count-{self.sent}"'.encode()))


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response; its status."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


@dataclass
class Result:
    """One pass over one case."""

    sent: int
    seconds: float
    latencies_ms: list[float]
    failures: int
    cpu_ms: float = float("nan")
    """The server's CPU time per request (less sensitive to the machine's load than
    wall-clock latency: a loaded machine delays every hop between processes)."""

    @property
    def rps(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def load(submissions: Submissions, requests: int, concurrency: int, seconds: float) -> Result:
    """`requests` submissions over `concurrency` connections, stopping after `seconds`."""
    port = submissions.port
    latencies: list[float] = []
    failures = 0
    left = requests
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal left, failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left > 0 and time.perf_counter() < deadline:
                left -= 1
                payload = submissions.next()
                start = time.perf_counter()
                writer.write(payload)
                status = await read_response(reader)
                latencies.append((time.perf_counter() - start) * 1000)
                if status != 200:
                    failures += 1
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(len(latencies), time.perf_counter() - start, latencies, failures)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(argv: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[int]:
    """A server process on `port`, up until the block ends; yields its pid."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[2:4]} exited:\n{log.read_text()}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv} did not start") from None
                time.sleep(0.05)
        yield process.pid
    finally:
        process.terminate()
        process.wait(30)


def measure(
    name: str,
    port: int,
    pid: int,
    args: argparse.Namespace,
    *,
    distinct: bool = False,
    body: bytes = BODY,
) -> tuple[Result, Result]:
    """The latency and throughput passes of one case, after a warm-up."""
    submissions = Submissions(port, distinct=distinct, body=body)
    asyncio.run(load(submissions, 200, 4, 10))
    before = cpu_seconds(pid)
    latency = asyncio.run(load(submissions, args.requests, 1, args.seconds))
    latency.cpu_ms = (cpu_seconds(pid) - before) / max(1, latency.sent) * 1000
    before = cpu_seconds(pid)
    throughput = asyncio.run(load(submissions, args.requests * 2, args.concurrency, args.seconds))
    throughput.cpu_ms = (cpu_seconds(pid) - before) / max(1, throughput.sent) * 1000
    for result in (latency, throughput):
        if result.failures:
            raise RuntimeError(f"{name}: {result.failures} requests did not answer 200")
    return latency, throughput


def compile_ms(port: int) -> float:
    """The gateway's mean compile time, from its own metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("jobc_gateway_compile_seconds_")
    }
    count = values.get("jobc_gateway_compile_seconds_count", 0.0)
    return values.get("jobc_gateway_compile_seconds_sum", 0.0) / count * 1000 if count else 0.0


def log_size(log: Path) -> int:
    """How many lines the log has so far."""
    return len(log.read_text().splitlines())


def phases(log: Path, start: int, end: int) -> dict[str, float]:
    """The p50 of each phase the gateway logs per submission (compile, upstream, store),
    over the log's lines `start` to `end` (one case)."""
    import json

    lines = [
        json.loads(line)
        for line in log.read_text().splitlines()[start:end]
        if line.startswith("{") and '"route":"submit"' in line
    ]
    out = {}
    for key in ("ms", "compile_ms", "upstream_ms", "store_ms"):
        values = sorted(x[key] for x in lines if key in x)
        if values:
            out[key] = values[len(values) // 2]
    return out


def memo_job(store: Path, home: Path) -> bytes:
    """Run examples/wasm-hello.yaml once (its receipt signed by the node of `home`, kept
    in `store`), and give it as a Bacalhau `PutJobRequest`."""
    import json

    os.environ["JOBC_HOME"] = str(home)
    from compiler.driver import CompileOptions, compile_file
    from compiler.emitters import emitter, job_docs_of
    from compiler.runtime.execute import run_job
    from compiler.runtime.receipts import NodeKey
    from compiler.store import open_store

    options = CompileOptions(store=str(store), settings={"store_content": True})
    compiled = compile_file(ROOT / "examples" / "wasm-hello.yaml", options)
    s = open_store(store)
    try:
        run_job(compiled.job, s, NodeKey.load_or_create())
    finally:
        s.close()
    return json.dumps({"Job": emitter("bacalhau")(job_docs_of(compiled), {}).data}).encode()


def memo_hits(port: int) -> float:
    """Memo hits the gateway counted (its own metrics)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    line = next(
        x for x in text.splitlines() if x.startswith('jobc_gateway_memo_total{result="hit"}')
    )
    return float(line.split()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="requests per pass")
    ap.add_argument("--concurrency", type=int, default=8, help="connections, second pass")
    ap.add_argument("--seconds", type=float, default=20.0, help="longest pass")
    args = ap.parse_args(argv)
    python = [sys.executable]
    with tempfile.TemporaryDirectory(prefix="jobc-bench-gateway-") as tmp, running() as registry:
        folder = Path(tmp)
        env = {
            **os.environ,
            "JOBC_HOME": str(folder / "home"),
            "CONTAINERS_REGISTRIES_CONF": str(registry.registries_conf(folder / "r.conf")),
        }
        results: dict[str, tuple[Result, Result]] = {}
        memo_body = memo_job(folder / "gateway.sqlite", folder / "home")
        standin_port = free_port()
        with server(
            [*python, "-m", "tests.gatewayharness", "standin", str(standin_port)],
            standin_port,
            env,
            folder / "standin.log",
        ) as pid:
            upstream = f"http://127.0.0.1:{standin_port}"
            results["(a) stand-in alone"] = measure("stand-in", standin_port, pid, args)
            proxy_port = free_port()
            with server(
                [*python, "-m", "tests.gatewayharness", "proxy", upstream, str(proxy_port)],
                proxy_port,
                env,
                folder / "proxy.log",
            ) as pid:
                results["(b) plain proxy"] = measure("proxy", proxy_port, pid, args)
            gateway_port = free_port()
            argv = [
                *python,
                "-m",
                "compiler",
                "gateway",
                "--upstream",
                upstream,
                "--listen",
                f"127.0.0.1:{gateway_port}",
                "--store",
                str(folder / "gateway.sqlite"),
            ]
            log = folder / "gateway.log"
            logged: dict[str, dict[str, float]] = {}
            with server(argv, gateway_port, env, log) as pid:
                start = log_size(log)
                results["(c) gateway, warm"] = measure(
                    "gateway", gateway_port, pid, args, distinct=True
                )
                logged["(c)"] = phases(log, start, start := log_size(log))
                mean_compile = compile_ms(gateway_port)
                results["(c') same bytes again"] = measure("gateway", gateway_port, pid, args)
                logged["(c')"] = phases(log, start, start := log_size(log))
                results["(d) memo hits"] = measure("memo", gateway_port, pid, args, body=memo_body)
                logged["(d)"] = phases(log, start, log_size(log))
                hits = memo_hits(gateway_port)
    load_avg = os.getloadavg()
    print(
        f"gateway benchmark: {args.requests} requests one at a time, then "
        f"{args.requests * 2} over {args.concurrency} connections (each pass ≤ "
        f"{args.seconds:g} s); load average {load_avg[0]:.1f} {load_avg[1]:.1f} "
        f"on {os.cpu_count()} cores (shared machine)\n"
    )
    print(
        f"{'case':24} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'cpu ms':>7} | "
        f"{'req/s':>8} {'p50 ms':>8} {'cpu ms':>7}"
    )
    print(f"{'':24} {'(one at a time)':>34} | {f'({args.concurrency} at once)':>25}")
    for name, (latency, throughput) in results.items():
        print(
            f"{name:24} {latency.percentile(50):8.2f} {latency.percentile(99):8.2f} "
            f"{latency.rps:8.0f} {latency.cpu_ms:7.2f} | {throughput.rps:8.0f} "
            f"{throughput.percentile(50):8.2f} {throughput.cpu_ms:7.2f}"
        )
    print("cpu ms: the server's own CPU time per request (user + system, from /proc)")
    memo = results["(d) memo hits"]
    print(
        f"(d): {hits:.0f} memo hits counted by the gateway for "
        f"{sum(r.sent for r in memo) + 200} submissions sent (warm-up included)"
    )
    added = results["(c) gateway, warm"][0].percentile(50) - results["(b) plain proxy"][
        0
    ].percentile(50)
    added_cpu = results["(c) gateway, warm"][0].cpu_ms - results["(b) plain proxy"][0].cpu_ms
    print(f"\nthe gateway's mean compile (its own metrics): {mean_compile:.2f} ms")
    print(f"the gateway's CPU time over the plain proxy's, per request: {added_cpu:+.2f} ms")
    print("p50 of the gateway's own timings per submission, ms (its log, both passes):")
    for case, timings in logged.items():
        print(f"  {case:5} " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    print("targets:")
    verdict = "met" if added <= MAX_ADDED_P50_MS else "NOT met"
    print(f"  (c) adds <= {MAX_ADDED_P50_MS:g} ms p50 over (b): {added:+.2f} ms  {verdict}")
    rps = results["(d) memo hits"][1].rps
    verdict = "met" if rps >= MIN_MEMO_RPS else "NOT met"
    print(f"  (d) >= {MIN_MEMO_RPS:,.0f} requests/s: {rps:,.0f}  {verdict}")
    base = results["(b) plain proxy"][1].rps
    print(
        f"ratios at {args.concurrency} at once: (c)/(b) "
        f"{results['(c) gateway, warm'][1].rps / base:.2f}, (d)/(b) {rps / base:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
