"""The built wheel works on its own: grammars and schemas ship inside it.

The wheel is built from the source tree and installed into a fresh venv; the test then
runs `jobc` from that venv in a folder outside the source tree, so nothing can be
imported from the checkout. The wheel's dependencies come from the development venv
(a path line in a .pth file), so the test needs no network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SPEC = """\
jobspec: 1
task: {engine: docker, image: ubuntu, args: [echo, hi]}
"""

# A JSON spec with an unknown field: its warning needs the JSON position grammar.
JSON_SPEC = '{"jobspec": 1, "task": {"engine": "docker", "image": "ubuntu"}, "gpu": 1}'


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("jobc-*.whl")
    return built


def test_wheel_contains_grammars_and_schemas(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    grammars = {Path(n).name for n in names if n.startswith("compiler/_data/grammars/")}
    schemas = {Path(n).name for n in names if n.startswith("compiler/_data/schemas/")}
    assert grammars == {p.name for p in (ROOT / "grammars").iterdir()}
    assert schemas == {p.name for p in (ROOT / "schemas").iterdir()}
    assert not [n for n in names if n.startswith(("tests/", "golden/", "examples/"))]


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_runs(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Dependencies from the dev venv, without its editable install of the source tree.
    (Path(site) / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "job.yaml").write_text(SPEC)
    (work / "job.json").write_text(JSON_SPEC)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["NO_COLOR"] = "1"

    def jobc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(env_dir / "bin" / "jobc"), *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    where = subprocess.run(
        [
            str(py),
            "-c",
            "import compiler, compiler.resources as r; "
            "print(compiler.__file__); print(r.data_dir('schemas')); print(r.data_dir('grammars'))",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(p.startswith(str(env_dir)) for p in where), where

    result = jobc("cid", "job.yaml")
    assert result.returncode == 0, result.stderr
    from compiler.driver import compile_bytes

    assert result.stdout.strip() == str(compile_bytes(SPEC.encode(), "job.yaml").cid)

    result = jobc("check", "job.json")
    assert result.returncode == 0, result.stderr
    assert "job.json:1:65: warning: unknown field `gpu`" in result.stderr

    result = jobc("compile", "job.yaml")
    assert result.returncode == 0
    assert json.loads(result.stdout)["document"]["format"] == "jobspec/1"
