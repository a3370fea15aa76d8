"""The `jobc` command line.

Exit codes (docs/cli.md): 0 success; 1 the input has errors, or verification failed;
2 usage error (bad options or arguments); 70 internal error (a bug in jobc: please
report it; `JOBC_DEBUG=1` shows the traceback).

Modules are imported inside the commands, so `jobc cid` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic
    from compiler.driver import Compiled, CompileOptions

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


class _Failed(Exception):
    """Some input had errors; they were already reported."""


def _color(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


class Reporter:
    """Prints diagnostics with their source lines, or collects them for --json."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.sources: dict[str, str] = {}
        self.collected: list[dict[str, Any]] = []

    def remember(self, name: str, raw: bytes) -> None:
        self.sources[name] = raw.decode("utf-8", errors="replace")

    def report(self, diags: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        from compiler.diagnostics import render

        for d in diags:
            if self.as_json:
                self.collected.append(d.to_json())
                continue
            source = self.sources.get(d.span.file) if d.span else None
            click.echo(render(d, source, color=_color(sys.stderr)), err=True)


def _read(path: str) -> tuple[str, bytes]:
    from compiler.diagnostics import Span, SpecError, error

    if path == "-":
        return "<stdin>", sys.stdin.buffer.read()
    try:
        return path, Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(
            error(f"cannot read {path}: {exc.strerror or exc}", span=Span(path, 1, 1), code="io")
        ) from None


def _compile_each(
    files: tuple[str, ...], options: CompileOptions, reporter: Reporter
) -> Iterator[tuple[str, Compiled | None]]:
    """Compile every file, reporting diagnostics; yields (name, result or None on errors)."""
    from compiler.diagnostics import SpecError
    from compiler.driver import compile_bytes

    for path in files:
        try:
            name, raw = _read(path)
            reporter.remember(name, raw)
            compiled = compile_bytes(raw, name, options)
        except SpecError as exc:
            reporter.report(exc.diagnostics)
            yield path, None
            continue
        reporter.report(compiled.diagnostics)
        yield path, compiled


def _options(strict: bool, passes: str | None) -> CompileOptions:
    from compiler.driver import CompileOptions
    from compiler.passes import parse_pipeline

    world = _world()
    if not world.get("insecure_registries"):
        world.pop("insecure_registries", None)  # click gives () for a repeatable option
    pipeline = parse_pipeline(passes) if passes else None
    image_options = {k: True for k in ("require_pinned", "verify_digests") if world.pop(k, None)}
    if image_options:
        from compiler.passes import configure

        pipeline = configure(pipeline, "resolve-images", image_options)
    return CompileOptions(
        strict=strict,
        passes=pipeline,
        offline=bool(world.pop("offline", False)),
        refresh=bool(world.pop("refresh", False)),
        settings=world,
        session={},
    )


_WORLD = "jobc.world"
"""Where the outside-world options (`WORLD_OPTIONS`) of the running command are kept."""


def _world() -> dict[str, Any]:
    """The outside-world options given to the running command: offline, refresh, and the
    oracles' settings (`allow_outside`, `store_content`, `max_download`, `http_timeout`)."""
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get(_WORLD, {})) if ctx is not None else {}


def _keep(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_WORLD, {})[param.name] = value


def _size(text: str) -> int:
    """A byte count: `1000000`, `512MiB`, `2GiB`, `10MB`."""
    units = {
        "": 1,
        "B": 1,
        "K": 1000,
        "KB": 1000,
        "M": 10**6,
        "MB": 10**6,
        "G": 10**9,
        "GB": 10**9,
        "KIB": 1 << 10,
        "MIB": 1 << 20,
        "GIB": 1 << 30,
        "TIB": 1 << 40,
    }
    number = text.strip().rstrip("bBiIkKmMgGtT")
    unit = text.strip()[len(number) :].upper()
    if not number.isdigit() or unit not in units:
        raise click.BadParameter(f"{text!r} is not a size (write e.g. 500MiB or 2GiB)")
    return int(number) * units[unit]


def _image_option(*decls: str, **kwargs: Any) -> Callable[[Any], Any]:
    return click.option(*decls, expose_value=False, callback=_keep, default=None, **kwargs)


_IMAGE_OPTIONS = [
    _image_option(
        "--require-pinned",
        "require_pinned",
        is_flag=True,
        help="An image left unpinned (offline, not in the cache) is an error.",
    ),
    _image_option(
        "--verify-digests",
        "verify_digests",
        is_flag=True,
        help="Check that images pinned by digest exist in their registry with that digest.",
    ),
    _image_option(
        "--lock",
        "lock",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="Resolve images only from this lock file (`jobc lock`): no registry is asked.",
    ),
    _image_option(
        "--registries-conf",
        "registries_conf",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="A registries.conf for skopeo: mirrors, aliases, insecure registries "
        "(default $CONTAINERS_REGISTRIES_CONF).",
    ),
    _image_option(
        "--authfile",
        "authfile",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="Registry credentials, in skopeo's auth.json format (never printed).",
    ),
    _image_option(
        "--insecure-registry",
        "insecure_registries",
        metavar="HOST[:PORT]",
        multiple=True,
        help="Reach this registry without TLS verification (repeatable).",
    ),
    _image_option(
        "--registry-timeout",
        "registry_timeout",
        metavar="SECONDS",
        type=click.FloatRange(min=0, min_open=True),
        help="Longest one registry call may take (default 30).",
    ),
]
"""The options of image resolution (the resolve-images pass and the registry oracle)."""


def _world_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Add the options that say how to reach the outside world (content, registries)."""
    options = [
        click.option(
            "--offline",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_keep,
            help="Fetch nothing (no URL, no registry): what needs it stays unpinned.",
        ),
        click.option(
            "--refresh",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_keep,
            help="Bypass the caches (file hashes, image resolutions): hash and ask again.",
        ),
        click.option(
            "--allow-outside",
            "allow_outside",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_keep,
            help="Let file sources leave the spec's folder (through .. or a symlink), "
            "and hash absolute host paths that exist here.",
        ),
        click.option(
            "--store-content",
            "store_content",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_keep,
            help="Put every block of the hashed content into the store (for CAR export).",
        ),
        click.option(
            "--max-download",
            "max_download",
            metavar="SIZE",
            default=None,
            expose_value=False,
            callback=lambda ctx, param, value: _keep(
                ctx, param, None if value is None else _size(value)
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
            callback=_keep,
            help="Longest a URL source may take to download (default 600).",
        ),
        *_IMAGE_OPTIONS,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@contextmanager
def _guard() -> Iterator[None]:
    """Turn a bug into a one-line message and exit code 70 (no traceback unless JOBC_DEBUG)."""
    from compiler.diagnostics import SpecError, render

    try:
        yield
    except _Failed:
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


def _command(fn: Callable[..., None]) -> Callable[..., None]:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with _guard():
            fn(*args, **kwargs)

    return wrapper


STRICT = click.option("--strict", is_flag=True, help="Unknown fields are errors, not warnings.")
PASSES = click.option(
    "-p",
    "--passes",
    metavar="PASSES",
    help="Passes to run after parse, with options: "
    "'normalize' or 'normalize,resolve-images{refresh=true}'.",
)
JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
FILES = click.argument("files", nargs=-1, required=True, metavar="FILE...")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jobc", prog_name="jobc")
def main() -> None:
    """jobc: compile compute jobs into canonical, content-addressed jobs."""


@main.command()
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
@_world_options
@JSON
@_command
def compile(
    files: tuple[str, ...],
    output: str | None,
    fmt: str,
    strict: bool,
    passes: str | None,
    as_json: bool,
) -> None:
    """Compile job specs into compiled documents (final CID, chain, job)."""
    from compiler.emitters.compiled import dumps

    reporter = Reporter(as_json)
    results = list(_compile_each(files, _options(strict, passes), reporter))
    compiled = [c for _, c in results if c is not None]
    failed = len(compiled) != len(results)
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
        raise _Failed


@main.command()
@FILES
@click.option("--original", is_flag=True, help="Print the original CID (right after parsing).")
@STRICT
@PASSES
@_world_options
@JSON
@_command
def cid(
    files: tuple[str, ...], original: bool, strict: bool, passes: str | None, as_json: bool
) -> None:
    """Print the final job CID of each spec."""
    reporter = Reporter(as_json)
    rows: list[dict[str, Any]] = []
    failed = False
    for path, c in _compile_each(files, _options(strict, passes), reporter):
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
        raise _Failed


@main.command()
@FILES
@STRICT
@PASSES
@_world_options
@JSON
@_command
def check(files: tuple[str, ...], strict: bool, passes: str | None, as_json: bool) -> None:
    """Report diagnostics only; exit 1 if any file has errors (a pre-commit hook)."""
    reporter = Reporter(as_json)
    failed = [
        path for path, c in _compile_each(files, _options(strict, passes), reporter) if c is None
    ]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "diagnostics": reporter.collected}, indent=2))
    elif not failed:
        n = len(files)
        click.echo(f"{n} file{'s' if n != 1 else ''} ok", err=True)
    if failed:
        raise _Failed


@main.command()
@click.argument("file", metavar="FILE|COMPILED")
@STRICT
@PASSES
@_world_options
@JSON
@_command
def explain(file: str, strict: bool, passes: str | None, as_json: bool) -> None:
    """Show the chain from the document to the final job, as a tree."""
    from compiler.emitters import explain as explainer
    from compiler.emitters.compiled import NotCompiled, load_document, to_document

    name, raw = _read(file)
    try:
        doc = load_document(raw)
        data = doc_data = doc.raw
    except NotCompiled:
        doc_data = None
        reporter = Reporter(as_json)
        results = list(_compile_each((file,), _options(strict, passes), reporter))
        compiled = results[0][1]
        if compiled is None:
            raise _Failed from None
        data = to_document(compiled)
    if as_json:
        click.echo(json.dumps(explainer.chain_json(data), indent=2))
    else:
        explainer.print_tree(data, name if data is not doc_data else "")


@main.command()
@click.argument("compiled", metavar="COMPILED")
@click.option(
    "--spec",
    type=click.Path(dir_okay=False),
    help="The original spec: also check its document CID and re-parse it.",
)
@JSON
@_command
def verify(compiled: str, spec: str | None, as_json: bool) -> None:
    """Replay a compiled document's chain from its facts and check every CID."""
    from compiler.emitters.compiled import NotCompiled, load_document
    from compiler.verify import verify_document

    name, raw = _read(compiled)
    try:
        doc = load_document(raw)
    except NotCompiled as exc:
        click.echo(f"{name}: error: {exc}", err=True)
        raise _Failed from None
    spec_raw = _read(spec)[1] if spec else None
    checks = verify_document(doc, spec_raw, spec or "")
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
        raise _Failed


@main.command(name="hash")
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
@_command
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

    limit = _size(max_download)
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
        raise _Failed


@main.command()
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
@_world_options
@JSON
@_command
def lock(files: tuple[str, ...], output: str, strict: bool, as_json: bool) -> None:
    """Resolve the images of specs and write their digests to a lock file, which
    `jobc compile --lock FILE` then uses without asking any registry."""
    from compiler.oracles.registry import lock_document

    reporter = Reporter(as_json)
    facts: list[Any] = []
    failed = False
    for _path, c in _compile_each(files, _options(strict, None), reporter):
        if c is None:
            failed = True
            continue
        for record in c.chain:
            if record.pass_name == "resolve-images":
                facts.extend(record.facts)
    if as_json and reporter.collected:
        click.echo(json.dumps({"diagnostics": reporter.collected}, indent=2), err=True)
    if failed:
        raise _Failed
    Path(output).write_bytes(lock_document(facts))
    n = len({(f["ref"], f.get("platform", "")) for f in facts})
    click.echo(f"{output}: {n} image{'s' if n != 1 else ''}", err=True)


@main.command()
@_command
def home() -> None:
    """Print the data dir (the store, caches and keys live there)."""
    from compiler.home import data_dir

    click.echo(str(data_dir()))


def run() -> NoReturn:
    """Entry point for `python -m compiler`."""
    main()
    sys.exit(0)
