"""What is identity and what is not, as tests: pairs of specs with the same or different CIDs.

Each case starts from one of a few base specs (a dict), applies edits to make two
variants, writes them as YAML or JSON bytes and compiles both with `compile_bytes`.
`test_same_cid` pairs must reach the same *final* CID (DESIGN §2: names, labels,
execution options, spellings and defaults are not identity); `test_different_cid` pairs
must not (any change of what the program computes is). The examples written to agree
(examples/README.md) are checked too.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.driver import Compiled, CompileOptions, compile_bytes, compile_file
from compiler.passes import default_pipeline

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

Spec = dict[str, Any]
Edit = Callable[[Spec], None]

WORDS = {"name": "words", "source": "data/words.txt", "target": "/data/words.txt"}
CORPUS = {
    "name": "corpus",
    "source": "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    "target": "/corpus",
}
JOB_CID = "bafyreiflzagvn6s7hfm2ouelf47bf5vgynhnoild77s7hg55biyga2wpaq"

BASES: dict[str, Spec] = {
    "docker": {
        "jobspec": 1,
        "name": "word-count",
        "labels": {"team": "data"},
        "task": {
            "engine": "docker",
            "image": "ubuntu:22.04",
            "entrypoint": ["sh", "-c"],
            "args": ["wc -l /data/words.txt > /outputs/count"],
            "env": {"LC_ALL": "C", "TZ": "UTC"},
            "workdir": "/work",
        },
        "inputs": [WORDS, CORPUS],
        "outputs": [{"name": "count", "path": "/outputs"}, {"name": "log", "path": "/logs"}],
        "deterministic": True,
        "execution": {"timeout": "10m", "resources": {"cpu": "1", "memory": "1Gi"}},
    },
    "wasm": {
        "jobspec": 1,
        "name": "wasm-sum",
        "task": {
            "engine": "wasm",
            "module": "data/wasm/sum.wasm",
            "args": [42, "total", True, [1, 2]],
            "env": {"SEED": "1"},
            "imports": {"math": "data/wasm/mathlib.wasm"},
            "stdin": "data/stdin.txt",
        },
        "inputs": [{"name": "config", "text": '{"threshold": 1000}', "target": "/etc/config.json"}],
        "outputs": ["/outputs"],
    },
    "rust": {
        "jobspec": 1,
        "name": "fibonacci",
        "task": {
            "engine": "rust",
            "source": "data/fib.rs",
            "args": ["30"],
            "env": {"RUST_BACKTRACE": "1"},
        },
        "inputs": [WORDS],
        "outputs": [{"name": "numbers", "path": "/outputs"}],
    },
    "c": {
        "jobspec": 1,
        "name": "checksum",
        "task": {"engine": "c", "source": "data/checksum.c", "args": ["/data/words.txt"]},
        "inputs": [WORDS],
        "outputs": ["/outputs"],
    },
    "python": {
        "jobspec": 1,
        "name": "summarise",
        "task": {
            "engine": "python",
            "version": "3.12",
            "script": "data/scripts/summarise.py",
            "args": ["/data/sales.csv", "/outputs/totals.json"],
        },
        "inputs": [{"name": "sales", "source": "data/sales.csv", "target": "/data/sales.csv"}],
        "outputs": ["/outputs/totals.json"],
        "deterministic": True,
    },
}

# --- edits ---------------------------------------------------------------------------------


def _parent(spec: Spec, path: str) -> tuple[Any, str | int]:
    """The container holding `path` ("task.env.TZ", "inputs.0.target") and the last key."""
    *head, last = path.split(".")
    node: Any = spec
    for key in head:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node, (int(last) if isinstance(node, list) else last)


def put(path: str, value: Any) -> Edit:
    """Set the value at `path` (a copy of `value`)."""

    def edit(spec: Spec) -> None:
        node, key = _parent(spec, path)
        node[key] = copy.deepcopy(value)

    return edit


def drop(path: str) -> Edit:
    """Remove the value at `path` (if it is there)."""

    def edit(spec: Spec) -> None:
        node, key = _parent(spec, path)
        if isinstance(node, list):
            del node[int(key)]
        else:
            node.pop(key, None)

    return edit


def update(path: str, fn: Callable[[Any], Any]) -> Edit:
    """Replace the value at `path` with `fn(value)`."""

    def edit(spec: Spec) -> None:
        node, key = _parent(spec, path)
        node[key] = fn(node[key])

    return edit


def reversed_keys(value: Any) -> Any:
    """The same data with every map's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(value)}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def reorder_keys(spec: Spec) -> None:
    """Reverse the key order of every map, in place."""
    new = reversed_keys(spec)
    spec.clear()
    spec.update(new)


# --- documents -----------------------------------------------------------------------------


def dump(spec: Spec, syntax: str = "yaml", *, comments: bool = False) -> bytes:
    """The spec as YAML (block style, no line folding) or JSON bytes."""
    if syntax == "json":
        return json.dumps(spec, indent=2, ensure_ascii=False).encode()
    text = yaml.safe_dump(spec, sort_keys=False, width=2**20, allow_unicode=True)
    if comments:
        text = with_comments(text)
    return text.encode()


def with_comments(text: str) -> str:
    """YAML with a full-line comment before every line and one after every `key:` line."""
    out = ["# A job, with comments everywhere: they are not identity."]
    for i, line in enumerate(text.splitlines()):
        indent = line[: len(line) - len(line.lstrip())]
        out.append(f"{indent}# note {i}: {line.strip()[:20]}")
        out.append(line + ("   # a section" if line.endswith(":") else ""))
    return "\n".join(out) + "\n# the end\n"


def variant(base: str, *edits: Edit, syntax: str = "yaml", comments: bool = False) -> bytes:
    """A base spec with `edits` applied, as document bytes."""
    spec = copy.deepcopy(BASES[base])
    for edit in edits:
        edit(spec)
    return dump(spec, syntax, comments=comments)


def compile_variant(raw: bytes) -> Compiled:
    """Compile document bytes (JSON if they start with `{`).

    Without resolve-content: the variants name files that are nowhere (`data/other.txt`)
    and URLs of made-up hosts; what is compared here is how a job is written. Content
    hashing has its own tests (test_content.py), and the examples below run it all."""
    name = "spec.json" if raw.lstrip().startswith(b"{") else "spec.yaml"
    return compile_bytes(raw, name, CompileOptions(passes=_WRITTEN))


_WRITTEN = tuple(p for p in default_pipeline() if p.name != "resolve-content")


# --- cases ---------------------------------------------------------------------------------

Pair = tuple[bytes, bytes]
SAME: dict[str, Pair] = {}
DIFFERENT: dict[str, Pair] = {}


def same(case: str, left: bytes, right: bytes) -> None:
    """Register a pair that must have the same final CID."""
    assert case not in SAME, case
    SAME[case] = (left, right)


def different(case: str, base: str, *edits: Edit) -> None:
    """Register a base spec and an edit of it that must have different final CIDs."""
    assert case not in DIFFERENT, case
    DIFFERENT[case] = (variant(base), variant(base, *edits))


# Syntax, key order and comments, for every base.
for b in BASES:
    same(f"{b}-key-order", variant(b), variant(b, reorder_keys))
    same(f"{b}-yaml-vs-json", variant(b), variant(b, syntax="json"))
    same(f"{b}-comments", variant(b), variant(b, comments=True))
    same(f"{b}-json-key-order", variant(b, syntax="json"), variant(b, reorder_keys, syntax="yaml"))
    same(f"{b}-jobspec-string-1", variant(b), variant(b, put("jobspec", "1")))

# What is not identity: names, labels, execution.
for b in BASES:
    same(f"{b}-name-changed", variant(b), variant(b, put("name", "another name")))
    same(f"{b}-name-dropped", variant(b), variant(b, drop("name")))
    same(f"{b}-labels-changed", variant(b), variant(b, put("labels", {"team": "ml", "x": "1"})))
    same(
        f"{b}-execution-added",
        variant(b),
        variant(
            b,
            put(
                "execution",
                {
                    "timeout": "2h",
                    "resources": {"cpu": "8", "memory": "32Gi", "gpu": "1"},
                    "retries": 5,
                    "publisher": {"type": "ipfs"},
                },
            ),
        ),
    )
for b in ("docker", "wasm", "rust", "c", "python"):
    outputs = BASES[b]["outputs"]
    if isinstance(outputs[0], dict):
        same(
            f"{b}-output-renamed",
            variant(b),
            variant(b, put("outputs.0.name", "renamed")),
        )
        same(
            f"{b}-output-name-dropped",
            variant(b),
            variant(b, update("outputs.0", lambda o: o["path"])),
        )
    else:
        same(
            f"{b}-output-named",
            variant(b),
            variant(b, update("outputs.0", lambda p: {"name": "named", "path": p})),
        )
    if BASES[b].get("inputs"):
        same(f"{b}-input-renamed", variant(b), variant(b, put("inputs.0.name", "renamed")))
        same(f"{b}-input-name-dropped", variant(b), variant(b, drop("inputs.0.name")))

same(
    "docker-timeout-changed",
    variant("docker"),
    variant("docker", put("execution.timeout", "1h")),
)
same("docker-execution-dropped", variant("docker"), variant("docker", drop("execution")))
same(
    "docker-resources-retries-publisher",
    variant("docker"),
    variant(
        "docker",
        put("execution.resources", {"cpu": "16"}),
        put("execution.retries", 9),
        put("execution.publisher", {"type": "s3", "params": {"bucket": "b"}}),
    ),
)

# Explicit defaults are the same as omitted ones.
same(
    "docker-deterministic-false-is-default",
    variant("docker", drop("deterministic")),
    variant("docker", put("deterministic", False)),
)
same(
    "python-deterministic-false-is-default",
    variant("python", drop("deterministic")),
    variant("python", put("deterministic", False)),
)
for b in ("wasm", "rust", "c"):
    same(f"{b}-deterministic-true-is-default", variant(b), variant(b, put("deterministic", True)))
same("wasm-entrypoint-start", variant("wasm"), variant("wasm", put("task.entrypoint", "_start")))
same("rust-edition-2021", variant("rust"), variant("rust", put("task.edition", "2021")))
same("rust-edition-2021-int", variant("rust"), variant("rust", put("task.edition", 2021)))
for b in BASES:
    same(f"{b}-network-none", variant(b), variant(b, put("network", "none")))
    same(f"{b}-network-none-map", variant(b), variant(b, put("network", {"mode": "none"})))
    same(f"{b}-nonce-empty", variant(b), variant(b, put("nonce", "")))
    same(f"{b}-x-empty", variant(b), variant(b, put("x", {})))
for b in ("docker", "wasm", "rust", "c"):
    same(f"{b}-env-empty", variant(b, drop("task.env")), variant(b, put("task.env", {})))
    same(f"{b}-env-empty-list", variant(b, drop("task.env")), variant(b, put("task.env", [])))
    same(f"{b}-args-empty", variant(b, drop("task.args")), variant(b, put("task.args", [])))
for b in BASES:
    same(f"{b}-inputs-empty", variant(b, drop("inputs")), variant(b, put("inputs", [])))
    same(f"{b}-outputs-empty", variant(b, drop("outputs")), variant(b, put("outputs", [])))
same(
    "wasm-imports-empty",
    variant("wasm", drop("task.imports")),
    variant("wasm", put("task.imports", {})),
)
same(
    "docker-entrypoint-empty",
    variant("docker", drop("task.entrypoint"), put("task.args", ["echo", "hi"])),
    variant("docker", put("task.entrypoint", []), put("task.args", ["echo", "hi"])),
)
same(
    "docker-everything-explicit",
    variant("docker", drop("deterministic")),
    variant(
        "docker",
        put("deterministic", False),
        put("network", "none"),
        put("nonce", ""),
        put("x", {}),
    ),
)

# Env as a map or as a K=V list; integers are their decimal strings.
for b in ("docker", "wasm", "rust"):
    same(
        f"{b}-env-map-vs-list",
        variant(b),
        variant(b, update("task.env", lambda env: [f"{k}={v}" for k, v in env.items()])),
    )
same(
    "docker-env-int-vs-string",
    variant("docker", put("task.env.PORT", "8080")),
    variant("docker", put("task.env.PORT", 8080)),
)
same(
    "docker-env-value-with-equals",
    variant("docker", put("task.env.OPTS", "a=b=c")),
    variant("docker", put("task.env", ["LC_ALL=C", "TZ=UTC", "OPTS=a=b=c"])),
)

# Image spellings (normalize).
UBUNTU = (
    "ubuntu",
    "ubuntu:latest",
    "library/ubuntu",
    "docker.io/ubuntu",
    "docker.io/library/ubuntu:latest",
    "index.docker.io/library/ubuntu",
    "index.docker.io/ubuntu:latest",
)
for spelling in UBUNTU[1:]:
    same(
        f"docker-image-ubuntu-vs-{spelling.replace('/', '_').replace(':', '_')}",
        variant("docker", put("task.image", "ubuntu")),
        variant("docker", put("task.image", spelling)),
    )
DIGEST = "sha256:" + "ab" * 32
same(
    "docker-image-tag-and-digest-vs-digest",
    variant("docker", put("task.image", f"python:3.12@{DIGEST}")),
    variant("docker", put("task.image", f"docker.io/library/python@{DIGEST}")),
)
same(
    "docker-image-ghcr-as-is",
    variant("docker", put("task.image", "ghcr.io/org/tool:v1")),
    variant("docker", put("task.image", "ghcr.io/org/tool:v1"), put("name", "tool")),
)

# Entrypoint + args split differently: the whole argv is what runs.
ARGVS = {
    "sh-c+echo": (["sh", "-c"], ["echo hi"]),
    "sh-c-echo+none": (["sh", "-c", "echo hi"], None),
    "sh+c-echo": (["sh"], ["-c", "echo hi"]),
    "sh-string+c-echo": ("sh", ["-c", "echo hi"]),
    "sh-c-echo+empty": (["sh", "-c", "echo hi"], []),
}


def argv(entrypoint: Any, args: Any) -> Edit:
    """Set the docker entrypoint and args (None: no such field)."""

    def edit(spec: Spec) -> None:
        spec["task"].pop("entrypoint", None)
        spec["task"].pop("args", None)
        if entrypoint is not None:
            spec["task"]["entrypoint"] = entrypoint
        if args is not None:
            spec["task"]["args"] = args

    return edit


for split, (ep, args) in list(ARGVS.items())[1:]:
    same(
        f"docker-argv-sh-c+echo-vs-{split}",
        variant("docker", argv(*ARGVS["sh-c+echo"])),
        variant("docker", argv(ep, args)),
    )

# Paths and sources.
same(
    "docker-target-trailing-slash",
    variant("docker"),
    variant("docker", put("inputs.1.target", "/corpus/")),
)
same(
    "docker-target-dot-segments",
    variant("docker"),
    variant("docker", put("inputs.0.target", "/data/./x/../words.txt")),
)
same(
    "docker-target-double-slash",
    variant("docker"),
    variant("docker", put("inputs.0.target", "//data//words.txt")),
)
same(
    "docker-output-trailing-slash",
    variant("docker"),
    variant("docker", put("outputs.0.path", "/outputs/")),
)
same(
    "docker-workdir-trailing-slash",
    variant("docker"),
    variant("docker", put("task.workdir", "/work/")),
)
same(
    "docker-inputs-reordered",
    variant("docker"),
    variant("docker", update("inputs", lambda i: i[::-1])),
)
same(
    "docker-outputs-reordered",
    variant("docker"),
    variant("docker", update("outputs", lambda o: o[::-1])),
)
same(
    "docker-source-dot-slash",
    variant("docker", put("inputs.0.source", "data")),
    variant("docker", put("inputs.0.source", "./data")),
)
for spelling in (
    "./data/words.txt",
    "file:data/words.txt",
    "data//words.txt",
    "FILE:./data/words.txt",
):
    same(
        f"docker-source-{spelling}",
        variant("docker"),
        variant("docker", put("inputs.0.source", spelling)),
    )
same(
    "docker-source-file-triple-slash",
    variant("docker", put("inputs.0.source", "/srv/words.txt")),
    variant("docker", put("inputs.0.source", "file:///srv/words.txt")),
)
same(
    "docker-source-scheme-case",
    variant("docker", put("inputs.0.source", "https://example.org/words.txt")),
    variant("docker", put("inputs.0.source", "HTTPS://example.org/words.txt")),
)
same(
    "docker-await-path-cleaned",
    variant("docker", put("inputs.0.source", f"job:{JOB_CID}#/outputs/count")),
    variant("docker", put("inputs.0.source", f"job:{JOB_CID}#/outputs/./count/")),
)
same(
    "wasm-text-vs-data-uri",
    variant("wasm"),
    variant(
        "wasm",
        drop("inputs.0.text"),
        put("inputs.0.source", "data:,%7B%22threshold%22%3A%201000%7D"),
    ),
)
same(
    "wasm-module-dot-slash",
    variant("wasm"),
    variant("wasm", put("task.module", "./data/wasm/sum.wasm")),
)
same(
    "rust-source-file-uri", variant("rust"), variant("rust", put("task.source", "file:data/fib.rs"))
)

# Network domains: case, order and duplicates do not matter; strict + network is none.
same(
    "docker-domains-order-case",
    variant(
        "docker",
        drop("deterministic"),
        put("network", {"mode": "http", "domains": ["a.org", "b.org"]}),
    ),
    variant(
        "docker",
        drop("deterministic"),
        put("network", {"mode": "http", "domains": ["B.org", "a.org", "b.org"]}),
    ),
)
same(
    "docker-network-strict-becomes-none",
    variant("docker", put("deterministic", False), put("network", "full")),
    variant("docker", put("deterministic", True), put("network", {"mode": "full"})),
)

# --- different CIDs ------------------------------------------------------------------------

different("docker-image-tag", "docker", put("task.image", "ubuntu:24.04"))
different("docker-image-repo", "docker", put("task.image", "debian:12"))
different("docker-image-registry", "docker", put("task.image", "ghcr.io/library/ubuntu:22.04"))
different("docker-image-digest", "docker", put("task.image", f"ubuntu@{DIGEST}"))
different(
    "docker-args-changed", "docker", put("task.args", ["wc -w /data/words.txt > /outputs/count"])
)
different("docker-args-added", "docker", update("task.args", lambda a: [*a, "extra"]))
different("docker-args-dropped", "docker", drop("task.args"))
different("docker-entrypoint-dropped", "docker", drop("task.entrypoint"))
different(
    "docker-entrypoint-vs-args",
    "docker",
    argv(None, ["sh", "-c", "wc -l /data/words.txt > /outputs/count"]),
)
different("docker-env-key", "docker", drop("task.env.TZ"), put("task.env.TIMEZONE", "UTC"))
different("docker-env-value", "docker", put("task.env.TZ", "Europe/Berlin"))
different("docker-env-added", "docker", put("task.env.DEBUG", "1"))
different("docker-env-empty-value", "docker", put("task.env.EMPTY", ""))
different("docker-workdir", "docker", put("task.workdir", "/tmp"))
different("docker-platform", "docker", put("task.platform", "linux/arm64"))
different("docker-input-source", "docker", put("inputs.0.source", "data/other.txt"))
different("docker-input-source-scheme", "docker", put("inputs.0.source", "s3://bucket/words.txt"))
different("docker-input-source-dir-slash", "docker", put("inputs.0.source", "data/words.txt/"))
different("docker-input-target", "docker", put("inputs.0.target", "/data/list.txt"))
different(
    "docker-input-added",
    "docker",
    update("inputs", lambda i: [*i, {"source": "x", "target": "/x"}]),
)
different("docker-input-dropped", "docker", update("inputs", lambda i: i[:1]))
different("docker-input-text", "docker", drop("inputs.0.source"), put("inputs.0.text", "apple\n"))
different("docker-input-await", "docker", put("inputs.0.source", f"job:{JOB_CID}#/outputs/count"))
different("docker-output-path", "docker", put("outputs.0.path", "/results"))
different("docker-output-added", "docker", update("outputs", lambda o: [*o, "/extra"]))
different("docker-output-dropped", "docker", update("outputs", lambda o: o[:1]))
different("docker-determinism", "docker", put("deterministic", False))
different("docker-nonce", "docker", put("nonce", "rerun-1"))
different("docker-network-http", "docker", drop("deterministic"), put("network", "http"))
different("docker-network-full", "docker", drop("deterministic"), put("network", "full"))
different(
    "docker-network-domains",
    "docker",
    drop("deterministic"),
    put("network", {"mode": "http", "domains": ["pypi.org"]}),
)
different("docker-engine", "docker", put("task.engine", "podman"))
different("docker-x-added", "docker", put("x", {"scheduler": "gpu"}))
different("docker-unknown-field", "docker", put("task.gpu", 1))
different("docker-name-in-x", "docker", put("x", {"name": "word-count"}))
different("wasm-module", "wasm", put("task.module", "data/wasm/hello.wasm"))
different("wasm-entrypoint", "wasm", put("task.entrypoint", "main"))
different("wasm-arg-int-vs-string", "wasm", put("task.args.0", "42"))
different("wasm-arg-order", "wasm", update("task.args", lambda a: a[::-1]))
different("wasm-arg-bool-vs-int", "wasm", put("task.args.2", 1))
different("wasm-env", "wasm", put("task.env.SEED", "2"))
different("wasm-imports", "wasm", put("task.imports.math", "data/wasm/hello.wasm"))
different("wasm-import-name", "wasm", put("task.imports", {"maths": "data/wasm/mathlib.wasm"}))
different("wasm-stdin", "wasm", put("task.stdin", "data/words.txt"))
different("wasm-stdin-dropped", "wasm", drop("task.stdin"))
different("wasm-text-input", "wasm", put("inputs.0.text", '{"threshold": 2000}'))
different("wasm-determinism", "wasm", put("deterministic", False))
different("wasm-engine-other", "wasm", put("task.engine", "wasmtime"))
different("rust-edition", "rust", put("task.edition", "2018"))
different("rust-edition-2024", "rust", put("task.edition", "2024"))
different("rust-source", "rust", put("task.source", "data/hello-rs/main.rs"))
different("rust-args", "rust", put("task.args", ["31"]))
different("rust-engine-c", "rust", put("task.engine", "c"))
different("rust-nonce", "rust", put("nonce", "x"))
different("c-source", "c", put("task.source", "data/sort_lines.c"))
different("c-args", "c", put("task.args", ["/data/other.txt"]))
different("c-env", "c", put("task.env", {"LC_ALL": "C"}))
different("c-network", "c", put("network", "http"))
different("python-param", "python", put("task.version", "3.11"))
different("python-param-added", "python", put("task.requirements", ["numpy"]))
different("python-empty-param", "python", put("task.requirements", []))
different("python-engine", "python", put("task.engine", "python3"))
different("python-x", "python", put("x", {"k": "v"}))
different("python-x-value", "python", put("x", {"k": 1}))


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("left", "right"), list(SAME.values()), ids=list(SAME))
def test_same_cid(left: bytes, right: bytes) -> None:
    """Two ways of writing one job compile to one final CID."""
    assert left != right
    a, b = compile_variant(left), compile_variant(right)
    assert a.cid == b.cid, (left.decode(), right.decode())
    assert a.job == b.job


@pytest.mark.parametrize(("left", "right"), list(DIFFERENT.values()), ids=list(DIFFERENT))
def test_different_cid(left: bytes, right: bytes) -> None:
    """A change of what the job computes changes its final CID (and its original CID)."""
    a, b = compile_variant(left), compile_variant(right)
    assert a.cid != b.cid, (left.decode(), right.decode())
    assert a.original != b.original


def test_different_cases_are_all_distinct() -> None:
    """Every edited variant of a base is distinct from every other, not only from the base."""
    seen: dict[str, str] = {}
    for case, (_, right) in DIFFERENT.items():
        cid = str(compile_variant(right).cid)
        assert cid not in seen, f"{case} and {seen.get(cid)} compile to the same job"
        seen[cid] = case


def test_bases_compile_without_warnings() -> None:
    """The base specs are clean, so a warning in a case comes from its edit."""
    for base in BASES:
        assert compile_variant(variant(base)).warnings == [], base


def test_original_differs_final_same() -> None:
    """`ubuntu` and its normal form: different original CIDs, one final CID.

    The short spelling's chain has a normalize record from its original to the normal
    form's original CID; the normal form needs no normalising; from there both chains
    share one resolve-images record.
    """
    normal: Spec = {
        "jobspec": 1,
        "task": {
            "engine": "docker",
            "image": "docker.io/library/ubuntu:latest",
            "args": ["echo", "hi"],
        },
        "inputs": [{"source": "file:data/words.txt", "target": "/data/words.txt"}],
    }
    short = copy.deepcopy(normal)
    short["task"]["image"] = "ubuntu"
    short["inputs"][0]["source"] = "./data/words.txt"
    a, b = compile_variant(dump(short)), compile_variant(dump(normal))

    assert a.original != b.original
    assert a.cid == b.cid
    # Then resolve-images pins the same tag in both, to the same digest.
    assert [r.pass_name for r in a.chain] == ["parse", "normalize", "resolve-images"]
    normalize = a.chain[1]
    assert (normalize.source, normalize.target) == (a.original, b.original)
    assert normalize.version >= 1
    assert [r.pass_name for r in b.chain] == ["parse", "resolve-images"]
    assert a.chain[2] == b.chain[1]
    assert a.chain[0].source != b.chain[0].source  # different documents


def test_same_document_same_cids() -> None:
    """Compiling the same bytes twice gives the same CIDs and records."""
    raw = variant("docker")
    a, b = compile_variant(raw), compile_variant(raw)
    assert (a.cid, a.original, a.document) == (b.cid, b.original, b.document)
    assert [r.cid for r in a.chain] == [r.cid for r in b.chain]


# Examples written to agree (examples/README.md).
EXAMPLE_TWINS = (
    ("docker-word-count.yaml", "docker-word-count-as-json.json"),
    ("docker-hello-bare-image.yaml", "docker-hello-library-image.yaml"),
    ("docker-hello-bare-image.yaml", "docker-hello-index-docker-io.json"),
    ("docker-entrypoint-split.yaml", "docker-entrypoint-joined.yaml"),
    ("docker-env-map.yaml", "docker-env-list.json"),
    ("wasm-hello.yaml", "wasm-explicit-defaults.json"),
    ("rust-hello.yaml", "rust-edition-2021-explicit.json"),
)


@pytest.mark.parametrize(("left", "right"), EXAMPLE_TWINS, ids=[a for a, _ in EXAMPLE_TWINS])
def test_example_twins(left: str, right: str) -> None:
    """Examples written as two spellings of one job have one final CID."""
    a, b = compile_file(EXAMPLES / left), compile_file(EXAMPLES / right)
    assert a.cid == b.cid
    assert a.document != b.document


def test_example_nonce_differs() -> None:
    """docker-nonce-rerun.yaml is docker-word-count.yaml with a nonce: another job."""
    a = compile_file(EXAMPLES / "docker-word-count.yaml")
    b = compile_file(EXAMPLES / "docker-nonce-rerun.yaml")
    assert a.cid != b.cid
    assert b.job.nonce
    assert dataclasses.replace(b.job, nonce="") == a.job
