"""Fuzzing the front-end: whatever the bytes, `compile_bytes` compiles or raises `SpecError`.

Four kinds of input:
(a) arbitrary bytes and text;
(b) YAML and JSON text written from structures near the jobspec format: valid specs
    mutated with random keys, scalar types (floats, bytes, huge integers, odd Unicode)
    and nesting, written with anchors, aliases, tags and both styles;
(c) random structures dumped with `yaml.safe_dump` / `json.dumps`;
(d) valid spec texts with YAML/JSON syntax spliced in.
Any other exception fails. Each SpecError must also be well formed: at least one error,
every span inside the document, every diagnostic renderable.

The fast variants (500 cases of each kind) run by default; `pytest -m slow
tests/test_fuzz.py` runs 100,000 cases (`SLOW`).
"""

from __future__ import annotations

import copy
import json
import math
import string
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import Severity, SpecError, render
from compiler.driver import compile_bytes
from compiler.emitters.compiled import dumps

FAST = 500
SLOW = {"arbitrary": 40_000, "spliced": 30_000, "near-spec": 15_000, "dumped": 15_000}
"""Cases per kind in the slow run: 100,000 in all, in about five minutes on two cores
(the structured kinds spend most of their time generating, so they get fewer)."""


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None if examples > FAST else settings.default.database,
        suppress_health_check=list(HealthCheck),
    )


def check(raw: bytes, name: str) -> None:
    """Compile `raw`: success, or a well-formed SpecError; nothing else."""
    try:
        compiled = compile_bytes(raw, name)
    except SpecError as exc:
        check_error(exc, raw, name)
        return
    dumps(compiled)  # and the compiled document can be written


def check_error(exc: SpecError, raw: bytes, name: str) -> None:
    """At least one error; every span inside the document; every diagnostic renders."""
    assert exc.errors, "a SpecError without an error"
    text = raw.decode("utf-8", errors="replace")
    # libyaml also breaks lines at \r, \x85, \u2028 and \u2029: count generously
    lines = 2 + sum(text.count(brk) for brk in ("\n", "\r", "\x85", "\u2028", "\u2029"))
    for d in exc.diagnostics:
        assert d.message
        assert d.severity in (Severity.ERROR, Severity.WARNING)
        if d.span is not None:
            assert d.span.file == name
            assert 1 <= d.span.line <= lines, d
            assert d.span.column >= 1, d
        render(d, text)
        json.dumps(d.to_json())


# --- (a) arbitrary bytes and text -----------------------------------------------------------

names = st.sampled_from(["f.yaml", "f.json", "f.yml", "f"])
yamlish = st.text(
    alphabet=st.sampled_from(list("{}[]:,-?&*!|>'\"%@`#\\ \t\n\r.0123456789abejkostx=~<")),
    max_size=60,
)
arbitrary = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    yamlish.map(str.encode),
    st.text(max_size=200).map(lambda s: ("jobspec: 1\n" + s).encode("utf-8", "surrogatepass")),
    st.binary(max_size=100).map(lambda b: b'{"jobspec": 1, "x": "' + b + b'"}'),
)


# --- (b) structures near the format, written as YAML or JSON text --------------------------


class Big:
    """An integer too long for Python to print by default, written out digit by digit."""

    def __init__(self, digits: str) -> None:
        self.digits = digits


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, 2**64 - 1, 2**64, -(2**64), -(2**64) - 1, 10**30]),
    st.floats(),
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
    st.sampled_from(["", "\u2028", "\x85", "\ufeff", "é", "🦀", "\x00", "a\tb", "job:x#/o"]),
    st.binary(max_size=20),
    st.integers(4290, 4400).map(lambda n: Big("9" * n)),
    st.sampled_from(["ubuntu", "Ubuntu", "a:b:c", "-a", "a:" + "t" * 129, "/data", "data"]),
)
keys = st.one_of(
    st.sampled_from(
        [
            *("jobspec", "name", "labels", "task", "engine", "image", "args", "env"),
            *("entrypoint", "inputs", "outputs", "source", "text", "target", "path"),
            *("network", "mode", "domains", "deterministic", "nonce", "execution", "x"),
            *("module", "imports", "<<"),
        ]
    ),
    st.text(max_size=10),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8,
)

base_tasks = st.sampled_from(
    [
        {"engine": "docker", "image": "ubuntu:22.04", "args": ["ls"], "env": {"A": "1"}},
        {"engine": "docker", "image": "ubuntu", "entrypoint": "sh", "env": ["A=1"]},
        {"engine": "wasm", "module": "ipfs://bafkqaaa", "args": [1, "a"], "imports": {"m": "m"}},
        {"engine": "rust", "source": "src/", "edition": 2021},
        {"engine": "c", "source": "main.c"},
        {"engine": "qemu", "machine": {"cpus": 2}},
    ]
)
base_specs = st.fixed_dictionaries(
    {"jobspec": st.sampled_from([1, "1"]), "task": base_tasks},
    optional={
        "name": st.just("job"),
        "labels": st.just({"team": "data"}),
        "inputs": st.just([{"name": "in", "source": "data/", "target": "/data"}]),
        "outputs": st.just(["/outputs", {"name": "o", "path": "/o"}]),
        "deterministic": st.booleans(),
        "network": st.sampled_from(["none", "http", {"mode": "http", "domains": ["a.org"]}]),
        "nonce": st.just("n"),
        "execution": st.just({"timeout": "10m", "cpu": 0.5}),
        "x": st.just({"owner": "me"}),
    },
)


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _places(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _places(v, (*path, i))
    return out


@st.composite
def near_specs(draw: st.DrawFn) -> Any:
    """A valid spec after a few random edits: set, delete or add values anywhere."""
    doc: Any = copy.deepcopy(draw(base_specs))  # st.just gives the same object each time
    for _ in range(draw(st.integers(0, 3))):
        places = _places(doc)
        where = draw(st.sampled_from(places))
        if not where:
            if draw(st.integers(0, 20)) == 0:
                doc = draw(values)
            continue
        parent: Any = doc
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["set", "delete", "add"]))
        target = parent[where[-1]]
        if action == "delete":
            del parent[where[-1]]
        elif action == "add" and isinstance(target, dict):
            target[draw(keys)] = draw(values)
        elif action == "add" and isinstance(target, list):
            target.append(draw(values))
        else:
            parent[where[-1]] = draw(values)
    return doc


def _writable_key(key: Any) -> Any:
    return key if isinstance(key, str | int | bool | float) or key is None else str(key)


def _replace_bigs(value: Any, bigs: list[str]) -> Any:
    """Swap `Big` for placeholders the writers can write (filled in afterwards)."""
    if isinstance(value, Big):
        bigs.append(value.digits)
        return f"@@big{len(bigs) - 1}@@"
    if isinstance(value, dict):
        return {_writable_key(k): _replace_bigs(v, bigs) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_bigs(v, bigs) for v in value]
    return value


def _fill_bigs(text: str, bigs: list[str]) -> str:
    for i, digits in enumerate(bigs):
        for quoted in (f"'@@big{i}@@'", f'"@@big{i}@@"'):
            text = text.replace(quoted, digits)
    return text


def as_yaml(doc: Any, flow: bool | None, width: int) -> bytes:
    bigs: list[str] = []
    data = _replace_bigs(doc, bigs)
    # PyYAML writes a repeated object once, with an anchor, and aliases after
    text = yaml.dump(
        data, Dumper=yaml.CSafeDumper, default_flow_style=flow, width=width, allow_unicode=True
    )
    return _fill_bigs(text, bigs).encode("utf-8", "surrogatepass")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {k if isinstance(k, str) else json.dumps(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def as_json(doc: Any, indent: int | None, ensure_ascii: bool) -> bytes:
    bigs: list[str] = []
    data = _jsonable(_replace_bigs(doc, bigs))
    text = json.dumps(data, indent=indent, ensure_ascii=ensure_ascii)
    return _fill_bigs(text, bigs).encode("utf-8", "surrogatepass")


@st.composite
def near_spec_texts(draw: st.DrawFn) -> tuple[bytes, str]:
    doc = draw(near_specs())
    if draw(st.booleans()):
        if draw(st.booleans()) and isinstance(doc, dict):
            # one value repeated: PyYAML writes an anchor and aliases
            shared = draw(values)
            for key in draw(st.lists(keys, min_size=2, max_size=3)):
                doc[key] = shared
        raw = as_yaml(
            doc, draw(st.sampled_from([None, True, False])), draw(st.sampled_from([8, 80]))
        )
        return raw, draw(st.sampled_from(["s.yaml", "s"]))
    raw = as_json(doc, draw(st.sampled_from([None, 1])), draw(st.booleans()))
    return raw, draw(st.sampled_from(["s.json", "s"]))


# --- (c) random structures, dumped as they come --------------------------------------------

plain_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
yaml_keys = st.text(max_size=10) | st.integers() | st.booleans() | st.none() | st.floats()
yaml_values = st.recursive(
    plain_scalars | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(yaml_keys, inner, max_size=5),
    max_leaves=12,
)
json_values = st.recursive(
    plain_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=12,
)


def _with_marker(value: Any) -> Any:
    return {"jobspec": 1, **value} if isinstance(value, dict) else value


def safe_dump(value: Any, **options: Any) -> bytes:
    """`yaml.safe_dump`, with libyaml's emitter (several times faster)."""
    return yaml.dump(value, Dumper=yaml.CSafeDumper, **options).encode()


dumped = st.one_of(
    yaml_values.map(lambda v: (safe_dump(v, allow_unicode=True), "d.yaml")),
    yaml_values.map(_with_marker).map(lambda v: (safe_dump(v), "d.yaml")),
    json_values.map(lambda v: (json.dumps(v).encode(), "d.json")),
    json_values.map(_with_marker).map(lambda v: (json.dumps(v).encode(), "d.json")),
)


# --- (d) valid spec texts with syntax spliced in -------------------------------------------

SPEC_YAML = """\
jobspec: 1
name: word-count
labels: &labels {team: data}
task:
  engine: docker
  image: ubuntu:22.04
  args: [wc, -l, /data/words.txt]
  env: {LC_ALL: C}
inputs:
  - {name: words, source: data/words.txt, target: /data/words.txt}
outputs:
  - {name: result, path: /outputs}
deterministic: true
network: none
x: {owner: *labels}
execution: {timeout: 10m, resources: {cpu: "1", memory: 1Gi}, retries: 2}
"""
SPEC_JSON = json.dumps(yaml.safe_load(SPEC_YAML.replace("*labels", "{team: data}")), indent=1)
TOKENS = [
    "&a ",
    "*a",
    "*labels",
    "!!binary ",
    "!!float ",
    "!!int ",
    "!!str ",
    "!local ",
    "<<: ",
    "---\n",
    "...\n",
    "? ",
    ": ",
    "- ",
    "\t",
    "'",
    '"',
    "[",
    "]",
    "{",
    "}",
    ",",
    "|\n",
    ">-\n",
    "#",
    "%YAML 1.2\n",
    "\\u0000",
    "\\ud800",
    "NaN",
    "1e999",
    "0x" + "f" * 20,
    "9" * 4400,
    ".inf",
    "\ufeff",
    "\u2028",
    "\x85",
    "\r",
    "\x00",
    "é",
    "\n  ",
    "null",
    "~",
]


@st.composite
def spliced_texts(draw: st.DrawFn) -> tuple[bytes, str]:
    json_text = draw(st.booleans())
    text = SPEC_JSON if json_text else SPEC_YAML
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        piece = draw(st.sampled_from(TOKENS) | st.text(string.printable, max_size=4))
        text = text[:at] + piece + text[at + cut :]
    return text.encode("utf-8", "surrogatepass"), "t.json" if json_text else "t.yaml"


# --- the tests ------------------------------------------------------------------------------


STRATEGIES: dict[str, st.SearchStrategy[tuple[bytes, str]]] = {
    "arbitrary": st.tuples(arbitrary, names),
    "near-spec": near_spec_texts(),
    "dumped": dumped,
    "spliced": spliced_texts(),
}


def _fuzz(strategy: st.SearchStrategy[tuple[bytes, str]], examples: int) -> Callable[[], None]:
    @fuzz_settings(examples)
    @given(strategy)
    def run(case: tuple[bytes, str]) -> None:
        check(*case)

    return run


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_fuzz(kind: str) -> None:
    _fuzz(STRATEGIES[kind], FAST)()


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_fuzz_many(kind: str) -> None:
    _fuzz(STRATEGIES[kind], SLOW[kind])()


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"", "e.json"),
        (b"\xef\xbb\xbf", "bom.yaml"),
        (b"!!binary =", "b.yaml"),
        (b"jobspec: 1\nx: !!binary AAAA\ntask: {engine: qemu, b: !!binary AXESIA==}\n", "b.yaml"),
        (b"jobspec: 1\n? [a, b]\n: c\n", "k.yaml"),
        (b"jobspec: 1\n<<: {task: {engine: qemu}}\n", "m.yaml"),
        (b"jobspec: 1\n<<: [1, 2]\n", "m.yaml"),
        (b"&a [*a]", "r.yaml"),
        (
            b"jobspec: 1\ntask: {engine: docker, image: a}\ninputs: [{source: 'job:', target: /a}]",
            "j.yaml",
        ),
        (
            b'{"jobspec": 1, "x": {"\\ud83d\\ude00": "\\udbff\\udfff"}, "task": {"engine": "q"}}',
            "s.json",
        ),
        (
            b"jobspec: 1\ntask: {engine: q}\nexecution: {a: .nan, b: -.inf, c: "
            + b"9" * 4000
            + b"}",
            "e.yaml",
        ),
        (b'{"jobspec": 1, "task": {"engine": "q"}, "execution": {"a": 1e999}}', "e.json"),
    ],
)
def test_known_tricky_inputs(raw: bytes, name: str) -> None:
    check(raw, name)


def test_floats_survive_as_execution_options() -> None:
    doc = b"jobspec: 1\ntask: {engine: q}\nexecution: {a: 0.5}\n"
    assert compile_bytes(doc, "a.yaml").execution == {"a": 0.5}
    assert not math.isnan(compile_bytes(doc, "a.yaml").execution["a"])
