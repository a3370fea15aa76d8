"""Bacalhau's jobs from before the Job API, through the gateway over real HTTP.

- Sent to the Job API's endpoint (`PUT /api/v1/orchestrator/jobs`), a legacy job is
  compiled by its era's front-end and migrated to the Job API (`jobc export --to
  bacalhau`): images pinned, the CIDs in `Meta`, the job's CID kept.
- Sent signed to the old endpoint (`POST /api/v1/requester/submit`), it cannot be
  rewritten without breaking the client's signature: it is compiled (CIDs in headers,
  the chain stored, a job that does not compile refused) and forwarded byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler.driver import CompileOptions, compile_bytes
from tests.conftest import CASES
from tests.localregistry import LocalRegistry
from tests.test_gateway import SUBMIT, Running, is_problem, running, stored_alias

SIGNED = "/api/v1/requester/submit"
V1BETA2 = CASES / "bacalhau" / "v1beta2" / "docker-deprecated-engine.json"
SNAKE = CASES / "bacalhau" / "v1alpha1" / "docker-snake-sharded.json"


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Running]:
    with running(tmp_path) as r:
        yield r


def legacy_job() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(V1BETA2.read_text())
    return data


def test_a_legacy_job_is_migrated_to_the_job_api(
    gw: Running, local_registry: LocalRegistry
) -> None:
    raw = json.dumps({"Job": legacy_job()}).encode()
    r = gw.client.put(SUBMIT, content=raw)
    assert r.status_code == 200, r.text
    local = compile_bytes(raw, "job.json", CompileOptions())
    assert local.format == "bacalhau/v1beta2"
    assert r.headers["x-jobc-cid"] == str(local.cid)
    assert r.headers["x-jobc-original"] == str(local.original)
    (got,) = gw.standin.submissions
    job = got.json()["Job"]
    # A Job API job now, which the orchestrator takes (it answered with a JobID).
    assert job["Type"] == "batch"
    (task,) = job["Tasks"]
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    assert task["Engine"] == {
        "Type": "docker",
        "Params": {
            "Image": f"docker.io/library/ubuntu@{digest}",
            "Entrypoint": ["/bin/bash", "-c", "wc -w /inputs/words/*.txt > /outputs/count.txt"],
            "EnvironmentVariables": ["LC_ALL=C", "TZ=UTC"],
            "WorkingDirectory": "/inputs",
        },
    }
    assert job["Meta"]["jobc.cid"] == str(local.cid)
    assert job["Meta"]["jobc.original"] == str(local.original)
    # What the orchestrator received is the same job: it compiles to the same CID.
    again = compile_bytes(got.body, "forwarded.json", CompileOptions())
    assert again.format == "bacalhau/job"
    assert again.cid == local.cid
    assert stored_alias(gw.store, r.json()["JobID"]) == str(local.cid)


def test_a_bare_snake_case_job_is_migrated_too(gw: Running) -> None:
    raw = SNAKE.read_bytes()
    r = gw.client.put(SUBMIT, content=raw)
    assert r.status_code == 200, r.text
    local = compile_bytes(raw, "job.json", CompileOptions())
    assert local.format == "bacalhau/v1alpha1-snake"
    (got,) = gw.standin.submissions
    assert got.json()["Job"]["Meta"]["jobc.cid"] == r.headers["x-jobc-cid"] == str(local.cid)
    assert compile_bytes(got.body, "forwarded.json", CompileOptions()).cid == local.cid


def signed_body(payload: bytes, key: str = "payload") -> bytes:
    """A signed submission as Bacalhau's client wrote it: the payload's bytes verbatim
    (the signature is over them), spaced as Go's encoder does not."""
    return (
        b'{\n  "client_public_key": "MIIBCgKCAQEAx0", \n  "' + key.encode() + b'": '
        + payload
        + b',\n  "signature": "c2lnbmVkIGJ5IHRoZSBjbGllbnQ="\n}'
    )  # fmt: skip


def test_a_signed_submission_is_compiled_and_forwarded_byte_for_byte(
    gw: Running, local_registry: LocalRegistry
) -> None:
    payload = {"ClientID": "c0ffee", **legacy_job()}
    payload.pop("Metadata")
    raw_payload = json.dumps(payload, indent=1).encode()
    body = signed_body(raw_payload)
    r = gw.client.post(SIGNED, content=body)
    assert r.status_code == 200, r.text
    local = compile_bytes(raw_payload, "payload.json", CompileOptions())
    assert r.headers["x-jobc-cid"] == str(local.cid)
    assert r.headers["x-jobc-original"] == str(local.original)
    (got,) = gw.standin.submissions
    assert got.body == body  # the signature still holds
    job_id = r.json()["job"]["Metadata"]["ID"]
    assert stored_alias(gw.store, job_id) == str(local.cid)
    # The document stored is the payload as signed.
    found = gw.client.get(f"/jobc/v1/jobs/{local.document}").json()
    assert found["finals"] == [str(local.cid)]


def test_a_signed_submission_that_does_not_compile_is_a_400_placed_in_the_body(
    gw: Running,
) -> None:
    payload = {"ClientID": "c0ffee", **legacy_job()}
    payload["Spec"]["Docker"]["Image"] = "--help"
    body = signed_body(json.dumps(payload, indent=1).encode(), key="data")
    r = gw.client.post(SIGNED, content=body)
    doc = is_problem(r, 400, "invalid-job")
    (err,) = doc["errors"]
    assert err["pointer"] == "/data/Spec/Docker/Image"
    lines = body.decode().splitlines()
    line = lines[err["line"] - 1]
    # At the offending character, inside the string, as on the Job API's endpoint.
    assert line[err["column"] - 1 :].startswith('--help"'), (line, err)
    assert gw.standin.received == []


def test_a_signed_submission_without_a_payload_is_refused(gw: Running) -> None:
    r = gw.client.post(SIGNED, json={"client_public_key": "k", "signature": "s"})
    is_problem(r, 400, "not-a-submission")
    r = gw.client.post(SIGNED, content=b'["not", "an", "object"]')
    is_problem(r, 400, "invalid-job")
    assert gw.standin.received == []
