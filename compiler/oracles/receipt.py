"""The receipt oracle: what content an already-run job produced at an output path.

Answers `ask("receipt", {"job": Link, "path": "/outputs/x"})` with `{"cid": Link}` for
the `resolve-awaits` pass, from the store's receipts of that job, counting only
successful runs (exit 0) signed by a node this one trusts (itself and the data dir's
`trusted-nodes`: `compiler.runtime.receipts.trusted_nodes`). The path is an output path
of the receipt, or a path inside an output directory whose UnixFS blocks the store
holds. Trusted receipts that disagree give no answer: the job is not deterministic, or
a node is wrong, and the choice is not jobc's to make.

Settings (`CompileOptions.settings`): `trusted_nodes`, more node keys to trust.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from compiler.ir import FrozenMap, Link
from compiler.oracles import Fact, OracleError, OracleUnavailable

if TYPE_CHECKING:
    from compiler.oracles.live import LiveContext
    from compiler.runtime.receipts import Receipt
    from compiler.store import Store


def handler(context: LiveContext) -> Callable[[Fact], Fact]:
    """The `receipt` handler of a live compile (registered in `oracles.live.FACTORIES`)."""
    from compiler.runtime.receipts import trusted_nodes

    trusted = trusted_nodes(context.settings.get("trusted_nodes", ()))

    def answer(question: Fact) -> Fact:
        job, path = question.get("job"), question.get("path")
        if not isinstance(job, Link) or not isinstance(path, str):
            raise OracleError("a receipt question needs a job CID and an output path")
        try:
            store = context.store
        except Exception as exc:  # no store, no receipts: the await stays
            raise OracleUnavailable(f"the store cannot be opened ({exc})") from None
        return FrozenMap({"cid": output_cid(store, job, path, trusted)})

    return answer


def output_cid(store: Store, job: Link, path: str, trusted: frozenset[str]) -> Link:
    """The content CID at `path` that the trusted, successful receipts of `job` agree on."""
    receipts = [r for r in store.receipts(job) if r.exit == 0 and r.node in trusted]
    if not receipts:
        raise OracleUnavailable("no trusted receipt of a successful run")
    found: dict[Link, list[str]] = {}
    for receipt in receipts:
        cid = _at(store, receipt, path)
        found.setdefault(cid, []).append(receipt.node)
    if len(found) > 1:
        claims = "; ".join(f"{c} (by {', '.join(nodes)})" for c, nodes in found.items())
        raise OracleError(
            f"its trusted receipts disagree: {claims}",
            hint="the job is not deterministic, or a node is wrong (see `jobc reputation`)",
            code="receipts-disagree",
        )
    return next(iter(found))


def _at(store: Store, receipt: Receipt, path: str) -> Link:
    """The CID at `path` in a receipt's outputs (inside an output directory if need be)."""
    from compiler import unixfs_read

    exact = receipt.outputs.get(path)
    if exact is not None:
        return exact
    for output in sorted(receipt.outputs, key=len, reverse=True):
        prefix = output.rstrip("/") + "/"
        if path.startswith(prefix):
            root = receipt.outputs[output]

            def get(raw: bytes) -> bytes | None:
                return store.get_block(Link(raw))

            try:
                inner = unixfs_read.resolve(root.raw, path[len(prefix) :], get)
            except unixfs_read.UnixFSError:
                inner = None
            if inner is None:
                raise OracleUnavailable(
                    f"{path} is inside the output {output} ({root}), whose directory "
                    "blocks are not in the store"
                )
            return Link(inner)
    raise OracleError(
        f"its receipts name no output {path}",
        hint="outputs: " + (", ".join(sorted(receipt.outputs)) or "none"),
        code="no-such-output",
    )
