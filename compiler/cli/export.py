"""`jobc export SPEC --to FORMAT`: compile a spec and write its final job(s) in another
format (the emitters in `compiler.emitters.EMITTERS`)."""

from __future__ import annotations

import json
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
    foreign_ids,
    store_aliases,
    world_options,
    write_output,
)


def _formats() -> list[str]:
    from compiler.emitters import EMITTERS

    return sorted(EMITTERS)


@click.command()
@click.argument("spec", metavar="SPEC[#JOB]")
@click.option(
    "--to",
    "fmt",
    required=True,
    metavar="FORMAT",
    help="The format to write: " + ", ".join(_formats()) + ".",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write here (default stdout)."
)
@STRICT
@PASSES
@world_options
@JSON
@command
def export(
    spec: str, fmt: str, output: str | None, strict: bool, passes: str | None, as_json: bool
) -> None:
    """Compile SPEC and write its final job in another format (of a workflow: every job,
    or the one named after `#`). Identifiers the target gives the jobs (Homestar
    instruction CIDs) are stored as aliases of the job CIDs."""
    from compiler.emitters import emitter, job_docs_of

    write = emitter(fmt)
    path, _, only = spec.partition("#") if not Path(spec).exists() else (spec, "", "")
    reporter = Reporter(as_json)
    results = list(compile_each((path,), compile_options(strict, passes), reporter))
    compiled = results[0][1]
    if compiled is None:
        raise Failed
    from compiler.driver import CompiledWorkflow

    jobs = job_docs_of(compiled)
    meta = compiled.meta if isinstance(compiled, CompiledWorkflow) and not only else {}
    if only:
        jobs = [j for j in jobs if j.name == only]
        if not jobs:
            names = ", ".join(j.name for j in job_docs_of(compiled)) or "none"
            raise click.BadParameter(f"no job {only!r} in {path} (its jobs: {names})")
    from compiler.diagnostics import SpecError

    try:
        emitted = write(jobs, meta)
    except SpecError as exc:
        reporter.report(exc.diagnostics)
        raise Failed from None
    reporter.report(emitted.diagnostics)
    store_aliases([*foreign_ids(compiled), *emitted.aliases])
    write_output(emitted.text, output)
    if as_json:
        summary: dict[str, Any] = {"ids": emitted.ids, "diagnostics": reporter.collected}
        click.echo(json.dumps(summary, indent=2), err=True)
    elif emitted.ids and output:
        for name, foreign in emitted.ids.items():
            click.echo(f"{foreign}  {name or 'workflow'}", err=True)
