"""`jobc hash`: the CID `ipfs add --cid-version=1` gives a file, folder, URL or data: URI."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.cli.common import Failed, command, parse_size


@click.command(name="hash")
@click.argument("targets", nargs=-1, required=True, metavar="PATH|URL...")
@click.option("--refresh", is_flag=True, help="Hash again even where the cache knows the CID.")
@click.option("--store-content", is_flag=True, help="Put every block into the store.")
@click.option(
    "--max-download",
    metavar="SIZE",
    default="1GiB",
    show_default=True,
    help="Largest URL to fetch.",
)
@click.option(
    "--http-timeout",
    metavar="SECONDS",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Longest a URL may take to download.",
)
@command
def hash_(
    targets: tuple[str, ...],
    refresh: bool,
    store_content: bool,
    max_download: str,
    http_timeout: float,
) -> None:
    """Print the UnixFS CID of files, directories, URLs or data: URIs, as
    `ipfs add -n -r -H --cid-version=1 -Q` prints it (nothing is added anywhere)."""
    from contextlib import nullcontext

    from compiler import sources
    from compiler.ir import Link
    from compiler.oracles.content import Hasher, store_sink
    from compiler.sources import ContentError, Unpinnable

    limit = parse_size(max_download)
    store = None
    try:
        from compiler.store import open_store

        store = open_store()
    except Exception:  # no cache then: hashing still works
        store = None
    failed = False
    try:
        for target in targets:
            with store.transaction() if store is not None else nullcontext():
                hasher = Hasher(
                    cache=store,
                    refresh=refresh,
                    sink=store_sink(store) if store_content and store is not None else None,
                )
                try:
                    kind = sources.kind(target)
                    if kind == "http":
                        entry = hasher.url(target, max_bytes=limit, timeout=http_timeout)
                    elif kind == "data":
                        entry = hasher.data(sources.data_bytes(target))
                    else:
                        entry = hasher.path(
                            Path(sources.file_path(target) if kind == "file" else target)
                        )
                except (ContentError, Unpinnable) as exc:
                    message = exc.message if isinstance(exc, ContentError) else exc.reason
                    hint = exc.hint
                    click.echo(f"jobc: error: {target}: {message}", err=True)
                    if hint:
                        click.echo(f"  hint: {hint}", err=True)
                    failed = True
                    continue
            cid = str(Link(entry.cid))
            click.echo(cid if len(targets) == 1 else f"{cid}  {target}")
    finally:
        if store is not None:
            store.close()
    if failed:
        raise Failed
