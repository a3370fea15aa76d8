"""Running jobs: `jobc run`, and `jobc receipt show|verify` for what runs leave behind.

`jobc run` exit codes (docs/cli.md): 0 the job exited 0; 1 the spec has errors or the
job cannot run here (docker, not lowered, content missing); 2 usage; 3 the job ran and
exited non-zero (its code is in the summary and the receipt); 4 the job did not finish
(a trap, or a fuel, memory or time limit); 5 `--rerun` gave other outputs than the
trusted receipt (the job is not deterministic, or a node lied); 70 a bug in jobc.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from compiler.cli.common import (
    JSON,
    PASSES,
    STORE,
    STRICT,
    Failed,
    Reporter,
    command,
    compile_each,
    compile_options,
    opened_store,
    parse_size,
    world_options,
)

if TYPE_CHECKING:
    from compiler.ir import Link
    from compiler.runtime.receipts import Receipt
    from compiler.store import Store

EXIT_JOB_FAILED = 3
EXIT_DID_NOT_FINISH = 4
EXIT_MISMATCH = 5
DID_NOT_FINISH = frozenset(("fuel", "timeout", "memory", "trap", "stack-overflow"))
"""RunError codes of a run that started and was stopped (else: it could not start)."""

TRUST = click.option(
    "--trust",
    "trust",
    multiple=True,
    metavar="NODE",
    help="Also trust receipts signed by this node key (z6Mk…; repeatable). The data "
    "dir's trusted-nodes file lists more.",
)


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Write the job's outputs here (DIR/<output path>), with stdout, stderr, exitCode.",
)
@click.option(
    "--rerun", is_flag=True, help="Run even if a trusted receipt exists; check both agree."
)
@click.option("--fuel", type=click.IntRange(min=1), help="Fuel for the run (default 2^40).")
@click.option("--memory", metavar="SIZE", help="Memory limit (default: the spec's, else 1GiB).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Time limit (default: the spec's execution.timeout, else 600).",
)
@TRUST
@STRICT
@PASSES
@world_options
@JSON
@command
def run(
    spec: str,
    output: str | None,
    rerun: bool,
    fuel: int | None,
    memory: str | None,
    timeout: float | None,
    trust: tuple[str, ...],
    strict: bool,
    passes: str | None,
    as_json: bool,
) -> None:
    """Compile a spec and run its WASM job deterministically, or reuse a trusted receipt
    of the same job (memoization); sign and store the receipt."""
    from compiler.runtime.execute import run_job, runnable
    from compiler.runtime.memo import differences, find_trusted_receipt, reusable
    from compiler.runtime.receipts import NodeKey, ReceiptError, trusted_nodes
    from compiler.runtime.wasm import RunError, limits_for
    from compiler.store import open_store
    from compiler.store.ingest import store_compiled

    memory_limit = parse_size(memory) if memory is not None else None
    reporter = Reporter(as_json)
    options = compile_options(strict, passes)
    # The blocks of what the job reads are kept: the runner reads them from the store,
    # and a later run (or `-o` on a memo hit) needs no original file.
    options = dataclasses.replace(options, settings={**options.settings, "store_content": True})
    ((_, compiled),) = compile_each((spec,), options, reporter)
    if compiled is None:
        _json_diagnostics(reporter)
        raise Failed
    job, cid = compiled.job, compiled.cid
    try:
        runnable(job)
        limits = limits_for(compiled.execution, fuel=fuel, memory=memory_limit, timeout=timeout)
        nodes = trusted_nodes(trust)
    except (RunError, ReceiptError, ValueError) as exc:
        _fail(spec, exc, reporter)
        raise Failed from None
    store = open_store(options.store)
    try:
        # Recorded as `jobc compile` records it: `find`, `trace` and `reputation` see the
        # job (and its determinism) beside its receipts.
        store_compiled(store, compiled)
        old = find_trusted_receipt(store, cid, nodes) if reusable(job) else None
        if old is not None and not rerun:
            receipt, receipt_cid, reused = old, old.cid, True
        else:
            try:
                key = NodeKey.load_or_create()
                ran = run_job(job, store, key, limits=limits, nodes=nodes, job_cid=cid)
            except RunError as exc:
                _fail(spec, exc, reporter)
                if exc.code in DID_NOT_FINISH:
                    sys.exit(EXIT_DID_NOT_FINISH)
                raise Failed from None
            receipt, receipt_cid, reused = ran.receipt, ran.cid, False
        problems = differences(store, old, receipt, job.determinism) if old and rerun else []
        if output:
            _write_outputs(receipt, store, Path(output))
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "job": str(cid),
                        "reused": reused,
                        "receipt": receipt.to_dag_json(),
                        "differences": problems,
                        "diagnostics": reporter.collected,
                    },
                    indent=2,
                )
            )
        else:
            _echo_stream(receipt.stdout, store, sys.stdout.buffer)
            _echo_stream(receipt.stderr, store, sys.stderr.buffer)
            _summary(cid, receipt, receipt_cid, reused)
    finally:
        store.close()
    if problems:
        click.echo(
            f"jobc: NOT DETERMINISTIC: job {cid} gave other results than its trusted receipt "
            f"{old.cid if old else ''} (node {old.node if old else ''}):",
            err=True,
        )
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        click.echo(
            "  the job is not deterministic, or one of the runs lied; both receipts are kept",
            err=True,
        )
        sys.exit(EXIT_MISMATCH)
    if receipt.exit != 0:
        sys.exit(EXIT_JOB_FAILED)


def _summary(cid: Link, receipt: Receipt, receipt_cid: Link, reused: bool) -> None:
    fuel, finished = receipt.meta.get("fuel"), receipt.meta.get("finished")
    if reused:
        when = f" at {finished}" if isinstance(finished, str) else ""
        how = f"reused the receipt signed by {receipt.node}{when}: not run again"
    else:
        how = f"ran it (fuel {fuel:,})" if isinstance(fuel, int) else "ran it"
    click.echo(f"jobc: job {cid}: exit {receipt.exit}; {how}", err=True)
    click.echo(f"jobc: receipt {receipt_cid}", err=True)


def _fail(spec: str, exc: Exception, reporter: Reporter) -> None:
    message = getattr(exc, "message", str(exc))
    hint = getattr(exc, "hint", "")
    if reporter.as_json:
        item = {"severity": "error", "message": message, "file": spec}
        if hint:
            item["hint"] = hint
        reporter.collected.append(item)
        _json_diagnostics(reporter)
        return
    click.echo(f"{spec}: error: {message}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)


def _json_diagnostics(reporter: Reporter) -> None:
    if reporter.as_json:
        click.echo(json.dumps({"diagnostics": reporter.collected}, indent=2))


def _echo_stream(link: Link, store: Store, stream: Any) -> None:
    """Copy a job's stdout or stderr from the store to ours (a note if its blocks are
    not here: a receipt imported from another node)."""
    from compiler.oracles.content import read_file
    from compiler.sources import ContentError

    try:
        for chunk in read_file(link, store):
            stream.write(chunk)
        stream.flush()
    except ContentError:
        click.echo(f"jobc: ({link} is not in the store)", err=True)


def _write_outputs(receipt: Receipt, store: Store, folder: Path) -> None:
    """`DIR/<output path>` for each output, and `DIR/stdout`, `DIR/stderr`, `DIR/exitCode`
    (Bacalhau's layout of results)."""
    from compiler.oracles.content import export
    from compiler.sources import ContentError

    folder.mkdir(parents=True, exist_ok=True)
    targets = [(folder / p.lstrip("/"), link) for p, link in receipt.outputs.items()]
    targets += [(folder / "stdout", receipt.stdout), (folder / "stderr", receipt.stderr)]
    for dest, _ in targets:
        if dest.exists() or dest.is_symlink():
            raise click.ClickException(f"{dest} exists: remove it, or write elsewhere with -o")
    try:
        for dest, link in targets:
            dest.parent.mkdir(parents=True, exist_ok=True)
            export(link, store, dest)
    except ContentError as exc:
        raise click.ClickException(
            f"cannot write the outputs: {exc.message} (run with --rerun to make them here)"
        ) from None
    (folder / "exitCode").write_text(f"{receipt.exit}\n")


# --- receipts -------------------------------------------------------------------------------


@click.group()
def receipt() -> None:
    """Show and verify receipts (signed records of runs)."""


@receipt.command()
@click.argument("what", metavar="JOB|RECEIPT")
@STORE
@command
def show(what: str, store_location: str | None) -> None:
    """Print a receipt (by its CID), or every receipt of a job (by the job's CID), as
    DAG-JSON."""
    with opened_store(store_location) as store:
        found = _receipts_named(what, store)
    if not found:
        click.echo(f"jobc: no receipt of or named {what} in the store", err=True)
        raise Failed
    data = [r.to_dag_json() for r in found]
    click.echo(json.dumps(data[0] if _is_receipt_cid(what, found) else data, indent=2))


@receipt.command()
@click.argument("items", nargs=-1, required=True, metavar="FILE|CID...")
@click.option("--trusted", is_flag=True, help="Also fail when the signer is not a trusted node.")
@TRUST
@STORE
@JSON
@command
def verify(
    items: tuple[str, ...],
    trusted: bool,
    trust: tuple[str, ...],
    store_location: str | None,
    as_json: bool,
) -> None:
    """Check receipts' signatures: files (DAG-JSON as `receipt show` prints it, or a
    DAG-CBOR block), receipt CIDs, or job CIDs (every receipt of the job in the store)."""
    from compiler.runtime.receipts import ReceiptError, trusted_nodes
    from compiler.store import open_store

    nodes = trusted_nodes(trust)
    rows: list[dict[str, Any]] = []
    store = None
    try:
        for item in items:
            try:
                if Path(item).is_file():
                    found = [_receipt_file(Path(item))]
                else:
                    store = store or open_store(store_location)
                    found = _receipts_named(item, store)
                    if not found:
                        raise ReceiptError(f"no receipt of or named {item} in the store")
            except ReceiptError as exc:
                rows.append({"item": item, "ok": False, "detail": str(exc)})
                continue
            for r in found:
                rows.append(_check(item, r, nodes, trusted))
    finally:
        if store is not None:
            store.close()
    ok = all(row["ok"] for row in rows)
    if as_json:
        click.echo(json.dumps({"ok": ok, "receipts": rows}, indent=2))
    else:
        for row in rows:
            mark = "ok  " if row["ok"] else "FAIL"
            click.echo(f"{mark} {row['item']}: {row['detail']}")
    if not ok:
        raise Failed


def _check(item: str, r: Receipt, nodes: frozenset[str], need_trust: bool) -> dict[str, Any]:
    from compiler.runtime.receipts import ReceiptError

    row: dict[str, Any] = {"item": item, "cid": str(r.cid), "job": str(r.job), "node": r.node}
    is_trusted = r.node in nodes
    row["trusted"] = is_trusted
    try:
        r.verify()
    except ReceiptError as exc:
        row.update(ok=False, detail=str(exc))
        return row
    who = "a trusted node" if is_trusted else "a node this one does not trust"
    row.update(
        ok=is_trusted or not need_trust,
        detail=f"receipt {r.cid} of job {r.job}, exit {r.exit}: signed by {r.node} ({who})",
    )
    return row


def _receipt_file(path: Path) -> Receipt:
    """A receipt from a file: DAG-JSON (its `cid`, if written, must match) or DAG-CBOR."""
    from compiler.identity import IdentityError, from_dag_json
    from compiler.runtime.receipts import Receipt, ReceiptError

    raw = path.read_bytes()
    if raw.lstrip()[:1] != b"{":
        return Receipt.decode(raw)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ReceiptError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReceiptError(f"{path} does not hold a receipt map")
    written = data.pop("cid", None)
    try:
        found = Receipt.from_value(from_dag_json(data))
    except IdentityError as exc:
        raise ReceiptError(f"{path}: {exc}") from None
    if written is not None and written != {"/": str(found.cid)}:
        raise ReceiptError(f"{path}: its contents hash to {found.cid}, not the cid it states")
    return found


def _receipts_named(what: str, store: Store) -> list[Receipt]:
    """The receipt whose CID is `what`, or every receipt of the job `what`."""
    from compiler.ir import Link
    from compiler.runtime.receipts import Receipt, ReceiptError

    try:
        link = Link.parse(what)
    except ValueError:
        raise ReceiptError(f"{what} is neither a file nor a CID") from None
    by_job = store.receipts(link)
    if by_job:
        return by_job
    block = store.get_block(link)
    if block is None:
        return []
    try:
        return [Receipt.decode(block)]
    except ReceiptError:
        return []


def _is_receipt_cid(what: str, found: list[Receipt]) -> bool:
    return len(found) == 1 and str(found[0].cid) == what
