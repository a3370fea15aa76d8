"""What every `jobc` command shares: exit codes, diagnostics output, reading inputs,
compile options from the command line, and the guard that turns a bug into exit 70.

Exit codes (docs/cli.md): 0 success; 1 the input has errors, or verification failed;
2 usage error (bad options or arguments); 70 internal error (a bug in jobc: please
report it; `JOBC_DEBUG=1` shows the traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic
    from compiler.driver import Compiled, CompileOptions
    from compiler.store import Store

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


class Failed(Exception):
    """Some input had errors; they were already reported."""


def use_color(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


class Reporter:
    """Prints diagnostics with their source lines, or collects them for --json."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.sources: dict[str, str] = {}
        self.collected: list[dict[str, Any]] = []

    def remember(self, name: str, raw: bytes) -> None:
        self.sources[name] = raw.decode("utf-8", errors="replace")

    def report(self, diags: Sequence[Diagnostic]) -> None:
        from compiler.diagnostics import render

        for d in diags:
            if self.as_json:
                self.collected.append(d.to_json())
                continue
            source = self.source(d.span.file) if d.span else None
            click.echo(render(d, source, color=use_color(sys.stderr)), err=True)

    def source(self, name: str) -> str | None:
        """The text of a file a diagnostic points into: a spec read, or a file on disk
        (a compiler's diagnostic points into the program's source)."""
        if name not in self.sources:
            try:
                path = Path(name)
                text = None
                if path.is_file() and path.stat().st_size <= 4 << 20:
                    text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = None
            if text is None:
                return None
            self.sources[name] = text
        return self.sources[name]


def read_input(path: str) -> tuple[str, bytes]:
    from compiler.diagnostics import Span, SpecError, error

    if path == "-":
        return "<stdin>", sys.stdin.buffer.read()
    try:
        return path, Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(
            error(f"cannot read {path}: {exc.strerror or exc}", span=Span(path, 1, 1), code="io")
        ) from None


def compile_each(
    files: tuple[str, ...], options: CompileOptions, reporter: Reporter
) -> Iterator[tuple[str, Compiled | None]]:
    """Compile every file, reporting diagnostics; yields (name, result or None on errors)."""
    from compiler.diagnostics import SpecError
    from compiler.driver import compile_bytes

    for path in files:
        try:
            name, raw = read_input(path)
            reporter.remember(name, raw)
            compiled = compile_bytes(raw, name, options)
        except SpecError as exc:
            reporter.report(exc.diagnostics)
            yield path, None
            continue
        reporter.report(compiled.diagnostics)
        yield path, compiled


def compile_options(strict: bool, passes: str | None) -> CompileOptions:
    """The compile options the running command was given (`--strict`, `-p`, world options)."""
    from compiler.driver import CompileOptions
    from compiler.passes import parse_pipeline

    given = world()
    if not given.get("insecure_registries"):
        given.pop("insecure_registries", None)  # click gives () for a repeatable option
    pipeline = parse_pipeline(passes) if passes else None
    image_options = {k: True for k in ("require_pinned", "verify_digests") if given.pop(k, None)}
    if image_options:
        from compiler.passes import configure

        pipeline = configure(pipeline, "resolve-images", image_options)
    if given.pop("no_lower", None):
        from compiler.passes import configure

        pipeline = configure(pipeline, "lower", {"enabled": False})
    return CompileOptions(
        strict=strict,
        passes=pipeline,
        offline=bool(given.pop("offline", False)),
        refresh=bool(given.pop("refresh", False)),
        store=given.pop("store", None),
        settings=given,
        session={},
    )


_WORLD = "jobc.world"
"""Where the outside-world options (`WORLD_OPTIONS`) of the running command are kept."""


def world() -> dict[str, Any]:
    """The outside-world options given to the running command: offline, refresh, and the
    oracles' settings (`allow_outside`, `store_content`, `max_download`, `http_timeout`)."""
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get(_WORLD, {})) if ctx is not None else {}


def keep(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_WORLD, {})[param.name] = value


def parse_size(text: str) -> int:
    """A byte count: `1000000`, `512MiB`, `2GiB`, `10MB`, `64Mi`."""
    from compiler.quantities import parse_size as parse

    try:
        return parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def image_option(*decls: str, **kwargs: Any) -> Callable[[Any], Any]:
    return click.option(*decls, expose_value=False, callback=keep, default=None, **kwargs)


IMAGE_OPTIONS = [
    image_option(
        "--require-pinned",
        "require_pinned",
        is_flag=True,
        help="An image left unpinned (offline, not in the cache) is an error.",
    ),
    image_option(
        "--verify-digests",
        "verify_digests",
        is_flag=True,
        help="Check that images pinned by digest exist in their registry with that digest.",
    ),
    image_option(
        "--lock",
        "lock",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="Resolve images only from this lock file (`jobc lock`): no registry is asked.",
    ),
    image_option(
        "--registries-conf",
        "registries_conf",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="A registries.conf for skopeo: mirrors, aliases, insecure registries "
        "(default $CONTAINERS_REGISTRIES_CONF).",
    ),
    image_option(
        "--authfile",
        "authfile",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="Registry credentials, in skopeo's auth.json format (never printed).",
    ),
    image_option(
        "--insecure-registry",
        "insecure_registries",
        metavar="HOST[:PORT]",
        multiple=True,
        help="Reach this registry without TLS verification (repeatable).",
    ),
    image_option(
        "--registry-timeout",
        "registry_timeout",
        metavar="SECONDS",
        type=click.FloatRange(min=0, min_open=True),
        help="Longest one registry call may take (default 30).",
    ),
]
"""The options of image resolution (the resolve-images pass and the registry oracle)."""


def world_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Add the options that say how to reach the outside world (content, registries)."""
    options = [
        click.option(
            "--offline",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=keep,
            help="Fetch nothing (no URL, no registry): what needs it stays unpinned.",
        ),
        click.option(
            "--refresh",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=keep,
            help="Bypass the caches (file hashes, image resolutions): hash and ask again.",
        ),
        click.option(
            "--allow-outside",
            "allow_outside",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=keep,
            help="Let file sources leave the spec's folder (through .. or a symlink), "
            "and hash absolute host paths that exist here.",
        ),
        click.option(
            "--store",
            "store",
            metavar="PATH|URL",
            default=None,
            expose_value=False,
            callback=keep,
            help=STORE_HELP,
        ),
        click.option(
            "--store-content",
            "store_content",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=keep,
            help="Put every block of the hashed content into the store (for CAR export).",
        ),
        click.option(
            "--max-download",
            "max_download",
            metavar="SIZE",
            default=None,
            expose_value=False,
            callback=lambda ctx, param, value: keep(
                ctx, param, None if value is None else parse_size(value)
            ),
            help="Largest URL source to fetch (default 1GiB).",
        ),
        click.option(
            "--http-timeout",
            "http_timeout",
            metavar="SECONDS",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            expose_value=False,
            callback=keep,
            help="Longest a URL source may take to download (default 600).",
        ),
        *IMAGE_OPTIONS,
        click.option(
            "--no-lower",
            "no_lower",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=keep,
            help="Run no compiler: Rust and C jobs stay source jobs (for gateways).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@contextmanager
def guard() -> Iterator[None]:
    """Turn a bug into a one-line message and exit code 70 (no traceback unless JOBC_DEBUG)."""
    from compiler.diagnostics import SpecError, render

    try:
        yield
    except Failed:
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


def command(fn: Callable[..., None]) -> Callable[..., None]:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with guard():
            fn(*args, **kwargs)

    return wrapper


STRICT = click.option("--strict", is_flag=True, help="Unknown fields are errors, not warnings.")
STORE_HELP = (
    "The store: a SQLite file, or postgresql://user@host/db "
    "(default $JOBC_STORE, else store.sqlite in the data dir)."
)
STORE = click.option("--store", "store_location", metavar="PATH|URL", help=STORE_HELP)
"""`--store` for commands that only read or write the store (the query commands)."""
NO_STORE = click.option(
    "--no-store", is_flag=True, help="Do not record what was compiled in the store."
)


@contextmanager
def opened_store(location: str | None) -> Iterator[Store]:
    """The store named on the command line, closed afterwards; a store that cannot be
    opened, or a query without an answer, is a clear error (exit 1), not a traceback."""
    from compiler.store import StoreError, open_store
    from compiler.store.queries import QueryError

    try:
        store = open_store(location)
    except StoreError as exc:
        fail(str(exc), "check --store (or $JOBC_STORE)")
    try:
        yield store
    except QueryError as exc:
        fail(exc.message, exc.hint)
    finally:
        store.close()


def fail(message: str, hint: str = "") -> NoReturn:
    """Print `jobc: error: message` (and a hint) and exit 1."""
    click.echo(f"jobc: error: {message}" + (f"\n  hint: {hint}" if hint else ""), err=True)
    raise Failed


PASSES = click.option(
    "-p",
    "--passes",
    metavar="PASSES",
    help="Passes to run after parse, with options: "
    "'normalize' or 'normalize,resolve-images{refresh=true}'.",
)
JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
FILES = click.argument("files", nargs=-1, required=True, metavar="FILE...")
