"""Compiled documents, records and identity maps match their published JSON Schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from compiler.driver import compile_bytes
from compiler.emitters.compiled import to_document
from tests.conftest import EXAMPLES, ROOT

SCHEMAS = {p.name: json.loads(p.read_text()) for p in (ROOT / "schemas").glob("*.json")}
REGISTRY: Registry = Registry().with_resources(  # type: ignore[type-arg]
    (s["$id"], Resource.from_contents(s)) for s in SCHEMAS.values()
)


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(SCHEMAS[name], registry=REGISTRY)


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*") if p.suffix in (".yaml", ".yml", ".json"))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schemas_are_valid_json_schemas(name: str) -> None:
    Draft202012Validator.check_schema(SCHEMAS[name])


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_compiled_examples_match_the_schema(path: Path) -> None:
    doc = to_document(compile_bytes(path.read_bytes(), str(path)))
    errors = sorted(validator("compiled-1.schema.json").iter_errors(doc), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_the_schema_rejects_a_float_in_identity() -> None:
    doc = to_document(compile_bytes(b"jobspec: 1\ntask: {engine: docker, image: a}\n", "a.yaml"))
    doc["job"]["x"] = {"ratio": 1.5}
    assert not validator("compiled-1.schema.json").is_valid(doc)


def test_the_schema_rejects_a_record_without_facts() -> None:
    doc = to_document(compile_bytes(b"jobspec: 1\ntask: {engine: docker, image: a}\n", "a.yaml"))
    del doc["chain"][0]["facts"]
    assert not validator("compiled-1.schema.json").is_valid(doc)
