"""Commands on formats: `jobc fmt` (print Jobfiles canonically) and `jobc migrate`
(rewrite a document in another format or version)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from compiler.cli.common import (
    FILES,
    JSON,
    STRICT,
    Failed,
    Reporter,
    command,
    read_input,
    write_output,
)


@click.command()
@FILES
@click.option("-w", "--write", is_flag=True, help="Rewrite the files in place.")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file is not formatted.")
@command
def fmt(files: tuple[str, ...], write: bool, check: bool) -> None:
    """Print Jobfiles in canonical form (one statement per line, four spaces in a block,
    values quoted only where needed), keeping their comments."""
    from compiler.diagnostics import SpecError
    from compiler.frontends.jobfile import format_jobfile

    reporter = Reporter(False)
    failed = unformatted = False
    for path in files:
        name, raw = read_input(path)
        reporter.remember(name, raw)
        text = raw.decode("utf-8", errors="replace")
        try:
            formatted = format_jobfile(name, text)
        except SpecError as exc:
            reporter.report(exc.diagnostics)
            failed = True
            continue
        if check:
            if formatted != text:
                click.echo(f"{name}: not formatted", err=True)
                unformatted = True
        elif write and path != "-":
            if formatted != text:
                Path(path).write_text(formatted, encoding="utf-8")
                click.echo(f"{name}: formatted", err=True)
        else:
            sys.stdout.write(formatted)
    if failed or unformatted:
        raise Failed


@click.command()
@click.argument("file", metavar="FILE")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="FORMAT[/VERSION]",
    help="jobspec/2, jobspec/1, bacalhau (the current Job API) or homestar.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write here (default stdout)."
)
@STRICT
@JSON
@command
def migrate(file: str, to: str, output: str | None, strict: bool, as_json: bool) -> None:
    """Rewrite a document in another format or version (a V1beta1 Bacalhau job to the
    current Job API, jobspec/1 to jobspec/2 and back). What the target cannot say is kept
    in its stash or refused; within one format, comments and key order are kept."""
    from compiler.diagnostics import SpecError
    from compiler.driver import CompileOptions
    from compiler.migrate import migrate as rewrite

    reporter = Reporter(as_json)
    name, raw = read_input(file)
    reporter.remember(name, raw)
    try:
        migrated = rewrite(raw, name, to, CompileOptions(strict=strict))
    except SpecError as exc:
        reporter.report(exc.diagnostics)
        if as_json:
            click.echo(json.dumps({"diagnostics": reporter.collected}, indent=2), err=True)
        raise Failed from None
    reporter.report(migrated.diagnostics)
    write_output(migrated.text, output)
    if as_json:
        summary = {
            "from": migrated.source_format,
            "to": migrated.target,
            "kept_comments": migrated.kept_comments,
            "diagnostics": reporter.collected,
        }
        click.echo(json.dumps(summary, indent=2), err=True)
