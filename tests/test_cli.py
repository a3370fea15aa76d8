"""The `jobc` command line: every command, its exit codes and its machine output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, EXIT_USAGE, main

SPEC = """\
jobspec: 1
name: hello
task:
  engine: docker
  image: ubuntu
  entrypoint: [sh, -c]
  args: ["echo hi > /outputs/hi.txt"]
inputs:
  - {name: words, source: ./data/words.txt, target: /data/words.txt}
outputs:
  - {name: result, path: /outputs/}
execution: {timeout: 10m}
"""

BAD = """\
jobspec: 1
task:
  engine: docker
  image: Ubuntu
inputs: {}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "hello.yaml"
    path.write_text(SPEC)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "words.txt").write_text("apple\nbanana\n")  # the input it names
    return path


def run(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cid_prints_the_final_cid(spec: Path) -> None:
    code, out, _ = run("cid", str(spec))
    assert code == EXIT_OK
    cid = out.strip()
    assert cid.startswith("bafyrei")
    code, out, _ = run("cid", "--original", str(spec))
    assert out.strip().startswith("bafyrei")
    assert out.strip() != cid  # `ubuntu` was normalised, so the original differs


def test_cid_of_several_files_names_each(spec: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.replace("echo hi", "echo ho"))
    code, out, _ = run("cid", str(spec), str(other))
    assert code == EXIT_OK
    lines = out.strip().splitlines()
    assert [line.split("  ")[1] for line in lines] == [str(spec), str(other)]
    assert lines[0].split()[0] != lines[1].split()[0]


def test_cid_json(spec: Path) -> None:
    code, out, _ = run("cid", "--json", str(spec))
    data = json.loads(out)
    assert code == EXIT_OK
    assert data["results"][0]["file"] == str(spec)
    assert data["results"][0]["cid"].startswith("bafyrei")


def test_stdin_is_read_with_dash(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(spec.parent)  # standard input's sources are relative to here
    _, from_file, _ = run("cid", str(spec))
    code, from_stdin, _ = run("cid", "-", input=spec.read_bytes())
    assert code == EXIT_OK
    assert from_stdin == from_file


def test_compile_writes_the_compiled_document(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "hello.json"
    code, _, _ = run("compile", str(spec), "-o", str(out))
    assert code == EXIT_OK
    doc = json.loads(out.read_text())
    _, cid, _ = run("cid", str(spec))
    assert doc["cid"] == {"/": cid.strip()}
    assert doc["document"]["format"] == "jobspec/1"
    assert set(doc["job"]["task"]["image"]) == {"digest"}  # resolve-images pinned `ubuntu`
    assert doc["job"]["task"]["entrypoint"] == ["sh", "-c", "echo hi > /outputs/hi.txt"]
    assert [r["pass"] for r in doc["chain"]] == [
        "parse",
        "normalize",
        "resolve-images",
        "resolve-content",
    ]
    assert doc["meta"] == {
        "name": "hello",
        "input_names": {"words": "/data/words.txt"},
        "output_names": {"result": "/outputs"},
    }
    assert doc["execution"] == {"timeout": "10m"}
    assert doc["pinned"] is True  # the image and the input are both content-addressed


def test_compile_several_files_into_a_folder(spec: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.replace("echo hi", "echo ho"))
    out = tmp_path / "out"
    code, _, _ = run("compile", str(spec), str(other), "-o", str(out))
    assert code == EXIT_OK
    assert sorted(p.name for p in out.iterdir()) == ["hello.compiled.json", "other.compiled.json"]


def test_compile_several_files_to_stdout_is_a_list(spec: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.replace("echo hi", "echo ho"))
    code, out, _ = run("compile", str(spec), str(other))
    assert code == EXIT_OK
    docs = json.loads(out)
    assert len(docs) == 2
    assert docs[0]["cid"] != docs[1]["cid"]


@pytest.mark.parametrize("fmt", ["json", "dag-json", "dag-cbor"])
def test_every_output_format_verifies(spec: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"hello.{fmt}"
    code, _, _ = run("compile", str(spec), "--format", fmt, "-o", str(out))
    assert code == EXIT_OK
    code, stdout, _ = run("verify", str(out), "--spec", str(spec))
    assert code == EXIT_OK, stdout
    assert "FAIL" not in stdout


def test_dag_json_output_is_canonical(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "hello.dag-json"
    run("compile", str(spec), "--format", "dag-json", "-o", str(out))
    text = out.read_text()
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_check_ok_and_errors(spec: Path, tmp_path: Path) -> None:
    code, _, err = run("check", str(spec))
    assert code == EXIT_OK
    assert "1 file ok" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    code, _, err = run("check", str(spec), str(bad))
    assert code == EXIT_INVALID
    assert f"{bad}:5:9: error: `inputs` must be a list, not a map" in err
    assert "Traceback" not in err


def test_check_reports_errors_from_passes_at_the_spec_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD.replace("inputs: {}\n", ""))
    code, _, err = run("check", str(bad))
    assert code == EXIT_INVALID
    assert f"{bad}:4:10: error: invalid image reference 'Ubuntu'" in err
    assert "    4 |   image: Ubuntu\n      |          ^" in err


def test_check_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    code, out, _ = run("check", "--json", str(bad))
    assert code == EXIT_INVALID
    data = json.loads(out)
    assert data["ok"] is False
    (diag,) = [d for d in data["diagnostics"] if d["severity"] == "error"]
    assert (diag["line"], diag["column"], diag["pointer"]) == (5, 9, "/inputs")
    assert diag["hint"].startswith("write a list")


def test_strict_turns_unknown_fields_into_errors(spec: Path) -> None:
    path = spec.parent / "x.yaml"
    path.write_text(SPEC + "gpu: 1\n")
    code, _, err = run("check", str(path))
    assert code == EXIT_OK
    assert "warning: unknown field `gpu`" in err
    code, _, err = run("check", "--strict", str(path))
    assert code == EXIT_INVALID
    assert "error: unknown field `gpu`" in err


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    code, _, err = run("check", str(tmp_path / "nope.yaml"))
    assert code == EXIT_INVALID
    assert "cannot read" in err
    assert "Traceback" not in err


def test_passes_option_selects_passes(spec: Path) -> None:
    _, original, _ = run("cid", "--original", str(spec))
    code, only_parse, _ = run("cid", "-p", "parse", str(spec))
    assert code == EXIT_OK
    assert only_parse == original
    code, _, err = run("cid", "-p", "normalise", str(spec))
    assert code == EXIT_USAGE
    assert "unknown pass 'normalise'" in err
    code, _, err = run("cid", "-p", "normalize{fast=true}", str(spec))
    assert code == EXIT_USAGE
    assert "has no option 'fast'" in err


def test_explain_spec_and_compiled(spec: Path, tmp_path: Path) -> None:
    code, out, _ = run("explain", str(spec))
    assert code == EXIT_OK
    assert "parse@1" in out
    assert "normalize@1" in out
    compiled = tmp_path / "c.json"
    run("compile", str(spec), "-o", str(compiled))
    code, out, _ = run("explain", "--json", str(compiled))
    data = json.loads(out)
    assert [s["pass"] for s in data["steps"]] == [
        "parse",
        "normalize",
        "resolve-images",
        "resolve-content",
    ]
    assert data["steps"][0]["facts"] == [{"format": "jobspec/1"}]
    assert data["steps"][-1]["to"] == data["final"]


def test_explain_tree_lists_steps_in_order_without_wrapping(spec: Path, tmp_path: Path) -> None:
    """Each pass is a branch of the root (a chain is a sequence, not ever deeper nesting),
    and output that is not a terminal never wraps a CID across lines."""
    compiled = tmp_path / "c.json"
    run("compile", str(spec), "-o", str(compiled))
    data = json.loads(run("explain", "--json", str(compiled))[1])
    code, out, _ = run("explain", str(spec))
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0].startswith(data["final"])
    branches = [line for line in lines if line[:4] in ("├── ", "└── ")]
    assert branches[0].startswith(f"├── {data['document']['cid']}  document")
    steps = [f"{s['pass']}@{s['version']} → {s['to']}" for s in data["steps"]]
    assert [b[4:].split("  ")[0] for b in branches[1:]] == steps
    assert branches[-1].endswith("final job")
    for step in data["steps"]:
        assert f"record {step['record']}" in out


def _compiled(spec: Path, tmp_path: Path) -> tuple[Path, dict]:  # type: ignore[type-arg]
    out = tmp_path / "c.json"
    run("compile", str(spec), "-o", str(out))
    return out, json.loads(out.read_text())


def test_verify_detects_a_tampered_job(spec: Path, tmp_path: Path) -> None:
    out, doc = _compiled(spec, tmp_path)
    doc["job"]["task"]["image"] = "docker.io/library/evil:latest"
    out.write_text(json.dumps(doc))
    code, stdout, _ = run("verify", str(out))
    assert code == EXIT_INVALID
    assert "FAIL the job hashes to the final CID" in stdout


def test_verify_detects_a_tampered_original(spec: Path, tmp_path: Path) -> None:
    out, doc = _compiled(spec, tmp_path)
    doc["original_job"]["task"]["image"] = "evil"
    out.write_text(json.dumps(doc))
    code, stdout, _ = run("verify", str(out))
    assert code == EXIT_INVALID
    assert "FAIL the original job hashes to the original CID" in stdout


def test_verify_detects_a_forged_chain(spec: Path, tmp_path: Path) -> None:
    """A consistent-looking chain whose normalize step does not replay is caught."""
    from compiler import identity
    from compiler.ir import Link

    out, doc = _compiled(spec, tmp_path)
    # Pretend normalize produced another job: rewrite job, cid and the record coherently.
    doc["job"]["task"]["image"] = "docker.io/library/evil:latest"
    forged = identity.job_cid(identity.job_from_identity(identity.from_dag_json(doc["job"])))
    doc["cid"] = {"/": str(forged)}
    record = doc["chain"][-1]
    record["to"] = {"/": str(forged)}
    from compiler.records import Record

    record["cid"] = {"/": str(Record.from_dag_json(record).cid)}
    out.write_text(json.dumps(doc))
    code, stdout, _ = run("verify", "--json", str(out))
    assert code == EXIT_INVALID
    result = json.loads(stdout)
    failed = [c for c in result["checks"] if not c["ok"]]
    assert len(failed) == 1
    assert failed[0]["what"].startswith(f"{record['pass']}@1")
    assert "replay gives" in failed[0]["detail"]
    assert isinstance(Link.parse(result["cid"]), Link)


def test_verify_detects_a_wrong_record_cid(spec: Path, tmp_path: Path) -> None:
    out, doc = _compiled(spec, tmp_path)
    doc["chain"][0]["facts"] = [{"format": "jobspec/9"}]
    out.write_text(json.dumps(doc))
    code, stdout, _ = run("verify", str(out))
    assert code == EXIT_INVALID
    assert "its content hashes to" in stdout


def test_verify_against_another_spec_fails(spec: Path, tmp_path: Path) -> None:
    out, _ = _compiled(spec, tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.replace("echo hi", "echo ho"))
    code, stdout, _ = run("verify", str(out), "--spec", str(other))
    assert code == EXIT_INVALID
    assert "its bytes hash to" in stdout


def test_verify_rejects_what_is_not_compiled(spec: Path) -> None:
    code, _, err = run("verify", str(spec))
    assert code == EXIT_INVALID
    assert "not a compiled job document" in err


def test_home_follows_jobc_home(jobc_home: Path) -> None:
    code, out, _ = run("home")
    assert code == EXIT_OK
    assert out.strip() == str(jobc_home)


def test_home_defaults_to_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from compiler.home import data_dir

    monkeypatch.delenv("JOBC_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "jobc"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".local" / "share" / "jobc"
    made = data_dir(create=True)
    assert made.is_dir()
    assert made.stat().st_mode & 0o777 == 0o700


def test_internal_error_is_one_line_and_exit_70(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import compiler.driver

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(compiler.driver, "compile_document", boom)
    monkeypatch.delenv("JOBC_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["cid", str(spec)])
    assert result.exit_code == EXIT_INTERNAL
    assert "internal error: RuntimeError: kaboom" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_installed_command_runs(spec: Path) -> None:
    """The console script itself (not CliRunner): exit code and output as a user sees them."""
    jobc = Path(sys.executable).parent / "jobc"
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [str(jobc), "cid", str(spec)], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("bafyrei")
    proc = subprocess.run(
        [str(jobc), "frobnicate"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == EXIT_USAGE
