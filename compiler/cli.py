"""The `jobc` command line.

Exit codes (docs/cli.md): 0 success; 1 the input has errors, or verification failed;
2 usage error (bad options or arguments); 70 internal error (a bug in jobc: please
report it; `JOBC_DEBUG=1` shows the traceback).

Modules are imported inside the commands, so `jobc cid` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic
    from compiler.driver import Compiled, CompileOptions

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


class _Failed(Exception):
    """Some input had errors; they were already reported."""


def _color(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


class Reporter:
    """Prints diagnostics with their source lines, or collects them for --json."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.sources: dict[str, str] = {}
        self.collected: list[dict[str, Any]] = []

    def remember(self, name: str, raw: bytes) -> None:
        self.sources[name] = raw.decode("utf-8", errors="replace")

    def report(self, diags: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        from compiler.diagnostics import render

        for d in diags:
            if self.as_json:
                self.collected.append(d.to_json())
                continue
            source = self.sources.get(d.span.file) if d.span else None
            click.echo(render(d, source, color=_color(sys.stderr)), err=True)


def _read(path: str) -> tuple[str, bytes]:
    from compiler.diagnostics import Span, SpecError, error

    if path == "-":
        return "<stdin>", sys.stdin.buffer.read()
    try:
        return path, Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(
            error(f"cannot read {path}: {exc.strerror or exc}", span=Span(path, 1, 1), code="io")
        ) from None


def _compile_each(
    files: tuple[str, ...], options: CompileOptions, reporter: Reporter
) -> Iterator[tuple[str, Compiled | None]]:
    """Compile every file, reporting diagnostics; yields (name, result or None on errors)."""
    from compiler.diagnostics import SpecError
    from compiler.driver import compile_bytes

    for path in files:
        try:
            name, raw = _read(path)
            reporter.remember(name, raw)
            compiled = compile_bytes(raw, name, options)
        except SpecError as exc:
            reporter.report(exc.diagnostics)
            yield path, None
            continue
        reporter.report(compiled.diagnostics)
        yield path, compiled


def _options(strict: bool, passes: str | None) -> CompileOptions:
    from compiler.driver import CompileOptions
    from compiler.passes import parse_pipeline

    return CompileOptions(strict=strict, passes=parse_pipeline(passes) if passes else None)


@contextmanager
def _guard() -> Iterator[None]:
    """Turn a bug into a one-line message and exit code 70 (no traceback unless JOBC_DEBUG)."""
    from compiler.diagnostics import SpecError, render

    try:
        yield
    except _Failed:
        sys.exit(EXIT_INVALID)
    except SpecError as exc:  # errors outside any file (e.g. a bad -p)
        for d in exc.diagnostics:
            click.echo(render(d), err=True)
        sys.exit(EXIT_USAGE)
    except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:
        if os.environ.get("JOBC_DEBUG"):
            raise
        click.echo(
            f"jobc: internal error: {type(exc).__name__}: {exc}\n"
            "  this is a bug in jobc; run again with JOBC_DEBUG=1 for the traceback "
            "and report it",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)


def _command(fn: Callable[..., None]) -> Callable[..., None]:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with _guard():
            fn(*args, **kwargs)

    return wrapper


STRICT = click.option("--strict", is_flag=True, help="Unknown fields are errors, not warnings.")
PASSES = click.option(
    "-p",
    "--passes",
    metavar="PASSES",
    help="Passes to run after parse, with options: "
    "'normalize' or 'normalize,resolve-images{refresh=true}'.",
)
JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
FILES = click.argument("files", nargs=-1, required=True, metavar="FILE...")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jobc", prog_name="jobc")
def main() -> None:
    """jobc: compile compute jobs into canonical, content-addressed jobs."""


@main.command()
@FILES
@click.option("-o", "--output", type=click.Path(), help="Write here (a folder for several files).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "dag-json", "dag-cbor"]),
    default="json",
    show_default=True,
    help="Format of the compiled document.",
)
@STRICT
@PASSES
@JSON
@_command
def compile(
    files: tuple[str, ...],
    output: str | None,
    fmt: str,
    strict: bool,
    passes: str | None,
    as_json: bool,
) -> None:
    """Compile job specs into compiled documents (final CID, chain, job)."""
    from compiler.emitters.compiled import dumps

    reporter = Reporter(as_json)
    results = list(_compile_each(files, _options(strict, passes), reporter))
    compiled = [c for _, c in results if c is not None]
    failed = len(compiled) != len(results)
    if output and len(files) > 1:
        out_dir = Path(output)
        out_dir.mkdir(parents=True, exist_ok=True)
        suffix = {"json": ".json", "dag-json": ".dag-json", "dag-cbor": ".dag-cbor"}[fmt]
        for path, c in results:
            if c is not None:
                (out_dir / (Path(path).stem + ".compiled" + suffix)).write_bytes(dumps(c, fmt))  # type: ignore[arg-type]
    elif compiled:
        data = dumps(compiled[0] if len(files) == 1 else compiled, fmt)  # type: ignore[arg-type]
        if output:
            Path(output).write_bytes(data)
        else:
            sys.stdout.buffer.write(data)
            if fmt == "dag-json":
                sys.stdout.buffer.write(b"\n")
    if as_json and reporter.collected:
        click.echo(json.dumps({"diagnostics": reporter.collected}, indent=2), err=True)
    if failed:
        raise _Failed


@main.command()
@FILES
@click.option("--original", is_flag=True, help="Print the original CID (right after parsing).")
@STRICT
@PASSES
@JSON
@_command
def cid(
    files: tuple[str, ...], original: bool, strict: bool, passes: str | None, as_json: bool
) -> None:
    """Print the final job CID of each spec."""
    reporter = Reporter(as_json)
    rows: list[dict[str, Any]] = []
    failed = False
    for path, c in _compile_each(files, _options(strict, passes), reporter):
        if c is None:
            failed = True
            continue
        value = str(c.original if original else c.cid)
        rows.append({"file": path, "cid": str(c.cid), "original": str(c.original)})
        if not as_json:
            click.echo(value if len(files) == 1 else f"{value}  {path}")
    if as_json:
        click.echo(json.dumps({"results": rows, "diagnostics": reporter.collected}, indent=2))
    if failed:
        raise _Failed


@main.command()
@FILES
@STRICT
@PASSES
@JSON
@_command
def check(files: tuple[str, ...], strict: bool, passes: str | None, as_json: bool) -> None:
    """Report diagnostics only; exit 1 if any file has errors (a pre-commit hook)."""
    reporter = Reporter(as_json)
    failed = [
        path for path, c in _compile_each(files, _options(strict, passes), reporter) if c is None
    ]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "diagnostics": reporter.collected}, indent=2))
    elif not failed:
        n = len(files)
        click.echo(f"{n} file{'s' if n != 1 else ''} ok", err=True)
    if failed:
        raise _Failed


@main.command()
@click.argument("file", metavar="FILE|COMPILED")
@STRICT
@PASSES
@JSON
@_command
def explain(file: str, strict: bool, passes: str | None, as_json: bool) -> None:
    """Show the chain from the document to the final job, as a tree."""
    from compiler.emitters import explain as explainer
    from compiler.emitters.compiled import NotCompiled, load_document, to_document

    name, raw = _read(file)
    try:
        doc = load_document(raw)
        data = doc_data = doc.raw
    except NotCompiled:
        doc_data = None
        reporter = Reporter(as_json)
        results = list(_compile_each((file,), _options(strict, passes), reporter))
        compiled = results[0][1]
        if compiled is None:
            raise _Failed from None
        data = to_document(compiled)
    if as_json:
        click.echo(json.dumps(explainer.chain_json(data), indent=2))
    else:
        explainer.print_tree(data, name if data is not doc_data else "")


@main.command()
@click.argument("compiled", metavar="COMPILED")
@click.option(
    "--spec",
    type=click.Path(dir_okay=False),
    help="The original spec: also check its document CID and re-parse it.",
)
@JSON
@_command
def verify(compiled: str, spec: str | None, as_json: bool) -> None:
    """Replay a compiled document's chain from its facts and check every CID."""
    from compiler.emitters.compiled import NotCompiled, load_document
    from compiler.verify import verify_document

    name, raw = _read(compiled)
    try:
        doc = load_document(raw)
    except NotCompiled as exc:
        click.echo(f"{name}: error: {exc}", err=True)
        raise _Failed from None
    spec_raw = _read(spec)[1] if spec else None
    checks = verify_document(doc, spec_raw, spec or "")
    ok = all(c.ok for c in checks)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": ok,
                    "cid": str(doc.cid),
                    "checks": [{"ok": c.ok, "what": c.what, "detail": c.detail} for c in checks],
                },
                indent=2,
            )
        )
    else:
        for c in checks:
            mark = "ok  " if c.ok else "FAIL"
            click.echo(f"{mark} {c.what}" + (f": {c.detail}" if c.detail else ""))
        click.echo(f"{name}: {'verified' if ok else 'NOT verified'} ({doc.cid})", err=not ok)
    if not ok:
        raise _Failed


@main.command()
@_command
def home() -> None:
    """Print the data dir (the store, caches and keys live there)."""
    from compiler.home import data_dir

    click.echo(str(data_dir()))


def run() -> NoReturn:
    """Entry point for `python -m compiler`."""
    main()
    sys.exit(0)
