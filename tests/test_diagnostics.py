"""Every diagnostic a user can meet: its exact place, its message, its hint, its rendering.

The documents are in `tests/cases/diagnostics/` (one problem each, unless the file says
otherwise); the expectations are in `CASES`. Documents that are generated (alias bombs,
deep nesting, oversized files) are built in the tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import EXIT_INVALID, EXIT_OK, main
from compiler.diagnostics import Diagnostic, Severity, SpecError, render
from compiler.driver import Compiled, CompileOptions, compile_bytes
from compiler.frontends.loader import Limits
from tests.conftest import CASES as CASES_DIR

DIR = CASES_DIR / "diagnostics"


@dataclass(frozen=True)
class Expect:
    """One expected diagnostic: where, how bad, a piece of its message and of its hint."""

    line: int
    column: int
    message: str
    hint: str = ""
    severity: Severity = Severity.ERROR


CASES: dict[str, list[Expect]] = {
    # YAML syntax
    "yaml-unclosed-flow.yaml": [
        Expect(3, 7, "invalid YAML: did not find expected ',' or '}'", "flow mapping that starts"),
    ],
    "yaml-tab-indent.yaml": [Expect(3, 1, "cannot start any token", "spaces, not tabs")],
    "yaml-colon-in-value.yaml": [
        Expect(2, 17, "mapping values are not allowed", "must be quoted"),
    ],
    # JSON syntax
    "json-trailing-comma.json": [
        Expect(3, 50, "invalid JSON: expecting property name", "trailing comma"),
    ],
    "json-missing-comma.json": [Expect(3, 3, "expecting ',' delimiter", "comma is missing")],
    "json-extra-data.json": [Expect(2, 1, "invalid JSON: extra data", "exactly one value")],
    "json-unquoted-key.json": [Expect(2, 3, "expecting property name", "double quotes")],
    # shapes and types
    "type-errors.yaml": [
        Expect(4, 10, "`task.image` must be a string, not an integer", "quote"),
        Expect(5, 9, "`inputs` must be a list, not a map", "write a list"),
    ],
    "missing-task.yaml": [Expect(1, 1, "the job has no `task`", "add `task:")],
    "missing-engine.yaml": [Expect(3, 3, "the task has no `engine`", "engine: docker")],
    "missing-image.yaml": [Expect(3, 3, "the task has no `image`", "add `image:`")],
    "relative-target.yaml": [
        Expect(4, 38, "`inputs[0].target` must be an absolute path", "write /data/words.txt"),
    ],
    # duplicate keys
    "duplicate-key.yaml": [Expect(5, 3, "duplicate key 'image'", "already given at line 4")],
    "duplicate-key.json": [Expect(4, 3, "duplicate key 'jobspec'", "already given at line 2")],
    # floats in identity, at the float
    "float-in-x.yaml": [Expect(5, 12, "(0.25) cannot be part of a job's identity", '"1.5"')],
    "float-in-wasm-args.yaml": [Expect(5, 19, "(1.5) cannot be part of a job's identity")],
    "float-in-engine-params.json": [Expect(5, 30, "(2.5) cannot be part of a job's identity")],
    # whole-document problems
    "multiple-documents.yaml": [Expect(3, 1, "one job document, but this one has several", "---")],
    "empty.yaml": [Expect(1, 1, "the document is empty", "jobspec: 1")],
    "comments-only.yaml": [Expect(1, 1, "the document is empty", "jobspec: 1")],
    "empty.json": [Expect(1, 1, "the document is empty", '"jobspec": 1')],
    "non-string-keys.yaml": [
        Expect(6, 5, "a map key must be a string, not an integer (8080)", "quote the key"),
        Expect(7, 5, "a map key must be a string, not a boolean", "quote the key"),
    ],
    # image references: the caret under the offending character, quoted or not
    "image-uppercase.yaml": [Expect(4, 10, "repository names must be lowercase", "'ubuntu'")],
    "image-uppercase-quoted.yaml": [Expect(4, 19, "must be lowercase", "'library/ubuntu'")],
    "image-uppercase.json": [Expect(3, 50, "must be lowercase", "'org/tool'")],
    "image-two-colons.yaml": [Expect(4, 16, "invalid character ':' in the repository name")],
    "image-two-colons-quoted.yaml": [Expect(4, 17, "invalid character ':'")],
    "image-empty.yaml": [Expect(4, 10, "`task.image` is empty", "ubuntu:22.04")],
    "image-leading-dash.yaml": [Expect(4, 10, "invalid character '-' in the repository name")],
    "image-long-tag.yaml": [Expect(4, 146, "the tag is 129 characters long, over 128", "128")],
    # several at once
    "several-errors.yaml": [
        Expect(2, 50, "`task.args[1]` must be a string, not a number with a fraction", "quote"),
        Expect(4, 38, "`inputs[0].target` must be an absolute path", "write /words.txt"),
        Expect(5, 10, "`outputs` must be a list, not a string", "write a list"),
    ],
}

WARNINGS: dict[str, list[Expect]] = {
    "unknown-fields.yaml": [
        Expect(6, 1, "unknown field `priority` in the job", "kept", Severity.WARNING),
        Expect(5, 3, "unknown field `gpus` in a docker task", "kept", Severity.WARNING),
    ],
}

GOOD = ("good.yaml", "float-in-execution.yaml", "unknown-fields.yaml")


def read(name: str) -> tuple[bytes, str]:
    raw = (DIR / name).read_bytes()
    return raw, raw.decode("utf-8", errors="replace")


def errors_of(raw: bytes, name: str, options: CompileOptions | None = None) -> SpecError:
    with pytest.raises(SpecError) as info:
        compile_bytes(raw, name, options or CompileOptions())
    return info.value


def assert_matches(
    diags: list[Diagnostic] | tuple[Diagnostic, ...], name: str, want: list[Expect]
) -> None:
    got = [(d.severity, d.span and (d.span.file, d.span.line, d.span.column)) for d in diags]
    assert got == [(e.severity, (name, e.line, e.column)) for e in want], [
        f"{d.span}: {d.message}" for d in diags
    ]
    for d, e in zip(diags, want, strict=True):
        assert e.message in d.message
        assert d.hint, f"{d.message}: no hint"
        assert e.hint in d.hint


def assert_rendered(d: Diagnostic, source: str) -> None:
    """`file:line:col: severity: message`, the source line, a caret under the column, the hint."""
    assert d.span is not None
    lines = render(d, source).splitlines()
    assert lines[0] == f"{d.span.file}:{d.span.line}:{d.span.column}: {d.severity}: {d.message}"
    assert lines[-1] == f"  hint: {d.hint}"
    source_lines = source.splitlines()
    if not source_lines:  # an empty file has no line to show
        assert len(lines) == 2
        return
    gutter = f"{d.span.line:>5} | "
    shown, column = source_lines[d.span.line - 1].expandtabs(1), d.span.column
    if len(shown) > 200:  # a long line is shown as a window around the column
        start = max(0, column - 80)
        shown, column = shown[start : start + 160], column - start
    assert lines[1] == gutter + shown
    assert lines[2].rstrip().endswith("^")
    assert lines[2].index("^") == len(gutter) + column - 1
    assert set(lines[2][len(gutter) - 2 : -1]) <= {" ", "|"}


def test_every_fixture_has_expectations() -> None:
    fixtures = {p.name for p in DIR.iterdir()}
    assert fixtures == set(CASES) | set(WARNINGS) | set(GOOD)


@pytest.mark.parametrize("name", sorted(CASES))
def test_diagnostic(name: str) -> None:
    raw, source = read(name)
    exc = errors_of(raw, name)
    assert_matches(exc.diagnostics, name, CASES[name])
    for d in exc.diagnostics:
        assert_rendered(d, source)
        assert d.to_json()["line"] == d.span.line  # type: ignore[union-attr]


def test_several_problems_are_reported_at_once() -> None:
    raw, _ = read("several-errors.yaml")
    exc = errors_of(raw, "several-errors.yaml")
    assert len(exc.errors) == 3
    assert len({d.span.line for d in exc.errors if d.span}) == 3


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_unknown_fields_are_warnings(name: str) -> None:
    raw, source = read(name)
    compiled = compile_bytes(raw, name)
    assert_matches(compiled.warnings, name, WARNINGS[name])
    for d in compiled.warnings:
        assert_rendered(d, source)
    assert set(identity_x(compiled)) == {"priority", "task.gpus"}


def identity_x(compiled: Compiled) -> dict[str, object]:
    return dict(compiled.job.x)


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_unknown_fields_are_errors_when_strict(name: str) -> None:
    raw, source = read(name)
    exc = errors_of(raw, name, CompileOptions(strict=True))
    strict = [Expect(e.line, e.column, e.message.removesuffix(" (kept")) for e in WARNINGS[name]]
    assert_matches(exc.diagnostics, name, strict)
    assert all("kept under `x`" not in d.message for d in exc.diagnostics)
    for d in exc.diagnostics:
        assert_rendered(d, source)


@pytest.mark.parametrize("name", GOOD)
def test_good_documents_compile(name: str) -> None:
    raw, _ = read(name)
    compiled = compile_bytes(raw, name)
    assert str(compiled.cid).startswith("bafyrei")


def test_floats_in_execution_are_kept_as_written() -> None:
    raw, _ = read("float-in-execution.yaml")
    compiled = compile_bytes(raw, "float-in-execution.yaml")
    assert compiled.execution == {"resources": {"cpu": 0.5, "memory": 1.5}}
    assert not compiled.diagnostics


# --- floats in identity, in every place identity keeps values as written -------------------


@pytest.mark.parametrize(
    ("doc", "line", "column"),
    [
        ("jobspec: 1\ntask: {engine: docker, image: a}\nx: {a: [1, {b: 1.0}]}\n", 3, 16),
        ("jobspec: 1\ntask: {engine: docker, image: a}\nx: {a: .inf}\n", 3, 8),
        ("jobspec: 1\ntask: {engine: docker, image: a}\nx: {a: !!float 3}\n", 3, 8),
        ("jobspec: 1\ntask: {engine: wasm, module: m.wasm, args: [[2e3]]}\n", 2, 46),
        ("jobspec: 1\ntask: {engine: qemu, cpus: -0.5}\n", 2, 28),
        ("jobspec: 1\ntask: {engine: docker, image: a, shm: 0.5}\n", 2, 39),
        ("jobspec: 1\ntask: {engine: docker, image: a}\ncost: 9.99\n", 3, 7),
    ],
)
def test_a_float_in_identity_is_an_error_at_the_float(doc: str, line: int, column: int) -> None:
    exc = errors_of(doc.encode(), "f.yaml")
    assert [(d.span.line, d.span.column) for d in exc.errors if d.span] == [(line, column)]
    (d,) = exc.errors
    assert "cannot be part of a job's identity" in d.message
    assert d.hint
    assert_rendered(d, doc)


@pytest.mark.parametrize(
    ("image", "column", "message"),
    [
        # the value starts at column 10 (plain) or 11 (after the quote)
        ("a:b:c", 11, "invalid character ':' in the repository name"),
        ('"a:b:c"', 12, "invalid character ':' in the repository name"),
        ("'a:b:c'", 12, "invalid character ':' in the repository name"),
        ("!!str a:b:c", 17, "invalid character ':' in the repository name"),
        ("&img a:b:c", 16, "invalid character ':' in the repository name"),
        ("UBUNTU", 10, "must be lowercase"),
        ('"ubuntU"', 16, "must be lowercase"),
        ("-x", 10, "invalid character '-'"),
        ('"x:-y"', 13, "invalid character '-' in the tag"),
        ("x@sha256:ABC", 19, "invalid character 'A' in a sha256 digest"),
        ('"[::1/x"', 15, "an IPv6 address must end with ']'"),  # where ']' belongs
        ("''", 10, "`task.image` is empty"),
    ],
)
def test_the_caret_is_under_the_offending_character_of_an_image(
    image: str, column: int, message: str
) -> None:
    doc = f"jobspec: 1\ntask:\n  engine: docker\n  image: {image}\n"
    exc = errors_of(doc.encode(), "i.yaml")
    (d,) = exc.diagnostics
    assert message in d.message
    assert (d.span.line, d.span.column) == (4, column)  # type: ignore[union-attr]
    assert d.hint
    assert_rendered(d, doc)


def test_the_caret_in_a_json_image() -> None:
    doc = '{"jobspec": 1, "task": {"engine": "docker", "image": "a:b:c"}}'
    (d,) = errors_of(doc.encode(), "i.json").diagnostics
    assert (d.span.line, d.span.column) == (1, 56)  # type: ignore[union-attr]
    assert doc[55] == ":"
    assert_rendered(d, doc)


# --- alias bombs, size and depth limits -----------------------------------------------------


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["jobspec: 1", "task: {engine: docker, image: ubuntu}", 'a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "doc",
    [
        billion_laughs(),
        billion_laughs(levels=30, width=2),
        # maps instead of lists; aliases as values of many keys
        "jobspec: 1\na: &a {k: [x, x, x, x, x, x, x, x]}\n"
        + "".join(
            f"b{i}: &b{i} {{{', '.join(f'k{j}: *{prev}' for j in range(10))}}}\n"
            for i, prev in enumerate(["a"] + [f"b{i}" for i in range(8)])
        ),
    ],
    ids=["9x9", "2^30", "maps"],
)
def test_an_alias_bomb_is_an_error_quickly_and_without_memory(doc: str) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        exc = errors_of(doc.encode(), "bomb.yaml")
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 64 * 1024 * 1024
    (d,) = exc.diagnostics
    assert "expands to more than 100,000 values" in d.message
    assert "alias bomb" in d.hint
    assert d.span is not None
    assert d.span.line > 2
    assert_rendered(d, doc)


def test_a_large_document_without_aliases_is_not_a_bomb() -> None:
    items = ", ".join(["1"] * 30_000)
    doc = f"jobspec: 1\ntask: {{engine: docker, image: a}}\nx: {{a: {{b: {{c: [{items}]}}}}}}\n"
    assert len(compile_bytes(doc.encode(), "big.yaml").job.x["a"]["b"]["c"]) == 30_000  # type: ignore[index]


def test_aliases_below_the_limit_are_expanded() -> None:
    doc = "jobspec: 1\ntask: {engine: docker, image: a, env: &e {A: '1'}}\nx: {env: *e}\n"
    assert compile_bytes(doc.encode(), "a.yaml").job.x["env"] == {"A": "1"}


def test_a_custom_limit_on_values() -> None:
    doc = "jobspec: 1\ntask: {engine: docker, image: a}\nx: {a: [1, 2, 3, 4, 5, 6]}\n"
    exc = errors_of(doc.encode(), "a.yaml", CompileOptions(limits=Limits(max_nodes=10)))
    assert "more than 10 values" in exc.diagnostics[0].message


def test_a_document_over_16_mib_is_an_error() -> None:
    raw = b"jobspec: 1\n" + b"#" * (16 * 1024 * 1024)
    exc = errors_of(raw, "huge.yaml")
    (d,) = exc.diagnostics
    assert str(d.span) == "huge.yaml:1:1"
    assert f"{len(raw):,} bytes, over the limit of 16,777,216" in d.message
    assert d.hint
    assert_rendered(d, raw[:100].decode())


def test_a_custom_size_limit() -> None:
    doc = b"jobspec: 1\ntask: {engine: docker, image: ubuntu}\n"
    options = CompileOptions(limits=Limits(max_bytes=len(doc)))
    compile_bytes(doc, "a.yaml", options)
    exc = errors_of(doc + b"\n", "a.yaml", options)
    assert f"over the limit of {len(doc)}" in exc.diagnostics[0].message
    assert exc.diagnostics[0].code == "too-large"


@pytest.mark.parametrize(
    ("name", "doc", "line", "column"),
    [
        ("deep.yaml", "[" * 100_000 + "]" * 100_000, 1, 65),
        ("deep.yaml", "a: " + "{a: " * 100_000 + "}" * 100_000, 1, 4 + 4 * 63),
        (
            "deep.yaml",
            "# [[[[ {{\nk: '[[[' # ]]\nv: [\"[\", " + "[" * 5_000 + "]" * 5_001,
            3,
            10 + 63,  # `v: ["[", ` then the 64th bracket of the run
        ),
        ("deep.yaml", "".join("  " * i + "-\n" for i in range(100)), 65, 129),
        ("deep.yaml", "".join(" " * i + "a:\n" for i in range(100)), 65, 65),
        ("deep.json", "[" * 100_000 + "]" * 100_000, 1, 65),
        ("deep.json", '{"a": ' * 100_000 + "1" + "}" * 100_000, 1, 1 + 6 * 64),
        ("deep.json", "[\n" * 100_000, 65, 1),
    ],
    ids=[
        "yaml-flow",
        "yaml-flow-maps",
        "yaml-flow-after-quotes-and-comments",
        "yaml-block-lists",
        "yaml-block-maps",
        "json-lists",
        "json-maps",
        "json-unclosed",
    ],
)
def test_nesting_deeper_than_the_limit_is_an_error(
    name: str, doc: str, line: int, column: int
) -> None:
    start = time.perf_counter()
    exc = errors_of(doc.encode(), name)  # never a RecursionError
    assert time.perf_counter() - start < 2.0
    (d,) = exc.diagnostics
    assert "nesting is deeper than the limit of 64 levels" in d.message
    assert (d.span.line, d.span.column) == (line, column)  # type: ignore[union-attr]
    assert d.hint
    assert_rendered(d, doc)


@pytest.mark.parametrize(
    ("name", "doc", "column"),
    [
        ("a.yaml", "jobspec: 1\nx: {a: {b: {c: 1}}}\n", 12),
        ("a.json", '{"jobspec": 1,\n"x": {"a": {"b": {"c": 1}}}}', 18),
    ],
)
def test_a_custom_depth_limit(name: str, doc: str, column: int) -> None:
    exc = errors_of(doc.encode(), name, CompileOptions(limits=Limits(max_depth=3)))
    (d,) = exc.diagnostics
    assert "deeper than the limit of 3 levels" in d.message
    assert (d.span.line, d.span.column) == (2, column)  # type: ignore[union-attr]
    assert_rendered(d, doc)


# --- encodings and integers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "line", "column", "byte"),
    [
        (b"jobspec: 1\nname: caf\xe9\n", 2, 10, "0xe9"),
        (b'{"jobspec": 1, "name": "\xff"}', 1, 25, "0xff"),
        (b"jobspec: 1\nname: \xc3\x28\n", 2, 7, "0xc3"),
    ],
)
def test_invalid_utf8_is_an_error_at_the_byte(
    raw: bytes, line: int, column: int, byte: str
) -> None:
    exc = errors_of(raw, "a.json" if raw.startswith(b"{") else "a.yaml")
    (d,) = exc.diagnostics
    assert f"not valid UTF-8 (byte {byte})" in d.message
    assert (d.span.line, d.span.column) == (line, column)  # type: ignore[union-attr]
    assert "UTF-8" in d.hint
    assert_rendered(d, raw.decode("utf-8", errors="replace"))


def test_a_byte_order_mark_is_allowed() -> None:
    compile_bytes(b"\xef\xbb\xbfjobspec: 1\ntask: {engine: docker, image: a}\n", "bom.yaml")


@pytest.mark.parametrize(
    ("name", "doc", "line", "column", "message"),
    [
        ("a.json", '{"jobspec": 1,\n "x": {"s": "\\ud800"}}', 2, 13, "lone UTF-16 surrogate"),
        ("a.json", '{"jobspec": 1,\n "x": {"n": NaN}}', 2, 13, "NaN is not a JSON number"),
        ("a.json", '{"jobspec": 1,\n "x": {"n": -Infinity}}', 2, 13, "-Infinity is not a JSON"),
        ("a.json", '{"jobspec": 1,\n "x": {"n": ' + "9" * 5000 + "}}", 2, 13, "4,300 digits"),
        ("a.yaml", "jobspec: 1\nx: {n: " + "9" * 5000 + "}\n", 2, 8, "4,300 digits"),
        ("a.yaml", "jobspec: 1\nname: 0x" + "f" * 4000 + "\n", 2, 7, "4,300 digits"),
        (
            "a.yaml",
            "jobspec: 1\ntask: {engine: docker, image: a}\nx: {n: 0x1" + "0" * 16 + "}\n",
            3,
            8,
            "does not fit in 64 bits",
        ),
    ],
)
def test_values_no_job_can_hold(name: str, doc: str, line: int, column: int, message: str) -> None:
    exc = errors_of(doc.encode(), name)
    d = exc.diagnostics[0]
    assert message in d.message
    assert (d.span.line, d.span.column) == (line, column)  # type: ignore[union-attr]
    assert d.hint


# --- the command line -----------------------------------------------------------------------


def jobc(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


DIAGNOSTIC_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): ")


def test_check_a_bad_file_exits_1_with_file_line_col() -> None:
    path = DIR / "several-errors.yaml"
    code, out, err = jobc("check", str(path))
    assert code == EXIT_INVALID
    assert "Traceback" not in out + err
    heads = [m.groupdict() for m in map(DIAGNOSTIC_LINE.match, err.splitlines()) if m]
    assert [(h["line"], h["col"], h["sev"]) for h in heads] == [
        ("2", "50", "error"),
        ("4", "38", "error"),
        ("5", "10", "error"),
    ]
    assert all(h["file"] == str(path) for h in heads)
    assert "    2 | task: {engine: docker, image: ubuntu, args: [ls, 1.5]}" in err
    assert "hint: " in err


def test_check_json_output_is_valid_json_with_line_and_column() -> None:
    code, out, _ = jobc("check", "--json", str(DIR / "several-errors.yaml"))
    assert code == EXIT_INVALID
    report = json.loads(out)
    assert report["ok"] is False
    assert [(d["line"], d["column"]) for d in report["diagnostics"]] == [(2, 50), (4, 38), (5, 10)]
    assert all(d["severity"] == "error" and d["hint"] and d["file"] for d in report["diagnostics"])


def test_check_a_good_file_exits_0() -> None:
    code, out, err = jobc("check", str(DIR / "good.yaml"))
    assert code == EXIT_OK
    assert "1 file ok" in err
    code, out, _ = jobc("check", "--json", str(DIR / "good.yaml"))
    assert code == EXIT_OK
    assert json.loads(out) == {"ok": True, "diagnostics": []}


def test_check_strict_turns_unknown_fields_into_errors() -> None:
    path = str(DIR / "unknown-fields.yaml")
    code, _, err = jobc("check", path)
    assert code == EXIT_OK
    assert f"{path}:6:1: warning: unknown field `priority`" in err
    code, _, err = jobc("check", "--strict", path)
    assert code == EXIT_INVALID
    assert f"{path}:6:1: error: unknown field `priority` in the job" in err
    assert f"{path}:5:3: error: unknown field `gpus` in a docker task" in err


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_never_shows_a_traceback(name: str) -> None:
    path = str(DIR / name)
    code, out, err = jobc("check", path)
    assert code == EXIT_INVALID
    assert "Traceback" not in out + err
    assert "internal error" not in err
    first = CASES[name][0]
    assert err.startswith(f"{path}:{first.line}:{first.column}: error: ")


def test_several_files_are_checked_in_one_run() -> None:
    code, out, _ = jobc(
        "check",
        "--json",
        str(DIR / "good.yaml"),
        str(DIR / "duplicate-key.json"),
        str(DIR / "empty.yaml"),
    )
    assert code == EXIT_INVALID
    files = [Path(d["file"]).name for d in json.loads(out)["diagnostics"]]
    assert files == ["duplicate-key.json", "empty.yaml"]


def test_the_installed_command_prints_diagnostics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobspec: 1\ntask:\n  engine: docker\n  image: Ubuntu\n")
    jobc_bin = Path(sys.executable).parent / "jobc"
    env = {k: v for k, v in os.environ.items() if k != "JOBC_DEBUG"}
    result = subprocess.run(
        [str(jobc_bin), "check", str(bad)], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == EXIT_INVALID
    assert result.stderr.startswith(f"{bad}:4:10: error: invalid image reference 'Ubuntu'")
    assert "    4 |   image: Ubuntu\n      |          ^\n" in result.stderr
    assert "Traceback" not in result.stderr
