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


def print_any(doc: dict[str, Any], name: str) -> None:
    """Print a job's chain, or a workflow's jobs and each one's chain."""
    if "workflow" not in doc:
        print_tree(doc, name)
        return
    from rich.console import Console

    console = Console()
    pinned = "[green]pinned[/]" if doc.get("pinned") else "[yellow]not pinned[/]"
    console.print(f"[bold]{_cid(doc['cid'])}[/]  workflow ({pinned})")
    for job_name, cid in doc["workflow"].items():
        console.print(f"  {job_name}: {_cid(cid)}")
    for job in doc["jobs"]:
        job_name = job.get("meta", {}).get("name", "")
        print_tree(job, f"{name}#{job_name}" if name else f"#{job_name}")


def print_tree(doc: dict[str, Any], name: str) -> None:
    """Print the chain with rich, one level deeper per pass."""
    from rich.console import Console
    from rich.tree import Tree

    data = chain_json(doc)
    pinned = "[green]pinned[/]" if data["pinned"] else "[yellow]not pinned[/]"
    tree = Tree(f"[bold]{data['final']}[/]  final job ({pinned})")
    where = f" [dim]{name}[/]" if name else ""
    node = tree.add(f"{data['document']['cid']}  document{where} ({data['document']['format']})")
    for step in data["steps"]:
        label = "original job" if step["pass"] == "parse" else "job"
        node = node.add(
            f"[cyan]{step['pass']}@{step['version']}[/] → {step['to']}  {label}"
            f"  [dim]record {step['record']}[/]"
        )
        for fact in step["facts"]:
            node.add(f"[dim]fact[/] {_fact_text(fact)}")
    Console().print(tree)
