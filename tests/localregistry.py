"""A real registry on this machine, with small images built offline, for tests, demo and bench.

Debian's `docker-registry` is started with a config of our own: it listens on
127.0.0.1 only (the shipped /etc/docker/registry/config.yml listens on every interface
and is never used), on a free port, with storage in a folder of our own. Images are OCI
layouts written here byte for byte (gzip with mtime 0, fixed JSON), so their digests
are the same on every run and machine; `skopeo copy --preserve-digests` pushes them
unchanged. A `registries.conf` maps docker.io and the other registries the examples
name onto the local one, so `ubuntu:latest` resolves with no internet.

As a command: `python -m tests.localregistry run -- CMD…` starts a registry, pushes the
images the examples use, and runs CMD with `CONTAINERS_REGISTRIES_CONF` set (`make demo`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

MAPPED_REGISTRIES = ("docker.io", "gcr.io", "ghcr.io", "quay.io", "localhost:5000")
"""Registries the examples name; `registries.conf` sends each to its own namespace of the
local registry (`docker.io/library/ubuntu` → `127.0.0.1:PORT/docker.io/library/ubuntu`),
so the same path on two registries can be two images, as it is on the internet.
(`[::1]:5000/img` is not here: Debian 12's skopeo cannot read IPv6 references.)"""

EXAMPLE_IMAGES: dict[str, tuple[str, ...]] = {
    # public name without the tag : tags
    "docker.io/library/alpine": ("3.19",),
    "docker.io/library/busybox": ("1.36",),
    "docker.io/library/debian": ("bookworm-slim", "12"),
    "docker.io/library/golang": ("1.22-bookworm",),
    "docker.io/library/nginx": ("1.25-alpine",),
    "docker.io/library/node": ("20-alpine",),
    "docker.io/library/python": ("3.12-slim",),
    "docker.io/library/r-base": ("4.3.2",),
    "docker.io/library/ubuntu": ("latest", "22.04", "24.04"),
    "docker.io/library/a": ("latest",),  # the shortest spec the tests write: `image: a`
    "docker.io/curlimages/curl": ("8.7.1",),
    "docker.io/dpokidov/imagemagick": ("7.1.1-29",),
    "docker.io/duckdb/duckdb": ("1.0.0",),
    "docker.io/jrottenberg/ffmpeg": ("6.0-alpine",),
    "docker.io/pandoc/core": ("3.1",),
    "docker.io/pytorch/pytorch": ("2.3.0-cuda12.1-cudnn8-runtime",),
    "gcr.io/distroless/python3-debian12": ("nonroot",),
    "ghcr.io/org/tool": ("v1",),
    "ghcr.io/library/ubuntu": ("22.04",),
    "quay.io/biocontainers/samtools": ("1.19--h50ea8bc_0",),
    "localhost:5000/x": ("latest",),
}
"""What the examples (and the tests' specs) pull. An image's content is its path and tag
(without the registry, except where two registries share a path), so its digest is
the same on every machine and run."""

CONTENT_WITH_REGISTRY = {"ghcr.io/library/ubuntu"}
"""Images whose content names the registry too: the same path elsewhere is another image."""


def namespace(registry: str) -> str:
    """The local registry's namespace for a public registry: `localhost:5000` → `localhost-5000`."""
    return registry.replace(":", "-")


MULTI_ARCH = {"docker.io/library/golang", "docker.io/library/ubuntu"}
"""Pushed as an index of linux/amd64 and linux/arm64, as they are on Docker Hub
(docker-workdir-platform.yaml; the tests run ubuntu as arm64)."""


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _layer(content: bytes) -> tuple[bytes, bytes]:
    """A one-file layer, gzip'd deterministically: (compressed, uncompressed tar)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("etc/jobc-test-image")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(content))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=9, mtime=0), raw


def _image(layout: Path, content: str, os_: str, arch: str) -> dict[str, object]:
    """Write one image's blobs; return its manifest descriptor."""
    compressed, raw = _layer(content.encode())
    layer = _blob(layout, compressed)
    config = _blob(
        layout,
        _json(
            {
                "architecture": arch,
                "os": os_,
                "config": {"Cmd": ["/bin/true"]},
                "rootfs": {
                    "type": "layers",
                    "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"],
                },
            }
        ),
    )
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **config},
            "layers": [{"mediaType": OCI_LAYER, **layer}],
        }
    )
    return {
        "mediaType": OCI_MANIFEST,
        **_blob(layout, manifest),
        "platform": {"architecture": arch, "os": os_},
    }


def write_layout(
    layout: Path, tag: str, content: str, platforms: Sequence[str] = ("linux/amd64",)
) -> str:
    """An OCI layout at `layout` with `tag`: one image, or an index when several
    platforms are given. Returns the digest of what `tag` names."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    children = [_image(layout, f"{content} {p}", *p.split("/", 1)) for p in platforms]
    if len(children) == 1:
        top = dict(children[0])
        top.pop("platform")
    else:
        index = _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
        top = {"mediaType": OCI_INDEX, **_blob(layout, index)}
    index_path = layout / "index.json"
    existing = json.loads(index_path.read_text()) if index_path.exists() else {"manifests": []}
    manifests = [
        m
        for m in existing["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ]
    manifests.append({**top, "annotations": {"org.opencontainers.image.ref.name": tag}})
    index_path.write_bytes(
        _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
    )
    return str(top["digest"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalRegistry:
    """A running `docker-registry` on 127.0.0.1, with its own config and storage."""

    root: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    pushed: dict[str, str] = field(default_factory=dict)
    """`host:port/path:tag` → digest, for everything pushed."""

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.port = self.port or free_port()
        storage = self.root / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: error, accesslog: {disabled: true}}\n"
            f"storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: '127.0.0.1:{self.port}'}}\n"
        )
        with (self.root / "registry.log").open("wb") as log:
            self.process = subprocess.Popen(
                ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "docker-registry exited: " + (self.root / "registry.log").read_text()
                )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer on {self.host}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def push(
        self, path: str, tag: str, content: str | None = None, platforms: Sequence[str] = ()
    ) -> str:
        """Build an image offline and push it as `path:tag`; returns its digest."""
        layout = self.root / "layouts" / path.replace("/", "_")
        digest = write_layout(
            layout, tag, content or f"{path}:{tag}", platforms or ("linux/amd64",)
        )
        subprocess.run(
            [
                "skopeo",
                "--insecure-policy",
                "copy",
                "--quiet",
                "--all",
                "--preserve-digests",
                "--dest-tls-verify=false",
                f"oci:{layout}:{tag}",
                f"docker://{self.host}/{path}:{tag}",
            ],
            check=True,
            capture_output=True,
        )
        self.pushed[f"{self.host}/{path}:{tag}"] = digest
        return digest

    def push_image(
        self, name: str, tag: str, content: str | None = None, platforms: Sequence[str] = ()
    ) -> str:
        """Push an image under its public name (`docker.io/library/ubuntu`), into that
        registry's namespace here; returns its digest (also in `pushed[name:tag]`)."""
        registry, _, path = name.partition("/")
        if content is None:
            content = f"{name if name in CONTENT_WITH_REGISTRY else path}:{tag}"
        digest = self.push(f"{namespace(registry)}/{path}", tag, content, platforms)
        self.pushed[f"{name}:{tag}"] = digest
        return digest

    def registries_conf(self, path: Path, registries: Sequence[str] = MAPPED_REGISTRIES) -> Path:
        """A registries.conf sending each of `registries` to its namespace here (plain HTTP)."""
        lines = ["unqualified-search-registries = []", ""]
        for prefix in registries:
            lines += [
                "[[registry]]",
                f'prefix = "{prefix}"',
                f'location = "{self.host}/{namespace(prefix)}"',
                "insecure = true",
                "",
            ]
        lines += ["[[registry]]", f'location = "{self.host}"', "insecure = true", ""]
        path.write_text("\n".join(lines))
        return path

    def push_examples(self) -> None:
        """Every image the bundled examples name."""
        for name, tags in EXAMPLE_IMAGES.items():
            platforms = ("linux/amd64", "linux/arm64") if name in MULTI_ARCH else ()
            for tag in tags:
                self.push_image(name, tag, platforms=platforms)


@contextlib.contextmanager
def running(root: Path | None = None) -> Iterator[LocalRegistry]:
    """A started registry with the example images pushed; stopped afterwards."""
    made = root is None
    folder = Path(tempfile.mkdtemp(prefix="jobc-registry-")) if root is None else root
    registry = LocalRegistry(folder)
    try:
        registry.start()
        registry.push_examples()
        yield registry
    finally:
        registry.stop()
        if made:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    """`run -- CMD…`: run CMD beside a local registry holding the example images."""
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        print("usage: python -m tests.localregistry run -- CMD...", file=sys.stderr)
        return 2
    with running() as registry:
        conf = registry.registries_conf(registry.root / "registries.conf")
        env = {**os.environ, "CONTAINERS_REGISTRIES_CONF": str(conf)}
        return subprocess.run(list(argv[2:]), env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
