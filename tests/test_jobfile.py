"""The Jobfile language: golden compiled documents, diagnostics with a caret, the same job
as jobspec/1, and `jobc fmt` (canonical, idempotent, keeping comments and meaning).

Jobfiles are in `tests/cases/jobfile/` (invalid ones in `invalid/`); golden files in
`golden/test_jobfile/`. A property test writes generated jobs as Jobfiles with random
layout and quoting, and checks that jobc reads each back as the job it was written from,
and that formatting it changes nothing but its layout.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cli import main
from compiler.diagnostics import SpecError
from compiler.driver import (
    CompiledWorkflow,
    CompileOptions,
    compile_any_file,
    compile_bytes,
    read_document,
)
from compiler.frontends import Parsed
from compiler.frontends.jobfile import format_jobfile, looks_like_jobfile
from compiler.ir import DockerTask, Link, WasmTask
from tests.golden import golden  # noqa: F401
from tests.roundtrip import canonical, job_docs
from tests.test_golden import ROOT, no_internet, relative, rendered, summary

__all__ = ["no_internet"]

CASES = Path(__file__).resolve().parent / "cases" / "jobfile"
OFFLINE = CompileOptions(offline=True)


def jobfiles(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".jobfile")


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in jobfiles(CASES)])
def test_jobfile_golden(path: Path, golden: Any) -> None:  # noqa: F811
    compiled = compile_any_file(path)
    if isinstance(compiled, CompiledWorkflow):
        data: dict[str, Any] = {
            "cid": str(compiled.cid),
            "jobs": {name: summary(c, path) for name, c in compiled.jobs},
        }
    else:
        data = summary(compiled, path)
        assert [dict(f) for f in compiled.chain[0].facts] == [{"format": "jobfile"}]
    assert str(ROOT) not in json.dumps(data)
    assert data == golden


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=f"invalid-{p.stem}") for p in jobfiles(CASES / "invalid")]
)
def test_jobfile_invalid(path: Path, golden: Any) -> None:  # noqa: F811
    with pytest.raises(SpecError) as info:
        compile_any_file(path, OFFLINE)
    assert info.value.errors
    assert all(d.span is not None and d.span.line > 1 for d in info.value.errors)
    data = {
        "file": path.relative_to(ROOT).as_posix(),
        "rendered": [rendered(d) for d in info.value.diagnostics],
        "diagnostics": [
            {k: relative(v) if isinstance(v, str) else v for k, v in d.to_json().items()}
            for d in info.value.diagnostics
        ],
    }
    assert data == golden


def test_no_stale_golden_files() -> None:
    expected = {p.stem for p in jobfiles(CASES)} | {
        f"invalid-{p.stem}" for p in jobfiles(CASES / "invalid")
    }
    folder = ROOT / "golden" / "test_jobfile"
    assert sorted(p.stem for p in folder.glob("*.json") if p.stem not in expected) == []


def test_same_job_as_jobspec1() -> None:
    jobfile = compile_any_file(CASES / "word-count.jobfile", OFFLINE)
    spec = {
        "jobspec": 1,
        "name": "word-count",
        "task": {
            "engine": "docker",
            "image": "ubuntu:22.04",
            "entrypoint": ["sh", "-c"],
            "args": ["wc -w /inputs/corpus/*.txt > /outputs/count.txt"],
            "env": {"LC_ALL": "C", "TZ": "UTC"},
        },
        "inputs": [
            {
                "name": "corpus",
                "source": "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
                "target": "/inputs/corpus",
            }
        ],
        "outputs": [{"name": "count", "path": "/outputs"}],
        "deterministic": True,
        "labels": {"team": "data"},
        "execution": {
            "timeout": "10m",
            "resources": {"cpu": "1", "memory": "1Gi"},
            "retries": 2,
        },
    }
    one = compile_bytes(yaml.safe_dump(spec).encode(), "j.yaml", OFFLINE)
    assert (jobfile.cid, jobfile.original) == (one.cid, one.original)
    assert jobfile.execution == one.execution
    assert jobfile.meta == one.meta


def test_values_typed_only_in_extensions() -> None:
    """`x n = 2` is an integer, `x n = "2"` a string; arguments are always strings."""
    compiled = compile_any_file(CASES / "extension-engine.jobfile", OFFLINE)
    assert dict(compiled.job.x) == {"gpu": "none"}
    params = dict(compiled.job.task.params)  # type: ignore[union-attr]
    assert (params["threads"], params["progress"]) == (2, False)
    wasm = compile_any_file(CASES / "wasm-imports.jobfile", OFFLINE)
    assert isinstance(wasm.job.task, WasmTask)
    assert wasm.job.task.args == ("1", "2", "three words here", "tab\tseparated")


def test_detection() -> None:
    assert looks_like_jobfile("Jobfile", "")
    assert looks_like_jobfile("build.jobfile", "anything")
    assert looks_like_jobfile("x.txt", "# a comment\n\njob a {\n")
    assert not looks_like_jobfile("job.yaml", "jobspec: 1\n")


# --- the formatter ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in jobfiles(CASES)])
def test_fmt_is_idempotent_and_keeps_meaning_and_comments(path: Path) -> None:
    text = path.read_text()
    formatted = format_jobfile(path.name, text)
    assert format_jobfile(path.name, formatted) == formatted
    before = compile_any_file(path, OFFLINE)
    after = compile_document_text(formatted, path)
    assert after.cid == before.cid
    comments = [m.group(0).strip() for m in re.finditer(r"(?<![^\s{}])#[^\n]*", text)]
    assert [c for c in comments if c not in formatted] == []


def compile_document_text(text: str, path: Path) -> Any:
    from compiler.driver import compile_document

    return compile_document(text.encode(), str(path), OFFLINE)


def test_fmt_command(tmp_path: Path) -> None:
    messy = tmp_path / "Jobfile"
    messy.write_text('job  a {\n  docker   ubuntu\n\trun echo "hello"   # greet\n}\n')
    runner = CliRunner()
    assert runner.invoke(main, ["fmt", "--check", str(messy)]).exit_code == 1
    result = runner.invoke(main, ["fmt", str(messy)])
    assert result.stdout == "job a {\n    docker ubuntu\n    run echo hello  # greet\n}\n"
    assert runner.invoke(main, ["fmt", "-w", str(messy)]).exit_code == 0
    assert runner.invoke(main, ["fmt", "--check", str(messy)]).exit_code == 0
    broken = tmp_path / "broken.jobfile"
    broken.write_text("job a {\n    docker\n}\n")
    result = runner.invoke(main, ["fmt", str(broken)])
    assert result.exit_code == 1
    assert "broken.jobfile:2:11: error" in result.stderr


# --- generated Jobfiles ---------------------------------------------------------------------

SPACES = st.sampled_from([" ", "  ", "\t", " \t "])


def word(draw: st.DrawFn, value: str) -> str:
    """A value written bare when it can be, else quoted one of the two ways."""
    bare = re.fullmatch(r"[^\s\"'{}#=\\][^\s\"'{}\\]*", value) and value not in (
        "from",
        "at",
        "text",
    )
    if bare and draw(st.booleans()):
        return value
    if "'" not in value and "\n" not in value and draw(st.booleans()):
        return "'" + value + "'"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return '"' + escaped + '"'


@st.composite
def written(draw: st.DrawFn) -> tuple[str, Any]:
    """A generated job and a Jobfile that says it, laid out at random."""
    doc = draw(job_docs("jobfile"))
    job = doc.job
    task = job.task
    assume_ok = isinstance(task, DockerTask | WasmTask) and not job.x and not job.nonce
    if not assume_ok or any(not isinstance(i.source, str) for i in job.inputs):
        doc = draw(
            job_docs("jobfile").filter(
                lambda d: (
                    isinstance(d.job.task, DockerTask)
                    and not d.job.x
                    and not d.job.nonce
                    and all(isinstance(i.source, str) for i in d.job.inputs)
                )
            )
        )
        job, task = doc.job, doc.job.task
    sp = lambda: draw(SPACES)  # noqa: E731
    lines = [f"job{sp()}{word(draw, doc.meta['name'])}{sp()}{{"]
    if isinstance(task, DockerTask):
        lines.append(f"{sp()}docker{sp()}{word(draw, task.image)}")
        if task.entrypoint:
            lines.append(
                f"{sp()}entrypoint{sp()}" + sp().join(word(draw, a) for a in task.entrypoint)
                if len(task.entrypoint) > 1
                else f"{sp()}entrypoint{sp()}{word(draw, task.entrypoint[0])}"
            )
        if task.workdir:
            lines.append(f"{sp()}workdir {word(draw, task.workdir)}")
        if task.platform:
            lines.append(f"{sp()}platform {task.platform}")
    else:
        module = task.module
        lines.append(
            f"{sp()}wasm{sp()}"
            + word(draw, "ipfs://" + str(module) if isinstance(module, Link) else module)
        )
        lines.append(f"{sp()}entrypoint {word(draw, task.entrypoint)}")
    if task.args and all(isinstance(a, str) for a in task.args):
        lines.append(f"{sp()}run{sp()}" + sp().join(word(draw, str(a)) for a in task.args))
    for k, v in task.env.items():
        lines.append(f"{sp()}env{sp()}{k}{sp()}={sp()}{word(draw, v)}")
    for inp in job.inputs:
        source = inp.source if isinstance(inp.source, str) else ""
        lines.append(
            f"{sp()}input{sp()}from{sp()}{word(draw, source)}{sp()}at{sp()}{word(draw, inp.target)}"
        )
    for out in job.outputs:
        lines.append(f"{sp()}output at {word(draw, out)}")
    lines.append(
        f"{sp()}"
        + {"strict": "deterministic", "unordered": "unordered", "none": "nondeterministic"}[
            job.determinism
        ]
    )
    if job.network is not None:
        lines.append(f"{sp()}network {job.network.mode} " + " ".join(job.network.domains))
    lines.append("}")
    return "\n".join(lines) + "\n", doc


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(written())
def test_generated_jobfiles(case: tuple[str, Any]) -> None:
    text, doc = case
    _, parsed = read_document(text.encode(), "Jobfile", CompileOptions())
    assert isinstance(parsed, Parsed)
    job = doc.job
    if isinstance(job.task, WasmTask) and not all(isinstance(a, str) for a in job.task.args):
        return
    expected = canonical(
        job.__class__(
            task=_without(job.task),
            inputs=job.inputs,
            outputs=job.outputs,
            determinism=job.determinism,
            network=job.network,
        )
    )
    assert canonical(parsed.job) == expected
    formatted = format_jobfile("Jobfile", text)
    assert format_jobfile("Jobfile", formatted) == formatted
    _, again = read_document(formatted.encode(), "Jobfile", CompileOptions())
    assert isinstance(again, Parsed)
    assert again.job == parsed.job


def _without(task: Any) -> Any:
    """The task as the generated Jobfile says it (WASM imports and stdin are not written)."""
    from compiler.ir import FrozenMap, replace

    if isinstance(task, WasmTask):
        return replace(task, imports=FrozenMap(), stdin=None)
    return task
