"""The same job written in every format compiles to one final CID (DESIGN §2, §7).

`tests/cases/formats/<job>/` holds one realistic job written by hand in jobspec/1,
jobspec/2, a Jobfile, Bacalhau's Job API and at least two of its legacy eras (V1beta2,
V1beta1, and for jobs without network the snake_case format of 2022), and — for WASM
jobs, where the formats can say the job — a Homestar workflow and an IPVM workflow.
Every file of a folder must reach the same final CID (images pinned against the local
registry), and the golden file of the job records it with each file's format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compiler.driver import Compiled, CompiledWorkflow, compile_any_file
from compiler.ir import unpinned
from compiler.records import replay
from tests.golden import golden  # noqa: F401
from tests.test_golden import no_internet

__all__ = ["no_internet"]

CASES = Path(__file__).resolve().parent / "cases" / "formats"
JOBS = sorted(p for p in CASES.iterdir() if p.is_dir())
LEGACY = {
    "bacalhau/v1beta2",
    "bacalhau/v1beta1",
    "bacalhau/v1beta1-2022-11",
    "bacalhau/v1beta1-2022-12",
    "bacalhau/v1alpha1",
    "bacalhau/v1alpha1-snake",
}


def compiled_job(path: Path) -> Compiled:
    """The job a file holds (the only job of a workflow file)."""
    compiled = compile_any_file(path)
    if isinstance(compiled, CompiledWorkflow):
        assert len(compiled.jobs) == 1, path
        return compiled.jobs[0][1]
    return compiled


def test_twenty_jobs() -> None:
    assert len(JOBS) >= 20


@pytest.mark.parametrize("folder", [pytest.param(p, id=p.name) for p in JOBS])
def test_same_job_in_every_format(folder: Path, golden: Any) -> None:  # noqa: F811
    files = sorted(p for p in folder.iterdir() if p.is_file())
    results = {p.name: compiled_job(p) for p in files}
    formats = {name: c.format for name, c in results.items()}
    finals = {str(c.cid) for c in results.values()}
    assert len(finals) == 1, {name: str(c.cid) for name, c in results.items()}
    # Every format the issue names is here (IPVM/Homestar where the job is WASM).
    kinds = set(formats.values())
    assert {"jobspec/1", "jobspec/2", "jobfile", "bacalhau/job"} <= kinds
    assert len(kinds & LEGACY) >= 2, kinds
    if next(iter(results.values())).job.task.engine == "wasm":
        assert {"homestar", "ipvm-workflow/0.1"} <= kinds
    for name, c in results.items():  # the parse record's fact names the format read
        assert dict(c.chain[0].facts[0])["format"] == formats[name]
        assert c.chain[0].pass_name == "parse"
    for c in results.values():  # images pinned; a URL input of a made-up host may not be
        assert [path for path, _ in unpinned(c.job) if not path.startswith("/inputs/")] == []
        assert all(check.ok for check in replay(c.original_job, c.chain))
    data = {
        "job": folder.name,
        "cid": finals.pop(),
        "files": {
            name: {"format": formats[name], "original": str(results[name].original)}
            for name in formats
        },
    }
    assert data == golden


@pytest.mark.parametrize("folder", [pytest.param(p, id=p.name) for p in JOBS])
def test_every_format_migrates_to_every_other(folder: Path) -> None:
    """The job as read from its jobspec/1 file, written by each emitter jobc has, reads
    back as the same job (same original CID), wherever the target can say it."""
    from compiler.diagnostics import SpecError
    from compiler.driver import CompileOptions, compile_document
    from compiler.migrate import TARGETS, migrate

    read = CompileOptions(passes=())
    source = folder / "jobspec1.yaml"
    original = compiled_job(source).original
    refused: list[tuple[str, list[str]]] = []
    for target in sorted(set(TARGETS.values())):
        try:
            migrated = migrate(source.read_bytes(), str(source), target)
        except SpecError as exc:  # Homestar runs WASM only; a Jobfile's arguments are words
            refused.append((target, [d.code for d in exc.errors]))
            continue
        name = folder / ("migrated.jobfile" if target == "jobfile" else "migrated.yaml")
        back = compile_document(migrated.text.encode(), str(name), read)
        job = back.jobs[0][1] if isinstance(back, CompiledWorkflow) else back
        assert job.original == original, target
    assert all(codes == ["inexpressible"] for _, codes in refused), refused
    assert {t for t, _ in refused} <= {"homestar", "jobfile"}
