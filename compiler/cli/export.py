"""`jobc export`: write jobs out in another form, chosen with `--to`.

- `--to car`: CIDs (or spec files, whose chains are looked up) with everything reachable
  from them in the store (chains, jobs, receipts, toolchain descriptors; content with
  `--with-content`), as a CARv1 file (`compiler/store/car.py`) that `jobc import` and
  `ipfs dag import` read.

Formats are listed in `FORMATS`; the format emitters (jobspec/2, bacalhau, homestar)
add theirs there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from compiler.cli.common import (
    JSON,
    STORE,
    Failed,
    Reporter,
    command,
    fail,
    opened_store,
    read_input,
)

FORMATS: dict[str, str] = {
    "car": "compiler.cli.export:export_car",
}
"""`--to` format → `module:function(items, output, options)` that writes the export."""


@click.command()
@click.argument("items", nargs=-1, required=True, metavar="CID|SPEC...")
@click.option(
    "--to", "fmt", type=click.Choice(sorted(FORMATS)), required=True, help="The format to write."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (- for stdout).")
@click.option(
    "--with-content",
    is_flag=True,
    help="car: also the content blocks (inputs, modules, outputs) the store holds.",
)
@STORE
@JSON
@command
def export(
    items: tuple[str, ...],
    fmt: str,
    output: str | None,
    with_content: bool,
    store_location: str | None,
    as_json: bool,
) -> None:
    """Write jobs out in another format: `--to car` moves CIDs and everything reachable
    from them in the store to a CARv1 file."""
    import importlib

    module, _, name = FORMATS[fmt].partition(":")
    writer: Callable[..., None] = getattr(importlib.import_module(module), name)
    writer(
        items,
        output,
        {"with_content": with_content, "store": store_location, "json": as_json},
    )


def export_car(items: tuple[str, ...], output: str | None, options: dict[str, Any]) -> None:
    """`--to car`: gather what `items` reach in the store and write it as a CARv1."""
    from compiler.store import car
    from compiler.store.queries import compile_offline

    if not output:
        raise click.UsageError("--to car needs -o FILE.car (or -o - for stdout)")
    if output == "-" and sys.stdout.isatty():
        raise click.UsageError("a CAR is binary: write it to a file, or pipe stdout")
    with opened_store(options["store"]) as store:
        roots = _roots(items, lambda raw, name: compile_offline(store, raw, name))
        found = [r for r in roots if _known(store, r)]
        if not found:
            fail(
                "nothing to export: none of these is on a chain in the store",
                "compile the specs with `jobc compile` first (it records their chains)",
            )
        gathered = car.gather(store, found, with_content=bool(options["with_content"]))
    if output == "-":
        manifest, count = car.export_car(sys.stdout.buffer, gathered)
    else:
        with Path(output).open("wb") as out:
            manifest, count = car.export_car(out, gathered)
    m = gathered.manifest
    summary = {
        "root": str(manifest),
        "blocks": count,
        "finals": len(set(m.finals)),
        "records": len(m.records),
        "jobs": len(m.jobs),
        "receipts": len(m.receipts),
        "missing_content": gathered.missing_content,
    }
    if options["json"]:
        click.echo(json.dumps(summary, indent=2), err=output == "-")
    else:
        click.echo(
            f"{output}: {count} blocks ({summary['records']} records, {summary['jobs']} jobs, "
            f"{summary['receipts']} receipts), root {manifest}",
            err=True,
        )
    if gathered.missing_content:
        click.echo(
            f"jobc: warning: {gathered.missing_content} content blocks are not in the store "
            "(compile with --store-content to keep them)",
            err=True,
        )


def _known(store: Any, cid: Any) -> bool:
    """Whether the store knows `cid`: on a chain, or a block it holds."""
    return bool(
        store.is_final(cid)
        or store.walk(cid, "backward")
        or store.walk(cid, "forward")
        or store.has_block(cid)
    )


def _roots(items: tuple[str, ...], compile_: Callable[[bytes, str], Any]) -> list[Any]:
    """The CIDs to export: each item is a CID, or a spec whose chain CIDs are looked up."""
    from compiler.diagnostics import SpecError
    from compiler.ir import Link

    roots: list[Link] = []
    reporter = Reporter(False)
    failed = False
    for item in items:
        try:
            roots.append(Link.parse(item))
            continue
        except ValueError:
            pass
        name, raw = read_input(item)
        reporter.remember(name, raw)
        try:
            compiled = compile_(raw, name)
        except SpecError as exc:
            reporter.report(exc.diagnostics)
            failed = True
            continue
        roots.extend([compiled.document, *(r.target for r in compiled.chain)])
    if failed:
        raise Failed
    return roots
