"""The gateway's Prometheus metrics (`GET /metrics`, text exposition format).

Each gateway has a registry of its own (not the process-wide default), so several
gateways in one process (tests, an app that mounts two) count apart. The resolution
cache hit rate is `jobc_gateway_cache_lookups_total{namespace="image",result="hit"}`
over all `namespace="image"` lookups (docs/gateway.md has the PromQL).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""From half a millisecond (a warm compile) to thirty seconds (a registry that stalls)."""


class Metrics:
    """Every metric one gateway keeps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "jobc_gateway_requests",
            "Requests answered, by route (submit, submit-signed, compile, api, metrics, "
            "proxy), method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.memo = Counter(
            "jobc_gateway_memo",
            "Memo lookups of submitted jobs: hit (a trusted receipt), miss, skip (a job "
            "whose determinism allows no reuse), error (the store could not answer).",
            ["result"],
            registry=r,
        )
        self.compile_seconds = Histogram(
            "jobc_gateway_compile_seconds",
            "Time to compile one submitted or posted document (finished compiles only).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.compiles = Counter(
            "jobc_gateway_compiles",
            "Compiles run, by where: in the event loop when the caches and the policy "
            "answered every question (here), else in a worker thread (thread).",
            ["where"],
            registry=r,
        )
        self.compile_failures = Counter(
            "jobc_gateway_compile_failures",
            "Compiles that did not give a job: invalid (the document), timeout, busy, "
            "internal (a bug).",
            ["reason"],
            registry=r,
        )
        self.compiles_running = Gauge(
            "jobc_gateway_compiles_running",
            "Compiles running now (including ones past their budget, still finishing).",
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "jobc_gateway_upstream_seconds",
            "Time from forwarding a request to the upstream's first byte of answer.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_failures = Counter(
            "jobc_gateway_upstream_failures",
            "Requests the upstream did not answer: unreachable or timeout.",
            ["reason"],
            registry=r,
        )
        self.cache_lookups = Counter(
            "jobc_gateway_cache_lookups",
            "Store cache lookups made by compiles, by namespace (image: the image "
            "resolution cache) and result (hit or miss).",
            ["namespace", "result"],
            registry=r,
        )
        # Children made once: `labels()` costs a lookup on every request otherwise.
        self.image_hits = self.cache_lookups.labels("image", "hit")
        self.image_misses = self.cache_lookups.labels("image", "miss")

    def cache_lookup(self, namespace: str, hit: bool) -> None:
        """Count one cache lookup."""
        if namespace == "image":
            (self.image_hits if hit else self.image_misses).inc()
        else:
            self.cache_lookups.labels(namespace, "hit" if hit else "miss").inc()

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
