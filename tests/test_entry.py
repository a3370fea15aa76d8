"""`jobc cid FILE…` takes a fast path past click: it must say exactly what the full CLI says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CASES, EXAMPLES

FAST = "import sys; from compiler.entry import main; sys.argv[0] = 'jobc'; main()"
FULL = "import sys; from compiler.cli import main; sys.argv[0] = 'jobc'; main()"

SELECTION = [
    [EXAMPLES / "docker-digest-pinned.yaml"],
    [EXAMPLES / "wasm-ipfs-module-text-stdin.yaml"],
    [EXAMPLES / "docker-word-count-as-json.json", EXAMPLES / "docker-digest-pinned.yaml"],
    [EXAMPLES / "docker-unknown-field-warning.yaml"],  # a warning
    [CASES / "diagnostics" / "duplicate-key.json"],  # an error
    [EXAMPLES / "docker-digest-pinned.yaml", CASES / "diagnostics" / "empty.yaml"],
    [Path("no-such-file.yaml")],
]


def _run(program: str, args: list[str], cwd: Path) -> tuple[int, str, str]:
    run = subprocess.run(
        [sys.executable, "-c", program, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    return run.returncode, run.stdout, run.stderr


@pytest.mark.parametrize("files", SELECTION, ids=lambda fs: "+".join(f.name for f in fs))
def test_fast_cid_says_what_the_full_cli_says(files: list[Path], tmp_path: Path) -> None:
    args = ["cid", *(str(f) for f in files)]
    fast = _run(FAST, args, tmp_path)
    assert fast == _run(FULL, args, tmp_path)
    assert fast[0] in (0, 1)


@pytest.mark.parametrize(
    "args", [["cid", "--original", str(EXAMPLES / "docker-digest-pinned.yaml")], ["--help"]]
)
def test_anything_else_goes_to_the_full_cli(args: list[str], tmp_path: Path) -> None:
    assert _run(FAST, args, tmp_path) == _run(FULL, args, tmp_path)


def test_the_fast_path_does_not_load_click(tmp_path: Path) -> None:
    probe = FAST + "; print('click' in sys.modules, file=sys.stderr)"
    code, out, err = _run(probe, ["cid", str(EXAMPLES / "docker-digest-pinned.yaml")], tmp_path)
    assert code == 0
    assert out.startswith("bafyrei")
    assert err.strip() == "False"
