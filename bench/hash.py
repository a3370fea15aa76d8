"""Content hashing throughput: jobc's UnixFS importer beside raw sha256 and the npm importer.

Hashes a large file (1 GiB by default), a tree of small files (10,000 by default, 100
folders of 100) and one wide directory (100,000 small files by default: a HAMT shard of
some 400 blocks, as kubo stores it) and prints, from the same run on the same bytes:
- jobc (`Hasher.path`, no cache), its throughput and its ratio to hashlib's raw sha256
  reading the same bytes the same way (1 MiB readinto, one digest);
- jobc again with a warm file cache (what a recompile costs);
- the npm `ipfs-unixfs-importer` with kubo's options (tests/js/unixfs-hash.mjs; its
  time includes starting node, measured separately and shown);
- the peak extra memory (ru_maxrss growth of a child process that only hashes).

Targets (issue 4): >= 70% of raw sha256 throughput on the large file, faster than the JS
importer on both, peak extra memory <= 64 MiB. Not a test: it prints figures.

usage: python bench/hash.py [--size-mib 1024] [--files 10000] [--wide 100000] [--dir DIR]
                            [--runs 3]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler.ir import Link  # noqa: E402
from compiler.oracles.content import Hasher  # noqa: E402
from compiler.store import open_store  # noqa: E402

MIB = 1 << 20


def make_file(path: Path, size: int) -> None:
    """`size` bytes of incompressible data (a random 64 MiB block, repeated with a twist)."""
    block = random.Random(1).randbytes(64 * MIB)
    with path.open("wb") as f:
        written = 0
        i = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            f.write(i.to_bytes(8, "little") + piece[8:])
            written += len(piece)
            i += 1


def make_tree(root: Path, files: int) -> int:
    """`files` small files (0-8 KiB) in folders of 100; returns their total size."""
    rng = random.Random(2)
    total = 0
    for i in range(files):
        folder = root / f"d{i // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.randrange(8192))
        (folder / f"f{i:05d}.bin").write_bytes(data)
        total += len(data)
    return total


def make_wide(folder: Path, files: int) -> int:
    """One directory of `files` small files (0-64 bytes); returns their total size."""
    rng = random.Random(3)
    folder.mkdir(parents=True)
    total = 0
    for i in range(files):
        data = rng.randbytes(rng.randrange(65))
        (folder / f"entry-{i:06d}.txt").write_bytes(data)
        total += len(data)
    return total


def raw_sha256(paths: list[Path], chunk: int) -> None:
    """hashlib's sha256 over every byte of `paths`: one digest per file, `readinto`."""
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buffer):  # type: ignore[attr-defined]
                digest.update(view[:n])
        digest.digest()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def js_time(path: Path, runs: int) -> tuple[float, float, str]:
    """(seconds for the importer, seconds node takes to start and load it, its CID)."""
    from tests import unixfs_js

    script = str(unixfs_js.installed())
    out = ""

    def run(*args: str) -> None:
        nonlocal out
        out = subprocess.run(
            ["node", script, *args], check=True, capture_output=True, text=True
        ).stdout

    start_up = best(run, runs)
    total = best(lambda: run(str(path)), runs)
    return total, start_up, out.split("\t", maxsplit=1)[0]


def peak_memory(path: Path) -> int:
    """Bytes of resident memory a child process gains while hashing `path`: its peak
    resident size (VmHWM, which exec resets, unlike ru_maxrss), less what it held just
    before."""
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from pathlib import Path\n"
        "from compiler.oracles.content import Hasher\n"
        "def status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key + ':'):\n"
        "            return int(line.split()[1]) * 1024\n"
        "before = status('VmRSS')\n"
        f"Hasher(progress=False).path(Path({str(path)!r}))\n"
        "print(max(0, status('VmHWM') - before))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return int(run.stdout)


def report(name: str, size: int, runs: int, folder: Path, target: Path) -> dict[str, float]:
    paths = [target] if target.is_file() else files_under(target)
    print(f"\n{name}: {len(paths):,} file(s), {size / MIB:,.1f} MiB")
    # The better of two read sizes: jobc's 256 KiB chunks, and 1 MiB.
    sha = min(best(functools.partial(raw_sha256, paths, n), runs) for n in (256 << 10, MIB))
    hasher_cid: list[str] = []

    def ours() -> None:
        hasher_cid[:] = [str(Link(Hasher(progress=False).path(target).cid))]

    jobc = best(ours, runs)
    store = open_store(folder / "bench-store.sqlite")
    try:
        # Files written just now are not cached (their mtime is too fresh): age them.
        for p in paths:
            os.utime(p, (time.time() - 60, time.time() - 60))
        Hasher(cache=store, progress=False).path(target)
        warm = best(lambda: Hasher(cache=store, progress=False).path(target), runs)
    finally:
        store.close()
    try:
        js, js_start, js_cid = js_time(target, runs)
    except Exception as exc:  # node missing: say so, measure the rest
        print(f"  npm importer: not measured ({exc})")
        js, js_start, js_cid = float("nan"), float("nan"), ""
    memory = peak_memory(target)
    mbps = size / MIB
    print(f"  CID                      {hasher_cid[0]}")
    if js_cid:
        same = "same" if js_cid == hasher_cid[0] else f"DIFFERENT: {js_cid}"
        print(f"  npm importer's CID       {same}")
    print(f"  raw sha256 (hashlib)     {sha:8.3f} s  {mbps / sha:8.1f} MiB/s")
    share = f"{sha / jobc:6.1%} of sha256"
    print(f"  jobc, no cache           {jobc:8.3f} s  {mbps / jobc:8.1f} MiB/s  {share}")
    print(f"  jobc, warm file cache    {warm:8.3f} s  {mbps / warm:8.1f} MiB/s")
    print(
        f"  npm ipfs-unixfs-importer {js:8.3f} s  {mbps / js:8.1f} MiB/s  "
        f"(node start-up {js_start:.3f} s of it; jobc {js / jobc:.1f}x faster)"
    )
    if len(paths) > 1:
        n = len(paths)
        print(
            f"  files per second         jobc {n / jobc:,.0f}, warm {n / warm:,.0f}, "
            f"npm importer {n / js:,.0f}, raw sha256 {n / sha:,.0f}"
        )
    print(f"  peak extra memory        {memory / MIB:8.2f} MiB")
    return {"sha": sha, "jobc": jobc, "js": js, "memory": memory}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024, help="large file size (MiB)")
    ap.add_argument("--files", type=int, default=10_000, help="small files in the tree")
    ap.add_argument("--wide", type=int, default=100_000, help="files in the wide directory")
    ap.add_argument("--runs", type=int, default=3, help="timed runs; the best counts")
    ap.add_argument("--dir", type=Path, help="where to write the data (default: a temp dir)")
    args = ap.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="jobc-bench-", dir=args.dir))
    try:
        big = folder / "big.bin"
        print(
            f"writing {args.size_mib} MiB, {args.files:,} small files and a directory of "
            f"{args.wide:,} under {folder} …"
        )
        make_file(big, args.size_mib * MIB)
        tree_size = make_tree(folder / "tree", args.files)
        wide_size = make_wide(folder / "wide", args.wide)
        large = report("large file", args.size_mib * MIB, args.runs, folder, big)
        tree = report("tree of small files", tree_size, args.runs, folder, folder / "tree")
        wide = report("wide directory (HAMT)", wide_size, args.runs, folder, folder / "wide")
        print("\ntargets:")
        ratio = large["sha"] / large["jobc"]
        verdict = "met" if ratio >= 0.7 else "NOT met"
        print(f"  large file >= 70% of raw sha256 : {ratio:.1%}  {verdict}")
        for name, r in (("large file", large), ("tree", tree), ("wide directory", wide)):
            ok = r["jobc"] < r["js"]
            print(f"  faster than the npm importer ({name}): {'met' if ok else 'NOT met'}")
        peak = max(large["memory"], tree["memory"]) / MIB
        print(f"  (wide directory: {wide['memory'] / MIB:.2f} MiB, names and CIDs of every entry)")
        verdict = "met" if peak <= 64 else "NOT met"
        print(f"  peak extra memory <= 64 MiB     : {peak:.2f} MiB  {verdict}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
