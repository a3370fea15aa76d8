"""Parse + compile throughput per format, beside the parse alone measured in the same run.

    .venv/bin/python bench/formats.py [--n 10000] [--runs 3]

For every format jobc reads, `--n` distinct pinned documents (no network is needed:
images by digest, content by CID) are made from the specs of `bench/compile.py`,
written by jobc's emitters (jobspec/1, jobspec/2, the Bacalhau Job API, Homestar) or by
templates here (the Jobfile, Bacalhau V1beta1 and V1beta2). Three things are timed on
the same documents, interleaved, best of `--runs` after a warm-up:

- parse: the plain library parse of the syntax — PyYAML's C loader (`CSafeLoader`) for
  YAML, `orjson.loads` for JSON, lark's LALR parser for the Jobfile;
- load: jobc's loader (`frontends.loader.load`: YAML 1.2 core, limits, the positions
  found again when a diagnostic asks; for the Jobfile, the lark parse with positions);
- compile: `compile_document(raw, name)`, the whole pipeline (front-end, normalize,
  link-workflow, resolve-awaits, resolve-images, resolve-content, lower, the chain's
  CIDs), the documents of a format compiled as the files of one `jobc` run are (one
  session: the store is opened once).

The target (issue 7): the compile overhead — everything compiling does beyond the
library's parse of the same text, `(compile - parse) / parse` — at most 1.5 times the
parse alone, for the YAML formats; jobc's own loader counts as overhead. The other
reading, what compiling adds to jobc's loader (`(compile - load) / load`), is printed
beside it (`vs load`): it was the reading while the loader was slower than the library
parse, and says little now that it is faster (a faster loader makes that ratio larger).
The `w/o lower` column is the overhead without the `lower` pass (its toolchain oracle
asks the store about every WASM job), against the parse: it shows what the front-ends
and the other passes cost.
Times are CPU times of this process (`time.process_time`): the machine may be shared,
and CPU time counts only this process's work; ratios of times measured side by side,
interleaved, hold better still.
Not a pytest test: run it by hand or with `make bench`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET = 1.5
YAML_FORMATS = ("jobspec/1", "jobspec/2", "jobfile", "bacalhau/job", "bacalhau/v1beta1")


# --- documents ------------------------------------------------------------------------------


def documents(n: int) -> dict[str, tuple[str, list[bytes]]]:
    """Format → (file name, `n` documents)."""
    from compile import generate_specs

    from compiler.driver import read_document
    from compiler.emitters import JobDoc, emitter
    from compiler.frontends import Parsed

    specs = generate_specs(n)
    wasm_specs = [as_wasm(json.loads(raw)) for raw in specs]
    out: dict[str, tuple[str, list[bytes]]] = {
        "jobspec/1 (json)": ("job.json", specs),
        "jobspec/1": ("job.yaml", []),
        "jobspec/2": ("job.yaml", []),
        "jobfile": ("Jobfile", []),
        "bacalhau/job": ("job.yaml", []),
        "bacalhau/v1beta1": ("job.yaml", []),
        "bacalhau/v1beta2 (json)": ("job.json", []),
        "homestar (json)": ("job.json", []),
    }
    for i, raw in enumerate(specs):
        _, parsed = read_document(raw, f"s{i}.json")
        assert isinstance(parsed, Parsed)
        doc = JobDoc("", parsed.job, parsed.meta, parsed.execution)
        out["jobspec/1"][1].append(emitter("jobspec/1")([doc], {}).text.encode())
        out["jobspec/2"][1].append(emitter("jobspec/2")([doc], {}).text.encode())
        out["bacalhau/job"][1].append(emitter("bacalhau")([doc], {}).text.encode())
        spec = json.loads(raw)
        out["jobfile"][1].append(jobfile(spec).encode())
        out["bacalhau/v1beta1"][1].append(v1beta1(spec).encode())
        out["bacalhau/v1beta2 (json)"][1].append(json.dumps(v1beta2(spec)).encode())
    for i, raw in enumerate(wasm_specs):
        _, parsed = read_document(raw, f"w{i}.json")
        assert isinstance(parsed, Parsed)
        doc = JobDoc("", parsed.job, parsed.meta, parsed.execution)
        out["homestar (json)"][1].append(emitter("homestar")([doc], {}).text.encode())
    return out


def as_wasm(spec: dict[str, Any]) -> bytes:
    """The spec as a WASM job Homestar can run (a module by CID, arguments): its first
    input's CID is the module, its command the arguments."""
    task = spec["task"]
    args = (
        [*task.get("entrypoint", []), *task.get("args", [])]
        if task["engine"] == "docker"
        else task.get("args", [])
    )
    wasm = {
        "jobspec": 1,
        "name": spec["name"],
        "task": {
            "engine": "wasm",
            "module": spec["inputs"][0]["source"],
            "entrypoint": "main",
            "args": [str(a) for a in args],
        },
    }
    return json.dumps(wasm).encode()


def _word(value: Any) -> str:
    text = str(value)
    if text and all(c not in " \t\"'{}#\\" for c in text) and text[0] != "=":
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jobfile(spec: dict[str, Any]) -> str:
    """A Jobfile saying what a jobspec/1 spec says."""
    task = spec["task"]
    lines = [f"job {spec['name']} {{"]
    if task["engine"] == "docker":
        lines.append(f"    docker {task['image']}")
        if "entrypoint" in task:
            lines.append("    entrypoint " + " ".join(_word(a) for a in task["entrypoint"]))
        if task.get("workdir"):
            lines.append(f"    workdir {task['workdir']}")
    else:
        lines.append(f"    wasm {task['module']}")
        if "entrypoint" in task:
            lines.append(f"    entrypoint {task['entrypoint']}")
    if task.get("args"):
        lines.append("    run " + " ".join(_word(a) for a in task["args"]))
    env = task.get("env", {})
    items = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
    lines.extend(f"    env {k} = {_word(v)}" for k, v in items)
    for inp in spec.get("inputs", []):
        lines.append(f"    input {inp['name']} from {inp['source']} at {inp['target']}")
    for out in spec.get("outputs", []):
        lines.append(f"    output {out['name']} at {out['path']}")
    if spec.get("deterministic"):
        lines.append("    deterministic")
    execution = spec.get("execution", {})
    if "timeout" in execution:
        lines.append(f"    timeout {execution['timeout']}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _storage(source: str, target: str) -> dict[str, Any]:
    return {"StorageSource": "IPFS", "CID": source.removeprefix("ipfs://"), "Path": target}


def v1beta2(spec: dict[str, Any]) -> dict[str, Any]:
    """A V1beta2 job (`Spec` with the engine's section) saying what `spec` says."""
    task = spec["task"]
    inner: dict[str, Any] = {"Deal": {"Concurrency": 1}, "PublisherSpec": {"Type": "ipfs"}}
    env = task.get("env", {})
    pairs = [f"{k}={v}" for k, v in env.items()] if isinstance(env, dict) else list(env)
    if task["engine"] == "docker":
        docker: dict[str, Any] = {"Image": task["image"]}
        if "entrypoint" in task:
            docker["Entrypoint"] = task["entrypoint"]
        if task.get("args"):
            docker["Parameters"] = task["args"]
        if pairs:
            docker["EnvironmentVariables"] = pairs
        inner |= {"Engine": "Docker", "Docker": docker}
    else:
        wasm: dict[str, Any] = {
            "EntryModule": {"StorageSource": "IPFS", "CID": task["module"].removeprefix("ipfs://")},
            "Parameters": [str(a) for a in task.get("args", [])],
        }
        inner |= {"Engine": "Wasm", "Wasm": wasm}
    inner["Inputs"] = [_storage(i["source"], i["target"]) for i in spec.get("inputs", [])]
    inner["Outputs"] = [{"Name": o["name"], "Path": o["path"]} for o in spec.get("outputs", [])]
    return {"APIVersion": "V1beta2", "Spec": inner}


def v1beta1(spec: dict[str, Any]) -> str:
    """A V1beta1 job of 2023 in YAML (`Entrypoint` holds the whole command)."""
    import yaml

    data = v1beta2(spec)
    data["APIVersion"] = "V1beta1"
    docker = data["Spec"].get("Docker")
    if docker and "Parameters" in docker:
        docker["Entrypoint"] = [*docker.get("Entrypoint", []), *docker.pop("Parameters")]
    data["Metadata"] = {"CreatedAt": "2023-03-14T10:00:00Z"}
    text: str = yaml.safe_dump(data, sort_keys=False)
    return text


# --- timing ---------------------------------------------------------------------------------


def parser(fmt: str, name: str) -> Callable[[bytes], object]:
    """The plain library parse of a format's syntax."""
    if fmt == "jobfile":
        from compiler.frontends.jobfile import _parser

        lark = _parser()
        return lambda raw: lark.parse(raw.decode())
    if name.endswith(".json"):
        import orjson

        return orjson.loads
    import yaml

    return lambda raw: yaml.load(raw, Loader=yaml.CSafeLoader)


def loader(fmt: str, name: str) -> Callable[[bytes], object]:
    """jobc's reading of the syntax (YAML 1.2 core, limits, positions when asked)."""
    if fmt == "jobfile":
        from compiler.frontends.jobfile import parse_tree

        return lambda raw: parse_tree(name, raw.decode())
    from compiler.frontends.loader import load

    return lambda raw: load(name, raw)


def compiler_run(name: str, *, without: str = "") -> Callable[[bytes], object]:
    """The whole compile (or the pipeline without the pass named `without`), the
    documents compiled as one run's files are: one session, the store opened once."""
    from compiler.driver import CompileOptions, compile_document
    from compiler.passes import default_pipeline

    passes = tuple(p for p in default_pipeline() if p.name != without)
    options = CompileOptions(passes=passes, session={})
    return lambda raw: compile_document(raw, name, options)


def best_times(
    fns: Sequence[Callable[[bytes], object]], docs: Sequence[bytes], runs: int
) -> list[float]:
    """The best wall time of each function over all documents, runs interleaved so that
    a change of the machine's load hits them alike."""
    for fn in fns:
        for raw in docs[:300]:
            fn(raw)
    best = [float("inf")] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            start = time.process_time()
            for raw in docs:
                fn(raw)
            best[i] = min(best[i], time.process_time() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--n", type=int, default=10_000, help="documents per format")
    args.add_argument("--runs", type=int, default=3)
    opts = args.parse_args(argv)
    random.seed(0)
    print(f"making {opts.n:,} documents per format …", flush=True)
    made = documents(opts.n)
    header = (
        f"{'format':<26}{'parse/s':>11}{'load/s':>11}{'compile/s':>12}"
        f"{'load÷parse':>11}{'overhead':>10}{'w/o lower':>11}{'vs load':>9}"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for fmt, (name, docs) in made.items():
        base = fmt.split(" ")[0]
        parse_t, load_t, compile_t, unlowered_t = best_times(
            [
                parser(base, name),
                loader(base, name),
                compiler_run(name),
                compiler_run(name, without="lower"),
            ],
            docs,
            opts.runs,
        )
        n = len(docs)
        overhead = (compile_t - parse_t) / parse_t
        verdict = ""
        if fmt in YAML_FORMATS:
            passed = overhead <= TARGET
            ok &= passed
            verdict = "  ok" if passed else f"  over {TARGET}×"
        print(
            f"{fmt:<26}{n / parse_t:>11,.0f}{n / load_t:>11,.0f}{n / compile_t:>12,.0f}"
            f"{load_t / parse_t:>10.2f}×{overhead:>9.2f}×"
            f"{(unlowered_t - parse_t) / parse_t:>10.2f}×"
            f"{(compile_t - load_t) / load_t:>8.2f}×{verdict}",
            flush=True,
        )
    print(
        f"\ntarget: compile overhead (compile − parse) ÷ parse ≤ {TARGET}×, the parse being "
        f"the library's alone, for the YAML formats ({', '.join(YAML_FORMATS)}): "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
