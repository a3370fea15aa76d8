"""`jobc gateway`: run the gateway in front of a Bacalhau orchestrator (docs/gateway.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from compiler.cli.common import IMAGE_OPTIONS, command, parse_size, world


def _options(fn: Any) -> Any:
    for option in reversed(IMAGE_OPTIONS):
        fn = option(fn)
    return fn


@click.command()
@click.option(
    "--upstream",
    required=True,
    metavar="URL",
    help="The orchestrator to forward to, e.g. http://127.0.0.1:1234.",
)
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to listen.",
)
@click.option("--store", metavar="PATH|URL", help="The store (default: SQLite in the data dir).")
@click.option(
    "--memo",
    type=click.Choice(["on", "off", "header-only"]),
    default="on",
    show_default=True,
    help="Answer strict/unordered jobs that have a receipt signed by a trusted node "
    "without forwarding them (on), only say so in X-Jobc-Memo (header-only), or never "
    "look (off). Trusted: this node's key and the data dir's trusted-nodes.",
)
@click.option("--strict", is_flag=True, help="Unknown fields in a submitted job are errors.")
@click.option(
    "--lower/--no-lower",
    default=False,
    show_default=True,
    help="Lower Rust and C sources to WASM (runs a compiler on what clients send).",
)
@click.option(
    "--offline", is_flag=True, help="Ask no registry: images resolve from the cache only."
)
@click.option(
    "--fetch-urls",
    is_flag=True,
    help="Download http(s) inputs to hash them (off: clients could make the gateway "
    "reach its own network).",
)
@click.option(
    "--max-download",
    metavar="SIZE",
    default="1GiB",
    show_default=True,
    help="Largest URL input fetched under --fetch-urls.",
)
@click.option(
    "--max-body",
    metavar="SIZE",
    default="1MiB",
    show_default=True,
    help="Largest submission or document read.",
)
@click.option(
    "--compile-timeout",
    metavar="SECONDS",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    help="Time budget of one request's compile (waiting for a slot included).",
)
@click.option(
    "--max-compiles",
    metavar="N",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Compiles running at once; more wait in line.",
)
@click.option(
    "--max-connections",
    metavar="N",
    type=click.IntRange(min=1),
    help="Connections served at once; more are answered 503 (default: no limit).",
)
@click.option(
    "--upstream-timeout",
    metavar="SECONDS",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="How long to wait for the upstream's answer.",
)
@click.option(
    "--admin-token-file",
    type=click.Path(dir_okay=False, exists=True),
    help="A file holding the bearer token admin actions need (or set JOBC_ADMIN_TOKEN); "
    "without one, admin actions are off.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@_options
@command
def gateway(
    upstream: str,
    listen: str,
    store: str | None,
    memo: str,
    strict: bool,
    lower: bool,
    offline: bool,
    fetch_urls: bool,
    max_download: str,
    max_body: str,
    compile_timeout: float,
    max_compiles: int,
    max_connections: int | None,
    upstream_timeout: float,
    admin_token_file: str | None,
    log_level: str,
) -> None:
    """Compile, pin and stamp Bacalhau jobs on their way to an orchestrator.

    A reverse proxy: job submissions (PUT /api/v1/orchestrator/jobs) are compiled with
    the gateway's policy, their images pinned and their CIDs put in Meta; a job that does
    not compile is refused with its diagnostics. Everything else passes through. jobc's
    own API is under /jobc/v1/ (OpenAPI: /jobc/v1/openapi.json), metrics at /metrics.
    """
    from compiler.gateway.config import GatewayConfig
    from compiler.gateway.server import parse_listen, serve

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    given = world()
    require_pinned = bool(given.pop("require_pinned", False))
    if given.pop("verify_digests", False):
        raise click.UsageError("--verify-digests is not a gateway option")
    if not given.get("insecure_registries"):
        given.pop("insecure_registries", None)
    token = _admin_token(admin_token_file)
    try:
        config = GatewayConfig(
            upstream=upstream,
            store=store,
            strict=strict,
            require_pinned=require_pinned,
            skip_passes=frozenset() if lower else frozenset({"lower"}),
            offline=offline,
            fetch_urls=fetch_urls,
            settings={**given, "max_download": parse_size(max_download)},
            memo=memo,  # type: ignore[arg-type]
            max_body=parse_size(max_body),
            compile_timeout=compile_timeout,
            max_compiles=max_compiles,
            upstream_timeout=upstream_timeout,
            admin_token=token,
        )
        from compiler.gateway.proxy import ReverseProxy

        ReverseProxy(upstream)  # checks the URL before the server starts
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    serve(config, host, port, max_connections=max_connections, log_level=log_level)


def _admin_token(path: str | None) -> str:
    """The admin token: the file's first line, else $JOBC_ADMIN_TOKEN, else none."""
    if path:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        token = lines[0].strip() if lines else ""
        if not token:
            raise click.BadParameter(f"{path} holds no token", param_hint="--admin-token-file")
        return token
    return os.environ.get("JOBC_ADMIN_TOKEN", "").strip()
