"""Fuzzing every front-end from its own samples: whatever a document of a format turns
into, compiling it succeeds or gives well-formed diagnostics, never another exception.

`tests/test_fuzz.py` fuzzes the bytes and jobspec/1's structures. Here each case starts
from a real sample of one format (`tests/cases/`: every Bacalhau era, jobspec/2,
Homestar, IPVM, UCAN, Jobfile) and edits it where that format's readers branch: keys
deleted, renamed to another key of the format or to another case (Bacalhau's keys are
case-insensitive), values replaced by values of other fields or by scalars of every type,
maps and lists swapped, unknown fields added, a document wrapped in `{Job: …}`. A Jobfile
is edited as text: lines deleted, repeated or cut, words swapped, keywords and quotes
spliced in. The compile is the whole pipeline, offline, in a private data dir; a few
cases also go through `jobc compile` itself, whose exit code must be 0, 1 or 2.

Fast variants (`FAST` cases per family) run by default; `-m slow` runs `SLOW`.
"""

from __future__ import annotations

import copy
import json
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cli import main
from compiler.diagnostics import SpecError
from compiler.driver import CompileOptions, compile_document
from compiler.emitters.compiled import dumps
from compiler.migrate import TARGETS, migrate
from tests.test_fuzz import _places, check_error

CASES = Path(__file__).resolve().parent / "cases"
OFFLINE = CompileOptions(offline=True)
STRICT = CompileOptions(offline=True, strict=True)
FAST = 300
SLOW = 5_000
"""Cases per family in the slow run: one to four minutes in all on two shared cores."""


def _samples() -> dict[str, list[Path]]:
    """Every sample of each family of formats (valid and invalid ones: both are starts)."""
    families: dict[str, list[Path]] = {
        "bacalhau": [],
        "jobspec2": [],
        "ipvm": [],
        "jobfile": [],
    }
    for path in sorted(CASES.rglob("*")):
        if not path.is_file() or path.suffix not in (".yaml", ".json", ".jobfile", ""):
            continue
        rel = path.relative_to(CASES).as_posix()
        name = path.name
        if name == "Jobfile" or path.suffix == ".jobfile":
            families["jobfile"].append(path)
        elif rel.startswith("bacalhau/") or name.startswith("bacalhau"):
            families["bacalhau"].append(path)
        elif rel.startswith(("homestar/", "ipvm/")) or name in ("homestar.json", "ipvm.json"):
            families["ipvm"].append(path)
        elif rel.startswith("jobspec2/") or name == "jobspec2.yaml":
            families["jobspec2"].append(path)
    return families


SAMPLES = _samples()


def _keys(value: Any, into: set[str]) -> set[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            into.add(str(k))
            _keys(v, into)
    elif isinstance(value, list):
        for v in value:
            _keys(v, into)
    return into


def _load(path: Path) -> Any:
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


TREES = {
    family: [(p, _load(p)) for p in paths]
    for family, paths in SAMPLES.items()
    if family != "jobfile"
}
VOCABULARY = sorted(
    {k for trees in TREES.values() for _, tree in trees for k in _keys(tree, set())}
)
"""Every key any sample uses: a renamed key lands on a field some reader knows."""
LEAVES = sorted(
    {
        json.dumps(v, sort_keys=True)
        for trees in TREES.values()
        for _, tree in trees
        for v in (tree.values() if isinstance(tree, dict) else [])
    }
)[:200]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**64, -(2**63) - 1, 10**30, 0, -1]),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            *("", "docker", "Docker", "WASM", "wasm", "ipfs", "IPFS", "urlDownload", "s3"),
            *("inline", "local", "noop", "V1beta1", "V1beta2", "v1alpha1", "V1alpha1"),
            *("/", "/inputs", "relative/path", "main.wasm", "/app/main.wasm", "K=V", "=V"),
            *("K", "ubuntu:22.04", "ipfs://bafkqaaa", "bafkqaaa", "job:", "job:a#", "job:a#b"),
            *("wasm/run", "ipvm/run", "docker/run", "10m", "-5", "1e3", "HTTP", "None", "Full"),
            *("bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du", "ucan/promise"),
        ]
    ),
)
keys = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(keys, inner, max_size=3)
        | st.builds(lambda k, v: {"/": v} if k else {"await/ok": {"/": v}}, st.booleans(), inner)
    ),
    max_leaves=6,
)


def _recase(key: str, how: int) -> str:
    return [key.lower(), key.upper(), key.swapcase(), key[:1].lower() + key[1:]][how]


@st.composite
def edited(draw: st.DrawFn, family: str) -> tuple[bytes, str]:
    """One sample of `family`, edited one to four times, written as its format is."""
    path, tree = draw(st.sampled_from(TREES[family]))
    doc: Any = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(_places(doc)))
        if not where:
            if draw(st.integers(0, 8)) == 0:
                doc = {draw(st.sampled_from(["Job", "job", "spec", "Spec"])): doc}
            continue
        parent: Any = doc
        for step in where[:-1]:
            parent = parent[step]
        key = where[-1]
        action = draw(
            st.sampled_from(["set", "delete", "add", "rename", "recase", "listify", "leaf"])
        )
        target = parent[key]
        if action == "delete":
            del parent[key]
        elif action == "add" and isinstance(target, dict):
            target[draw(keys)] = draw(values)
        elif action == "add" and isinstance(target, list):
            target.append(draw(values) if draw(st.booleans()) else copy.deepcopy(target[:1]))
        elif action in ("rename", "recase") and isinstance(parent, dict):
            new = (
                draw(st.sampled_from(VOCABULARY))
                if action == "rename"
                else _recase(str(key), draw(st.integers(0, 3)))
            )
            parent[new] = parent.pop(key)
        elif action == "listify":
            parent[key] = (
                [target] if not isinstance(target, list) else (target[0] if target else {})
            )
        elif action == "leaf" and LEAVES:
            parent[key] = json.loads(draw(st.sampled_from(LEAVES)))
        else:
            parent[key] = draw(values)
    name = str(path)
    if path.suffix == ".json":
        return json.dumps(doc).encode(), name
    return yaml.dump(doc, Dumper=yaml.CSafeDumper, allow_unicode=True).encode(), name


JOBFILE_TOKENS = [
    *("job", "docker", "wasm", "rust", "c", "engine", "run", "entrypoint", "env", "input"),
    *("output", "from", "at", "text", "import", "stdin", "deterministic", "unordered"),
    *("nondeterministic", "network", "none", "full", "http", "nonce", "label", "x", "param"),
    *("timeout", "cpu", "memory", "retries", "publisher", "workdir", "platform", "edition"),
    *("{", "}", "=", "\\", "\\\n", '"', "'", '"a\\"b"', "#", "\n", " ", "\t", "job:a#b"),
    *("10m", "1.5", "-3", "true", "/data", "data/x", "ipfs://bafkqaaa", "é", "\x00", "\r"),
]


@st.composite
def edited_jobfiles(draw: st.DrawFn) -> tuple[bytes, str]:
    path = draw(st.sampled_from(SAMPLES["jobfile"]))
    lines = path.read_text().split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        action = draw(st.sampled_from(["delete", "repeat", "cut", "splice", "swap"]))
        line = lines[i] if lines else ""
        if action == "delete" and lines:
            del lines[i]
        elif action == "repeat":
            lines.insert(i, line)
        elif action == "cut":
            lines[i] = line[: draw(st.integers(0, len(line)))]
        elif action == "swap":
            words = line.split(" ")
            lines[i] = " ".join(draw(st.permutations(words)))
        else:
            at = draw(st.integers(0, len(line)))
            piece = draw(st.sampled_from(JOBFILE_TOKENS) | st.text(string.printable, max_size=3))
            sep = draw(st.sampled_from(["", " "]))
            lines[i] = line[:at] + sep + piece + sep + line[at:]
    return "\n".join(lines).encode("utf-8", "surrogatepass"), str(path)


STRATEGIES: dict[str, st.SearchStrategy[tuple[bytes, str]]] = {
    **{family: edited(family) for family in TREES},
    "jobfile": edited_jobfiles(),
}


def check(raw: bytes, name: str, strict: bool = False) -> None:
    """Compile: success, or a well-formed SpecError; nothing else. What compiles also
    migrates to every format jobc writes, or is refused with diagnostics."""
    try:
        compiled = compile_document(raw, name, STRICT if strict else OFFLINE)
    except SpecError as exc:
        # A diagnostic may point into another file the job names (a WASM text module
        # that does not parse): those are checked for a place, the rest as usual.
        elsewhere = [d for d in exc.diagnostics if d.span is not None and d.span.file != name]
        for d in elsewhere:
            assert d.span is not None
            assert (d.span.line, d.span.column) >= (1, 1)
        exc.diagnostics = [d for d in exc.diagnostics if d not in elsewhere]
        check_error(exc, raw, name)
        return
    jobs = [c for _, c in compiled.jobs] if hasattr(compiled, "jobs") else [compiled]
    for job in jobs:
        dumps(job)  # and every compiled document can be written
    for target in sorted(set(TARGETS.values())):
        try:
            migrate(raw, name, target)
        except SpecError as exc:
            refusal = exc
        else:
            continue
        assert refusal.errors
        assert all(d.span is not None for d in refusal.errors), refusal.errors


def _fuzz(strategy: st.SearchStrategy[tuple[bytes, str]], examples: int) -> Callable[[], None]:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy, st.booleans())
    def run(case: tuple[bytes, str], strict: bool) -> None:
        check(*case, strict=strict)

    return run


def test_every_family_has_samples() -> None:
    assert {f: len(p) >= 3 for f, p in SAMPLES.items()} == dict.fromkeys(SAMPLES, True)


@pytest.mark.parametrize("family", sorted(STRATEGIES))
def test_fuzz_formats(family: str) -> None:
    _fuzz(STRATEGIES[family], FAST)()


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(STRATEGIES))
def test_fuzz_formats_many(family: str) -> None:
    _fuzz(STRATEGIES[family], SLOW)()


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(STRATEGIES)).flatmap(lambda f: STRATEGIES[f]))
def test_jobc_compile_exits_cleanly(tmp_path_factory: pytest.TempPathFactory, case: Any) -> None:
    """The command itself: exit 0 (compiled), 1 (invalid spec) or 2 (usage), a
    diagnostic on stderr for 1, never a traceback or an internal error (70)."""
    raw, name = case
    folder = tmp_path_factory.mktemp("fuzz")
    # the sample's own folder name keeps relative inputs unresolvable but well-formed
    path = folder / Path(name).name
    path.write_bytes(raw)
    result = CliRunner().invoke(main, ["compile", "--offline", "--no-store", str(path)])
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    if result.exit_code == 1:
        assert f"{path.name}:" in result.stderr, result.stderr


HOMESTAR_TASK = (
    '{"rsc": "ipfs://bafkreia6gnbk223itanmbogdzu2tecoijzwrzkwvz3hauarwttjnjbqfuy",'
    ' "op": "wasm/run", "input": {"func": "f", "args": ARGS}, "nnc": ""}'
)


def homestar(args: str, meta: str = "{}") -> bytes:
    task = HOMESTAR_TASK.replace("ARGS", args)
    return f'{{"tasks": [{{"run": {task}, "meta": {meta}}}]}}'.encode()


@pytest.mark.parametrize(
    ("raw", "name", "code"),
    [
        # found by the fuzzers above, each once a traceback:
        # a UCAN task holding an integer past 64 bits, hashed to know its CID
        (
            b'{"ucan/invoke": {"run": {"a": {"with": "ipfs://bafkqaaa", "do": "wasm/run",'
            b' "inputs": {"args": [18446744073709551616]}}}}}',
            "u.json",
            "int-range",
        ),
        # a stash in Bacalhau's Meta that is no JSON at all
        (
            b"Name: j\nMeta: {jobc.stash: ''}\nTasks:\n  - Name: main\n"
            b"    Engine: {Type: docker, Params: {Image: ubuntu}}\n",
            "b.yaml",
            "stash",
        ),
        # a map that DAG-JSON would read as a link, in a job's values
        (
            b"jobspec: 1\ntask: {engine: docker, image: u}\nx: {k: {'/': hi}}\n",
            "x.yaml",
            "reserved-key",
        ),
        (
            b"jobspec: 1\ntask: {engine: wasm, module: ipfs://bafkqaaa, args: [{'/': 1}]}\n",
            "a.yaml",
            "reserved-key",
        ),
        (homestar('[{"/": null}]'), "h.json", "dag-json"),
        (homestar('[{"await/ok": {"/": "not-a-cid"}}]'), "h.json", "dag-json"),
        # meta is kept as written: neither of these may break writing the workflow again
        (homestar("[1]", '{"memory": {"/": "x"}, "n": -9223372036854775809}'), "h.json", ""),
    ],
)
def test_inputs_the_fuzzers_found(raw: bytes, name: str, code: str) -> None:
    if not code:
        check(raw, name)
        return
    with pytest.raises(SpecError) as info:
        compile_document(raw, name, OFFLINE)
    assert code in [d.code for d in info.value.errors], info.value.errors
    check(raw, name)
