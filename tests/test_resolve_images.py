"""The resolve-images pass and the registry oracle, against a real registry through skopeo.

The session's registry (`tests/localregistry.py`) holds the examples' images; tests that
move tags push to repositories of their own (`test/…`). Faults use what they need: a
closed port, a socket server that accepts and never answers, and one tiny HTTP server
speaking the registry API that serves bytes other than the digest it is asked for.
skopeo runs for real; a wrapper script (`skopeo_log`) counts its runs.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compiler.cli import EXIT_INVALID, EXIT_OK, main
from compiler.diagnostics import SpecError
from compiler.driver import Compiled, CompileOptions, compile_bytes
from compiler.emitters.compiled import dumps
from compiler.ir import DockerTask, FrozenMap, ImageDigest
from compiler.oracles import Oracle
from compiler.oracles.live import LiveContext
from compiler.oracles.registry import (
    CACHE_NAMESPACE,
    GO_ENVIRONMENT,
    TTL_LATEST,
    TTL_TAG,
    Resolver,
    cache_key,
)
from compiler.store import open_store
from tests.localregistry import LocalRegistry, free_port

SPEC = "jobspec: 1\ntask:\n  engine: docker\n  image: {image}\n{extra}"


def spec(image: str, extra: str = "") -> bytes:
    return SPEC.format(image=image, extra=extra).encode()


def compile_spec(image: str, extra: str = "", **options: Any) -> Compiled:
    return compile_bytes(spec(image, extra), "job.yaml", CompileOptions(**options))


def errors(image: str, extra: str = "", **options: Any) -> list[Any]:
    with pytest.raises(SpecError) as info:
        compile_spec(image, extra, **options)
    return info.value.errors


def cached(home: Path) -> dict[str, Any]:
    """Every entry of the image cache in the data dir's store."""
    path = home / "store.sqlite"
    if not path.exists():
        return {}
    import sqlite3

    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, value FROM cache WHERE namespace = ?", (CACHE_NAMESPACE,))
        return {k: json.loads(v) for k, v in rows}


@pytest.fixture
def skopeo_log(tmp_path: Path) -> tuple[str, Path]:
    """A `skopeo` that logs each run's last argument, then runs the real one."""
    log = tmp_path / "skopeo.log"
    script = tmp_path / "skopeo"
    script.write_text(
        f'#!/bin/sh\nfor a; do last="$a"; done\necho "$last" >> {log}\nexec skopeo "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log.touch()
    return str(script), log


def conf_for(tmp_path: Path, host: str) -> str:
    """A registries.conf sending docker.io to `host` (plain HTTP)."""
    path = tmp_path / f"registries-{host.replace(':', '_')}.conf"
    path.write_text(f'[[registry]]\nprefix = "docker.io"\nlocation = "{host}"\ninsecure = true\n')
    return str(path)


# --- resolving ----------------------------------------------------------------------------


def test_a_tag_is_pinned_to_the_digest_the_registry_serves(
    local_registry: LocalRegistry,
) -> None:
    c = compile_spec("ubuntu")
    digest = local_registry.pushed["docker.io/library/ubuntu:latest"]
    assert isinstance(c.job.task, DockerTask)
    assert c.job.task.image == ImageDigest(digest)
    assert c.pinned
    record = c.chain[-1]
    assert record.pass_name == "resolve-images"
    assert record.facts == (
        FrozenMap({"ref": "docker.io/library/ubuntu:latest", "digest": digest}),
    )
    assert c.sources == {digest: ["docker.io/library/ubuntu"]}


def test_the_same_image_by_tag_and_by_digest_is_the_same_job(
    local_registry: LocalRegistry,
) -> None:
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    by_tag = compile_spec("ubuntu:22.04")
    by_digest = compile_spec(f"docker.io/library/ubuntu@{digest}")
    other_registry = compile_spec(f"ghcr.io/someone/else@{digest}")
    assert by_tag.cid == by_digest.cid == other_registry.cid


def test_a_digest_reference_needs_no_registry(tmp_path: Path, skopeo_log: Any) -> None:
    script, log = skopeo_log
    digest = "sha256:" + "ab" * 32
    c = compile_spec(f"nowhere.invalid/x@{digest}", settings={"skopeo": script})
    assert c.job.task.image == ImageDigest(digest)  # type: ignore[union-attr]
    assert log.read_text() == ""


def test_verify_digests_asks_the_registry(local_registry: LocalRegistry) -> None:
    digest = local_registry.pushed["docker.io/library/busybox:1.36"]
    pipeline = _pipeline(verify_digests=True)
    c = compile_spec(f"busybox@{digest}", passes=pipeline)
    assert c.job.task.image == ImageDigest(digest)  # type: ignore[union-attr]
    (d,) = errors(f"busybox@sha256:{'0' * 64}", passes=pipeline)
    assert "no such digest" in d.message
    assert (d.span.line, d.span.column) == (4, 10)


def _pipeline(**options: Any) -> Any:
    from compiler.passes import configure

    return configure(None, "resolve-images", options)


def test_multi_arch_pins_the_platforms_child(local_registry: LocalRegistry) -> None:
    index = local_registry.pushed["docker.io/library/golang:1.22-bookworm"]
    plain = compile_spec("golang:1.22-bookworm")
    arm = compile_spec("golang:1.22-bookworm", "  platform: linux/arm64\n")
    amd = compile_spec("golang:1.22-bookworm", "  platform: linux/amd64\n")
    assert plain.job.task.image == ImageDigest(index)  # type: ignore[union-attr]
    digests = {plain.job.task.image, arm.job.task.image, amd.job.task.image}  # type: ignore[union-attr]
    assert len(digests) == 3
    (f,) = arm.chain[-1].facts
    assert f["platform"] == "linux/arm64"
    assert arm.job.task.platform == ""  # type: ignore[union-attr]  # the digest says it now
    (d,) = errors("busybox:1.36", "  platform: linux/arm64\n")  # one amd64 image
    assert "is one image for linux/amd64, not for linux/arm64" in d.message
    assert d.code == "image-platform"
    (d,) = errors("golang:1.22-bookworm", "  platform: linux/s390x\n")
    assert "has no image for linux/s390x" in d.message
    assert "linux/amd64, linux/arm64" in d.hint
    assert (d.span.line, d.span.column) == (4, 10)


# --- the cache ----------------------------------------------------------------------------


def test_the_cache_answers_until_refresh(
    local_registry: LocalRegistry, jobc_home: Path, skopeo_log: Any
) -> None:
    script, log = skopeo_log
    first = local_registry.push_image("docker.io/test/moving", "latest", content="one")
    settings = {"skopeo": script}
    assert compile_spec("test/moving", settings=settings).job.task.image == ImageDigest(first)  # type: ignore[union-attr]
    second = local_registry.push_image("docker.io/test/moving", "latest", content="two")
    assert first != second
    again = compile_spec("test/moving", settings=settings)
    assert again.job.task.image == ImageDigest(first)  # type: ignore[union-attr]  # cached
    assert log.read_text().count("docker://docker.io/test/moving:latest") == 1
    fresh = compile_spec("test/moving", settings=settings, refresh=True)
    assert fresh.job.task.image == ImageDigest(second)  # type: ignore[union-attr]
    assert cached(jobc_home)["docker.io/test/moving:latest"] == {"digest": second}
    # The pass option does the same as --refresh.
    third = local_registry.push_image("docker.io/test/moving", "latest", content="three")
    c = compile_spec("test/moving", passes=_pipeline(refresh=True))
    assert c.job.task.image == ImageDigest(third)  # type: ignore[union-attr]


def test_ttls_short_for_latest_longer_for_tags_forever_for_digests(
    local_registry: LocalRegistry, jobc_home: Path
) -> None:
    digest = local_registry.pushed["docker.io/library/ubuntu:22.04"]
    compile_spec("ubuntu")
    compile_spec("ubuntu:22.04")
    compile_spec(f"ubuntu@{digest}", passes=_pipeline(verify_digests=True))
    store = open_store(jobc_home / "store.sqlite")
    try:
        now = time.time()
        latest, tag = "docker.io/library/ubuntu:latest", "docker.io/library/ubuntu:22.04"
        pinned = f"docker.io/library/ubuntu@{digest}"
        assert store.cache_get(CACHE_NAMESPACE, latest, now=now + TTL_LATEST - 5)
        assert not store.cache_get(CACHE_NAMESPACE, latest, now=now + TTL_LATEST + 5)
        assert store.cache_get(CACHE_NAMESPACE, tag, now=now + TTL_TAG - 5)
        assert not store.cache_get(CACHE_NAMESPACE, tag, now=now + TTL_TAG + 5)
        assert store.cache_get(CACHE_NAMESPACE, pinned, now=now + 100 * 365 * 86400)
    finally:
        store.close()


def test_distinct_references_are_asked_once_each_in_a_pool(
    local_registry: LocalRegistry, tmp_path: Path, skopeo_log: Any
) -> None:
    script, log = skopeo_log
    refs = [f"docker.io/test/pool{i}:v1" for i in range(12)]
    for i in range(12):
        local_registry.push_image(f"docker.io/test/pool{i}", "v1")
    context = LiveContext(
        base_dir=tmp_path,
        settings={"skopeo": script, "workers": 4},
        store_location=str(tmp_path / "s.sqlite"),
    )
    resolver = Resolver(context)
    try:
        questions = [FrozenMap({"ref": r}) for r in refs * 2]
        resolver.prefetch(questions)
        resolver.prefetch(questions)
        for r in refs:
            digest = resolver(FrozenMap({"ref": r}))["digest"]
            assert digest == local_registry.pushed[r]
    finally:
        context.close()
    assert resolver.calls == 12
    assert sorted(log.read_text().split()) == sorted(f"docker://{r}" for r in refs)


def test_a_run_of_several_files_asks_once(tmp_path: Path, skopeo_log: Any) -> None:
    script, log = skopeo_log
    files = []
    for i in range(3):
        f = tmp_path / f"job{i}.yaml"
        f.write_bytes(spec("busybox:1.36", f"  args: [echo, '{i}']\n"))
        files.append(str(f))
    options = CompileOptions(refresh=True, settings={"skopeo": script}, session={})
    for f in files:
        compile_bytes(Path(f).read_bytes(), f, options)
    assert log.read_text().split() == ["docker://docker.io/library/busybox:1.36"]


def test_skopeo_runs_with_go_settings_for_short_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One thread and no garbage collector for a run of milliseconds (a memory limit brings
    the collector back if ever needed), unless the environment sets its own."""
    log = tmp_path / "go-env.log"
    script = tmp_path / "skopeo"
    script.write_text(
        f'#!/bin/sh\necho "$GOMAXPROCS $GOGC $GOMEMLIMIT" >> {log}\nexec skopeo "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    for name in GO_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    options: dict[str, Any] = {"refresh": True, "settings": {"skopeo": str(script)}}
    first = compile_spec("busybox:1.36", **options)
    monkeypatch.setenv("GOGC", "100")
    second = compile_spec("busybox:1.36", **options)
    assert log.read_text().splitlines() == ["1 off 256MiB", "1 100 256MiB"]
    assert first.cid == second.cid
    assert first.pinned


# --- offline, lock, verify ----------------------------------------------------------------


def test_offline_leaves_tags_unpinned_with_a_warning(jobc_home: Path) -> None:
    c = compile_spec("ubuntu:22.04", offline=True)
    assert not c.pinned
    (w,) = c.warnings
    assert "stays unpinned" in w.message
    assert (w.span.line, w.span.column) == (4, 10)  # type: ignore[union-attr]
    (d,) = errors("ubuntu:22.04", offline=True, passes=_pipeline(require_pinned=True))
    assert d.code == "unpinned"
    assert cached(jobc_home) == {}


def test_offline_uses_what_the_cache_knows() -> None:
    online = compile_spec("ubuntu:22.04")
    offline = compile_spec("ubuntu:22.04", offline=True)
    assert offline.pinned
    assert offline.cid == online.cid


def test_lock_file_then_compile_without_any_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = tmp_path / "job.yaml"
    job.write_bytes(spec("python:3.12-slim"))
    lock = tmp_path / "jobc.lock"
    runner = CliRunner()
    result = runner.invoke(main, ["lock", str(job), "-o", str(lock)])
    assert result.exit_code == EXIT_OK, result.output
    data = json.loads(lock.read_text())
    assert data["jobc-lock"] == 1
    (entry,) = data["images"]
    assert entry["ref"] == "docker.io/library/python:3.12-slim"
    online = runner.invoke(main, ["cid", str(job)]).stdout.strip()
    # No registry at all now: a registries.conf pointing at a closed port.
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", conf_for(tmp_path, f"127.0.0.1:{free_port()}"))
    result = runner.invoke(main, ["cid", "--refresh", "--lock", str(lock), str(job)])
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.strip() == online
    other = tmp_path / "other.yaml"
    other.write_bytes(spec("ubuntu:22.04"))
    result = runner.invoke(main, ["cid", "--lock", str(lock), str(other)])
    assert result.exit_code == EXIT_INVALID
    assert "is not in the lock file" in result.stderr
    assert "jobc lock" in result.stderr


def test_verify_replays_the_facts_with_no_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = compile_spec("golang:1.22-bookworm", "  platform: linux/arm64\n")
    compiled = tmp_path / "job.compiled.json"
    compiled.write_bytes(dumps(c, "json"))
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", conf_for(tmp_path, f"127.0.0.1:{free_port()}"))
    result = CliRunner().invoke(main, ["verify", str(compiled)])
    assert result.exit_code == EXIT_OK, result.output
    assert "resolve-images@1" in result.stdout


# --- faults: each a diagnostic at the image, and nothing cached -------------------------


@pytest.mark.parametrize(
    ("image", "column", "message"),
    [
        ("Ubuntu", 10, "must be lowercase"),
        ("ubuntu:" + "v" * 129, 145, "the tag is 129 characters long, over 128"),
        ("a:b:c", 11, "invalid character ':'"),
        ('""', 10, "is empty"),
        ("-ubuntu", 10, "invalid character '-'"),
        ("--help", 10, "invalid character '-'"),
        ("-v", 10, "invalid character '-'"),
    ],
)
def test_malformed_references_never_reach_skopeo(
    image: str, column: int, message: str, jobc_home: Path, skopeo_log: Any
) -> None:
    script, log = skopeo_log
    (d,) = errors(image, settings={"skopeo": script})
    assert message in d.message
    assert (d.span.line, d.span.column) == (4, column)
    assert log.read_text() == ""
    assert cached(jobc_home) == {}


def test_unknown_tag_and_unknown_repository(jobc_home: Path) -> None:
    (d,) = errors("ubuntu:no-such-tag")
    assert "no tag 'no-such-tag' in docker.io/library/ubuntu" in d.message
    assert (d.span.line, d.span.column, d.code) == (4, 10, "image-unknown")
    (d,) = errors("nobody/nothing:1")
    assert "docker.io/nobody/nothing" in d.message
    assert d.code == "image-unknown"
    assert cached(jobc_home) == {}


def test_registry_down(tmp_path: Path, jobc_home: Path) -> None:
    conf = conf_for(tmp_path, f"127.0.0.1:{free_port()}")
    (d,) = errors("ubuntu:22.04", settings={"registries_conf": conf})
    assert d.code == "registry-down"
    assert "cannot reach the registry" in d.message
    assert (d.span.line, d.span.column) == (4, 10)
    assert cached(jobc_home) == {}


def test_a_registry_that_never_answers_fails_within_the_timeout(
    tmp_path: Path, jobc_home: Path
) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])  # and never a byte back
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        conf = conf_for(tmp_path, f"127.0.0.1:{server.getsockname()[1]}")
        start = time.monotonic()
        (d,) = errors("ubuntu:22.04", settings={"registries_conf": conf, "registry_timeout": 2})
        took = time.monotonic() - start
    finally:
        stop.set()
        thread.join()
        for s in accepted:
            s.close()
        server.close()
    assert accepted
    assert d.code == "registry-timeout"
    assert "did not answer within 2 s" in d.message
    assert took < 10
    assert cached(jobc_home) == {}


class LyingRegistry(http.server.BaseHTTPRequestHandler):
    """Speaks just enough of the registry API, and serves every manifest as the same
    bytes, whatever digest it is asked for and claims (`Docker-Content-Digest`)."""

    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + "1" * 64,
                "size": 2,
            },
            "layers": [],
        }
    ).encode()

    def do_GET(self) -> None:
        if self.path == "/v2/":
            self._send(200, b"{}", "application/json")
            return
        claimed = self.path.rsplit("/", 1)[-1]
        if not claimed.startswith("sha256:"):
            claimed = "sha256:" + hashlib.sha256(b"something else").hexdigest()
        self._send(200, self.body, "application/vnd.oci.image.manifest.v1+json", claimed)

    do_HEAD = do_GET

    def _send(self, code: int, body: bytes, ctype: str, digest: str = "") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_manifest_that_does_not_hash_to_its_digest(tmp_path: Path, jobc_home: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LyingRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conf = conf_for(tmp_path, f"127.0.0.1:{server.server_address[1]}")
        claimed = "sha256:" + "2" * 64
        (d,) = errors(
            f"liar/image@{claimed}",
            settings={"registries_conf": conf},
            passes=_pipeline(verify_digests=True),
        )
    finally:
        server.shutdown()
        server.server_close()
    assert d.code == "image-digest-mismatch"
    assert "digest" in d.message
    assert (d.span.line, d.span.column) == (4, 10)
    assert cached(jobc_home) == {}


def test_credentials_are_never_printed(tmp_path: Path) -> None:
    authfile = tmp_path / "secret-credentials-4711.json"
    authfile.write_text('{"auths": {"docker.io": {"auth": "dXNlcjpodW50ZXIy"}}}')
    job = tmp_path / "job.yaml"
    job.write_bytes(spec("ubuntu:no-such-tag"))
    result = CliRunner().invoke(main, ["compile", "--authfile", str(authfile), str(job)])
    assert result.exit_code == EXIT_INVALID
    assert "secret-credentials-4711" not in result.output + result.stderr
    assert "dXNlcjpodW50ZXIy" not in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_no_registry_question_for_other_engines(skopeo_log: Any) -> None:
    script, log = skopeo_log
    doc = b'{"jobspec": 1, "task": {"engine": "duckdb", "query": "select 1"}}'
    compile_bytes(doc, "j.json", CompileOptions(settings={"skopeo": script}))
    assert log.read_text() == ""
    assert Oracle().sources == {}
    assert cache_key("a", "linux/arm64") != cache_key("a")
    assert os.environ.get("CONTAINERS_REGISTRIES_CONF")
