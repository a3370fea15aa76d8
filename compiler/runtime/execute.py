"""Run a compiled WASM job and sign its receipt (DESIGN §6).

A job's run happens in a fresh folder: each input is written there from the store's
blocks at its target (read-only to the program), each output path is an empty folder
(writable), and the program sees exactly those folders, sorted by path (`Preopen`):
a folder input at its target, a file input through its parent folder, shared with the
file inputs beside it. Nothing else of the host is visible. Afterwards every output
folder, stdout and stderr are hashed as `ipfs add --cid-version=1` would (UnixFS) and
their blocks kept in the store, so a later memo hit can write them out again
(`jobc run -o DIR`); the receipt names them, is signed with the node's key and stored,
all in one transaction: a run that does not end normally stores nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from compiler import identity
from compiler.ir import (
    Await,
    DockerTask,
    FrozenMap,
    Job,
    Link,
    SourceTask,
    Value,
    WasmTask,
    unpinned,
)
from compiler.runtime.receipts import NodeKey, Receipt, timestamp
from compiler.runtime.wasm import (
    PROFILE,
    Limits,
    Preopen,
    RunError,
    load_module,
    run_module,
    wasmtime_version,
)
from compiler.sources import ContentError

if TYPE_CHECKING:
    from compiler.store import Store


@dataclass(frozen=True, slots=True)
class Ran:
    """A job that ran: its signed receipt (stored) and the receipt's CID."""

    receipt: Receipt
    cid: Link


def runnable(job: Job) -> WasmTask:
    """The job's WASM task, or a RunError that says why this runner cannot run it."""
    task = job.task
    if isinstance(task, DockerTask):
        raise RunError(
            "docker jobs cannot run here: this machine has no container engine",
            "export the job for a Bacalhau network: jobc export --to bacalhau SPEC",
            "docker",
        )
    if isinstance(task, SourceTask):
        raise RunError(
            f"the {task.engine} source was not lowered to WASM, so it cannot run",
            "the compile's warnings say why: lowering needs the toolchain (see "
            "docs/runtime.md) and is off under --no-lower",
            "not-lowered",
        )
    if not isinstance(task, WasmTask):
        raise RunError(
            f"no runner for engine {task.engine!r} here",
            "jobc runs wasm jobs, and rust and c jobs lowered to wasm",
            "engine",
        )
    left = unpinned(job)
    if left:
        pointer, ref = left[0]
        raise RunError(
            f"the job is not pinned: {pointer} is still {ref!r}",
            "compile where it can be pinned (online, with the files at hand)",
            "unpinned",
        )
    if job.network is not None:
        raise RunError(
            f"the job asks for network access ({job.network.mode}); this runner gives none",
            code="network",
        )
    return task


def runner_info() -> FrozenMap[Value]:
    """The receipt's `runner`: what ran the job."""
    from compiler import __version__

    return FrozenMap(
        {
            "name": "jobc",
            "version": __version__,
            "engine": "wasmtime",
            "engine_version": wasmtime_version(),
            "profile": PROFILE,
        }
    )


def run_job(
    job: Job,
    store: Store,
    key: NodeKey,
    *,
    limits: Limits | None = None,
    nodes: Collection[str] | None = None,
    job_cid: Link | None = None,
) -> Ran:
    """Run `job` once and store its signed receipt (`limits`: the defaults when None).
    `nodes` are trusted for the receipts of the jobs its inputs await (None: this node's
    `trusted_nodes()`). Raises RunError
    when it cannot run or does not end normally (then nothing is stored)."""
    task = runnable(job)
    cid = job_cid if job_cid is not None else identity.job_cid(job)
    argv, params = _arguments(task)
    for name, value in task.env.items():
        if "\0" in name or "\0" in value or "=" in name:
            raise RunError(f"the environment variable {name!r} cannot be passed", code="env")
    with tempfile.TemporaryDirectory(prefix="jobc-run-") as tmp:
        root, std = Path(tmp, "root"), Path(tmp, "std")
        root.mkdir()
        std.mkdir()
        if nodes is None and any(isinstance(i.source, Await) for i in job.inputs):
            from compiler.runtime.receipts import trusted_nodes

            nodes = trusted_nodes()
        preopens = _layout(job, store, root, nodes or ())
        stdin = std / "stdin"
        if task.stdin is None:
            stdin.touch()
        else:
            assert isinstance(task.stdin, Link)
            _export(task.stdin, store, stdin, "stdin")
        module = load_module(_pinned(task.module), store)
        imports = [(name, load_module(_pinned(link), store)) for name, link in task.imports.items()]
        stdout, stderr = std / "stdout", std / "stderr"
        started = timestamp()
        outcome = run_module(
            module,
            seed=cid.raw,
            argv=argv,
            env=list(task.env.items()),
            preopens=preopens,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            imports=imports,
            entrypoint=task.entrypoint,
            params=params,
            limits=limits or Limits(),
        )
        finished = timestamp()
        if outcome.results:
            with stdout.open("a", encoding="utf-8") as file:
                file.writelines(f"{r}\n" for r in outcome.results)
        from compiler.oracles.content import store_path

        with store.transaction():
            outputs = {path: _hash(root / path.lstrip("/"), store) for path in job.outputs}
            receipt = key.sign(
                Receipt(
                    job=cid,
                    outputs=FrozenMap(outputs),
                    exit=outcome.exit,
                    stdout=Link(store_path(stdout, store).cid),
                    stderr=Link(store_path(stderr, store).cid),
                    runner=runner_info(),
                    node=key.node,
                    meta=FrozenMap(
                        {"started": started, "finished": finished, "fuel": outcome.fuel}
                    ),
                )
            )
            receipt_cid = store.put_receipt(receipt)
    return Ran(receipt, receipt_cid)


def _pinned(content: Link | str) -> Link:
    assert isinstance(content, Link), "runnable() checked that the job is pinned"
    return content


def _hash(path: Path, store: Store) -> Link:
    from compiler.oracles.content import store_path

    try:
        return Link(store_path(path, store).cid)
    except ContentError as exc:
        raise RunError(f"the output {path.name} cannot be hashed: {exc.message}") from None


def _arguments(task: WasmTask) -> tuple[list[str], list[int]]:
    """argv (after argv[0]) for `_start`, or the parameters of another entrypoint."""
    if task.entrypoint != "_start":
        params = []
        for i, arg in enumerate(task.args):
            if isinstance(arg, bool):
                params.append(int(arg))
            elif isinstance(arg, int):
                params.append(arg)
            else:
                raise RunError(
                    f"argument {i} ({_shown(arg)}) cannot be passed to the function "
                    f"`{task.entrypoint}`: only integers and booleans can",
                    code="entrypoint-args",
                )
        return [], params
    argv = []
    for i, arg in enumerate(task.args):
        if isinstance(arg, bool):
            text = "true" if arg else "false"
        elif isinstance(arg, int):
            text = str(arg)
        elif isinstance(arg, str):
            text = arg
        elif isinstance(arg, bytes):
            try:
                text = arg.decode("utf-8")
            except UnicodeDecodeError:
                raise RunError(
                    f"argument {i} is bytes that are not UTF-8: WASI argv cannot carry them",
                    code="args",
                ) from None
        else:
            raise RunError(
                f"argument {i} ({_shown(arg)}) cannot be a command-line argument",
                "a WASI command takes strings (integers and booleans are written out)",
                "args",
            )
        if "\0" in text:
            raise RunError(f"argument {i} holds a NUL character", code="args")
        argv.append(text)
    return argv, []


def _shown(value: Value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _export(link: Link, store: Store, dest: Path, what: str) -> None:
    from compiler.oracles.content import export

    try:
        export(link, store, dest, read_only=True)
    except ContentError as exc:
        raise RunError(f"cannot put {what} in place: {exc.message}", exc.hint, exc.code) from None


def _layout(job: Job, store: Store, root: Path, nodes: Collection[str]) -> list[Preopen]:
    """Write the inputs under `root`, make the output folders, and say what the program
    sees (one read-only folder per input or per folder of file inputs, one writable
    folder per output)."""
    targets = [i.target for i in job.inputs]
    for path in job.outputs:
        for target in targets:
            if _within(path, target) or _within(target, path):
                raise RunError(
                    f"the output {path} and the input {target} overlap: an input cannot be "
                    "written to, and an output starts empty",
                    code="layout",
                )
    for a in targets:
        for b in targets:
            if a != b and _within(a, b):
                raise RunError(f"the input {a} is inside the input {b}", code="layout")
    preopens: dict[str, Preopen] = {}
    for inp in job.inputs:
        link = inp.source if isinstance(inp.source, Link) else None
        if isinstance(inp.source, Await):
            link = _awaited(inp.source, store, nodes)
        assert link is not None, "runnable() checked that the job is pinned"
        host = root / inp.target.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        _export(link, store, host, f"the input {inp.target}")
        if host.is_dir() and not host.is_symlink():
            preopens[inp.target] = Preopen(host, inp.target)
        else:
            guest = inp.target.rsplit("/", 1)[0] or "/"
            preopens.setdefault(guest, Preopen(host.parent, guest))
    for path in job.outputs:
        host = root / path.lstrip("/")
        host.mkdir(parents=True, exist_ok=True)
        preopens[path] = Preopen(host, path, writable=True)
    return sorted(preopens.values(), key=lambda p: p.guest)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _awaited(source: Await, store: Store, nodes: Collection[str]) -> Link:
    """The content an awaited output holds, from the other job's trusted receipts (the
    receipt oracle's rule: successful runs, which must agree)."""
    from compiler.oracles import OracleError, OracleUnavailable
    from compiler.oracles.receipt import output_cid

    try:
        return output_cid(store, source.job, source.path, frozenset(nodes))
    except OracleUnavailable as exc:
        raise RunError(
            f"an input awaits job {source.job} ({source.path}): {exc}",
            "run that job first (jobc run its spec), or import its receipt and outputs",
            "await",
        ) from None
    except OracleError as exc:
        raise RunError(
            f"an input awaits job {source.job} ({source.path}): {exc.message}",
            exc.hint,
            "await",
        ) from None
