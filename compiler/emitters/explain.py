"""`jobc explain`: the chain from the document to the final job, as a tree."""

from __future__ import annotations

from typing import Any


def _cid(obj: Any) -> str:
    return str(obj["/"]) if isinstance(obj, dict) and "/" in obj else str(obj)


def _fact_text(fact: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_cid(v) if isinstance(v, dict) else v}" for k, v in fact.items())


def chain_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The chain as plain data: document → each pass → final."""
    return {
        "document": {"format": doc["document"]["format"], "cid": _cid(doc["document"]["cid"])},
        "original": _cid(doc["original"]),
        "final": _cid(doc["cid"]),
        "pinned": doc.get("pinned", False),
        "steps": [
            {
                "pass": r["pass"],
                "version": r["version"],
                "from": _cid(r["from"]),
                "to": _cid(r["to"]),
                "record": _cid(r.get("cid", "")),
                "facts": r.get("facts", []),
            }
            for r in doc["chain"]
        ],
    }


def any_json(doc: dict[str, Any]) -> dict[str, Any]:
    """`chain_json` of a job, or of every job of a workflow (with the workflow's CID)."""
    if "workflow" not in doc:
        return chain_json(doc)
    return {
        "workflow": _cid(doc["cid"]),
        "original": _cid(doc["original"]),
        "document": {"format": doc["document"]["format"], "cid": _cid(doc["document"]["cid"])},
        "jobs": {name: _cid(cid) for name, cid in doc["workflow"].items()},
        "chains": [chain_json(job) for job in doc["jobs"]],
    }


def _console() -> Any:
    """A rich console; not a terminal (a pipe, a file, CI) gets lines that never wrap a CID."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=_UNWRAPPED)
    return console


# Wide enough for any step line (a CID is 59 characters, a fact a few of them).
_UNWRAPPED = 400


def print_any(doc: dict[str, Any], name: str) -> None:
    """Print a job's chain, or a workflow's jobs and each one's chain."""
    console = _console()
    if "workflow" not in doc:
        console.print(_tree(doc, name))
        return
    pinned = "[green]pinned[/]" if doc.get("pinned") else "[yellow]not pinned[/]"
    console.print(f"[bold]{_cid(doc['cid'])}[/]  workflow ({pinned})")
    for job_name, cid in doc["workflow"].items():
        console.print(f"  {job_name}: {_cid(cid)}")
    for job in doc["jobs"]:
        job_name = job.get("meta", {}).get("name", "")
        console.print()
        console.print(_tree(job, f"{name}#{job_name}" if name else f"#{job_name}"))


def print_tree(doc: dict[str, Any], name: str) -> None:
    """Print one job's chain."""
    _console().print(_tree(doc, name))


def _tree(doc: dict[str, Any], name: str) -> Any:
    """The chain as a rich tree: the final job at the root, the document, then one branch
    per pass in the order they ran, each with the job it made, its record and its facts.

    The steps are siblings, not nested one level deeper each: a chain is a sequence, and a
    long one must not walk off the right edge.
    """
    from rich.tree import Tree

    data = chain_json(doc)
    pinned = "[green]pinned[/]" if data["pinned"] else "[yellow]not pinned[/]"
    tree = Tree(f"[bold]{data['final']}[/]  final job ({pinned})")
    where = f"  [dim]{name}[/]" if name else ""
    tree.add(f"{data['document']['cid']}  document ({data['document']['format']}){where}")
    last = len(data["steps"]) - 1
    for i, step in enumerate(data["steps"]):
        if step["pass"] == "parse":
            made = "original job"
        elif i == last:
            made = "final job"
        else:
            made = "job"
        changed = step["from"] != step["to"]
        arrow = "→" if changed else "= [dim](unchanged)[/]"
        branch = tree.add(f"[cyan]{step['pass']}@{step['version']}[/] {arrow} {step['to']}  {made}")
        branch.add(f"[dim]record {step['record']}[/]")
        for fact in step["facts"]:
            branch.add(f"[dim]fact[/] {_fact_text(fact)}")
    return tree
