"""The gateway end to end over real HTTP on 127.0.0.1: uvicorn serving the gateway, the
Bacalhau stand-in behind it (tests/gatewayharness.py), the local registry for images."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from compiler.driver import CompileOptions, compile_bytes
from compiler.gateway import GatewayConfig
from compiler.gateway.server import build
from tests.conftest import CASES
from tests.gatewayharness import BacalhauStandIn, Served, Stalled, served
from tests.localregistry import LocalRegistry, free_port

SUBMIT = "/api/v1/orchestrator/jobs"
PROBLEM = "application/problem+json"
WORDS = "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
JOBSPEC = f"""\
jobspec: 1
name: word-count
task:
  engine: docker
  image: ubuntu:22.04
  args: [wc, -l, /data/words.txt]
inputs:
  - {{name: words, source: "{WORDS}", target: /data/words.txt}}
""".encode()
JOBSPEC_AS_JSON = json.dumps(
    {
        "inputs": [{"target": "/data/words.txt", "source": WORDS, "name": "the words"}],
        "task": {
            "args": ["wc", "-l", "/data/words.txt"],
            "image": "docker.io/library/ubuntu:22.04",
            "engine": "docker",
        },
        "jobspec": 1,
        "name": "another name",
    }
).encode()


JOBSPEC_OF_PUT_JOB = f"""\
jobspec: 1
task:
  engine: docker
  image: ubuntu:22.04
  entrypoint: [/bin/sh]
  args: ["-c", "wc -l /data/words.txt > /outputs/count"]
  env: [LANG=C]
  workdir: /data
inputs:
  - {{source: "{WORDS}", target: /data/words.txt}}
outputs: [/outputs]
""".encode()
"""The job of tests/cases/gateway/put-job.json (without its URL input), as a jobspec."""


@dataclass
class Running:
    """A gateway in front of the stand-in, both served on 127.0.0.1."""

    standin: BacalhauStandIn
    gateway: Served
    client: httpx.Client
    store: Path


@contextmanager
def running(tmp_path: Path, upstream: str | None = None, **config: Any) -> Iterator[Running]:
    """The stand-in and a gateway in front of it (or of `upstream`)."""
    standin = BacalhauStandIn()
    store = tmp_path / "gateway.sqlite"
    with served(standin.app()) as up:
        gateway = build(GatewayConfig(upstream=upstream or up.url, store=str(store), **config))
        with served(gateway) as gw, httpx.Client(base_url=gw.url, timeout=30) as client:
            yield Running(standin, gw, client, store)


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Running]:
    with running(tmp_path) as r:
        yield r


def is_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """Check that `response` is the problem `kind` with `status`; return its document."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    doc: dict[str, Any] = response.json()
    assert doc["type"] == f"/jobc/v1/problems/{kind}"
    assert doc["status"] == status
    assert doc["detail"]
    # Bacalhau's clients read the same body as their APIError.
    assert doc["Status"] == status
    assert doc["Message"] == doc["detail"]
    return doc


def aliases(store: Path) -> list[tuple[str, str]]:
    if not store.exists():
        return []
    with sqlite3.connect(store) as db:
        return [(ns, name) for ns, name in db.execute("SELECT namespace, name FROM aliases")]


# --- passing through ------------------------------------------------------------------------


def test_other_requests_pass_through_untouched(gw: Running) -> None:
    r = gw.client.request(
        "PATCH",
        "/echo/a%2Fb/c%20d/?x=1&y=%2F&x=2",
        content=b"payload",
        headers={
            "X-Custom": "kept",
            "Authorization": "Bearer client-token",
            "X-Private": "named by Connection",
            "Connection": "x-private",
            "TE": "trailers",
            "Keep-Alive": "timeout=5",
        },
    )
    assert r.status_code == 200
    got = r.json()
    assert got["method"] == "PATCH"
    assert got["raw_path"] == "/echo/a%2Fb/c%20d/"  # as the client encoded it
    assert got["query"] == "x=1&y=%2F&x=2"
    assert got["sha256"] == hashlib.sha256(b"payload").hexdigest()
    headers = dict(got["headers"])
    assert headers["x-custom"] == "kept"
    assert headers["authorization"] == "Bearer client-token"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-host"] == gw.gateway.url.removeprefix("http://")
    assert headers["x-forwarded-proto"] == "http"
    assert headers["host"] != headers["x-forwarded-host"]  # the upstream's own
    for hop in ("x-private", "te", "keep-alive"):
        assert hop not in headers
    # The answer comes back with the upstream's headers, minus its hop-by-hop ones.
    assert r.headers["x-standin"] == "echo"
    assert "x-upstream-private" not in r.headers
    assert "x-jobc-cid" not in r.headers


def test_statuses_and_bodies_of_the_upstream_come_back_as_sent(gw: Running) -> None:
    r = gw.client.get("/api/v1/orchestrator/jobs/j-nothing")
    assert r.status_code == 404
    assert r.json()["Code"] == "NotFound"  # Bacalhau's error, not the gateway's
    r = gw.client.delete("/echo/x", params={"status": "418"})
    assert r.status_code == 418
    assert r.json()["method"] == "DELETE"
    assert gw.client.get("/api/v1/agent/alive").json() == {"Status": "OK"}


def test_bodies_stream_to_the_upstream(gw: Running) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for _ in range(12):
            digest.update(chunk)
            yield chunk

    r = gw.client.post("/echo/upload", content=body())  # chunked: no Content-Length
    assert r.status_code == 200
    assert r.json()["size"] == 12 * len(chunk)  # well over --max-body: not read whole
    assert r.json()["sha256"] == digest.hexdigest()


def test_answers_stream_back(gw: Running) -> None:
    with gw.client.stream("GET", "/stream") as r:
        lines = r.iter_lines()
        assert next(lines) == "first chunk"  # arrives before the upstream sends the rest
        gw.standin.stream_gate.set()
        assert list(lines) == ["chunk 0", "chunk 1", "chunk 2"]


def test_connections_to_the_upstream_are_reused(gw: Running) -> None:
    for _ in range(5):
        assert gw.client.get("/echo/again").status_code == 200
    peers = {r.peer for r in gw.standin.received}
    assert len(gw.standin.received) == 5
    assert len(peers) == 1  # one pooled connection carried all five


def test_a_dead_upstream_is_a_502(tmp_path: Path) -> None:
    with running(tmp_path, upstream=f"http://127.0.0.1:{free_port()}") as gw:
        r = gw.client.get("/api/v1/agent/alive")
        doc = is_problem(r, 502, "upstream-unreachable")
        assert "cannot reach the upstream" in doc["detail"]
        assert doc["Hint"]


def test_a_slow_upstream_is_a_504(tmp_path: Path) -> None:
    with running(tmp_path, upstream_timeout=0.5) as gw:
        gw.standin.delay = 3.0
        doc = is_problem(gw.client.get("/slow"), 504, "upstream-timeout")
        assert "did not answer within 0.5 s" in doc["detail"]


def test_a_stalled_upstream_is_a_504(tmp_path: Path) -> None:
    with (
        Stalled() as stalled,
        running(tmp_path, upstream=f"http://{stalled.address}", upstream_timeout=0.5) as gw,
    ):
        is_problem(gw.client.get("/echo/x"), 504, "upstream-timeout")


# --- submissions: refused before they reach the upstream -------------------------------------


def test_malformed_json_is_a_400_with_its_place(gw: Running) -> None:
    r = gw.client.put(SUBMIT, content=b'{"Job": {"Type": "batch",}}')
    doc = is_problem(r, 400, "invalid-job")
    (error,) = doc["errors"]
    assert (error["line"], error["column"]) == (1, 26)
    assert error["severity"] == "error"
    assert "line 1, column 26" in doc["detail"]
    assert gw.standin.received == []
    assert aliases(gw.store) == []


def test_a_document_in_no_known_format_is_a_400(gw: Running) -> None:
    r = gw.client.put(SUBMIT, json={"Jobs": []})
    doc = is_problem(r, 400, "invalid-job")
    assert doc["errors"][0]["code"] == "unknown-format"
    assert gw.standin.received == []


def test_a_job_that_is_not_a_bacalhau_job_is_refused(gw: Running) -> None:
    r = gw.client.put(SUBMIT, content=JOBSPEC_AS_JSON)
    doc = is_problem(r, 400, "not-a-submission")
    assert "jobspec/1" in doc["detail"]
    assert r.headers["x-jobc-cid"].startswith("bafyrei")  # it compiled: its CID is known
    assert gw.standin.received == []


def test_an_oversized_body_is_a_413(tmp_path: Path) -> None:
    with running(tmp_path, max_body=1000) as gw:
        big = b'{"Job": {"Name": "' + b"x" * 2000 + b'"}}'
        doc = is_problem(gw.client.put(SUBMIT, content=big), 413, "body-too-large")
        assert doc["limit"] == 1000
        # Without a Content-Length, the gateway stops reading at the limit.
        r = gw.client.put(SUBMIT, content=iter([big[:600], big[600:]]))
        is_problem(r, 413, "body-too-large")
        r = gw.client.post("/jobc/v1/compile", content=big)
        is_problem(r, 413, "body-too-large")
        assert gw.standin.received == []


def test_an_encoded_body_is_a_415(gw: Running) -> None:
    r = gw.client.put(
        SUBMIT, content=gzip.compress(b'{"Job": {}}'), headers={"Content-Encoding": "gzip"}
    )
    is_problem(r, 415, "unsupported-encoding")
    assert gw.standin.received == []


# --- the own API: compile ---------------------------------------------------------------------


def test_compile_gives_the_cid_jobc_gives(gw: Running, local_registry: LocalRegistry) -> None:
    r = gw.client.post(
        "/jobc/v1/compile", content=JOBSPEC, headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code == 200, r.text
    result = r.json()
    local = compile_bytes(JOBSPEC, "job.yaml", CompileOptions())
    assert result["cid"] == str(local.cid)
    assert result["original"] == str(local.original)
    assert r.headers["x-jobc-cid"] == result["cid"]
    assert r.headers["x-jobc-original"] == result["original"]
    assert result["format"] == "jobspec/1"
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    assert result["compiled"]["job"]["task"]["image"] == {"digest": digest}
    assert result["compiled"]["sources"][digest] == ["docker.io/library/ubuntu"]
    assert result["pinned"] is True
    assert result["diagnostics"] == []


def test_the_same_job_written_differently_has_one_cid(
    gw: Running, local_registry: LocalRegistry
) -> None:
    a = gw.client.post("/jobc/v1/compile", content=JOBSPEC)
    b = gw.client.post(
        "/jobc/v1/compile", content=JOBSPEC_AS_JSON, headers={"Content-Type": "application/json"}
    )
    assert a.status_code == b.status_code == 200
    assert a.json()["cid"] == b.json()["cid"]
    assert a.json()["compiled"]["document"]["cid"] != b.json()["compiled"]["document"]["cid"]


def test_an_injected_image_reference_is_a_400_at_its_place(gw: Running) -> None:
    spec = b"jobspec: 1\ntask:\n  engine: docker\n  image: --help\n"
    doc = is_problem(gw.client.post("/jobc/v1/compile", content=spec), 400, "invalid-job")
    (error,) = doc["errors"]
    assert error["pointer"] == "/task/image"
    assert (error["line"], error["column"]) == (4, 10)
    assert "invalid image reference" in error["message"]


def test_schema_errors_are_all_reported(gw: Running) -> None:
    spec = b'{"jobspec": 1, "task": {"engine": "docker"}, "inputs": {}}'
    doc = is_problem(gw.client.post("/jobc/v1/compile", content=spec), 400, "invalid-job")
    pointers = sorted(e.get("pointer", "") for e in doc["errors"])
    assert pointers == ["/inputs", "/task"]
    assert all(e["line"] == 1 for e in doc["errors"])
    assert "(and 1 more)" in doc["detail"]


def test_the_gateway_reads_no_file_of_its_own(gw: Running, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the gateway's own file\n")
    spec = json.dumps(
        {
            "jobspec": 1,
            "task": {"engine": "docker", "image": "ubuntu:22.04"},
            "inputs": [
                {"source": str(secret), "target": "/a"},
                {"source": "pyproject.toml", "target": "/b"},
                {"source": "https://example.com/data.csv", "target": "/c"},
            ],
        }
    ).encode()
    r = gw.client.post("/jobc/v1/compile", content=spec)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["pinned"] is False
    inputs = result["compiled"]["job"]["inputs"]
    assert all(isinstance(i["content"], str) for i in inputs)  # none hashed
    notes = [d["message"] for d in result["diagnostics"]]
    assert any("the gateway reads no file" in n for n in notes)
    assert any("does not download URLs" in n for n in notes)


def test_require_pinned_refuses_what_stays_a_tag(tmp_path: Path) -> None:
    with running(tmp_path, offline=True, require_pinned=True) as gw:
        doc = is_problem(gw.client.post("/jobc/v1/compile", content=JOBSPEC), 400, "invalid-job")
        assert doc["errors"][0]["code"] == "unpinned"
        assert (doc["errors"][0]["line"], doc["errors"][0]["column"]) == (5, 10)


# --- limits -----------------------------------------------------------------------------------


def stalled_registry_conf(tmp_path: Path, stalled: Stalled) -> str:
    path = tmp_path / "stalled.conf"
    path.write_text(
        f'[[registry]]\nprefix = "docker.io"\nlocation = "{stalled.address}"\ninsecure = true\n'
    )
    return str(path)


def test_a_compile_over_its_budget_is_a_504(tmp_path: Path) -> None:
    with Stalled() as stalled:
        conf = stalled_registry_conf(tmp_path, stalled)
        with running(tmp_path, compile_timeout=1.0, settings={"registries_conf": conf}) as gw:
            r = gw.client.post("/jobc/v1/compile", content=JOBSPEC)
            doc = is_problem(r, 504, "compile-timeout")
            assert "longer than 1 s" in doc["detail"]
            assert stalled.accepted  # skopeo did ask the (stalled) registry


def test_compiles_beyond_the_limit_wait_then_are_refused(tmp_path: Path) -> None:
    """One compile slot, three stalled compiles at once: the first uses its whole budget
    and keeps the slot until its registry call ends; the second gets the slot with no
    budget left; the third never gets it."""
    with Stalled() as stalled:
        conf = stalled_registry_conf(tmp_path, stalled)
        with running(
            tmp_path, compile_timeout=1.0, max_compiles=1, settings={"registries_conf": conf}
        ) as gw:
            statuses: list[int] = []

            def submit() -> None:
                statuses.append(gw.client.post("/jobc/v1/compile", content=JOBSPEC).status_code)

            threads = [threading.Thread(target=submit) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert 503 in statuses
            assert 504 in statuses
            assert set(statuses) <= {503, 504}
            r = gw.client.post("/jobc/v1/compile", content=JOBSPEC)
            assert r.status_code in (503, 504)
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1"
            metrics = gw.client.get("/metrics").text
            assert 'jobc_gateway_compile_failures_total{reason="busy"}' in metrics


# --- health, metrics, problems, admin ---------------------------------------------------------


def test_health(gw: Running) -> None:
    r = gw.client.get("/jobc/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["store"] == "ok"
    assert body["upstream"].startswith("http://127.0.0.1:")
    assert gw.store.exists()


def test_metrics_count_requests_compiles_and_the_image_cache(
    gw: Running, local_registry: LocalRegistry
) -> None:
    # Three documents naming one image (one registry call, then its cache), and the
    # first one again (its compile is reused: no compile at all).
    for doc in (JOBSPEC, JOBSPEC_AS_JSON, JOBSPEC + b"# again\n", JOBSPEC):
        assert gw.client.post("/jobc/v1/compile", content=doc).status_code == 200
    gw.client.get("/echo/x")
    gw.client.put(SUBMIT, content=b"{")
    text = gw.client.get("/metrics").text
    samples = parse_metrics(text)
    assert samples['jobc_gateway_cache_lookups_total{namespace="image",result="miss"}'] == 1
    assert samples['jobc_gateway_cache_lookups_total{namespace="image",result="hit"}'] == 2
    assert samples['jobc_gateway_cache_lookups_total{namespace="compiled",result="hit"}'] == 1
    assert samples['jobc_gateway_cache_lookups_total{namespace="compiled",result="miss"}'] == 4
    assert samples['jobc_gateway_requests_total{method="POST",route="compile",status="200"}'] == 4
    assert samples['jobc_gateway_requests_total{method="GET",route="proxy",status="200"}'] == 1
    assert samples['jobc_gateway_requests_total{method="PUT",route="submit",status="400"}'] == 1
    assert samples["jobc_gateway_compile_seconds_count"] == 4
    # Only the first compile needed the registry (a worker thread); the others were
    # answered by the cache, in the event loop. The invalid one never got that far.
    assert samples['jobc_gateway_compiles_total{where="thread"}'] == 1
    assert samples['jobc_gateway_compiles_total{where="here"}'] == 2
    assert samples['jobc_gateway_compile_failures_total{reason="invalid"}'] == 1
    assert samples["jobc_gateway_upstream_seconds_count"] == 1


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format → sample name with labels → value."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def test_problem_types_are_documented_and_unknown_paths_are_problems(gw: Running) -> None:
    r = gw.client.get("/jobc/v1/problems/invalid-job")
    assert r.status_code == 200
    assert r.json()["status"] == 400
    is_problem(gw.client.get("/jobc/v1/problems/nothing"), 404, "not-found")
    is_problem(gw.client.get("/jobc/v1/nothing"), 404, "not-found")
    r = gw.client.get("/jobc/v1/compile")
    is_problem(r, 405, "method-not-allowed")
    assert r.headers["allow"] == "POST"
    assert gw.standin.received == []  # the own API is never forwarded


def test_admin_actions_are_off_without_a_token(gw: Running) -> None:
    is_problem(gw.client.post("/jobc/v1/admin/cache/purge"), 403, "admin-disabled")
    r = gw.client.post("/jobc/v1/admin/cache/purge", headers={"Authorization": "Bearer x"})
    is_problem(r, 403, "admin-disabled")


def test_cache_purge_needs_the_token(tmp_path: Path, local_registry: LocalRegistry) -> None:
    with running(tmp_path, admin_token="s3cret-token") as gw:
        assert gw.client.post("/jobc/v1/compile", content=JOBSPEC).status_code == 200
        # A compile kept for reuse holds what the purged cache said: it is forgotten too.
        for auth in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic s3cret-token"},
        ):
            r = gw.client.post("/jobc/v1/admin/cache/purge", headers=auth)
            is_problem(r, 401, "unauthorized")
            assert r.headers["www-authenticate"].startswith("Bearer")
        r = gw.client.post(
            "/jobc/v1/admin/cache/purge",
            params={"namespace": "image"},
            headers={"Authorization": "Bearer s3cret-token"},
        )
        assert r.status_code == 200
        assert r.json() == {"purged": 1, "namespace": "image", "compiles": 1}
        assert gw.client.post("/jobc/v1/compile", content=JOBSPEC).status_code == 200
        samples = parse_metrics(gw.client.get("/metrics").text)
        # Asked the registry again after the purge: two misses, no hit.
        assert samples['jobc_gateway_cache_lookups_total{namespace="image",result="miss"}'] == 2
        assert samples['jobc_gateway_cache_lookups_total{namespace="image",result="hit"}'] == 0


# --- submissions that compile ------------------------------------------------------------------


def put_job(**changes: Any) -> dict[str, Any]:
    """A `PutJobRequest` as Bacalhau's CLI sends it (tests/cases/gateway/put-job.json),
    without its URL input (so jobc's own compile, which fetches URLs, agrees with the
    gateway's, which does not)."""
    data: dict[str, Any] = json.loads((CASES / "gateway" / "put-job.json").read_text())
    task = data["Job"]["Tasks"][0]
    task["InputSources"] = task["InputSources"][:1]
    data["Job"].update(changes)
    return data


def stored_alias(store: Path, job_id: str) -> str | None:
    from compiler.store import open_store

    s = open_store(store)
    try:
        found = s.alias("bacalhau", job_id)
    finally:
        s.close()
    return str(found) if found is not None else None


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_a_submission_is_compiled_pinned_stamped_and_forwarded(
    gw: Running, local_registry: LocalRegistry, method: str
) -> None:
    sent = put_job()
    raw = json.dumps(sent).encode()
    r = gw.client.request(method, SUBMIT, content=raw, headers={"X-Bacalhau-Client-ID": "c1"})
    assert r.status_code == 200, r.text
    local = compile_bytes(raw, "job.json", CompileOptions())
    assert r.headers["x-jobc-cid"] == str(local.cid)
    assert r.headers["x-jobc-original"] == str(local.original)
    # The upstream's answer, as it sent it.
    answer = r.json()
    assert set(answer) == {"JobID", "EvaluationID", "Warnings"}
    assert answer["JobID"] in gw.standin.jobs
    # What the upstream received: the job with its image pinned and its CIDs in Meta.
    (got,) = gw.standin.submissions
    assert got.method == method
    assert got.header("x-bacalhau-client-id") == "c1"
    assert got.header("content-length") == str(len(got.body))
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    expected = put_job()
    expected["Job"]["Tasks"][0]["Engine"]["Params"]["Image"] = f"docker.io/library/ubuntu@{digest}"
    expected["Job"]["Meta"].update(
        {"jobc.cid": str(local.cid), "jobc.original": str(local.original)}
    )
    assert got.json() == expected
    # The orchestrator's job ID now leads to the job CID.
    assert stored_alias(gw.store, answer["JobID"]) == str(local.cid)


def test_two_submissions_written_differently_get_one_cid(
    gw: Running, local_registry: LocalRegistry
) -> None:
    a = put_job()
    # The same work: keys in other cases and order, the command in Entrypoint alone (as
    # older specs wrote it), the environment as the task's Env map; another name,
    # labels and meta (not identity), no wrapper fields.
    b = {
        "job": {
            "tasks": [
                {
                    "resources": {"memory": "2gb"},
                    "inputSources": [
                        {
                            "target": "/data/words.txt",
                            "source": {
                                "params": {"cid": WORDS.removeprefix("ipfs://")},
                                "type": "IPFS",
                            },
                        }
                    ],
                    "env": {"LANG": "C"},
                    "resultPaths": [{"path": "/outputs", "name": "results"}],
                    "engine": {
                        "params": {
                            "workingDirectory": "/data",
                            "entrypoint": [
                                "/bin/sh",
                                "-c",
                                "wc -l /data/words.txt > /outputs/count",
                            ],
                            "image": "docker.io/library/ubuntu:22.04",
                        },
                        "type": "Docker",
                    },
                    "name": "other",
                }
            ],
            "type": "batch",
            "name": "renamed",
            "labels": {"owner": "someone else"},
        }
    }
    ra = gw.client.put(SUBMIT, json=a)
    rb = gw.client.put(SUBMIT, json=b)
    assert ra.status_code == rb.status_code == 200, rb.text
    assert ra.headers["x-jobc-cid"] == rb.headers["x-jobc-cid"]
    assert ra.json()["JobID"] != rb.json()["JobID"]
    assert len(gw.standin.submissions) == 2
    assert {stored_alias(gw.store, r.json()["JobID"]) for r in (ra, rb)} == {
        ra.headers["x-jobc-cid"]
    }
    # And a jobspec saying the same, through the gateway's own API.
    spec = b"""\
jobspec: 1
task:
  engine: docker
  image: ubuntu:22.04
  entrypoint: [/bin/sh, -c]
  args: ["wc -l /data/words.txt > /outputs/count"]
  env: {LANG: C}
  workdir: /data
inputs:
  - {source: "WORDS", target: /data/words.txt}
outputs: [/outputs]
""".replace(b"WORDS", WORDS.encode())
    rc = gw.client.post("/jobc/v1/compile", content=spec)
    assert rc.json()["cid"] == ra.headers["x-jobc-cid"]


def test_a_schema_error_in_a_submission_is_a_400_and_nothing_is_stored(gw: Running) -> None:
    data = put_job()
    del data["Job"]["Tasks"][0]["Engine"]["Params"]["Image"]
    raw = json.dumps(data, indent=2).encode()
    doc = is_problem(gw.client.put(SUBMIT, content=raw), 400, "invalid-job")
    (error,) = doc["errors"]
    assert error["pointer"] == "/Job/Tasks/0/Engine/Params"
    # The engine's are the first params in the body.
    line = next(i for i, text in enumerate(raw.decode().splitlines(), 1) if '"Params": {' in text)
    assert error["line"] == line
    assert gw.standin.received == []
    assert aliases(gw.store) == []


def test_an_injected_image_reference_in_a_submission_is_a_400(gw: Running) -> None:
    data = put_job()
    data["Job"]["Tasks"][0]["Engine"]["Params"]["Image"] = "--help"
    raw = json.dumps(data).encode()
    doc = is_problem(gw.client.put(SUBMIT, content=raw), 400, "invalid-job")
    (error,) = doc["errors"]
    assert error["pointer"] == "/Job/Tasks/0/Engine/Params/Image"
    assert (error["line"], error["column"]) == (1, raw.index(b'"--help"') + 2)
    assert "invalid image reference" in error["message"]
    assert gw.standin.received == []


def test_the_upstream_refusing_a_job_passes_back_and_nothing_is_stored(
    gw: Running, local_registry: LocalRegistry
) -> None:
    r = gw.client.put(SUBMIT, json=put_job(Type="sometimes"))  # Bacalhau's validation
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"  # Bacalhau's APIError, as sent
    assert r.json()["Message"] == "invalid job type: 'sometimes'"
    assert r.headers["x-jobc-cid"].startswith("bafyrei")
    assert len(gw.standin.submissions) == 1
    assert aliases(gw.store) == []
    assert not stored(gw, r.headers["x-jobc-cid"])


def test_a_dead_upstream_refuses_a_submission_and_nothing_is_stored(
    tmp_path: Path, local_registry: LocalRegistry
) -> None:
    with running(tmp_path, upstream=f"http://127.0.0.1:{free_port()}") as gw:
        r = gw.client.put(SUBMIT, json=put_job())
        is_problem(r, 502, "upstream-unreachable")
        assert r.headers["x-jobc-cid"].startswith("bafyrei")
        assert aliases(gw.store) == []
        assert not stored(gw, r.headers["x-jobc-cid"])


def test_a_slow_upstream_times_a_submission_out_and_nothing_is_stored(
    tmp_path: Path, local_registry: LocalRegistry
) -> None:
    with running(tmp_path, upstream_timeout=0.5) as gw:
        gw.standin.delay = 3.0
        r = gw.client.put(SUBMIT, json=put_job())
        is_problem(r, 504, "upstream-timeout")
        assert aliases(gw.store) == []
        assert not stored(gw, r.headers["x-jobc-cid"])


def test_an_accepted_answer_is_held_only_while_it_is_small() -> None:
    from compiler.gateway.middleware import MAX_ANSWER_READ, Answer

    small = Answer()
    small.status = 200
    assert small.accepted
    assert small.hold(b'{"JobID": "j-1", ')
    assert small.hold(b'"Warnings": []}')
    assert small.job_id() == "j-1"
    assert small.release() == b'{"JobID": "j-1", "Warnings": []}'
    big = Answer()
    big.status = 201
    assert big.hold(b"x" * MAX_ANSWER_READ)
    assert not big.hold(b"y")  # from here on it passes as it comes
    assert big.release() == b"x" * MAX_ANSWER_READ + b"y"
    assert not big.hold(b"z")
    refused = Answer()
    refused.status = 400
    assert not refused.accepted


# --- what the gateway stores, and what it answers about it --------------------------------------


def stored(gw: Running, cid: str) -> bool:
    """Whether the gateway knows a chain through `cid` (its own API says so)."""
    r = gw.client.get(f"/jobc/v1/jobs/{cid}")
    if r.status_code == 404:
        is_problem(r, 404, "not-found")
        return False
    assert r.status_code == 200, r.text
    return True


def test_an_accepted_submission_stores_its_chain(
    gw: Running, local_registry: LocalRegistry
) -> None:
    raw = json.dumps(put_job()).encode()
    r = gw.client.put(SUBMIT, content=raw)
    assert r.status_code == 200
    cid, original, job_id = r.headers["x-jobc-cid"], r.headers["x-jobc-original"], r.json()["JobID"]
    local = compile_bytes(raw, "job.json", CompileOptions())
    # Asked at once (the answer was held until the chain was stored).
    job = gw.client.get(f"/jobc/v1/jobs/{cid}").json()
    assert job["kind"] == "final"
    assert job["finals"] == [cid]
    assert job["aliases"] == [{"namespace": "bacalhau", "name": job_id, "job": cid}]
    assert job["receipts"] == {cid: []}
    # Back along the chain to the document as the client sent it.
    node, passes = job["backward"], []
    while node.get("records"):
        (step,) = node["records"]
        passes.append(step["pass"])
        node = step["from"]
    assert node == {"cid": str(local.document), "kind": "document"}
    assert passes == [r.pass_name for r in reversed(local.chain)]
    # Any CID on the chain leads to the final job.
    by_original = gw.client.get(f"/jobc/v1/jobs/{original}").json()
    assert by_original["kind"] == "original"
    assert by_original["finals"] == [cid]


def test_find_finds_a_submitted_job_from_a_spec_in_another_format(
    gw: Running, local_registry: LocalRegistry
) -> None:
    spec = JOBSPEC_OF_PUT_JOB.decode()
    before = gw.client.get("/jobc/v1/find", params={"spec": spec})
    assert before.status_code == 200
    assert before.json()["found"] == []
    r = gw.client.put(SUBMIT, json=put_job())
    assert r.status_code == 200
    found = gw.client.get("/jobc/v1/find", params={"spec": spec}).json()
    assert found["compiled"] == r.headers["x-jobc-cid"]
    assert [f["cid"] for f in found["found"]] == [r.headers["x-jobc-cid"]]
    assert found["found"][0]["receipts"] == []


def test_find_and_jobs_refuse_what_they_cannot_read(gw: Running) -> None:
    doc = is_problem(gw.client.get("/jobc/v1/find"), 400, "bad-request")
    assert "?spec=" in doc["detail"]
    doc = is_problem(
        gw.client.get("/jobc/v1/find", params={"spec": "jobspec: 1\ntask: {}\n"}),
        400,
        "invalid-job",
    )
    assert doc["errors"][0]["line"] == 2
    is_problem(gw.client.get("/jobc/v1/jobs/not-a-cid"), 400, "bad-request")
    unknown = "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    is_problem(gw.client.get(f"/jobc/v1/jobs/{unknown}"), 404, "not-found")


def test_disown_stops_find_following_a_pass_version(
    tmp_path: Path, local_registry: LocalRegistry
) -> None:
    with running(tmp_path, admin_token="t0ken") as gw:
        spec = JOBSPEC_OF_PUT_JOB.decode()
        assert gw.client.put(SUBMIT, json=put_job()).status_code == 200
        assert len(gw.client.get("/jobc/v1/find", params={"spec": spec}).json()["found"]) == 1
        is_problem(
            gw.client.post("/jobc/v1/admin/disown", params={"pass": "resolve-images@1"}),
            401,
            "unauthorized",
        )
        r = gw.client.post(
            "/jobc/v1/admin/disown",
            params={"pass": "resolve-images@1", "reason": "a registry lied"},
            headers={"Authorization": "Bearer t0ken"},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"pass": "resolve-images", "version": 1, "records": 1, "current": True}
        assert gw.client.get("/jobc/v1/find", params={"spec": spec}).json()["found"] == []
        r = gw.client.post(
            "/jobc/v1/admin/disown",
            params={"pass": "resolve images"},
            headers={"Authorization": "Bearer t0ken"},
        )
        is_problem(r, 400, "bad-request")


@contextmanager
def replicas(postgres: Any) -> Iterator[tuple[str, BacalhauStandIn, httpx.Client, httpx.Client]]:
    """(store URL, stand-in, a client of each gateway): two gateways in front of one
    stand-in, sharing a fresh PostgreSQL store (dropped afterwards)."""
    url = postgres.create_schema()
    standin = BacalhauStandIn()
    try:
        with served(standin.app()) as up:
            config = GatewayConfig(upstream=up.url, store=url)
            with (
                served(build(config)) as a,
                served(build(config)) as b,
                httpx.Client(base_url=a.url) as ca,
                httpx.Client(base_url=b.url) as cb,
            ):
                yield url, standin, ca, cb
    finally:
        postgres.drop_schema(url)


def test_replicas_share_a_postgresql_store(
    tmp_path: Path, local_registry: LocalRegistry, postgres: Any
) -> None:
    """Two gateways on one PostgreSQL store: what one stores the other answers, and an
    image one resolved the other finds in the shared cache."""
    with replicas(postgres) as (_, _, ca, cb):
        r = ca.put(SUBMIT, json=put_job())
        assert r.status_code == 200, r.text
        cid = r.headers["x-jobc-cid"]
        job = cb.get(f"/jobc/v1/jobs/{cid}").json()
        assert job["aliases"][0]["name"] == r.json()["JobID"]
        again = cb.put(SUBMIT, json=put_job(Name="from b"))
        assert again.headers["x-jobc-cid"] == cid
        samples = parse_metrics(cb.get("/metrics").text)
        assert samples['jobc_gateway_cache_lookups_total{namespace="image",result="hit"}'] == 1
        assert samples['jobc_gateway_cache_lookups_total{namespace="image",result="miss"}'] == 0
        assert len(cb.get(f"/jobc/v1/jobs/{cid}").json()["aliases"]) == 2
        assert cb.get("/jobc/v1/health").json()["store"] == "ok"
