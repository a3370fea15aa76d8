"""The fast paths give exactly what the straightforward paths give.

jobc takes shortcuts on its hot path (bench/compile.py measures them): a one-pass reader
for clean jobspec/1 documents, pointer-free checks ahead of the ones that report, Python's
C JSON decoder ahead of the lark parser that knows positions, a normalize pass that hands
back its input when nothing changes, cached image references and CID prefixes, records
rendered without building their maps. Each test runs both ways on the same inputs and
compares the results exactly: types included (`True == 1` in Python, not in a job's
identity) and the order of maps (it shows in the compiled document).

The inputs: every example, every test case, and a few thousand generated specs, clean and
mutated (seeded, so every run sees the same ones).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import libipld
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import identity, imageref
from compiler.diagnostics import SpecError
from compiler.driver import CompileOptions, compile_bytes, parse_facts
from compiler.emitters.compiled import dumps, to_document
from compiler.frontends import Options, jobspec1, loader, reader
from compiler.frontends.loader import DEFAULT_LIMITS, load
from compiler.ir import FrozenMap, Input, Link, replace
from compiler.oracles import Oracle, fact
from compiler.passes import default_pipeline, normalize
from compiler.passes.normalize import Normalize, clean_path
from compiler.records import Record

ROOT = Path(__file__).resolve().parent.parent

# --- the inputs -------------------------------------------------------------------------------


def _files() -> list[tuple[str, bytes]]:
    out = []
    for folder in (ROOT / "examples", ROOT / "tests" / "cases"):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".yaml", ".yml", ".json") and "data" not in path.parts:
                out.append((str(path.relative_to(ROOT)), path.read_bytes()))
    return out


_REPOS = (
    "python",
    "ubuntu",
    "pytorch/pytorch",
    "ghcr.io/astral-sh/uv",
    "quay.io/biocontainers/bwa",
)


def _cid(rng: random.Random) -> str:
    digest = rng.randbytes(32)
    prefix = rng.choice((b"\x01\x70\x12\x20", b"\x01\x55\x12\x20", b"\x12\x20"))
    return str(Link(prefix + digest))


def _clean_spec(rng: random.Random, i: int) -> dict[str, Any]:
    """A pinned jobspec/1 document of the kind a gateway sees."""
    spec: dict[str, Any] = {"jobspec": 1, "name": f"job-{i}"}
    if rng.random() < 0.5:
        spec["labels"] = {"team": rng.choice(("data", "ml")), "run": str(i)}
    env = {k: str(rng.randrange(100)) for k in rng.sample(("TZ", "SEED", "MODE"), rng.randrange(3))}
    if rng.random() < 0.2:
        task: dict[str, Any] = {"engine": "wasm", "module": "ipfs://" + _cid(rng)}
        task["args"] = ["--n", rng.randrange(1000), True, None, {"k": ["v", 2]}][: rng.randrange(6)]
        if rng.random() < 0.3:
            task["imports"] = {"lib": "ipfs://" + _cid(rng)}
        if rng.random() < 0.3:
            task["entrypoint"] = rng.choice(("main", ""))
        if rng.random() < 0.2:
            task["stdin"] = "ipfs://" + _cid(rng)
    else:
        repo = rng.choice(_REPOS)
        tag = rng.choice(("", "", ":3.12", ":latest"))
        task = {"engine": "docker", "image": f"{repo}{tag}@sha256:{rng.randbytes(32).hex()}"}
        if rng.random() < 0.4:
            task["entrypoint"] = rng.choice((["python"], "sh", ["sh", "-c"]))
        task["args"] = ["run.py", f"--shard={i}"]
        if rng.random() < 0.2:
            task["workdir"] = rng.choice(("/work", "/work/", "/a/../b"))
        if rng.random() < 0.1:
            task["platform"] = rng.choice(("linux/amd64", "Linux/ARM64"))
    if env:
        task["env"] = env if rng.random() < 0.7 else [f"{k}={v}" for k, v in env.items()]
    spec["task"] = task
    spec["inputs"] = [
        {
            "name": f"in{j}",
            "source": rng.choice(("ipfs://" + _cid(rng), "data/x.csv")),
            "target": f"/inputs/{rng.choice(('a', 'b', 'c'))}{j}",
        }
        for j in range(rng.randrange(4))
    ]
    if rng.random() < 0.8:
        spec["outputs"] = rng.choice(([{"name": "out", "path": "/outputs"}], ["/outputs/"]))
    if rng.random() < 0.3:
        spec["deterministic"] = rng.random() < 0.5
    if rng.random() < 0.2:
        spec["nonce"] = str(rng.randrange(99))
    if rng.random() < 0.6:
        spec["execution"] = {"timeout": "10m", "resources": {"cpu": "1"}, "retries": 2}
    return spec


_ODD = (
    1.5,
    float("nan"),
    True,
    False,
    None,
    0,
    -7,
    2**70,
    "",
    "rel/path",
    "/a/../b//c/",
    [],
    {},
    "a/b~c",
    "x\x00y",
    "NOEQ",
    "=v",
    "K=V",
    ["a", 1],
    {"k": 1.5},
    {"a/b": "c"},
    "Ubuntu",
    "ubuntu:latest@sha256:abc",
    "localhost:5000/x",
    "job:bafy#/o",
    "FILE:data/",
    "HTTPS://x",
    "IPFS://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
    "file:///etc/x",
    "./a//b/",
    "http",
    "full",
    "none",
    {"mode": "http", "domains": ["B.org", "a.org"]},
    "linux/arm64",
    "2018",
    2021,
    "rust",
    "c",
    "wasm",
    "docker",
    "duckdb",
    b"\x01\x71\x12\x20" + bytes(32),
)
_KEYS = (
    "image",
    "imge",
    "gpu",
    "a/b",
    "t~x",
    "entrypoint",
    "args",
    "env",
    "workdir",
    "platform",
    "module",
    "imports",
    "stdin",
    "source",
    "edition",
    "text",
    "target",
    "name",
    "path",
    "network",
    "nonce",
    "deterministic",
    "x",
    "labels",
    "execution",
    "task",
    "inputs",
    "outputs",
    "mode",
    "domains",
    "engine",
    "jobspec",
)


def _mutate(rng: random.Random, spec: dict[str, Any]) -> dict[str, Any]:
    """A spec with one to three random edits: a field dropped, retyped or added."""
    spec = copy.deepcopy(spec)
    for _ in range(rng.randrange(1, 4)):
        nodes: list[Any] = []
        stack: list[Any] = [spec]
        while stack:
            node = stack.pop()
            if isinstance(node, dict | list):
                nodes.append(node)
                stack.extend(node.values() if isinstance(node, dict) else node)
        node = rng.choice(nodes)
        op = rng.randrange(3)
        value = copy.deepcopy(rng.choice(_ODD))
        if isinstance(node, dict):
            if op == 0 and node:
                del node[rng.choice(list(node))]
            elif op == 1 and node:
                node[rng.choice(list(node))] = value
            else:
                node[rng.choice(_KEYS)] = value
        elif op == 0 and node:
            del node[rng.randrange(len(node))]
        elif op == 1 and node:
            node[rng.randrange(len(node))] = value
        else:
            node.append(value)
    return spec


def _dump(rng: random.Random, spec: dict[str, Any], i: int, kind: str) -> tuple[str, bytes]:
    if rng.random() < 0.5:
        try:
            return f"{kind}{i}.json", json.dumps(spec).encode()
        except (TypeError, ValueError):  # bytes, or NaN: YAML writes them
            pass
    return f"{kind}{i}.yaml", yaml.safe_dump(spec, sort_keys=False, allow_unicode=True).encode()


CLEAN = [_clean_spec(random.Random(1000 + i), i) for i in range(300)]
_rng = random.Random(7)
CORPUS: list[tuple[str, bytes]] = [
    *_files(),
    *(_dump(_rng, spec, i, "clean") for i, spec in enumerate(CLEAN)),
    *(_dump(_rng, _mutate(_rng, spec), i, "mutated") for i, spec in enumerate(CLEAN * 2)),
]


def _outcome(raw: bytes, name: str, strict: bool) -> str:
    """Everything a compile gives, written out: documents, warnings, or the errors."""
    try:
        c = compile_bytes(raw, name, CompileOptions(strict=strict))
    except SpecError as exc:
        return "errors " + repr(exc.diagnostics)
    return "\n".join(
        (
            dumps(c).decode(),
            dumps(c, "dag-json").decode(),
            dumps(c, "dag-cbor").hex(),
            repr(c.diagnostics),
            repr(c.original_job),
            repr(c.job),
            repr(c.chain),
        )
    )


@pytest.fixture
def straightforward(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fast path that can say "not me" says so: the slow paths do all the work."""

    def decline(value: object) -> None:
        raise reader.NotPlain

    monkeypatch.setattr(jobspec1, "read_clean", lambda tree, plain=False: None)
    monkeypatch.setattr(loader, "_json_fast", lambda text, limits: loader._UNDECIDED)
    monkeypatch.setattr(loader, "_load_yaml_fast", lambda text, limits: (loader._UNDECIDED, False))
    monkeypatch.setattr(reader, "_clean_env", lambda value: None)
    monkeypatch.setattr(reader, "plain_value", decline)
    monkeypatch.setattr(reader, "_writable", lambda value: False)
    monkeypatch.setattr(normalize, "CANONICAL_PREFIXES", ())


# --- the whole compile ------------------------------------------------------------------------


def test_the_corpus_is_what_it_should_be() -> None:
    names = [name for name, _ in CORPUS]
    assert len(set(names)) == len(names)
    assert sum(n.startswith(("examples/", "tests/")) for n in names) > 40
    assert sum(raw.startswith(b"{") for _, raw in CORPUS) > 250


@pytest.fixture(scope="module")
def fast_outcomes() -> dict[bool, list[str]]:
    """The outcomes with every fast path on (module scope: before any patching)."""
    return {
        strict: [_outcome(raw, name, strict) for name, raw in CORPUS] for strict in (False, True)
    }


@pytest.mark.parametrize("strict", [False, True])
def test_fast_paths_change_no_outcome(
    strict: bool, fast_outcomes: dict[bool, list[str]], straightforward: None
) -> None:
    """Documents, CIDs, warnings and errors: all the same with the fast paths off."""
    for (name, raw), fast in zip(CORPUS, fast_outcomes[strict], strict=True):
        assert _outcome(raw, name, strict) == fast, name


def test_clean_specs_compile_without_diagnostics() -> None:
    """The generated clean specs are clean (so the tests above exercise the fast path).

    Their `data/x.csv` is not on disk: resolve-content would stop at it (as it must; see
    test_content.py), so it is left out here; so is resolve-images (their images are made
    up, not in the tests' registry)."""
    passes = tuple(
        p for p in default_pipeline() if p.name not in ("resolve-content", "resolve-images")
    )
    for i, spec in enumerate(CLEAN):
        raw = json.dumps(spec).encode()
        assert not compile_bytes(raw, f"clean{i}.json", CompileOptions(passes=passes)).diagnostics


# --- the front-end ----------------------------------------------------------------------------


def _documents() -> Iterator[tuple[str, loader.SourceDocument]]:
    for name, raw in CORPUS:
        try:
            yield name, load(name, raw)
        except SpecError:
            continue


@pytest.mark.parametrize("strict", [False, True])
def test_read_clean_matches_the_full_reader(strict: bool) -> None:
    taken = 0
    for name, doc in _documents():
        if not (isinstance(doc.tree, dict) and "jobspec" in doc.tree):
            continue
        fast = jobspec1.read_clean(doc.tree)
        if fast is None:
            continue
        taken += 1
        slow = jobspec1._JobspecReader(doc, Options(strict=strict)).read()
        assert repr(fast) == repr(slow), name
    assert taken >= len(CLEAN)


def test_read_clean_takes_every_clean_spec() -> None:
    for i, spec in enumerate(CLEAN):
        for name, raw in (
            (f"c{i}.json", json.dumps(spec).encode()),
            (f"c{i}.yaml", yaml.safe_dump(spec).encode()),
        ):
            assert jobspec1.read_clean(load(name, raw).tree) is not None, name


def _typed(value: Any) -> Any:
    """`value` with every scalar's type beside it, and maps as ordered pairs."""
    if isinstance(value, dict):
        return ("map", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def _readable_json() -> Iterator[tuple[str, str, Any]]:
    """(name, text, tree as the fast path reads it) of every corpus JSON document that reads."""
    for name, raw in CORPUS:
        if not name.endswith(".json"):
            continue
        try:
            text = loader.decode_text(name, raw, DEFAULT_LIMITS)
            tree = loader._load_json(name, text, DEFAULT_LIMITS)
        except SpecError:
            continue
        yield name, text, tree


def test_json_fast_path_gives_the_lark_tree() -> None:
    """Python's decoder (fast path) and the lark grammar (positions) read the same tree."""
    checked = 0
    for name, text, fast in _readable_json():
        slow, _, _ = loader._json_with_positions(name, text, DEFAULT_LIMITS)
        assert _typed(fast) == _typed(slow), name
        checked += 1
    assert checked > 250


def test_json_spans_are_the_lark_spans_for_every_corpus_document() -> None:
    """The scan that places diagnostics in read documents finds lark's places."""
    checked = 0
    for name, text, _ in _readable_json():
        _, spans, key_spans = loader._json_with_positions(name, text, DEFAULT_LIMITS)
        assert loader.json_spans(name, text) == (spans, key_spans), name
        checked += 1
    assert checked > 250


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(alphabet=st.sampled_from('ab":\\/~ \n\t{}[],é\u2028'), max_size=6),
        ),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(
                st.text(alphabet=st.sampled_from('a/~"\\ :\n'), max_size=4), inner, max_size=4
            ),
        ),
        max_leaves=16,
    ),
    st.sampled_from([None, 0, 2, "\t"]),
    st.booleans(),
)
def test_json_spans_are_the_lark_spans(data: Any, indent: Any, ascii_only: bool) -> None:
    text = json.dumps(data, indent=indent, ensure_ascii=ascii_only)
    _, spans, key_spans = loader._json_with_positions("t.json", text, DEFAULT_LIMITS)
    assert loader.json_spans("t.json", text) == (spans, key_spans)


@pytest.mark.parametrize(
    "text", ['{"a": 1}', '\ufeff{"a": 1}', '{"a": NaN}', '{"a": 1, "a": 2}', "[1, 2", ""]
)
def test_shared_json_decoder_behaves_as_json_loads(text: str) -> None:
    def run(fn: Any) -> Any:
        try:
            return ("ok", _typed(fn(text)))
        except Exception as exc:  # the same error, with the same message
            return ("error", type(exc).__name__, str(exc))

    hooks = {"object_pairs_hook": loader._pairs_hook, "parse_constant": loader._reject_constant}
    assert run(loader._json_loads) == run(lambda t: json.loads(t, **hooks))


def _exact_json(text: str) -> Any:
    """What `_load_json` gives without the orjson shortcut (or the diagnostics' text)."""
    saved = loader._json_fast
    loader._json_fast = lambda text, limits: loader._UNDECIDED  # type: ignore[assignment]
    try:
        return _json_outcome(lambda: loader._load_json("t.json", text, DEFAULT_LIMITS))
    finally:
        loader._json_fast = saved  # type: ignore[assignment]


def _json_outcome(fn: Any) -> Any:
    try:
        return ("ok", _typed(fn()))
    except SpecError as exc:
        return ("error", [d.message for d in exc.diagnostics])


_TRICKY_JSON = [
    '{"a":1,"a":2}',  # a duplicate key
    '{"a":1, "b":{"a":1,"a":1}}',  # a duplicate one level down
    '{"a" :1,"a":2,"x":"\\":"}',  # a key hidden from the count by a space, and a `":` in a string
    '{"a":1,"a":2,"x":"\\":"}',  # a `":` in a string makes up for the lost duplicate
    '{"n":18446744073709551616}',  # beyond 64 bits: orjson would read a float
    '{"n":-9223372036854775809}',
    '{"n":18446744073709551615}',
    '{"f":1.5,"e":1e400}',
    '{"s":"\\ud800"}',
    '{"a":NaN}',
    '{"a":\n1}',
    '{"a"\n:1,"a"\n:2}',
    '[{"a":1},{"a":2}]',
    "\ufeff{}",
    '{"deep":' * 70 + "1" + "}" * 70,
]


@pytest.mark.parametrize("text", _TRICKY_JSON)
def test_orjson_shortcut_changes_no_outcome(text: str) -> None:
    fast = _json_outcome(lambda: loader._load_json("t.json", text, DEFAULT_LIMITS))
    assert fast == _exact_json(text)


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from('ab":\\ \n{}'), max_size=6),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    st.recursive(
        _JSON_SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(st.tuples(st.sampled_from(["a", "b", 'c":', "d e"]), inner), max_size=4),
        ),
        max_leaves=12,
    ),
    st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]),
)
def test_orjson_shortcut_agrees_with_the_exact_path(data: Any, separators: tuple[str, str]) -> None:
    """Generated documents, duplicate keys included (maps are written as pair lists)."""

    def write(v: Any) -> str:
        if isinstance(v, list) and v and all(isinstance(x, tuple) for x in v):
            items = (json.dumps(k) + separators[1] + write(x) for k, x in v)
            return "{" + separators[0].join(items) + "}"
        if isinstance(v, list):
            return "[" + separators[0].join(write(x) for x in v) + "]"
        return json.dumps(v)

    text = write(data)
    fast = _json_outcome(lambda: loader._load_json("t.json", text, DEFAULT_LIMITS))
    assert fast == _exact_json(text)


def test_json_value_limit() -> None:
    limits = dataclasses.replace(DEFAULT_LIMITS, max_nodes=10)
    for text in ("[" + ",".join(["1"] * 10) + "]", '{"a":[1,1,1,1,1,1,1,1,1,1.5]}'):
        with pytest.raises(SpecError) as caught:
            loader._load_json("t.json", text, limits)
        assert caught.value.diagnostics[0].code == "too-many-values"
    assert loader._load_json("t.json", "[" + ",".join(["1"] * 8) + "]", limits) == [1] * 8


# --- YAML: the position-free reading and the exact one ------------------------------------


def _yaml_outcome(text: str, *, fast: bool) -> Any:
    """The tree, plainness and every span `load` gives (or the diagnostics), with the
    position-free reading on or off."""
    saved = loader._load_yaml_fast
    if not fast:
        loader._load_yaml_fast = lambda text, limits: (loader._UNDECIDED, False)  # type: ignore[assignment]
    try:
        doc = load("t.yaml", text.encode())
    except SpecError as exc:
        return ("error", [(d.code, d.message, d.span, d.hint) for d in exc.diagnostics])
    finally:
        loader._load_yaml_fast = saved  # type: ignore[assignment]
    _, spans, key_spans = loader._load_yaml("t.yaml", doc.text, DEFAULT_LIMITS)
    places = [doc.span(p) for p in spans] + [doc.span(p, key=True) for p in key_spans]
    places += [doc.span(p + "/absent") for p in spans]  # the nearest present ancestor
    return ("ok", _typed(doc.tree), places)


def _readable_yaml() -> Iterator[tuple[str, str]]:
    """(name, text) of every corpus YAML document that reads."""
    for name, raw in CORPUS:
        if name.endswith((".yaml", ".yml")):
            text = loader.decode_text(name, raw, DEFAULT_LIMITS)
            try:
                loader._load_yaml(name, text, DEFAULT_LIMITS)
            except SpecError:
                continue
            yield name, text


def test_yaml_fast_path_gives_the_exact_tree() -> None:
    """The position-free reading gives the tree the exact one gives, types and order of
    maps included, and says `plain` only of trees JSON can write."""
    decided = undecided = 0
    for name, text in _readable_yaml():
        fast, plain = loader._load_yaml_fast(text, DEFAULT_LIMITS)
        if fast is loader._UNDECIDED:
            undecided += 1  # `!!binary` from a mutated spec, an anchor in a test case
            continue
        exact, _, _ = loader._load_yaml(name, text, DEFAULT_LIMITS)
        assert _typed(fast) == _typed(exact), name
        assert plain == reader._writable(exact), name
        decided += 1
    assert decided > 300
    assert undecided > 5


def test_yaml_positions_are_found_when_first_asked() -> None:
    """A document the fast path read has no positions until a diagnostic asks; then it
    has every one the exact reading gives."""
    text = "a: 1\nb:\n  - x\n  - {c: 'd'}\n"
    doc = load("t.yaml", text.encode())
    assert doc._spans is None
    assert doc.plain
    _, spans, key_spans = loader._load_yaml("t.yaml", text, DEFAULT_LIMITS)
    assert (doc.span("/b/1/c").line, doc.span("/b/1/c").column) == (4, 9)
    assert (doc.span("/b/1/c", key=True).line, doc.span("/b/1/c", key=True).column) == (4, 6)
    assert (doc._spans, doc._key_spans) == (spans, key_spans)


def test_a_clean_yaml_compile_finds_no_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compile without diagnostics never reads the document the exact way; a warning
    makes it read once, and placed where the eager reading placed it."""
    calls: list[str] = []
    real = loader._load_yaml

    def counted(name: str, text: str, limits: loader.Limits) -> Any:
        calls.append(name)
        return real(name, text, limits)

    monkeypatch.setattr(loader, "_load_yaml", counted)
    passes = tuple(  # as in test_clean_specs_compile_without_diagnostics
        p for p in default_pipeline() if p.name not in ("resolve-content", "resolve-images")
    )
    for i, spec in enumerate(CLEAN):
        raw = yaml.safe_dump(spec, sort_keys=False).encode()
        assert not compile_bytes(raw, f"clean{i}.yaml", CompileOptions(passes=passes)).diagnostics
    assert calls == []
    text = b"jobspec: 1\ntask:\n  engine: wasm\n  module: s3://bucket/main.wasm\n"
    c = compile_bytes(text, "w.yaml", CompileOptions(offline=True))
    (warning,) = c.diagnostics
    assert warning.span is not None
    assert (warning.span.line, warning.span.column) == (4, 11)
    assert calls == ["w.yaml"]


_TRICKY_YAML = [
    "a: &x [1, 2]\nb: *x\n",  # an anchor and an alias
    "a: &x 1\n",  # an anchor alone
    "base: &b {k: 1}\nc:\n  <<: *b\n  k: 2\n",  # a merge key, overridden
    "c: {<<: {k: 1}, j: 2}\n",  # a merge key without an anchor
    "'<<': 1\n",  # a quoted `<<` is a plain key in the exact reading
    "a: 1\na: 2\n",  # a duplicate key
    "a: {b: 1, b: 2}\n",
    "1: a\n",  # keys that are not strings
    "null: a\n",
    "true: a\n",
    "[a]: 1\n",  # a collection as a key
    "? {a: 1}\n: 2\n",
    "a: !!binary aGVsbG8=\n",  # tags
    "a: !!str 1\n",
    "a: !!int '7'\n",
    "a: !!float 1\n",
    "a: !local x\n",
    "a: ! 1\n",
    "a: .inf\nb: -.Inf\nc: .nan\nd: 1e999\n",  # not plain, but read the same
    "a: 0x" + "f" * 4000 + "\n",  # an integer too large
    "a: " + "1" * 5000 + "\n",
    "a: 0o17\nb: 0x1F\nc: 017\nd: +1\ne: -0\nf: 1.5\ng: .5\nh: ~\ni: on\nj: yes\n",
    "a: ''\nb: \"\"\nc:\nd: |\n  x\ne: >-\n  y\n",
    "a: 1\n---\nb: 2\n",  # two documents
    "---\na: 1\n...\n",
    "",  # empty
    "# only a comment\n",
    "just a string\n",
    "[1, [2, [3]]]\n",
    "a: [1, 2\n",  # invalid YAML
    "a:\n\t- 1\n",
    "a: b: c\n",
    "x: " + "[" * 70 + "]" * 70 + "\n",  # too deep
    "x: " + "[" * 64 + "]" * 64 + "\n",
    "x: " + "{a: " * 63 + "1" + "}" * 63 + "\n",
    "\ufeffa: 1\n",
    "a: \u2028b\n",
    'k: "\\ud800"\n',
]


@pytest.mark.parametrize("text", _TRICKY_YAML)
def test_yaml_fast_path_changes_no_outcome(text: str) -> None:
    """Tree, positions and diagnostics, with the position-free reading on and off."""
    assert _yaml_outcome(text, fast=True) == _yaml_outcome(text, fast=False)


def test_yaml_value_limit() -> None:
    limits = dataclasses.replace(DEFAULT_LIMITS, max_nodes=10)
    assert loader._load_yaml_fast("[" + ",".join(["1"] * 9) + "]", limits) == ([1] * 9, True)
    tree, _ = loader._load_yaml_fast("[" + ",".join(["1"] * 10) + "]", limits)
    assert tree is loader._UNDECIDED
    with pytest.raises(SpecError) as caught:
        load("t.yaml", ("[" + ",".join(["1"] * 10) + "]").encode(), limits=limits)
    assert caught.value.diagnostics[0].code == "too-many-values"


_YAML_TOKENS = (
    "a", "b", "'q'", '"d\\"q"', "1", "-2", "0x1F", "0o7", "017", "1.5", "1e3", ".inf",
    "-.inf", ".nan", "~", "null", "Null", "true", "False", "yes", "on", "''", "<<", "&a x",
    "*a", "!!str 1", "!!binary aGk=", "!!int x", "|\n  block", "2001-01-01", "+", "-", ".",
    "0x", "1_000", "é", "a b", "[]", "{}",
)  # fmt: skip


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    st.recursive(
        st.sampled_from(_YAML_TOKENS),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(
                st.tuples(st.sampled_from(["a", "b", "1", "<<", "'a'", "~"]), inner), max_size=4
            ),
        ),
        max_leaves=12,
    ),
    st.booleans(),
)
def test_yaml_fast_path_agrees_with_the_exact_path(data: Any, flow: bool) -> None:
    """Generated documents, in block or flow style: duplicate and odd keys, anchors and
    aliases, tags, scalars of every YAML 1.2 core type (maps are written as pair lists)."""

    def block(v: Any, indent: str) -> str:
        if isinstance(v, list) and v and all(isinstance(x, tuple) for x in v):
            return "".join(f"\n{indent}{k}:" + block(x, indent + "  ") for k, x in v)
        if isinstance(v, list) and v:
            return "".join(f"\n{indent}-" + block(x, indent + "  ") for x in v)
        if isinstance(v, list):
            return " []"
        return " " + v.replace("\n", "\n" + indent)

    def flowed(v: Any) -> str:
        if isinstance(v, list) and v and all(isinstance(x, tuple) for x in v):
            return "{" + ", ".join(f"{k}: {flowed(x)}" for k, x in v) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(flowed(x) for x in v) + "]"
        return json.dumps(v) if "\n" in v else v

    text = flowed(data) + "\n" if flow else "top:" + block(data, "  ") + "\n"
    assert _yaml_outcome(text, fast=True) == _yaml_outcome(text, fast=False)


def test_reader_fast_checks() -> None:
    doc = load("x.json", b'{"jobspec": 1}')
    r = reader.Reader(doc)
    assert r.string_list(["a", "b"], "/p", "f") == ("a", "b")
    assert r.string_list([], "/p", "f") == ()
    assert r.unknown_fields({"a": 1}, "/p", frozenset({"a", "b"}), strict=False, where="w") == {}
    assert r.unknown_fields({"a": 1}, "/p", ("a", "b"), strict=False, where="w") == {}
    assert not r.diagnostics
    assert r.unknown_fields({"c": 1}, "/p", ("a",), strict=False, where="w") == {"c": 1}
    assert len(r.diagnostics) == 1
    assert reader.child("/p", "a/b~c") == "/p/a~1b~0c"
    assert reader.child("/p", 3) == "/p/3"
    assert reader.child("/p", "k") == "/p/k"


# --- identity and records ---------------------------------------------------------------------

_LINKS = (
    Link(b"\x01\x71\x12\x20" + bytes(32)),
    Link(b"\x12\x20" + bytes(range(32))),
    Link(b"\x01\x55\x13\x40" + bytes(64)),  # a sha2-512 link: longer than libipld parses
)
_VALUES: tuple[Any, ...] = (
    "s",
    "",
    True,
    False,
    None,
    0,
    -1,
    2**64 - 1,
    -(2**64),
    2**64,
    -(2**64) - 1,
    1.5,
    b"",
    b"\x01\x71\x12\x20" + bytes(32),
    *_LINKS,
    (),
    ("a", 1, (True,)),
    FrozenMap({"b": 1, "a": (FrozenMap({"x": None}),)}),
    FrozenMap(),
    object(),
)


@pytest.mark.parametrize("render", [identity._LIBIPLD, identity._DAG_JSON, identity._NEUTRAL])
@pytest.mark.parametrize("value", _VALUES, ids=repr)
def test_exact_type_dispatch_is_the_isinstance_chain(value: Any, render: Any) -> None:
    def run(fn: Any) -> Any:
        try:
            return ("ok", repr(fn(value, render)))
        except (identity.IdentityError, identity._NeedsReferenceEncoder) as exc:
            return ("error", type(exc).__name__, str(exc))

    assert run(identity._value) == run(identity._other_value)


def _records() -> list[Record]:
    records = [r for name, raw in CORPUS[:300] for r in _chain(raw, name)]
    facts = [fact({"ref": "docker.io/library/ubuntu:latest"}, {"digest": "sha256:" + "0" * 64})]
    odd = [
        Record("resolve-images", 2, *_LINKS[:2], tuple(facts)),
        Record("x", True, _LINKS[2], _LINKS[0], (FrozenMap({"bytes": b"\x01\x71"}),)),
        Record("x", 2**70, *_LINKS[:2]),
    ]
    return records + odd


def _chain(raw: bytes, name: str) -> tuple[Record, ...]:
    try:
        return compile_bytes(raw, name).chain
    except SpecError:
        return ()


def test_records_written_out_match_their_maps() -> None:
    for record in _records():

        def run(fn: Any, record: Record = record) -> Any:
            try:
                return ("ok", repr(fn(record)))
            except identity.IdentityError as exc:
                return ("error", str(exc))

        assert run(lambda r: r.cid) == run(lambda r: identity.value_cid(r.to_value()))
        assert run(lambda r: r.to_dag_json(with_cid=False)) == run(
            lambda r: identity.value_dag_json(r.to_value())
        )


def test_a_records_cached_cid_stays_with_its_fields() -> None:
    record = Record("x", 1, *_LINKS[:2])
    first = record.cid
    assert record.cid is first  # computed once
    changed = dataclasses.replace(record, version=2)
    assert changed.cid == identity.value_cid(changed.to_value()) != first
    assert changed == Record("x", 2, *_LINKS[:2])


def test_map_cid_is_value_cid_of_the_map() -> None:
    for value in _VALUES:
        fields = {"b": value, "a": 1}
        try:
            expected = identity.value_cid(FrozenMap(fields))
        except identity.IdentityError:
            with pytest.raises(identity.IdentityError):
                identity.map_cid(fields)
            continue
        assert identity.map_cid(fields) == expected


def test_cachedparse_facts_are_what_record_make_gives() -> None:
    for fmt in ("jobspec/1", "bacalhau/v1.0"):
        made = Record.make("parse", 1, *_LINKS[:2], [fact({"format": fmt}, {})])
        assert Record("parse", 1, *_LINKS[:2], parse_facts(fmt)) == made
        assert parse_facts(fmt) is parse_facts(fmt)


# --- the normalize pass -------------------------------------------------------------------------


def _jobs() -> Iterator[Any]:
    for name, raw in CORPUS:
        try:
            c = compile_bytes(raw, name)
        except SpecError:
            continue
        yield c.original_job
        yield c.job


def test_normalize_hands_back_its_input_exactly_when_nothing_changes() -> None:
    n = Normalize()
    for job in _jobs():
        new, facts = n(job, Oracle())
        assert facts == []
        rebuilt = dataclasses.replace(
            job, task=new.task, inputs=new.inputs, outputs=new.outputs, network=new.network
        )
        assert (new is job) == (rebuilt == job), job
        again, _ = n(new, Oracle())
        assert again is new  # idempotent, and the second run builds nothing


# --- passes with nothing to do -----------------------------------------------------------------


def test_every_pass_hands_back_a_job_it_has_nothing_left_to_do_for() -> None:
    """The driver skips hashing and recording only for the very same object, so a pass run
    again on the job a compile ended with (offline: no oracle answers) must hand it back."""
    finals = list(_jobs())[1::2]
    assert len(finals) > 100
    for pass_ in default_pipeline():
        for job in finals:
            new, facts = pass_(job, Oracle())
            assert new is job, (pass_.name, job)
            assert facts == [], (pass_.name, job)


@dataclasses.dataclass(frozen=True, slots=True)
class _NothingToDo:
    name: ClassVar[str] = "nothing-to-do"
    version: ClassVar[int] = 1

    def __call__(self, job: Any, oracle: Oracle) -> tuple[Any, list[Any]]:
        return job, []


def test_a_pass_that_hands_back_its_input_costs_no_hashing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hashed = []
    real = identity.job_cid_and_dag_json

    def counting(job: Any) -> Any:
        hashed.append(job)
        return real(job)

    monkeypatch.setattr(identity, "job_cid_and_dag_json", counting)
    name, raw = next((n, r) for n, r in CORPUS if n.startswith("clean"))
    c = compile_bytes(raw, name, CompileOptions(passes=(_NothingToDo(),) * 3))
    assert hashed == [c.original_job]
    assert [r.pass_name for r in c.chain] == ["parse"]
    assert c.job is c.original_job


def _paths(rng: random.Random) -> Iterator[str]:
    parts = ("", ".", "..", "a", "b.c", ".hidden", "...", "x y", "\x00")
    for _ in range(5000):
        yield "/".join(rng.choice(parts) for _ in range(rng.randrange(6)))


def test_clean_path_fast_check() -> None:
    import posixpath

    def reference(path: str) -> str:
        return "/" + posixpath.normpath("/" + path.lstrip("/")).lstrip("/")

    for path in _paths(random.Random(3)):
        assert clean_path(path) == reference(path), path


def test_canonical_prefixes_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    sources = [
        s + rest
        for s in ("ipfs://", "IPFS://", "https://", "http://", "data:", "s3://", "file:", "c:")
        for rest in ("", "x", "//localhost/a", "/a//b/", "QmYwAPJz")
    ]
    fast = [normalize.normal_content(s) for s in sources]
    monkeypatch.setattr(normalize, "CANONICAL_PREFIXES", ())
    assert [normalize.normal_content(s) for s in sources] == fast


# --- caches and small helpers -----------------------------------------------------------------


def test_cached_image_references_match_uncached() -> None:
    refs = ["ubuntu", "Ubuntu", "python:3.12@sha256:" + "a" * 64, "localhost:5000/x", "a:b:c", ""]
    for ref in refs * 2:

        def run(fn: Any, ref: str = ref) -> Any:
            try:
                return ("ok", fn(ref))
            except imageref.ReferenceError as exc:
                return ("error", str(exc), exc.offset, exc.hint)

        assert run(imageref.normalize) == run(imageref.normalize.__wrapped__)


def test_cid_text_matches_the_encoder() -> None:
    for link in _LINKS * 2:
        if link.version == 0:
            expected = libipld.encode_multibase("z", link.raw)[1:]
        else:
            expected = libipld.encode_multibase("b", link.raw)
        assert str(link) == expected
        assert Link.parse(str(link)) == link


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _parse_reference(text: str) -> Link:
    """Link.parse as first written: the CID rebuilt from libipld's fields, varint by varint."""
    info = libipld.decode_cid(text)
    mh = info["hash"]
    multihash = _varint(mh["code"]) + _varint(mh["size"]) + mh["digest"]
    if info["version"] == 0:
        return Link(b"\x12\x20" + mh["digest"]) if mh["code"] == 0x12 else Link(multihash)
    return Link(_varint(1) + _varint(info["codec"]) + multihash)


@settings(max_examples=500, deadline=None)
@given(
    version=st.sampled_from([0, 1, 2]),
    codec=st.sampled_from([0x55, 0x70, 0x71, 0x0129, 0x300]) | st.integers(0, 2**20),
    code=st.sampled_from([0x00, 0x12, 0x13, 0x1E]) | st.integers(0, 2**20),
    digest=st.binary(max_size=70),
    size_delta=st.sampled_from([0, 0, 0, -1, 1]),
    base=st.sampled_from(["b", "z", "f", "m", "B", "u"]),
    tail=st.sampled_from([b"", b"", b"\x00"]),
)
def test_cid_prefix_cache_parses_as_the_rebuild(
    version: int, codec: int, code: int, digest: bytes, size_delta: int, base: str, tail: bytes
) -> None:
    """`Link.parse` takes the bytes before the digest from a cache: same links, same errors."""
    size = max(0, len(digest) + size_delta)
    head = b"" if version == 0 else _varint(version) + _varint(codec)
    raw = head + _varint(code) + _varint(size) + digest + tail
    texts = [libipld.encode_multibase(base, raw)]
    if version == 0:
        texts.append(libipld.encode_multibase("z", raw)[1:])  # CIDv0 text: no multibase prefix

    def run(fn: Any, text: str) -> Any:
        try:
            return ("ok", fn(text))
        except ValueError:
            return ("error",)

    for text in texts:
        assert run(Link.parse, text) == run(_parse_reference, text), text


def test_a_second_compile_gives_the_same_document() -> None:
    for name, raw in CORPUS[::10]:
        first = _outcome(raw, name, False)
        imageref.normalize.cache_clear()
        imageref.parse.cache_clear()
        assert _outcome(raw, name, False) == first, name
        assert _outcome(raw, name, False) == first, name


def test_default_pipeline_is_shared_and_immutable() -> None:
    assert default_pipeline() is default_pipeline()
    for pass_ in default_pipeline():  # frozen: sharing one instance is safe
        assert pass_.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_frozen_map_fast_methods_match_the_mapping_mixins() -> None:
    for items in ({}, {"a": 1}, {"b": 2, "a": 1, "c": None}):
        fm = FrozenMap(items)
        assert list(fm.keys()) == list(Mapping.keys(fm))
        assert list(fm.items()) == list(Mapping.items(fm))
        assert list(fm.values()) == list(Mapping.values(fm))
        for key in ("a", "z"):
            assert (key in fm) == Mapping.__contains__(fm, key)
            assert fm.get(key) == Mapping.get(fm, key)
            assert fm.get(key, 7) == Mapping.get(fm, key, 7)
        assert fm.to_dict() == dict(Mapping.items(fm))
        assert list(fm) == sorted(items)


def test_replace_is_dataclasses_replace() -> None:
    for job in list(_jobs())[:200]:
        assert replace(job, nonce="n") == dataclasses.replace(job, nonce="n")
        assert replace(job.task) == dataclasses.replace(job.task)
        with pytest.raises(TypeError):
            replace(job, no_such_field=1)


def test_identity_map_made_while_hashing_is_the_rendered_one() -> None:
    jobs = list(_jobs())
    with_links = [
        replace(jobs[0], inputs=(*jobs[0].inputs, Input("/zz", _LINKS[0]))),
        replace(jobs[0], x=FrozenMap({"b": b"\x00", "c": b"\x01\x71\x12\x20" + bytes(32)})),
    ]
    for job in [*jobs, *with_links]:
        cid, made = identity.job_cid_and_dag_json(job)
        assert cid == identity.job_cid(job)
        rendered = identity.identity_dag_json(job)
        if made is None:
            assert "/" in json.dumps(rendered), job  # only jobs with links or bytes
        else:
            assert _typed(made) == _typed(rendered)
    assert all(identity.job_cid_and_dag_json(job)[1] is None for job in with_links)


def test_documents_never_share_an_identity_map() -> None:
    for name, raw in CORPUS[::20]:
        try:
            c = compile_bytes(raw, name)
        except SpecError:
            continue
        first, second = to_document(c), to_document(c)
        maps = [first["job"], first["original_job"], second["job"], second["original_job"]]
        assert len({id(m) for m in maps}) == 4, name
        assert first == second, name
        assert first["job"] == identity.identity_dag_json(c.job)
        assert first["original_job"] == identity.identity_dag_json(c.original_job)


def test_diagnostics_are_placed_when_first_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass's diagnostic is placed (line, column) only when someone reads it: the same
    place the eager way gives, and no scan of the text for a compile nobody asks about."""
    from compiler import driver
    from compiler.frontends.loader import load as load_document

    text = '{"jobspec": 1, "task": {"engine": "wasm", "module": "s3://bucket/main.wasm"}}'
    scans: list[str] = []
    real = loader.json_spans

    def counted(name: str, t: str) -> Any:
        scans.append(name)
        return real(name, t)

    monkeypatch.setattr(loader, "json_spans", counted)
    c = compile_bytes(text.encode(), "job.json", CompileOptions(offline=True))
    assert isinstance(c.diagnostics, driver.PlacedLater)
    assert len(c.diagnostics) == 1
    (unplaced,) = c.unplaced_diagnostics
    assert unplaced.code == "unpinned"
    assert unplaced.span is None
    assert scans == []  # nobody has read them yet
    (placed,) = c.diagnostics
    assert scans == ["job.json"]
    doc = load_document("job.json", text.encode())
    parsed = driver.parse_document(doc)
    assert placed == driver.locate(unplaced, doc, parsed)
    assert placed.span is not None
    assert (placed.span.line, placed.span.column) == (1, text.index('"s3://') + 1)
    assert c.diagnostics == (placed,)
    assert list(c.diagnostics) == [placed]
    assert len(scans) == 2  # once for the compile's (read three times), once for the check
