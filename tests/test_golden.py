"""Golden snapshots of every example's compiled document, and of invalid specs' diagnostics.

One file per case in `golden/test_golden/`: `<example stem>.json` for `examples/<stem>.*`,
`invalid-<stem>.json` for `tests/cases/invalid/<stem>.*`. Each holds the final and
original CIDs, the chain (pass names and CIDs), the warnings as `jobc` prints them, and
the whole compiled document (`to_document`). File paths are relative to the repository,
so snapshots are the same on every machine. Update with
`pytest tests/test_golden.py --snapshot-update` and review the diff: a CID that changes
is a compatibility break.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler.diagnostics import Diagnostic, SpecError, render
from compiler.driver import Compiled, compile_file
from compiler.emitters.compiled import to_document
from compiler.records import replay
from tests.golden import golden  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
INVALID = Path(__file__).resolve().parent / "cases" / "invalid"
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
WARNS_HERE = {
    "docker-ipv6-registry": "Debian 12's skopeo 1.9 cannot read IPv6 registry references, "
    "so the image stays unpinned, with a warning",
    **dict.fromkeys(
        ("docker-ffmpeg-transcode", "docker-remote-inputs", "docker-workdir-platform"),
        "its URL input's host cannot be reached (`no_internet`), so the input stays "
        "unpinned, with a warning",
    ),
}
"""Examples that warn on this machine although their name does not say so, and why."""


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """URLs go through a proxy that is not there: every host but this one is unreachable,
    on every machine (the examples' hosts are made up; some would answer, with a 404)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1,::1")


def spec_files(folder: Path) -> list[Path]:
    """The spec files directly in `folder` (not its data files), sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SPEC_SUFFIXES)


def cases(folder: Path, prefix: str = "") -> list[Any]:
    """One pytest param per spec file, its id the file's stem (stems must be unique)."""
    files = spec_files(folder) if folder.is_dir() else []
    stems = [p.stem for p in files]
    duplicated = sorted({s for s in stems if stems.count(s) > 1})
    assert not duplicated, f"two specs share a name in {folder}: {duplicated}"
    return [pytest.param(p, id=prefix + p.stem) for p in files]


def relative(text: str) -> str:
    """Text with the repository's absolute path taken out of file names."""
    return text.replace(f"{ROOT}/", "")


def rendered(diagnostic: Diagnostic) -> list[str]:
    """A diagnostic as `jobc` prints it (with its source line and caret), line by line."""
    source = None
    if diagnostic.span is not None and Path(diagnostic.span.file).is_file():
        source = Path(diagnostic.span.file).read_text(encoding="utf-8", errors="replace")
    return relative(render(diagnostic, source)).splitlines()


def summary(c: Compiled, path: Path) -> dict[str, Any]:
    """What a golden file holds for one compiled example."""
    return {
        "file": path.relative_to(ROOT).as_posix(),
        "cid": str(c.cid),
        "original": str(c.original),
        "chain": [
            {
                "pass": r.pass_name,
                "version": r.version,
                "from": str(r.source),
                "to": str(r.target),
                "cid": str(r.cid),
            }
            for r in c.chain
        ],
        "warnings": [rendered(d) for d in c.warnings],
        "compiled": to_document(c),
    }


@pytest.mark.parametrize("path", cases(EXAMPLES))
def test_golden(path: Path, golden: Any) -> None:  # noqa: F811
    """Every example compiles to the document in its golden file."""
    c = compile_file(path)
    data = summary(c, path)
    assert str(ROOT) not in json.dumps(data)
    assert data == golden
    # Warnings only where the example says it means them (or this machine cannot help it).
    expected = "warning" in path.stem or path.stem in WARNS_HERE
    assert bool(c.warnings) == expected, [rendered(d) for d in c.warnings]
    # The chain replays from its facts alone.
    assert all(check.ok for check in replay(c.original_job, c.chain))


def test_examples_exist() -> None:
    """There are enough examples, and every one is listed in examples/README.md."""
    files = spec_files(EXAMPLES)
    assert len(files) >= 45
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert [p.name for p in files if f"`{p.name}`" not in readme] == []


def test_no_stale_golden_files() -> None:
    """Every golden file belongs to a case (syrupy does not report ours when unused)."""
    expected = {p.stem for p in spec_files(EXAMPLES)}
    if INVALID.is_dir():
        expected |= {f"invalid-{p.stem}" for p in spec_files(INVALID)}
    folder = ROOT / "golden" / "test_golden"
    stale = sorted(p.name for p in folder.glob("*.json") if p.stem not in expected)
    assert stale == [], "delete these golden files, their case is gone"


@pytest.mark.parametrize("path", cases(INVALID, "invalid-"))
def test_invalid_golden(path: Path, golden: Any) -> None:  # noqa: F811
    """Every invalid spec fails with the diagnostics in its golden file."""
    with pytest.raises(SpecError) as info:
        compile_file(path)
    diagnostics = info.value.diagnostics
    assert info.value.errors
    data = {
        "file": path.relative_to(ROOT).as_posix(),
        "diagnostics": [
            {k: relative(v) if isinstance(v, str) else v for k, v in d.to_json().items()}
            for d in diagnostics
        ],
        "rendered": [rendered(d) for d in diagnostics],
    }
    assert str(ROOT) not in json.dumps(data)
    assert data == golden
