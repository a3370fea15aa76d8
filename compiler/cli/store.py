"""Commands on the store: trace, find, lineage, refcount, reputation, disown, import.

Each prints a readable answer, or with `--json` the query's data (`compiler.store.queries`
is the same as a Python API). A query with no answer (an unknown CID, a spec the store
knows nothing of) exits 1 with a message saying why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from compiler.cli.common import (
    JSON,
    STORE,
    STRICT,
    Failed,
    Reporter,
    command,
    compile_options,
    fail,
    opened_store,
    read_input,
    world_options,
)

if TYPE_CHECKING:
    from rich.tree import Tree

    from compiler.store.queries import LineageContent, LineageJob, TraceNode

CID = click.argument("cid", metavar="CID")


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def console() -> Any:
    """A rich console; wide when not a terminal, so CIDs are never cut."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 400)


def _print_tree(tree: Tree) -> None:
    console().print(tree)


# --- trace --------------------------------------------------------------------------------


@click.command()
@CID
@STORE
@JSON
@command
def trace(cid: str, store_location: str | None, as_json: bool) -> None:
    """The chain a CID is on (document, original, intermediate or final job): back to
    the documents it came from and forward to the final jobs, as a tree."""
    from rich.tree import Tree

    from compiler.store import queries

    with opened_store(store_location) as store:
        result = queries.trace(store, queries.parse_cid(cid))
    if as_json:
        _print_json(result.to_json())
        return
    finals = len(result.finals)
    tree = Tree(
        f"[bold]{result.cid}[/]  {result.kind}  "
        f"[dim]({finals} final job{'s' if finals != 1 else ''})[/]"
    )
    if result.backward.steps:
        _trace_branch(tree.add("[dim]← made from[/]"), result.backward, "←")
    if result.forward.steps:
        _trace_branch(tree.add("[dim]→ leads to[/]"), result.forward, "→")
    _print_tree(tree)


def _trace_branch(parent: Tree, node: TraceNode, arrow: str) -> None:
    for step in node.steps:
        r, child = step.record, step.node
        flags = " [red]disowned: not followed[/]" if r.disowned else ""
        seen = " [dim](shown above)[/]" if child.seen else ""
        receipts = (
            f" [green]{child.receipts} receipt{'s' if child.receipts != 1 else ''}[/]"
            if child.receipts
            else ""
        )
        branch = parent.add(
            f"[cyan]{r.pass_name}@{r.version}[/] {arrow} {child.cid}  {child.kind}"
            f"{receipts}{seen}{flags}  [dim]record {r.cid}[/]"
        )
        _trace_branch(branch, child, arrow)


# --- find ---------------------------------------------------------------------------------


@click.command()
@click.argument("spec", metavar="SPEC")
@STRICT
@world_options
@JSON
@command
def find(spec: str, strict: bool, as_json: bool) -> None:
    """Compile a spec offline and find the final jobs (and receipts) it led to, even
    when its chain was recorded on another machine and imported. Exit 1 if none."""
    from compiler.diagnostics import SpecError
    from compiler.store import queries

    reporter = Reporter(as_json)
    options = compile_options(strict, None)
    name, raw = read_input(spec)
    reporter.remember(name, raw)
    with opened_store(options.store) as store:
        try:
            result = queries.find(store, raw, name, options)
        except SpecError as exc:
            reporter.report(exc.diagnostics)
            if as_json:
                _print_json({"diagnostics": reporter.collected})
            raise Failed from None
    if as_json:
        _print_json({**result.to_json(), "diagnostics": reporter.collected})
    else:
        pinned = "pinned" if result.pinned else "not pinned"
        click.echo(
            f"{name}: document {result.document}\n"
            f"  compiles here (offline) to {result.compiled} ({pinned})"
        )
        for found in result.found:
            via = "" if found.via == found.cid else f"  (via {found.via})"
            click.echo(f"final job {found.cid}{via}")
            for r in found.receipts:
                trust = "trusted" if r.trusted else "untrusted"
                click.echo(f"  receipt {r.cid}  node {r.node}  exit {r.exit}  {trust}")
                for path, out in sorted(r.outputs.items()):
                    click.echo(f"    {path} → {out}")
    if not result.found:
        fail(
            f"no final job in the store is known for {name}",
            "compile it with `jobc compile` here, or `jobc import` the CAR of another store",
        )


# --- lineage ------------------------------------------------------------------------------


@click.command()
@CID
@click.option(
    "--graph",
    type=click.Choice(["dot", "mermaid"]),
    help="Draw the lineage as a Graphviz dot or Mermaid graph instead of a tree.",
)
@click.option("--depth", type=click.IntRange(min=1), default=64, show_default=True)
@STORE
@JSON
@command
def lineage(
    cid: str, graph: str | None, depth: int, store_location: str | None, as_json: bool
) -> None:
    """Which job made a content CID (from receipts), from which inputs, and so on up the
    call tree."""
    from rich.tree import Tree

    from compiler.store import queries

    with opened_store(store_location) as store:
        root = queries.lineage(store, queries.parse_cid(cid), depth=depth)
    if as_json:
        _print_json(root.to_json())
    elif graph == "dot":
        sys.stdout.write(queries.render_dot(root))
    elif graph == "mermaid":
        sys.stdout.write(queries.render_mermaid(root))
    else:
        tree = Tree(f"[bold]{root.cid}[/]")
        _lineage_content(tree, root)
        _print_tree(tree)


def _lineage_content(parent: Tree, node: LineageContent) -> None:
    if not node.made_by:
        parent.add("[dim]no receipt says a job made it (source data)[/]")
    for made in node.made_by:
        o = made.output
        exit_ = "" if o.exit == 0 else f" [red]exit {o.exit}[/]"
        branch = parent.add(
            f"made by job [bold]{made.job.cid}[/] at {o.path}{exit_}"
            f"  [dim]receipt {o.receipt} by {o.node}[/]"
        )
        _lineage_job(branch, made.job)


def _lineage_job(parent: Tree, job: LineageJob) -> None:
    from compiler.store.queries import place_label

    if job.seen:
        parent.add("[dim](shown above)[/]")
        return
    if not job.known:
        parent.add("[dim]the job is not in this store[/]")
        return
    for inp in job.inputs:
        label = place_label(inp.place)
        if inp.content is not None:
            branch = parent.add(f"{label} ← {inp.content.cid}")
            _lineage_content(branch, inp.content)
        elif inp.upstream is not None:
            branch = parent.add(f"{label} ← output {inp.path} of job {inp.upstream.cid}")
            _lineage_job(branch, inp.upstream)


# --- refcount -----------------------------------------------------------------------------


@click.command()
@click.argument("cid", metavar="CID", required=False)
@click.option("--top", type=click.IntRange(min=1), help="List the N most used content CIDs.")
@click.option(
    "--by",
    type=click.Choice(["total", "direct"]),
    default="total",
    show_default=True,
    help="--top: rank by all uses (direct and through other jobs' outputs), or direct ones.",
)
@STORE
@JSON
@command
def refcount(
    cid: str | None, top: int | None, by: str, store_location: str | None, as_json: bool
) -> None:
    """How many final jobs use a content CID: directly, and through other jobs' outputs
    (transitively). `--top N` lists the most used content, ranked by all uses (`--by
    total`) or by direct ones (`--by direct`), with both counts."""
    from compiler.store import queries

    if (cid is None) == (top is None):
        raise click.UsageError("give a CID, or --top N")
    with opened_store(store_location) as store:
        if cid is not None:
            rows = [queries.refcount(store, queries.parse_cid(cid))]
        else:
            rows = queries.most_used(store, top or 0, "total" if by == "total" else "direct")
    if as_json:
        _print_json(rows[0].to_json() if cid is not None else [r.to_json() for r in rows])
        return
    for r in rows:
        click.echo(f"{r.cid}  {r.direct} direct, {r.indirect} through other jobs, {r.total} in all")


# --- reputation ---------------------------------------------------------------------------


@click.command()
@click.argument("node", metavar="[NODE]", required=False)
@STORE
@JSON
@command
def reputation(node: str | None, store_location: str | None, as_json: bool) -> None:
    """For deterministic jobs with receipts from several nodes: how often each node's
    outputs agree with the majority; with NODE, that node's disagreeing jobs."""
    from compiler.store import queries

    with opened_store(store_location) as store:
        result = queries.reputation(store, node)
    if as_json:
        _print_json(result.to_json() if node is None else _one_node(result, node))
        return
    if node is not None and not result.nodes:
        fail(f"no receipt of node {node} is compared with another node's")
    from rich.table import Table

    table = Table(title=f"{result.jobs} jobs run by two nodes or more")
    for heading in ("node", "score", "agreed", "disagreed", "undecided"):
        table.add_column(heading, justify="left" if heading == "node" else "right")
    for n in result.nodes:
        table.add_row(
            n.node, f"{n.score:.3f}", str(n.agreed), str(len(n.disagreed)), str(n.undecided)
        )
    console().print(table)
    if node is not None:
        for d in result.nodes[0].disagreed:
            click.echo(f"disagrees on job {d.job}: receipt {d.receipt}")
            click.echo(f"  the majority: {', '.join(str(r) for r in d.majority)}")


def _one_node(result: Any, node: str) -> dict[str, Any]:
    if not result.nodes:
        fail(f"no receipt of node {node} is compared with another node's")
    row: dict[str, Any] = result.nodes[0].to_json()
    return row


# --- disown -------------------------------------------------------------------------------


@click.command()
@click.argument("which", metavar="PASS@VERSION", required=False)
@click.option("--reason", default="", help="Why (kept with the mark, shown by `jobc disown`).")
@click.option("--undo", is_flag=True, help="Trust the pass version's records again.")
@STORE
@JSON
@command
def disown(
    which: str | None, reason: str, undo: bool, store_location: str | None, as_json: bool
) -> None:
    """Mark the records a buggy pass version made as untrusted (like Bazel's salt):
    `find`, `trace` and the chain index stop following them. No argument: list them."""
    from compiler.store import queries

    with opened_store(store_location) as store:
        if which is None:
            rows = store.disowned()
            if as_json:
                _print_json(
                    [{"pass": d.pass_name, "version": d.version, "reason": d.reason} for d in rows]
                )
            for d in rows if not as_json else ():
                click.echo(f"{d.pass_name}@{d.version}" + (f"  {d.reason}" if d.reason else ""))
            return
        if undo:
            name, version = queries.parse_pass_version(which)
            again = store.undisown(name, version)
            if as_json:
                _print_json({"pass": name, "version": version, "trusted_again": again})
            elif again:
                click.echo(f"{name}@{version} is trusted again")
            else:
                click.echo(f"{name}@{version} was not disowned", err=True)
            return
        result = queries.disown(store, which, reason)
    if as_json:
        _print_json(result.to_json())
        return
    label = f"{result.pass_name}@{result.version}"
    click.echo(f"disowned {label}: {result.records} stored records are no longer followed")
    if result.current:
        click.echo(
            f"jobc: warning: this jobc's own {result.pass_name} is version {result.version}: "
            "new compiles still make such records (upgrade jobc, or bump the pass's version)",
            err=True,
        )


# --- import -------------------------------------------------------------------------------


@click.command("import")
@click.argument("file", metavar="FILE.car", type=click.Path(dir_okay=False))
@STORE
@JSON
@command
def import_(file: str, store_location: str | None, as_json: bool) -> None:
    """Import a CARv1 (from `jobc export`, or any CAR of IPLD blocks): every block's hash
    and every receipt's signature is checked; on the first failure nothing is kept."""
    from compiler.store.car import CarError, import_car

    with opened_store(store_location) as store:
        try:
            with sys.stdin.buffer if file == "-" else Path(file).open("rb") as stream:
                result = import_car(store, stream)
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror or exc}")
        except CarError as exc:
            fail(f"{file}: {exc}", "nothing was imported")
    if as_json:
        _print_json(result.to_json())
    else:
        click.echo(
            f"{file}: {result.blocks} blocks ({result.records} records, {result.jobs} jobs, "
            f"{result.receipts} receipts, {result.finals} final jobs)"
        )
