"""The gateway's memo end to end over real HTTP: a job a trusted node has run is answered
from its receipt and never reaches the orchestrator.

Receipts are made for real: the example WASM jobs are compiled, run by jobc's runner
(real wasmtime) and signed by a node key, into the store the gateway uses; the job is
then submitted as Bacalhau's Job API writes it (`jobc export --to bacalhau`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from compiler.driver import CompileOptions, compile_file
from compiler.emitters import emitter, job_docs_of
from compiler.runtime.execute import run_job
from compiler.runtime.receipts import TRUST_FILE, NodeKey, Receipt
from compiler.store import open_store
from tests.test_gateway import SUBMIT, parse_metrics, replicas, running

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass
class Ran:
    """A job run by a node into the gateway's store, and its submission."""

    cid: str
    receipt: Receipt
    body: bytes
    """The job as a Bacalhau `PutJobRequest`."""


def run_example(store: Path | str, example: str, key: NodeKey | None = None) -> Ran:
    """Compile `example`, run it (signed by `key`, default this data dir's node) with its
    receipt kept in `store`, and write it as a Bacalhau job."""
    options = CompileOptions(store=str(store), settings={"store_content": True})
    compiled = compile_file(EXAMPLES / example, options)
    s = open_store(store)
    try:
        ran = run_job(compiled.job, s, key or NodeKey.load_or_create())
    finally:
        s.close()
    job = emitter("bacalhau")(job_docs_of(compiled), {}).data
    return Ran(str(compiled.cid), ran.receipt, json.dumps({"Job": job}).encode())


def submission_only(store: Path | str, example: str) -> bytes:
    """`example` as a Bacalhau job, never run."""
    compiled = compile_file(EXAMPLES / example, CompileOptions(store=str(store)))
    return json.dumps({"Job": emitter("bacalhau")(job_docs_of(compiled), {}).data}).encode()


def memo_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The `memo` field of every submission's log line."""
    lines = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "jobc.gateway" and r.getMessage().startswith("{")
    ]
    return [line.get("memo", "") for line in lines if line.get("route") == "submit"]


def test_a_memo_hit_is_answered_from_the_receipt_and_never_reaches_the_upstream(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "jobc.gateway")
    store = tmp_path / "gateway.sqlite"
    ran = run_example(store, "wasm-hello.yaml")
    with running(tmp_path) as gw:
        r = gw.client.put(SUBMIT, content=ran.body)
        assert r.status_code == 200, r.text
        assert r.headers["x-jobc-memo"] == "hit"
        assert r.headers["x-jobc-cid"] == ran.cid
        assert r.headers["x-jobc-receipt"] == str(ran.receipt.cid)
        assert r.headers["content-type"] == "application/json"
        answer = r.json()
        # Bacalhau's PutJobResponse, with jobc's member beside it.
        assert answer["JobID"] == ran.cid
        assert answer["EvaluationID"] == ""
        assert "not run again" in answer["Warnings"][0]
        assert answer["jobc"]["memo"] == "hit"
        assert answer["jobc"]["cid"] == ran.cid
        receipt = answer["jobc"]["receipt"]
        assert receipt["cid"] == {"/": str(ran.receipt.cid)}
        assert receipt["job"] == {"/": ran.cid}
        assert receipt["node"] == NodeKey.load_or_create().node
        assert receipt["stdout"] == {"/": str(ran.receipt.stdout)}
        assert receipt["exit"] == 0
        # The same job written differently (keys reordered, spaced out) is the same job.
        again = json.dumps(json.loads(ran.body), indent=2, sort_keys=True).encode()
        r2 = gw.client.put(SUBMIT, content=again)
        assert r2.headers["x-jobc-memo"] == "hit"
        assert r2.json()["jobc"]["receipt"] == receipt
        assert gw.standin.submissions == []  # neither reached the orchestrator
        # Both documents now lead to the job (their chains were stored).
        job = gw.client.get(f"/jobc/v1/jobs/{ran.cid}").json()
        assert [x["cid"] for x in job["receipts"][ran.cid]] == [str(ran.receipt.cid)]
        assert job["receipts"][ran.cid][0]["trusted"] is True
        metrics = parse_metrics(gw.client.get("/metrics").text)
    assert metrics['jobc_gateway_memo_total{result="hit"}'] == 2
    assert memo_log(caplog) == ["hit", "hit"]


def test_header_only_forwards_and_says_hit_or_miss(tmp_path: Path) -> None:
    store = tmp_path / "gateway.sqlite"
    ran = run_example(store, "wasm-hello.yaml")
    never_ran = submission_only(store, "wasm-wat-uppercase.yaml")
    with running(tmp_path, memo="header-only") as gw:
        r = gw.client.put(SUBMIT, content=ran.body)
        assert r.status_code == 200, r.text
        assert r.headers["x-jobc-memo"] == "hit"
        assert set(r.json()) == {"JobID", "EvaluationID", "Warnings"}  # the upstream's
        assert r.json()["JobID"] in gw.standin.jobs
        missed = gw.client.put(SUBMIT, content=never_ran)
        assert missed.status_code == 200, missed.text
        assert missed.headers["x-jobc-memo"] == "miss"
        assert len(gw.standin.submissions) == 2


def test_a_miss_is_forwarded_and_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "jobc.gateway")
    never_ran = submission_only(tmp_path / "gateway.sqlite", "wasm-hello.yaml")
    with running(tmp_path) as gw:
        r = gw.client.put(SUBMIT, content=never_ran)
        assert r.status_code == 200, r.text
        assert r.headers["x-jobc-memo"] == "miss"
        assert r.json()["JobID"] in gw.standin.jobs
        assert len(gw.standin.submissions) == 1
        metrics = parse_metrics(gw.client.get("/metrics").text)
    assert metrics['jobc_gateway_memo_total{result="miss"}'] == 1
    assert memo_log(caplog) == ["miss"]


def test_memo_off_never_looks(tmp_path: Path) -> None:
    store = tmp_path / "gateway.sqlite"
    ran = run_example(store, "wasm-hello.yaml")
    with running(tmp_path, memo="off") as gw:
        r = gw.client.put(SUBMIT, content=ran.body)
        assert r.status_code == 200, r.text
        assert "x-jobc-memo" not in r.headers
        assert r.json()["JobID"] in gw.standin.jobs


def test_a_nondeterministic_job_is_never_answered_from_a_receipt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "jobc.gateway")
    store = tmp_path / "gateway.sqlite"
    ran = run_example(store, "wasm-network-nondeterministic.yaml")
    assert ran.receipt.node == NodeKey.load_or_create().node  # trusted, and still not used
    with running(tmp_path) as gw:
        r = gw.client.put(SUBMIT, content=ran.body)
        assert r.status_code == 200, r.text
        assert r.headers["x-jobc-cid"] == ran.cid
        assert "x-jobc-memo" not in r.headers
        assert r.json()["JobID"] in gw.standin.jobs
        metrics = parse_metrics(gw.client.get("/metrics").text)
    assert metrics['jobc_gateway_memo_total{result="skip"}'] == 1
    assert memo_log(caplog) == ["skip"]


def test_only_a_trusted_nodes_receipt_answers(tmp_path: Path, jobc_home: Path) -> None:
    store = tmp_path / "gateway.sqlite"
    stranger = NodeKey.generate()
    ran = run_example(store, "wasm-hello.yaml", key=stranger)
    assert ran.receipt.node == stranger.node
    with running(tmp_path) as gw:
        r = gw.client.put(SUBMIT, content=ran.body)
        assert r.status_code == 200, r.text
        assert r.headers["x-jobc-memo"] == "miss"
        assert len(gw.standin.submissions) == 1
    # Trusted by configuration (the data dir's `trusted-nodes`), its receipt answers.
    (jobc_home / TRUST_FILE).write_text(f"# a node we know\n{stranger.node}\n")
    with running(tmp_path) as gw:
        r = gw.client.put(SUBMIT, content=ran.body)
        assert r.headers["x-jobc-memo"] == "hit"
        assert r.json()["jobc"]["receipt"]["node"] == stranger.node
        assert gw.standin.submissions == []


def test_replicas_on_a_postgresql_store_answer_from_a_receipt_stored_elsewhere(
    postgres: Any,
) -> None:
    """A runner stores its receipt in the shared PostgreSQL store while two gateways run:
    the first submission after it is a hit on either replica."""
    with replicas(postgres) as (url, standin, ca, cb):
        never_ran = submission_only(url, "wasm-hello.yaml")
        assert ca.put(SUBMIT, content=never_ran).headers["x-jobc-memo"] == "miss"
        ran = run_example(url, "wasm-hello.yaml")
        for client in (cb, ca):
            r = client.put(SUBMIT, content=ran.body)
            assert r.headers["x-jobc-memo"] == "hit", r.text
            assert r.headers["x-jobc-receipt"] == str(ran.receipt.cid)
        assert len(standin.submissions) == 1  # only the miss


def test_a_failing_memo_lookup_forwards_the_job(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The store cannot answer (here its receipts table is gone): the job is forwarded,
    as without memo, and the log says why."""
    import sqlite3

    caplog.set_level(logging.INFO, "jobc.gateway")
    store = tmp_path / "gateway.sqlite"
    ran = run_example(store, "wasm-hello.yaml")
    with sqlite3.connect(store) as db:
        db.execute("DROP TABLE receipts")
    with running(tmp_path) as gw:
        r = gw.client.put(SUBMIT, content=ran.body)
        assert r.status_code == 200, r.text
        assert "x-jobc-memo" not in r.headers
        assert r.json()["JobID"] in gw.standin.jobs
        metrics = parse_metrics(gw.client.get("/metrics").text)
    assert metrics['jobc_gateway_memo_total{result="error"}'] == 1
    assert memo_log(caplog) == ["error"]
    assert any("memo lookup" in r.getMessage() for r in caplog.records)
