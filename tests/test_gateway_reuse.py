"""Compiles reused by their bytes (compiler/gateway/reuse.py): for how long, and when never."""

from __future__ import annotations

import math

import pytest

from compiler.driver import Compiled, CompileOptions, compile_bytes
from compiler.gateway import reuse
from tests.localregistry import LocalRegistry

WORDS = "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


def spec(image: str, source: str = WORDS) -> bytes:
    return (
        f'{{"jobspec": 1, "task": {{"engine": "docker", "image": "{image}"}}, '
        f'"inputs": [{{"source": "{source}", "target": "/in"}}]}}'
    ).encode()


def compiled(raw: bytes, **options: object) -> Compiled:
    return compile_bytes(raw, "job.json", CompileOptions(**options))  # type: ignore[arg-type]


def test_a_job_pinned_from_its_own_text_is_kept_while_it_is_used(
    local_registry: LocalRegistry,
) -> None:
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    assert reuse.lifetime(compiled(spec(f"ubuntu@{digest}"))) == math.inf


@pytest.mark.parametrize("tag", ["22.04", "latest"])
def test_a_resolved_tag_is_kept_a_minute_at_most(local_registry: LocalRegistry, tag: str) -> None:
    assert reuse.lifetime(compiled(spec(f"ubuntu:{tag}"))) == reuse.MAX_TAG_REUSE


def test_transient_answers_are_never_kept() -> None:
    # Offline with nothing cached: the image stays a tag, with a warning.
    assert reuse.lifetime(compiled(spec("ubuntu:22.04"), offline=True)) == 0


def test_content_read_from_the_world_is_never_kept(
    local_registry: LocalRegistry, tmp_path: object
) -> None:
    raw = spec("ubuntu:22.04", source="data.txt")
    path = tmp_path / "job.json"  # type: ignore[operator]
    (tmp_path / "data.txt").write_text("words\n")  # type: ignore[operator]
    path.write_bytes(raw)
    from compiler.driver import compile_file

    c = compile_file(path)
    assert any(r.pass_name == "resolve-content" and r.facts for r in c.chain)
    assert reuse.lifetime(c) == 0


def test_entries_expire_and_the_least_recently_used_go(local_registry: LocalRegistry) -> None:
    now = [1000.0]
    cache = reuse.CompiledCache(capacity=2, clock=lambda: now[0])
    tagged = compiled(spec("ubuntu:22.04"))
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    pinned = compiled(spec(f"ubuntu@{digest}"))
    a, b, c = (reuse.key(x, "job.json", "json") for x in (b"a", b"b", b"c"))
    assert cache.put(a, tagged)
    assert cache.put(b, pinned)
    now[0] += reuse.MAX_TAG_REUSE - 1
    assert cache.get(a) is tagged
    now[0] += 1
    assert cache.get(a) is None  # its minute is up
    assert cache.get(b) is pinned
    assert cache.put(a, pinned)
    assert cache.get(b) is pinned  # b is now the most recently used
    assert cache.put(c, pinned)
    assert cache.get(a) is None  # the least recently used went
    assert len(cache) == 2
    assert not cache.put(a, compiled(spec("debian:12"), offline=True))  # not cached: a tag
    assert cache.clear() == 2
    assert cache.get(b) is None


def test_keys_tell_apart_what_was_read_and_how() -> None:
    assert reuse.key(b"x", "a", "json") != reuse.key(b"x", "b", "json")
    assert reuse.key(b"x", "a", "json") != reuse.key(b"x", "a", "yaml")
    assert reuse.key(b"x", "a", None) != reuse.key(b"y", "a", None)
