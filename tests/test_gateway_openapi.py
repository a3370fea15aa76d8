"""Schemathesis against the gateway's own OpenAPI document, over real HTTP: every
operation, with generated valid and invalid requests, must answer without a server
error, with a status, content type, headers and body that the document declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import hypothesis.errors
import hypothesis.strategies as st
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from compiler.gateway import GatewayConfig
from compiler.gateway.server import build
from tests.gatewayharness import BacalhauStandIn, served

TOKEN = "schemathesis-token"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("openapi") / "store.sqlite"
    standin = BacalhauStandIn()
    with served(standin.app()) as up:
        config = GatewayConfig(upstream=up.url, store=str(store), admin_token=TOKEN, offline=True)
        with served(build(config)) as gw:
            yield gw.url


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_gateway_api_has_no_server_errors(gateway_url: str, mode: GenerationMode) -> None:
    # schemathesis' pytest plugin (`from_fixture`) does not run under pytest 9: drive
    # its strategies with hypothesis directly, one operation at a time.
    api = schemathesis.openapi.from_url(f"{gateway_url}/jobc/v1/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"POST /jobc/v1/compile", "POST /jobc/v1/admin/cache/purge"} <= labels
    # Valid requests carry the admin token (so purges run); invalid ones do not.
    auth = {"Authorization": f"Bearer {TOKEN}"} if mode is GenerationMode.POSITIVE else {}
    tried = set()
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=mode)
        if mode is GenerationMode.POSITIVE:
            strategy = st.one_of(strategy, *operation.get_strategies_from_examples())

        @hypothesis.given(case=strategy)
        @hypothesis.settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=auth, checks=CHECKS)

        try:
            check()
        except hypothesis.errors.Unsatisfiable:
            # No invalid request exists for an operation without inputs (GET /health).
            assert mode is GenerationMode.NEGATIVE
            continue
        tried.add(operation.label)
    assert "POST /jobc/v1/compile" in tried


def test_the_document_is_served_and_names_every_route(gateway_url: str) -> None:
    import httpx

    doc = httpx.get(f"{gateway_url}/jobc/v1/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {
        "/jobc/v1/health",
        "/jobc/v1/compile",
        "/jobc/v1/problems/{kind}",
        "/jobc/v1/jobs/{cid}",
        "/jobc/v1/find",
        "/jobc/v1/admin/cache/purge",
        "/jobc/v1/admin/disown",
        "/jobc/v1/openapi.json",
        "/metrics",
    }
