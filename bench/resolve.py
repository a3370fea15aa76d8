"""Image resolution: 200 distinct references against a local registry, cold and warm.

Starts Debian's docker-registry on 127.0.0.1 (tests/localregistry.py), pushes 200 small
images built offline, and measures, in the same run:
- one `skopeo inspect --raw` of one of them (the unit the targets are written in);
- cold: `Resolver.prefetch` of the 200 with an empty cache (a bounded pool of skopeo
  runs): target ≤ 60 times one call, and exactly one skopeo run per distinct reference;
- warm: the same 200 again from the store's cache, in a new run (a new resolver, so
  answers come from SQLite, not from memory): target ≤ 50 µs per reference.

Run: `.venv/bin/python bench/resolve.py [--refs 200] [--workers 8]`. Not a test: it prints.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler.ir import FrozenMap  # noqa: E402
from compiler.oracles.live import LiveContext  # noqa: E402
from compiler.oracles.registry import Resolver  # noqa: E402
from tests.localregistry import LocalRegistry  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--refs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobc-bench-resolve-") as tmp:
        root = Path(tmp)
        registry = LocalRegistry(root / "registry")
        registry.start()
        try:
            t0 = time.perf_counter()
            for i in range(args.refs):
                registry.push_image(f"docker.io/bench/image{i:03d}", "v1")
            push_s = time.perf_counter() - t0
            conf = str(registry.registries_conf(root / "registries.conf"))
            refs = [f"docker.io/bench/image{i:03d}:v1" for i in range(args.refs)]

            singles = []
            for _ in range(5):
                t = time.perf_counter()
                subprocess.run(
                    [
                        "skopeo",
                        "--registries-conf",
                        conf,
                        "inspect",
                        "--raw",
                        "--",
                        f"docker://{refs[0]}",
                    ],
                    check=True,
                    capture_output=True,
                )
                singles.append(time.perf_counter() - t)
            single = statistics.median(singles)

            settings = {"registries_conf": conf, "workers": args.workers}
            store = str(root / "store.sqlite")
            questions = [FrozenMap({"ref": r}) for r in refs]

            context = LiveContext(base_dir=root, settings=settings, store_location=store)
            cold = Resolver(context)
            t = time.perf_counter()
            cold.prefetch(questions)
            answers = [cold(q)["digest"] for q in questions]
            cold_s = time.perf_counter() - t
            context.close()
            assert len(set(answers)) == len(refs), "every image is distinct"

            context = LiveContext(base_dir=root, settings=settings, store_location=store)
            warm = Resolver(context)
            _ = context.store  # opened outside the timing (a compile opens it once)
            t = time.perf_counter()
            warm.prefetch(questions)
            again = [warm(q)["digest"] for q in questions]
            warm_s = time.perf_counter() - t
            context.close()
            assert again == answers
        finally:
            registry.stop()

    n = len(refs)
    print(f"pushed {n} images in {push_s:.1f} s (setup, not measured)")
    print(f"one `skopeo inspect --raw`:        {single * 1000:8.1f} ms  (median of 5)")
    print(
        f"cold, {n} refs, {args.workers} workers:      {cold_s * 1000:8.1f} ms  "
        f"= {cold_s / single:5.1f} × one call   (target ≤ 60 ×)"
    )
    print(f"skopeo runs, cold:                {cold.calls:8d}     (target: exactly {n})")
    print(
        f"warm, {n} refs (SQLite cache):     {warm_s * 1e6 / n:8.1f} µs per ref "
        f"(target ≤ 50 µs); skopeo runs: {warm.calls}"
    )
    ok = cold_s <= 60 * single and cold.calls == n and warm.calls == 0 and warm_s / n <= 50e-6
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
