"""Write jobs as a Homestar workflow (JSON): one task per job, upstream first.

Each job is an instruction `{rsc, op: "wasm/run", input: {args, func}, nnc}`; its CID
is computed as Homestar computes it (DAG-CBOR hashed with sha3-256, `bafyrmi…`:
`identity.sha3_cid_of_value`), and an argument awaiting another job's result
(`{"await/ok": <job CID>}`) awaits that job's instruction by this CID. The instruction
CIDs come back as aliases of the job CIDs (namespace `homestar`), so a Homestar receipt
can be found from a jobc CID and back. Homestar's task `meta` holds the resources
(fuel, memory in bytes, time in milliseconds) and, as `jobc.stash`, what an instruction
cannot say (env, imports, stdin, inputs, outputs, network, a determinism other than
strict, extension fields): it is not part of the instruction's CID.

Only WASM jobs whose module is content-addressed (an `ipfs://` CID) can be written:
Homestar runs nothing else.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from compiler import identity
from compiler.emitters import Emitted, JobDoc, content_uri, dag_json, refuse, stash_text, stashed
from compiler.frontends.bacalhau.common import format_duration, parse_duration
from compiler.frontends.ipvm import STASH_KEY
from compiler.ir import FrozenMap, Link, Value, WasmTask
from compiler.passes.link_workflow import AWAIT_KEYS

NAMESPACE = "homestar"
"""The alias namespace of Homestar instruction CIDs."""


def emit(jobs: Sequence[JobDoc], meta: dict[str, Any]) -> Emitted:
    """A Homestar workflow of `jobs` (in the order given: upstream first)."""
    instructions: dict[Link, Link] = {}
    """Final job CID → its instruction's CID, for awaits."""
    tasks: list[dict[str, Any]] = []
    aliases: list[tuple[str, str, Link]] = []
    ids: dict[str, str] = {}
    notes = []
    problems: list[str] = []
    for index, j in enumerate(jobs):
        name = j.name or j.meta.get("name") or "main"
        task = j.job.task
        if not isinstance(task, WasmTask):
            problems.append(f"{name}: a {task.engine} task (Homestar runs wasm/run)")
            continue
        module = content_uri(task.module)
        if not module.startswith("ipfs://"):
            problems.append(f"{name}: its module {module} is not content-addressed (compile first)")
            continue
        args = tuple(_awaits(a, instructions, name, problems) for a in task.args)
        nonce: Value = j.job.nonce
        x = dict(j.job.x)
        string_nonce = ""
        if isinstance(x.get("nnc"), bytes):  # a byte nonce is the instruction's; a string
            nonce, string_nonce = x.pop("nnc"), j.job.nonce  # one beside it is stashed
        fields: dict[str, Value] = {
            "rsc": module,
            "op": "wasm/run",
            "input": FrozenMap[Value]({"args": args, "func": task.entrypoint}),
            "nnc": nonce,
        }
        run: FrozenMap[Value] = FrozenMap(fields)
        instruction = identity.sha3_cid_of_value(run)
        if j.cid is not None:
            instructions[j.cid] = instruction
            aliases.append((NAMESPACE, str(instruction), j.cid))
        ids[name] = str(instruction)
        stash, stashed_names = _stash(j, x, f"task-{index}")
        if string_nonce:
            stash["nonce"] = string_nonce
            stashed_names.append("a nonce beside the byte nonce")
        task_meta, _ = _resources(j.execution)
        if stash:
            task_meta[STASH_KEY] = stash_text(stash)
            if stashed_names:
                notes.append(stashed("Homestar", name, stashed_names))
        tasks.append({"cause": None, "meta": task_meta, "prf": [], "run": dag_json(run)})
    if problems:
        raise refuse("Homestar cannot run", problems, "export WASM jobs whose module is pinned")
    workflow = {"tasks": tasks}
    ids[""] = str(workflow_cid(workflow))
    text = json.dumps(workflow, indent=2, ensure_ascii=False) + "\n"
    return Emitted(text, "json", tuple(notes), tuple(aliases), ids, data=workflow)


def workflow_cid(workflow: dict[str, Any]) -> Link:
    """A Homestar workflow's CID, as Homestar computes it from the JSON it reads: DAG-CBOR
    of the whole document hashed with sha3-256; an integer beyond u64 or i64 (as Homestar's
    own fixtures write u64::MAX, 18446744073709552000) is a float to serde_json."""
    return identity.sha3_cid_of_foreign(_ipld(workflow))


def _ipld(value: Any) -> Any:
    """DAG-JSON data as IPLD (links and bytes from their `/` forms)."""
    if isinstance(value, dict):
        if len(value) == 1 and "/" in value:
            # a link or bytes; in task meta (kept as written) maybe neither: a map then
            with contextlib.suppress(identity.IdentityError, ValueError):
                return identity.from_dag_json(value)
        return {k: _ipld(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ipld(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return float(value)  # serde_json: u64 or i64, else f64
    return value


def _awaits(value: Value, instructions: dict[Link, Link], name: str, problems: list[str]) -> Value:
    """Arguments with each awaited job's CID replaced by its instruction's CID."""
    if isinstance(value, tuple):
        return tuple(_awaits(v, instructions, name, problems) for v in value)
    if not isinstance(value, FrozenMap):
        return value
    if len(value) == 1:
        key, target = next(iter(value.items()))
        if key in AWAIT_KEYS and isinstance(target, Link):
            instruction = instructions.get(target)
            if instruction is None:
                problems.append(f"{name}: it awaits {target}, which is not written before it")
                return value
            return FrozenMap({key: instruction})
        if key in AWAIT_KEYS and isinstance(target, str):
            problems.append(f"{name}: it awaits {target}, not compiled yet (compile first)")
            return value
    return FrozenMap({k: _awaits(v, instructions, name, problems) for k, v in value.items()})


def _stash(j: JobDoc, x: dict[str, Value], position: str) -> tuple[dict[str, Any], list[str]]:
    """What an instruction cannot say, in the stash's form, and its names (a job named
    as Homestar's reader names it by `position` keeps no name in the stash)."""
    job, task = j.job, j.job.task
    assert isinstance(task, WasmTask)
    stash: dict[str, Any] = {}
    names: list[str] = []
    task_fields: dict[str, Any] = {}
    if task.env:
        task_fields["env"] = task.env.to_dict()
        names.append("env")
    if task.imports:
        task_fields["imports"] = {k: dag_json(c) for k, c in task.imports.items()}
        names.append("imports")
    if task.stdin is not None:
        task_fields["stdin"] = dag_json(task.stdin)
        names.append("stdin")
    if task_fields:
        stash["task"] = task_fields
    identity_map = identity.identity_dag_json(job)
    for key in ("inputs", "outputs", "network"):
        if key in identity_map:
            stash[key] = identity_map[key]
            names.append(key)
    if job.determinism != "strict":
        stash["determinism"] = job.determinism
        names.append(f"determinism {job.determinism}")
    if x:
        stash["x"] = {k: dag_json(v) for k, v in x.items()}
        names.append("extension fields (x)")
    _, leftovers = _resources(j.execution)
    if leftovers:
        stash["execution"] = leftovers
    meta = {k: v for k, v in j.meta.items() if (k, v) != ("name", position)}
    if meta:
        stash["meta"] = meta
    return stash, names


def _resources(execution: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Homestar's task meta from the execution options — fuel, memory (bytes), time (ms)
    — and the options it has no place for."""
    meta: dict[str, Any] = {}
    rest = dict(execution)
    if "fuel" in rest:
        meta["fuel"] = rest.pop("fuel")
    resources = dict(rest.pop("resources", {}))
    memory = resources.get("memory")
    if isinstance(memory, str) and memory.isdigit() and str(int(memory)) == memory:
        meta["memory"] = int(resources.pop("memory"))  # bytes, written back as they were
    if resources:
        rest["resources"] = resources
    timeout = rest.get("timeout")
    seconds = parse_duration(timeout) if isinstance(timeout, str) else -1
    if seconds > 0 and format_duration(seconds) == timeout:  # read back as written
        meta["time"] = seconds * 1000
        rest.pop("timeout")
    meta.update(rest.pop("homestar", {}))
    return meta, rest
