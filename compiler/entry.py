"""The `jobc` console script: a fast path for `jobc cid FILE…`, else the full CLI.

`jobc cid` runs before every submission and in pre-commit hooks, so its start-up
counts (bench/compile.py measures it). Loading click and building the command tree
costs more than compiling a small spec; so `jobc cid` with plain file arguments and no
options is run here without them. The moment anything is not plain (an option, stdin,
a file that cannot be read, a warning or an error, a bug), the whole command is run
again by the full CLI, which reports it: the fast path prints only what the full CLI
would print for a clean run (tests/test_entry.py compares the two).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the `jobc` script."""
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "cid" and not any(a.startswith("-") for a in argv[1:]):
        lines = _fast_cid(argv[1:])
        if lines is not None:
            sys.stdout.write("".join(lines))
            sys.stdout.flush()
            return
    from compiler.cli import main as full

    full()


def _fast_cid(files: list[str]) -> list[str] | None:
    """The output lines of `jobc cid FILES` if every file compiles without a diagnostic."""
    try:
        from compiler.driver import CompileOptions, compile_bytes

        options = CompileOptions()
        lines = []
        for path in files:
            with open(path, "rb") as file:
                raw = file.read()
            compiled = compile_bytes(raw, path, options)
            if compiled.diagnostics:
                return None
            cid = str(compiled.cid)
            lines.append(f"{cid}\n" if len(files) == 1 else f"{cid}  {path}\n")
        return lines
    except Exception:  # whatever it is, the full CLI says it properly
        return None
