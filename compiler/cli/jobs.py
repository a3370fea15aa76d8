"""Commands on job specs: compile, cid, check, explain, verify, lock, home."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from compiler.cli.common import (
    FILES,
    JSON,
    NO_STORE,
    PASSES,
    STRICT,
    Failed,
    Reporter,
    command,
    compile_each,
    compile_options,
    read_input,
    world_options,
)

if TYPE_CHECKING:
    from compiler.driver import Compiled


@click.command()
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
@NO_STORE
@world_options
@JSON
@command
def compile(
    files: tuple[str, ...],
    output: str | None,
    fmt: str,
    strict: bool,
    passes: str | None,
    no_store: bool,
    as_json: bool,
) -> None:
    """Compile job specs into compiled documents (final CID, chain, job), and record
    them in the store (unless --no-store) for `trace`, `find` and `export`."""
    from compiler.emitters.compiled import dumps

    reporter = Reporter(as_json)
    options = compile_options(strict, passes)
    results = list(compile_each(files, options, reporter))
    compiled = [c for _, c in results if c is not None]
    failed = len(compiled) != len(results)
    if compiled and not no_store:
        record(compiled, options.store)
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
        raise Failed


def record(compiled: list[Compiled], location: str | None) -> None:
    """Keep the compiles in the store, each all or nothing; a store that cannot be
    written costs a warning, not the compile (its output is already made)."""
    from compiler.store import StoreError, open_store
    from compiler.store.ingest import store_compiled

    try:
        store = open_store(location)
    except (StoreError, OSError) as exc:
        click.echo(f"jobc: warning: not recorded in the store: {exc}", err=True)
        return
    try:
        for c in compiled:
            store_compiled(store, c)
    finally:
        store.close()


@click.command()
@FILES
@click.option("--original", is_flag=True, help="Print the original CID (right after parsing).")
@STRICT
@PASSES
@world_options
@JSON
@command
def cid(
    files: tuple[str, ...], original: bool, strict: bool, passes: str | None, as_json: bool
) -> None:
    """Print the final job CID of each spec."""
    reporter = Reporter(as_json)
    rows: list[dict[str, Any]] = []
    failed = False
    for path, c in compile_each(files, compile_options(strict, passes), reporter):
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
        raise Failed


@click.command()
@FILES
@STRICT
@PASSES
@world_options
@JSON
@command
def check(files: tuple[str, ...], strict: bool, passes: str | None, as_json: bool) -> None:
    """Report diagnostics only; exit 1 if any file has errors (a pre-commit hook)."""
    reporter = Reporter(as_json)
    results = compile_each(files, compile_options(strict, passes), reporter)
    failed = [path for path, c in results if c is None]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "diagnostics": reporter.collected}, indent=2))
    elif not failed:
        n = len(files)
        click.echo(f"{n} file{'s' if n != 1 else ''} ok", err=True)
    if failed:
        raise Failed


@click.command()
@click.argument("file", metavar="FILE|COMPILED")
@STRICT
@PASSES
@world_options
@JSON
@command
def explain(file: str, strict: bool, passes: str | None, as_json: bool) -> None:
    """Show the chain from the document to the final job, as a tree."""
    from compiler.emitters import explain as explainer
    from compiler.emitters.compiled import NotCompiled, load_document, to_document

    name, raw = read_input(file)
    try:
        doc = load_document(raw)
        data = doc_data = doc.raw
    except NotCompiled:
        doc_data = None
        reporter = Reporter(as_json)
        results = list(compile_each((file,), compile_options(strict, passes), reporter))
        compiled = results[0][1]
        if compiled is None:
            raise Failed from None
        data = to_document(compiled)
    if as_json:
        click.echo(json.dumps(explainer.chain_json(data), indent=2))
    else:
        explainer.print_tree(data, name if data is not doc_data else "")


@click.command()
@click.argument("compiled", metavar="COMPILED")
@click.option(
    "--spec",
    type=click.Path(dir_okay=False),
    help="The original spec: also check its document CID and re-parse it.",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="Also run the compilers of `lower` records again: the modules must be the "
    "recorded ones, byte for byte (sources from the store, or beside --spec).",
)
@JSON
@command
def verify(compiled: str, spec: str | None, rebuild: bool, as_json: bool) -> None:
    """Replay a compiled document's chain from its facts and check every CID."""
    from compiler.emitters.compiled import NotCompiled, load_document
    from compiler.verify import rebuild_oracle, verify_document

    name, raw = read_input(compiled)
    try:
        doc = load_document(raw)
    except NotCompiled as exc:
        click.echo(f"{name}: error: {exc}", err=True)
        raise Failed from None
    spec_raw = read_input(spec)[1] if spec else None
    oracle = rebuild_oracle(doc, Path(spec).parent if spec else Path.cwd()) if rebuild else None
    try:
        checks = verify_document(doc, spec_raw, spec or "", rebuild=oracle)
    finally:
        if oracle is not None:
            oracle.close()
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
        raise Failed


@click.command()
@FILES
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default="jobc.lock",
    show_default=True,
    help="The lock file to write.",
)
@STRICT
@world_options
@JSON
@command
def lock(files: tuple[str, ...], output: str, strict: bool, as_json: bool) -> None:
    """Resolve the images of specs and write their digests to a lock file, which
    `jobc compile --lock FILE` then uses without asking any registry."""
    from compiler.oracles.registry import lock_document

    reporter = Reporter(as_json)
    facts: list[Any] = []
    failed = False
    for _path, c in compile_each(files, compile_options(strict, None), reporter):
        if c is None:
            failed = True
            continue
        for record in c.chain:
            if record.pass_name == "resolve-images":
                facts.extend(record.facts)
    if as_json and reporter.collected:
        click.echo(json.dumps({"diagnostics": reporter.collected}, indent=2), err=True)
    if failed:
        raise Failed
    Path(output).write_bytes(lock_document(facts))
    n = len({(f["ref"], f.get("platform", "")) for f in facts})
    click.echo(f"{output}: {n} image{'s' if n != 1 else ''}", err=True)


@click.command()
@command
def home() -> None:
    """Print the data dir (the store, caches and keys live there)."""
    from compiler.home import data_dir

    click.echo(str(data_dir()))
