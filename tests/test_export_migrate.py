"""`jobc export` and `jobc migrate`: a job written in another format keeps its CID.

Export writes the final job (images pinned as `repository@sha256:…` from the compile's
sources, `Meta` carrying `jobc.cid` and `jobc.original`); migrate writes the document's
jobs as read (tags and paths as written), keeping comments and key order within a
format. Every Bacalhau sample of every era migrates to the current Job API with its
final CID unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from compiler.cli import main
from compiler.diagnostics import SpecError
from compiler.driver import (
    Compiled,
    CompileOptions,
    compile_any_file,
    compile_bytes,
    compile_document,
)
from compiler.migrate import migrate
from tests.test_golden import EXAMPLES, no_internet, spec_files

__all__ = ["no_internet"]

CASES = Path(__file__).resolve().parent / "cases"
OFFLINE = CompileOptions(offline=True)
BACALHAU = sorted(
    p for p in (CASES / "bacalhau").rglob("*") if p.is_file() and "invalid" not in p.parts
)


def export(args: list[str]) -> tuple[str, str]:
    result = CliRunner().invoke(main, ["export", *args])
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_export_to_bacalhau_pins_images_and_carries_cids(tmp_path: Path) -> None:
    spec = EXAMPLES / "docker-word-count.yaml"
    compiled = compile_any_file(spec)
    assert isinstance(compiled, Compiled)
    text, err = export([str(spec), "--to", "bacalhau"])
    job = yaml.safe_load(text)
    image = job["Tasks"][0]["Engine"]["Params"]["Image"]
    digest = compiled.job.task.image.digest  # type: ignore[union-attr]
    assert image == f"docker.io/library/ubuntu@{digest}"
    assert job["Meta"]["jobc.cid"] == str(compiled.cid)
    assert job["Meta"]["jobc.original"] == str(compiled.original)
    # The spec is strict, which Bacalhau cannot say: stashed, with a warning.
    assert json.loads(job["Meta"]["jobc.stash"])["determinism"] == "strict"
    assert "kept in jobc.stash" in err
    out = tmp_path / "job.yaml"
    out.write_text(text)
    again = compile_any_file(out)
    assert again.cid == compiled.cid
    assert again.execution == {**compiled.execution, "type": "batch"}


def test_export_to_jobspec2_and_back() -> None:
    sample = CASES / "bacalhau" / "v1beta2" / "docker-deprecated-engine.json"
    text, _ = export([str(sample), "--to", "jobspec/2", "--offline"])
    again = compile_document(text.encode(), "job.yaml", OFFLINE)
    first = compile_any_file(sample, OFFLINE)
    assert again.jobs[0][1].cid == first.cid  # type: ignore[union-attr]


def test_export_refuses_a_workflow_to_bacalhau() -> None:
    result = CliRunner().invoke(
        main,
        ["export", str(CASES / "jobspec2" / "sales-report.yaml"), "--to", "bacalhau", "--offline"],
    )
    assert result.exit_code == 1
    assert "a Bacalhau job has one task" in result.stderr
    one, _ = export(
        [str(CASES / "jobspec2" / "sales-report.yaml") + "#clean", "--to", "bacalhau", "--offline"]
    )
    assert yaml.safe_load(one)["Name"] == "clean"


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=f"{p.parent.name}-{p.stem}") for p in BACALHAU]
)
def test_every_era_migrates_to_the_job_api(path: Path) -> None:
    """Migrating keeps the job: same final CID (offline: tags stay tags on both sides)."""
    migrated = migrate(path.read_bytes(), str(path), "bacalhau")
    assert migrated.source_format.startswith("bacalhau/")
    before = compile_any_file(path, OFFLINE)
    after = compile_bytes(migrated.text.encode(), str(path.with_suffix(".yaml")), OFFLINE)
    assert after.cid == before.cid
    assert after.format == "bacalhau/job"


def test_migrate_keeps_comments_and_key_case() -> None:
    lowercase = CASES / "bacalhau" / "job" / "docker-lowercase-keys.yaml"
    migrated = migrate(lowercase.read_bytes(), str(lowercase), "bacalhau")
    assert migrated.kept_comments
    assert migrated.text.startswith("# Bacalhau's decoder reads keys case-insensitively")
    assert "\ntasks:\n" in migrated.text  # the original's spelling of its keys
    legacy = CASES / "bacalhau" / "v1beta1" / "docker-metadata-requester.yaml"
    migrated = migrate(legacy.read_bytes(), str(legacy), "bacalhau")
    assert migrated.text.startswith("# V1beta1 as written from February to June 2023")


def test_jobspec1_to_jobspec2_and_back_keeps_comments() -> None:
    spec = EXAMPLES / "docker-commented-walkthrough.yaml"
    two = migrate(spec.read_bytes(), str(spec), "jobspec/2")
    assert two.kept_comments
    assert "# relative to this file's folder" in two.text
    one = migrate(two.text.encode(), str(spec), "jobspec/1")
    assert one.kept_comments
    assert "# relative to this file's folder" in one.text
    cids = {
        compile_any_file(spec, OFFLINE).cid,
        compile_bytes(one.text.encode(), str(spec), OFFLINE).cid,
        compile_document(two.text.encode(), str(spec), OFFLINE).jobs[0][1].cid,  # type: ignore[union-attr]
    }
    assert len(cids) == 1


def test_every_example_migrates_to_jobspec2_and_back() -> None:
    for spec in spec_files(EXAMPLES):
        two = migrate(spec.read_bytes(), str(spec), "jobspec/2")
        one = migrate(two.text.encode(), str(spec.with_suffix(".yaml")), "jobspec/1")
        before = compile_any_file(spec, CompileOptions(passes=()))
        after = compile_bytes(
            one.text.encode(), str(spec.with_suffix(".yaml")), CompileOptions(passes=())
        )
        assert after.original == before.original, spec.name


def test_migrate_refuses_what_jobspec1_cannot_say() -> None:
    with pytest.raises(SpecError) as info:
        migrate((CASES / "jobspec2" / "sales-report.yaml").read_bytes(), "w.yaml", "jobspec/1")
    assert "jobspec/1 holds one job" in info.value.errors[0].message
    unordered = (
        b"jobspec: 2\njobs:\n  a:\n    task: {engine: docker, image: ubuntu}\n"
        b"    determinism: unordered\n"
    )
    with pytest.raises(SpecError) as info:
        migrate(unordered, "w.yaml", "jobspec/1")
    assert "determinism: unordered" in info.value.errors[0].message


def test_migrate_command(tmp_path: Path) -> None:
    source = CASES / "bacalhau" / "v1alpha1" / "docker-snake-2022.yaml"
    out = tmp_path / "job.yaml"
    result = CliRunner().invoke(
        main, ["migrate", str(source), "--to", "bacalhau", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr)
    assert (summary["from"], summary["to"]) == ("bacalhau/v1alpha1-snake", "bacalhau")
    assert yaml.safe_load(out.read_text())["Tasks"][0]["Engine"]["Type"] == "docker"
    bad = CliRunner().invoke(main, ["migrate", str(source), "--to", "nomad"])
    assert bad.exit_code == 1
    assert "cannot migrate to 'nomad'" in bad.stderr
    legacy = CliRunner().invoke(main, ["migrate", str(source), "--to", "bacalhau/v1beta1"])
    assert legacy.exit_code == 1
    assert "the legacy layouts are read, never written" in legacy.stderr


def test_bacalhau_job_ids_become_aliases(jobc_home: Path) -> None:
    """A Bacalhau job that carries its ID (as `bacalhau job describe` prints it) names its
    final CID: `jobc compile` keeps the ID as an alias."""
    from compiler.store import open_store

    sample = CASES / "bacalhau" / "v1beta2" / "docker-deprecated-engine.json"
    result = CliRunner().invoke(main, ["compile", "--offline", str(sample)])
    assert result.exit_code == 0, result.output
    cid = json.loads(result.stdout)["cid"]["/"]
    store = open_store(None)
    try:
        found = store.alias("bacalhau", "5f3c1a2e-7b9d-4e2f-8a6c-1d0e9f8b7a6c")
        assert found is not None
        assert str(found) == cid
    finally:
        store.close()


STASHED = b"""\
jobspec: 1
name: salted
task:
  engine: docker
  image: ubuntu:22.04
  platform: linux/arm64
  args: [sh, -c, "date > /outputs/now"]
inputs:
  - source: "job:bafyreiflzagvn6s7hfm2ouelf47bf5vgynhnoild77s7hg55biyga2wpaq#/outputs"
    target: /in
outputs: [/outputs]
deterministic: true
nonce: run-2
x: {owner: ada}
execution: {timeout: 10m, retries: 3}
"""


def test_migrate_stashes_and_restores_what_bacalhau_cannot_say() -> None:
    """To Bacalhau and back: what it has no field for travels in `Meta["jobc.stash"]`
    (each identity field named in a warning placed in the file) and comes back as
    jobspec/1's own fields, so both documents are the job the original was."""
    there = migrate(STASHED, "s.yaml", "bacalhau")
    stash = json.loads(yaml.safe_load(there.text)["Meta"]["jobc.stash"])
    assert set(stash) == {"determinism", "execution", "inputs", "nonce", "task", "x"}
    (warned,) = [d for d in there.diagnostics if d.code == "stashed"]
    assert warned.span is not None
    assert (warned.span.file, warned.span.line) == ("s.yaml", 1)
    for item in ("platform", "/in", "determinism", "nonce", "(x)"):
        assert item in warned.message
    back = migrate(there.text.encode(), "b.yaml", "jobspec/1")
    spec = yaml.safe_load(back.text)
    assert "jobc.stash" not in back.text
    assert (spec["nonce"], spec["task"]["platform"], spec["x"]) == (
        "run-2",
        "linux/arm64",
        {"owner": "ada"},
    )
    assert spec["execution"]["retries"] == 3
    normalize = CompileOptions(passes=None, offline=True)
    cids = {
        compile_bytes(text, name, normalize).original
        for text, name in (
            (STASHED, "s.yaml"),
            (there.text.encode(), "b.yaml"),
            (back.text.encode(), "t.yaml"),
        )
    }
    assert len(cids) == 1


def test_refusal_names_the_file_and_everything_refused(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_bytes(STASHED)
    for command in (["migrate", str(spec)], ["export", "--offline", str(spec)]):
        result = CliRunner().invoke(main, [*command, "--to", "homestar"])
        assert result.exit_code == 1
        assert f"{spec}:1:1: error: Homestar cannot run: salted: a docker task" in result.stderr
        assert "hint:" in result.stderr
        assert "Traceback" not in result.output


def test_migrate_within_a_format_keeps_order_comments_and_flow_style() -> None:
    """Bacalhau to Bacalhau: the author's key order, comments and `[a, b]` lists stay
    exactly as written; only what the emitter adds (the network it makes explicit) is new."""
    original = """\
# keys in the author's order
Tasks:
  - Engine:
      Params:
        Parameters: [-l, /inputs/words.txt]   # count lines
        Image: ubuntu:22.04
        Entrypoint: [wc]
      Type: docker
    Name: main
    Timeouts: {ExecutionTimeout: 600}
Type: batch
Name: word-count   # the name
Count: 1
"""
    migrated = migrate(original.encode(), "job.yaml", "bacalhau")
    assert migrated.kept_comments
    added = "    Network:\n      Type: None\n"
    at = original.index("Type: batch")
    assert migrated.text == original[:at] + added + original[at:]


def test_export_to_a_jobfile_keeps_the_final_cid(tmp_path: Path) -> None:
    """The final job as a Jobfile (image pinned as repository@sha256:…), in the form
    `jobc fmt` prints, compiles to the same final CID."""
    from compiler.frontends.jobfile import format_jobfile

    spec = EXAMPLES / "docker-word-count.yaml"
    compiled = compile_any_file(spec)
    assert isinstance(compiled, Compiled)
    text, _ = export([str(spec), "--to", "jobfile"])
    digest = compiled.job.task.image.digest  # type: ignore[union-attr]
    assert f"    docker docker.io/library/ubuntu@{digest}\n" in text
    assert format_jobfile("Jobfile", text) == text
    out = tmp_path / "exported.jobfile"  # its inputs are CIDs now: it may be anywhere
    out.write_text(text)
    assert compile_any_file(out).cid == compiled.cid  # type: ignore[union-attr]
