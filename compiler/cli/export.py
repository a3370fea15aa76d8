"""`jobc export`: write jobs out in another form, chosen with `--to`.

- `--to car`: CIDs (or spec files, whose chains are looked up) with everything reachable
  from them in the store (chains, jobs, receipts, toolchain descriptors; content with
  `--with-content`), as a CARv1 file (`compiler/store/car.py`) that `jobc import` and
  `ipfs dag import` read.
- `--to jobspec/2|jobspec/1|bacalhau|homestar`: one spec (`SPEC`, or `SPEC#JOB` for one
  job of a workflow) compiled, and its final jobs written by that format's emitter
  (`compiler.emitters.EMITTERS`). Identifiers the target gives the jobs (Homestar
  instruction CIDs) and that the spec gives them (a Bacalhau job's ID) are stored as
  aliases of the job CIDs.

Formats are listed in `FORMATS`.
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
    PASSES,
    STRICT,
    Failed,
    Reporter,
    command,
    compile_each,
    compile_options,
    fail,
    foreign_ids,
    opened_store,
    read_input,
    store_aliases,
    world,
    world_options,
    write_output,
)

FORMATS: dict[str, str] = {
    "car": "compiler.cli.export:export_car",
    "jobspec/2": "compiler.cli.export:export_format",
    "jobspec/1": "compiler.cli.export:export_format",
    "bacalhau": "compiler.cli.export:export_format",
    "homestar": "compiler.cli.export:export_format",
    "jobfile": "compiler.cli.export:export_format",
}
"""`--to` format → `module:function(items, output, options)` that writes the export."""


@click.command()
@click.argument("items", nargs=-1, required=True, metavar="CID|SPEC[#JOB]...")
@click.option(
    "--to", "fmt", type=click.Choice(sorted(FORMATS)), required=True, help="The format to write."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (- for stdout).")
@click.option(
    "--with-content",
    is_flag=True,
    help="car: also the content blocks (inputs, modules, outputs) the store holds.",
)
@STRICT
@PASSES
@world_options
@JSON
@command
def export(
    items: tuple[str, ...],
    fmt: str,
    output: str | None,
    with_content: bool,
    strict: bool,
    passes: str | None,
    as_json: bool,
) -> None:
    """Write jobs out in another format: `--to car` moves CIDs and everything reachable
    from them in the store to a CARv1 file; `--to jobspec/2|jobspec/1|bacalhau|homestar`
    compiles a spec and writes its final jobs in that format."""
    import importlib

    module, _, name = FORMATS[fmt].partition(":")
    writer: Callable[..., None] = getattr(importlib.import_module(module), name)
    writer(
        items,
        output,
        {
            "format": fmt,
            "with_content": with_content,
            "store": world().get("store"),  # --store, among the world options
            "json": as_json,
            "strict": strict,
            "passes": passes,
        },
    )


def export_format(items: tuple[str, ...], output: str | None, options: dict[str, Any]) -> None:
    """`--to <format>`: compile one spec and write its final jobs with the format's emitter."""
    from compiler.diagnostics import Span, SpecError
    from compiler.driver import CompiledWorkflow
    from compiler.emitters import emitter, job_docs_of, placed

    fmt = options["format"]
    if len(items) != 1:
        raise click.UsageError(f"--to {fmt} writes one spec (SPEC, or SPEC#JOB for one job)")
    write = emitter(fmt)
    spec = items[0]
    path, _, only = spec.partition("#") if not Path(spec).exists() else (spec, "", "")
    reporter = Reporter(options["json"])
    compile_opts = compile_options(options["strict"], options["passes"])
    compiled = next(iter(compile_each((path,), compile_opts, reporter)))[1]
    if compiled is None:
        raise Failed
    jobs = job_docs_of(compiled)
    meta = compiled.meta if isinstance(compiled, CompiledWorkflow) and not only else {}
    if only:
        jobs = [j for j in jobs if j.name == only]
        if not jobs:
            names = ", ".join(j.name for j in job_docs_of(compiled)) or "none"
            raise click.BadParameter(f"no job {only!r} in {path} (its jobs: {names})")
    where = Span(path, 1, 1)
    try:
        emitted = write(jobs, meta)
    except SpecError as exc:
        reporter.report(placed(exc.diagnostics, where))
        raise Failed from None
    reporter.report(placed(emitted.diagnostics, where))
    store_aliases([*foreign_ids(compiled), *emitted.aliases], options["store"])
    write_output(emitted.text, output)
    if options["json"]:
        summary: dict[str, Any] = {"ids": emitted.ids, "diagnostics": reporter.collected}
        click.echo(json.dumps(summary, indent=2), err=True)
    elif emitted.ids and output:
        for name, foreign in emitted.ids.items():
            click.echo(f"{foreign}  {name or 'workflow'}", err=True)


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
