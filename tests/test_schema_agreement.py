"""`schemas/jobspec-1.schema.json` and the jobspec/1 front-end agree on what a job is.

Hypothesis builds documents near the format (valid ones, and valid ones with one field
retyped, removed or added) and checks that the schema accepts a document exactly when
`compile_bytes` does. Some checks cannot be written in JSON Schema: they are listed in
`SEMANTIC_CHECKS`, the generators never produce them, and `semantic_problems` guards
the comparison (tests below show that the compiler does make each check).
"""

from __future__ import annotations

import base64
import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from compiler import imageref
from compiler.diagnostics import SpecError
from compiler.driver import CompileOptions, compile_bytes
from compiler.frontends.loader import load
from compiler.passes import parse_pipeline
from compiler.passes.normalize import clean_path
from tests.conftest import EXAMPLES, ROOT

SCHEMA = json.loads((ROOT / "schemas" / "jobspec-1.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)

SEMANTIC_CHECKS = {
    "duplicate-target": "two inputs mounted at the same target (also after cleaning: /a, /a/)",
    "duplicate-output": "two outputs with the same path (also after cleaning)",
    "duplicate-name": "two inputs, or two outputs, with the same name",
    "duplicate-env": "a NAME given twice in an `env` list of NAME=value strings",
    "duplicate-x": "an unknown field whose `x` key (gpu, task.gpu, …) is also given in `x`",
    "bad-await": "a `job:` input source that is not job:<job CID>#/output/path",
    "integral-float": "a float with an integral value (1.0): JSON Schema reads it as 1",
    "non-finite": "NaN and ±Infinity (json.dumps writes them; they are not JSON)",
    "int-digits": "an integer of more than 4300 digits",
    "surrogate": "a lone UTF-16 surrogate in a string",
}
"""What the compiler checks and the schema cannot say (excluded from generation)."""

SETTINGS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TASK_FIELDS = {"engine", "image", "platform", "entrypoint", "args", "env", "workdir"}
TASK_FIELDS |= {"module", "imports", "stdin", "source", "edition"}


NORMALIZE_ONLY = CompileOptions(passes=parse_pipeline("normalize"))
"""The schema describes documents, not registries or files: no resolving passes."""


def compiles(doc: Any) -> tuple[bool, str]:
    """Whether the front-end (and the normalize pass) accept `doc`, and why not."""
    try:
        compile_bytes(json.dumps(doc).encode(), "x.json", NORMALIZE_ONLY)
    except SpecError as exc:
        return False, "; ".join(f"{d.pointer}: {d.message}" for d in exc.errors)
    return True, ""


def schema_errors(doc: Any) -> list[str]:
    """The schema's complaints about `doc`."""
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


def assert_agree(doc: Any) -> None:
    """The schema accepts `doc` exactly when the front-end does."""
    ok, why = compiles(doc)
    errors = schema_errors(doc)
    assert ok == (not errors), (doc, why, errors[:3])


# --- what the schema cannot say ------------------------------------------------------------


def _walk(value: Any, inside_execution: bool = False) -> Iterator[tuple[Any, bool]]:
    stack = [(value, inside_execution)]
    while stack:
        v, in_exec = stack.pop()
        yield v, in_exec
        if isinstance(v, dict):
            stack.extend((k, in_exec) for k in v)
            stack.extend((x, in_exec) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, in_exec) for x in v)


def semantic_problems(doc: Any) -> list[str]:
    """The SEMANTIC_CHECKS `doc` runs into (an empty list for the documents compared)."""
    found: list[str] = []
    for value, _ in _walk(doc):
        if isinstance(value, float):
            if not math.isfinite(value):
                found.append("non-finite")
            elif value.is_integer():
                found.append("integral-float")
        elif isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 10**4300:
                found.append("int-digits")
        elif isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            found.append("surrogate")
    if not isinstance(doc, dict):
        return found
    x_keys = set(doc["x"]) if isinstance(doc.get("x"), dict) else set()
    derived: list[str] = [k for k in doc if k not in TOP_FIELDS]
    task = doc.get("task")
    if isinstance(task, dict) and task.get("engine") in ("docker", "wasm", "rust", "c"):
        derived += [f"task.{k}" for k in task if k not in TASK_FIELDS]
    inputs = doc.get("inputs")
    if isinstance(inputs, list):
        maps = [i for i in inputs if isinstance(i, dict)]
        targets = [i["target"] for i in maps if isinstance(i.get("target"), str)]
        found += _duplicates(targets, "duplicate-target")
        found += _duplicates([i["name"] for i in maps if "name" in i], "duplicate-name")
        if any(isinstance(i.get("source"), str) and i["source"].startswith("job:") for i in maps):
            found.append("bad-await")
        for i in maps:
            derived += [f"inputs[{i.get('target')}].{k}" for k in i if k not in INPUT_FIELDS]
    outputs = doc.get("outputs")
    if isinstance(outputs, list):
        paths = [o.get("path") if isinstance(o, dict) else o for o in outputs]
        found += _duplicates([p for p in paths if isinstance(p, str)], "duplicate-output")
        named = [o["name"] for o in outputs if isinstance(o, dict) and "name" in o]
        found += _duplicates(named, "duplicate-name")
    if isinstance(task, dict) and isinstance(task.get("env"), list):
        names = [e.partition("=")[0] for e in task["env"] if isinstance(e, str)]
        found += _duplicates(names, "duplicate-env", clean=False)
    if x_keys & set(derived):
        found.append("duplicate-x")
    return found


TOP_FIELDS = set(SCHEMA["properties"])
INPUT_FIELDS = {"name", "source", "text", "target"}


def _duplicates(values: list[Any], problem: str, *, clean: bool = True) -> list[str]:
    seen: set[Any] = set()
    for v in values:
        key = clean_path(v) if clean and isinstance(v, str) and v.startswith("/") else v
        try:
            if key in seen:
                return [problem]
            seen.add(key)
        except TypeError:  # an unhashable (retyped) value: not a duplicate
            continue
    return []


# --- generators ----------------------------------------------------------------------------

# Unknown-field names and `x` keys never meet, so "duplicate-x" is never generated.
UNKNOWN_NAMES = st.sampled_from(["gpu", "priority", "zone", "Task", "input", "mode"])
X_KEYS = st.sampled_from(["owner", "sandbox.seccomp", "toolchain", "x-team", ""])

INT64_EDGES = [-(2**64) - 1, -(2**64), -1, 0, 2**63, 2**64 - 1, 2**64, 10**30]
integers = st.integers() | st.sampled_from(INT64_EDGES)
identity_integers = st.integers(min_value=-(2**64), max_value=2**64 - 1)
fractions = st.builds(
    float.__add__, st.integers(-(10**6), 10**6).map(float), st.sampled_from([0.5, 0.25, 1e-9])
) | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
text = st.text(max_size=12)
identity_scalars = st.none() | st.booleans() | identity_integers | text
identity_values = st.recursive(
    identity_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
any_scalars = st.none() | st.booleans() | integers | fractions | text
any_values = st.recursive(
    any_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
string_or_int = text | integers
arg_lists = st.lists(string_or_int, max_size=4)

IMAGES = [
    "ubuntu",
    "ubuntu:22.04",
    "library/ubuntu:latest",
    "ghcr.io/org/tool:v1.2",
    "localhost:5000/a/b",
    "[::1]:5000/x",
    "quay.io/biocontainers/samtools:1.17--h00cdaf9_0",
    "python@sha256:" + "ab" * 32,
    "registry.example.com/team/app:1@sha256:" + "0" * 64,
]
sources = st.sampled_from(
    [
        "data/words.txt",
        "./in/",
        "file:data/",
        "ipfs://bafkqaaa",
        "https://example.com/a",
        "s3://b/k",
    ]
) | st.text(min_size=1, max_size=12).filter(lambda s: not s.startswith("job:"))
env_maps = st.dictionaries(text, string_or_int, max_size=3)
env_lists = st.lists(
    st.from_regex(r"[A-Z_]{1,6}", fullmatch=True), unique=True, max_size=3
).flatmap(
    lambda names: st.tuples(*(text for _ in names)).map(
        lambda vals: [f"{n}={v}" for n, v in zip(names, vals, strict=True)]
    )
)
envs = env_maps | env_lists


def _task(engine: str, required: dict[str, Any], optional: dict[str, Any]) -> Any:
    return st.fixed_dictionaries(
        {"engine": st.just(engine), **required},
        optional={**optional, "gpu": identity_values},
    )


docker_tasks = _task(
    "docker",
    {"image": st.sampled_from(IMAGES)},
    {
        "platform": st.sampled_from(["", "linux/amd64", "Linux/ARM64/v8", "windows/amd64"]),
        "entrypoint": text | arg_lists,
        "args": arg_lists,
        "env": envs,
        "workdir": text,
    },
)
wasm_tasks = _task(
    "wasm",
    {"module": sources},
    {
        "entrypoint": text,
        "args": st.lists(identity_values, max_size=3),
        "env": envs,
        "imports": st.dictionaries(text, sources, max_size=2),
        "stdin": sources,
    },
)
rust_tasks = _task(
    "rust",
    {"source": sources},
    {
        "edition": st.sampled_from(["", "2015", "2018", "2021", "2024", 2018, 2021]),
        "args": arg_lists,
        "env": envs,
    },
)
c_tasks = _task("c", {"source": sources}, {"args": arg_lists, "env": envs})
other_tasks = st.builds(
    lambda engine, params: {"engine": engine, **params},
    st.sampled_from(["qemu", "python", "Docker", "wasm3"]),
    st.dictionaries(text.filter(lambda k: k != "engine"), identity_values, max_size=3),
)
tasks = docker_tasks | wasm_tasks | rust_tasks | c_tasks | other_tasks

segments = st.lists(st.from_regex(r"[a-z0-9]{1,4}", fullmatch=True), unique=True, max_size=3)


def _inputs(names: list[str]) -> Any:
    def one(i: int, name: str) -> Any:
        content = st.fixed_dictionaries({"source": sources}) | st.fixed_dictionaries({"text": text})
        extra = st.fixed_dictionaries(
            {}, optional={"name": st.just(f"in{i}"), "cache": identity_values}
        )
        return st.tuples(content, extra).map(lambda p: {"target": f"/data/{name}", **p[0], **p[1]})

    return st.tuples(*(one(i, n) for i, n in enumerate(names))).map(list)


def _outputs(names: list[str]) -> Any:
    def one(i: int, name: str) -> Any:
        path = f"/outputs/{name}"
        named = st.fixed_dictionaries(
            {"path": st.just(path)},
            optional={"name": st.just(f"out{i}"), "format": identity_values},
        )
        return st.just(path) | named

    return st.tuples(*(one(i, n) for i, n in enumerate(names))).map(list)


networks = st.sampled_from(["none", "http", "full"]) | st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["http", "full"]),
        "domains": st.lists(string_or_int, max_size=2),
        "proxy": identity_values,
    },
).filter(lambda n: n.get("mode", "none") != "none" or not n.get("domains"))

valid_documents = st.fixed_dictionaries(
    {"jobspec": st.sampled_from([1, "1"]), "task": tasks},
    optional={
        "name": string_or_int,
        "labels": st.dictionaries(text, string_or_int, max_size=3),
        "inputs": segments.flatmap(_inputs),
        "outputs": segments.flatmap(_outputs),
        "deterministic": st.booleans(),
        "network": networks,
        "nonce": text,
        "execution": st.dictionaries(text, any_values, max_size=3),
        "x": st.dictionaries(X_KEYS, identity_values, max_size=3),
        "gpu": identity_values,
        "priority": identity_values,
    },
)


def _places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _places(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _places(v, (*path, i))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


FIELD_NAMES = TOP_FIELDS | TASK_FIELDS | INPUT_FIELDS | {"path", "mode", "domains"}
near_values = any_values | st.sampled_from(
    # Values one step from right or wrong: the edges of the format's rules.
    [
        *("", "data", "/data", "/data/x", "./x", "/a\x00b", "none", "http", "HTTP", "docker"),
        *("wasm", "ubuntu", "Ubuntu", "a:b:c", "-a", "linux/amd64", "linux", "A=1", "=1", "A"),
        *("1", "2021", "2019", 2021, 0, 1, -1, 2**64, True, None, [], {}, ["A=1"], [1]),
        *({"a": 1}, {"mode": "http"}, {"domains": ["a"]}, {"path": "/p"}),
        {"source": "a", "target": "/t"},
    ]
)


def _structural(path: tuple[Any, ...]) -> bool:
    """Whether `path` is a place of the format itself, not inside a free-form value."""
    names = [step for step in path if isinstance(step, str)]
    free = ("x", "execution", "labels", "imports", "gpu", "priority", "cache", "format", "proxy")
    return len(path) <= 4 and not (set(names) & set(free)) and "params" not in names


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """A valid document with one value retyped, one field removed or one field added.

    Most mutations hit the format's own fields (the free-form values under `x`,
    `execution`, … are many, but one rule covers them all).
    """
    doc = copy.deepcopy(draw(valid_documents))
    places = list(_places(doc))[1:]
    structural = [p for p in places if _structural(p)]
    if structural and draw(st.integers(0, 9)) < 8:
        places = structural
    kind = draw(st.sampled_from(["retype", "remove", "add"]))
    if kind == "add":
        maps = [()] + [p for p in places if isinstance(_at(doc, p), dict)]
        where = draw(st.sampled_from(maps))
        key = draw(UNKNOWN_NAMES | st.sampled_from(sorted(FIELD_NAMES)) | text)
        _at(doc, where)[key] = draw(near_values)
        return doc
    where = draw(st.sampled_from(places))
    parent, last = _at(doc, where[:-1]), where[-1]
    if kind == "remove":
        del parent[last]
    else:
        parent[last] = draw(near_values)
    return doc


# --- tests ---------------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"].endswith("jobspec-1.schema.json")


def test_every_property_has_a_description() -> None:
    missing: list[str] = []

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{where}/properties/{name}")
            for key, sub in node.items():
                if key not in ("if", "then"):  # conditions, not definitions
                    visit(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                visit(sub, f"{where}/{i}")

    visit(SCHEMA, "#")
    assert not missing


@SETTINGS
@given(valid_documents)
def test_generated_valid_documents_are_accepted_by_both(doc: dict[str, Any]) -> None:
    assert not semantic_problems(doc)
    ok, why = compiles(doc)
    assert ok, why
    assert not schema_errors(doc)


@SETTINGS
@given(mutated_documents())
def test_schema_accepts_exactly_what_the_front_end_accepts(doc: Any) -> None:
    assume(not semantic_problems(doc))
    assert_agree(doc)


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *("a", "b0", "Z", ".", "..", ":", "/", "@", "-", "_", "__", "localhost"),
                *("[::1]", "[", "]", "5000", "é", "sha256", "k8s.gcr.io", "\n"),
                *("sha256:" + "a" * 64, "sha512:" + "F" * 32, "x" * 130, "y" * 250),
            ]
        ),
        max_size=8,
    ).map("".join)
)
def test_the_image_reference_pattern_is_the_parser(ref: str) -> None:
    try:
        imageref.parse(ref)
        ok = True
    except imageref.ReferenceError:
        ok = False
    doc = {"jobspec": 1, "task": {"engine": "docker", "image": ref}}
    assert ok == (not schema_errors(doc)), ref
    assert_agree(doc)


def _docker(**fields: Any) -> dict[str, Any]:
    return {"jobspec": 1, "task": {"engine": "docker", "image": "ubuntu", **fields}}


def _with(**fields: Any) -> dict[str, Any]:
    return {**_docker(), **fields}


NEAR_MISSES: list[tuple[bool, dict[str, Any]]] = [
    # (accepted?, document): one rule of the format each, right and wrong.
    (True, {"jobspec": "1", "task": {"engine": "qemu", "cpu": {"n": 2}}}),
    (False, {"jobspec": 2, "task": {"engine": "qemu"}}),
    (False, {"jobspec": True, "task": {"engine": "qemu"}}),
    (False, {"task": {"engine": "qemu"}}),
    (False, {"jobspec": 1}),
    (False, {"jobspec": 1, "task": {}}),
    (False, {"jobspec": 1, "task": {"engine": ""}}),
    (False, {"jobspec": 1, "task": {"engine": None}}),
    (False, {"jobspec": 1, "task": {"engine": "qemu", "ratio": 0.5}}),
    (False, {"jobspec": 1, "task": {"engine": "docker"}}),
    (False, _docker(image="")),
    (False, _docker(image=7)),
    (False, _docker(image="Ubuntu")),
    (False, _docker(image="a:b:c")),
    (False, _docker(image="-a")),
    (False, _docker(image="a:" + "t" * 129)),
    (True, _docker(image="a:" + "t" * 128)),
    (False, _docker(image="ubuntu\n")),
    (True, _docker(platform="linux/arm64/v8")),
    (False, _docker(platform="linux")),
    (True, _docker(entrypoint="sh")),
    (False, _docker(entrypoint=True)),
    (True, _docker(args=["a", 1])),
    (False, _docker(args=["a", None])),
    (False, _docker(args="a b")),
    (True, _docker(env={"A": "1", "B": 2})),
    (False, _docker(env={"A": None})),
    (True, _docker(env=["A=1", "B="])),
    (False, _docker(env=["A"])),
    (False, _docker(env=["=1"])),
    (False, _docker(env=[""])),
    (False, _docker(env="A=1")),
    (True, _docker(gpu={"count": 1})),
    (False, _docker(gpu=[0.5])),
    (False, _docker(workdir=1)),
    (True, {"jobspec": 1, "task": {"engine": "wasm", "module": "m.wasm", "args": [1, True, None]}}),
    (False, {"jobspec": 1, "task": {"engine": "wasm", "module": ""}}),
    (False, {"jobspec": 1, "task": {"engine": "wasm", "module": "m", "args": [2**64]}}),
    (False, {"jobspec": 1, "task": {"engine": "wasm", "module": "m", "imports": {"a": ""}}}),
    (False, {"jobspec": 1, "task": {"engine": "wasm", "module": "m", "stdin": 1}}),
    (True, {"jobspec": 1, "task": {"engine": "rust", "source": "s", "edition": 2018}}),
    (True, {"jobspec": 1, "task": {"engine": "rust", "source": "s", "edition": ""}}),
    (False, {"jobspec": 1, "task": {"engine": "rust", "source": "s", "edition": "2019"}}),
    (True, {"jobspec": 1, "task": {"engine": "c", "source": "s", "edition": "2019"}}),
    (False, {"jobspec": 1, "task": {"engine": "c"}}),
    (True, _with(name=5, labels={"a": 1}, nonce="", deterministic=False)),
    (False, _with(name=None)),
    (False, _with(labels={"a": True})),
    (False, _with(nonce=1)),
    (False, _with(deterministic="true")),
    (True, _with(inputs=[{"source": "a", "target": "/a"}, {"text": "", "target": "/b"}])),
    (False, _with(inputs=[{"target": "/a"}])),
    (False, _with(inputs=[{"source": "a", "text": "b", "target": "/a"}])),
    (False, _with(inputs=[{"source": "", "target": "/a"}])),
    (False, _with(inputs=[{"source": "a", "target": "a"}])),
    (False, _with(inputs=[{"source": "a", "target": ""}])),
    (False, _with(inputs=[{"source": "a", "target": "/a\x00"}])),
    (False, _with(inputs=[{"source": "a"}])),
    (False, _with(inputs=[{}])),
    (False, _with(inputs=["/a"])),
    (False, _with(inputs={})),
    (False, _with(inputs=[{"source": "a", "target": "/a", "name": 1}])),
    (True, _with(inputs=[{"source": "a", "target": "/a", "cache": [1, "x"]}])),
    (False, _with(inputs=[{"source": "a", "target": "/a", "cache": 1.5}])),
    (True, _with(outputs=["/o", {"path": "/p", "name": "p"}, {"path": "/q", "f": 1}])),
    (False, _with(outputs=["o"])),
    (False, _with(outputs=[""])),
    (False, _with(outputs=[{}])),
    (False, _with(outputs=[{"name": "n"}])),
    (False, _with(outputs=[7])),
    (True, _with(network="full")),
    (True, _with(network={})),
    (True, _with(network={"mode": "none", "domains": []})),
    (True, _with(network={"mode": "http", "domains": ["a.org", 1]})),
    (False, _with(network={"domains": ["a.org"]})),
    (False, _with(network={"mode": "none", "domains": ["a.org"]})),
    (False, _with(network="HTTP")),
    (False, _with(network={"mode": None})),
    (False, _with(network=None)),
    (True, _with(execution={"cpu": 0.5, "n": None})),
    (False, _with(execution=[])),
    (True, _with(x={"a": {"b": [1, None, "c"]}, "": -(2**64)})),
    (False, _with(x={"a": 2**64})),
    (False, _with(x={"a": [{"b": 0.5}]})),
    (False, _with(x=[])),
    (True, _with(gpu=[1, {"a": None}])),
    (False, _with(gpu=0.5)),
    (False, _with(gpu=-(2**64) - 1)),
]


@pytest.mark.parametrize(("accepted", "doc"), NEAR_MISSES, ids=lambda v: "")
def test_near_misses(accepted: bool, doc: dict[str, Any]) -> None:
    assert not semantic_problems(doc)
    assert compiles(doc)[0] == accepted, compiles(doc)[1]
    assert_agree(doc)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 42),
        ("labels", {"port": 8080}),
        ("args", [1, "a", -5]),
        ("env", {"PORT": 8080}),
        ("entrypoint", [7]),
    ],
)
def test_integers_where_strings_are_meant_are_accepted_by_both(field: str, value: Any) -> None:
    doc: dict[str, Any] = {"jobspec": 1, "task": {"engine": "docker", "image": "ubuntu"}}
    if field in ("name", "labels"):
        doc[field] = value
    else:
        doc["task"][field] = value
    assert compiles(doc)[0]
    assert not schema_errors(doc)


BASE: dict[str, Any] = {"jobspec": 1, "task": {"engine": "docker", "image": "ubuntu"}}


@pytest.mark.parametrize(
    ("problem", "change"),
    [
        ("duplicate-target", {"inputs": [{"source": "a", "target": "/d"}] * 2}),
        (
            "duplicate-target",
            {"inputs": [{"source": "a", "target": "/d"}, {"source": "b", "target": "/d/"}]},
        ),
        ("duplicate-output", {"outputs": ["/o", {"path": "/o/"}]}),
        ("duplicate-name", {"outputs": [{"name": "n", "path": "/a"}, {"name": "n", "path": "/b"}]}),
        (
            "duplicate-name",
            {"inputs": [{"name": "n", "text": "", "target": f"/{t}"} for t in "ab"]},
        ),
        ("duplicate-env", {"task": {**BASE["task"], "env": ["A=1", "A=2"]}}),
        ("duplicate-x", {"gpu": 1, "x": {"gpu": 2}}),
        ("duplicate-x", {"task": {**BASE["task"], "gpu": 1}, "x": {"task.gpu": 2}}),
        ("bad-await", {"inputs": [{"source": "job:nope#/out", "target": "/d"}]}),
        ("integral-float", {"name": 1.0}),
        ("integral-float", {"x": {"ratio": 2.0}}),
        ("non-finite", {"execution": {"cpu": math.inf}}),
        ("int-digits", {"labels": {"n": 10**4400}}),
        ("surrogate", {"x": {"s": "\ud800"}}),
    ],
)
def test_what_the_schema_cannot_say_the_compiler_checks(
    problem: str, change: dict[str, Any]
) -> None:
    doc = {**BASE, **change}
    assert problem in SEMANTIC_CHECKS
    assert problem in semantic_problems(doc)
    try:
        raw = json.dumps(doc).encode()
    except ValueError:  # Python refuses to write the integer at all
        raw = b'{"jobspec": 1, "task": {"engine": "docker", "image": "a"}, "x": {"n": 1%s}}' % (
            b"0" * 4400
        )
    with pytest.raises(SpecError):
        compile_bytes(raw, "x.json")
    assert not schema_errors(doc)


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*") if p.suffix in (".yaml", ".yml", ".json"))


def as_json_data(value: Any) -> Any:
    """YAML's data model as JSON's: a `!!binary` value is the base64 text it is written as."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: as_json_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json_data(v) for v in value]
    return value


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_every_example_matches_the_schema(path: Path) -> None:
    tree = as_json_data(load(path.name, path.read_bytes()).tree)
    errors = sorted(VALIDATOR.iter_errors(tree), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_there_are_examples() -> None:
    assert example_files()
