"""The image oracle: asks a registry, through skopeo, which manifest a reference names.

Answers `ask("image", {"ref": "docker.io/library/ubuntu:latest"})` (and, with
`"platform": "linux/arm64"`, the child of a multi-arch index) with `{"digest": "sha256:…"}`.
This is the only code in jobc that runs `skopeo`:

    skopeo --command-timeout 30s [--registries-conf F] inspect --raw --no-tags
           [--authfile F] [--tls-verify=false] -- docker://<the normalised reference>

The reference is parsed with the image grammar first and rebuilt by jobc, and `--`
comes before it, so no user string can become a flag (`--help` is a bad reference, not
an option). The digest is the sha256 of the raw manifest bytes skopeo prints, computed
here. A digest that the outside world claims (an index's child, a reference pinned by
digest under `verify_digests`) is checked against the bytes the registry returns.

Answers are cached in the store (namespace `image`): five minutes for `latest`, a day
for other tags, forever for digests (what a digest names never changes). `refresh`
skips reading the cache (and writes the new answer); nothing is written on failure.
Distinct references are resolved by a bounded pool of workers (`prefetch`), and each is
asked at most once per run: answers are kept for the run in the context's session.
Offline, only the cache answers.

skopeo is a Go program that runs for ~10 ms of CPU, over half of it starting up (page
faults, the Go runtime, package initialisers: measured with perf and GODEBUG=inittrace).
Its garbage collector and its one thread per core cost more than they save in so short
a run, so jobc starts it with `GOMAXPROCS=1 GOGC=off GOMEMLIMIT=256MiB` (the memory limit
brings the collector back should a manifest ever need it) unless the environment
already sets them: 18% less CPU per call (12.6 → 10.5 ms; Debian 12's skopeo 1.9.3).

Settings (`CompileOptions.settings`):
- `registries_conf`: a registries.conf for skopeo (mirrors, aliases, insecure
  registries); default `$CONTAINERS_REGISTRIES_CONF`, which skopeo 1.9 itself ignores;
- `authfile`: skopeo's own credentials file (its path and contents are never printed);
- `insecure_registries`: domains reached with `--tls-verify=false`;
- `registry_timeout`: seconds per registry call (default 30); `workers` (default 8);
- `lock`: a lock file (`jobc lock`): answers come from it alone, no registry is asked;
- `skopeo`: the program (default `skopeo`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compiler import imageref
from compiler.ir import FrozenMap
from compiler.oracles import Fact, OracleError, OracleUnavailable, process

if TYPE_CHECKING:
    from compiler.oracles.live import LiveContext

CACHE_NAMESPACE = "image"
GO_ENVIRONMENT = {"GOMAXPROCS": "1", "GOGC": "off", "GOMEMLIMIT": "256MiB"}
"""Go runtime settings for skopeo's short runs (the environment's own values win)."""
TTL_LATEST = 5 * 60.0
"""`latest` moves often: five minutes."""
TTL_TAG = 24 * 3600.0
"""Other tags move rarely (a rebuilt `22.04`): a day."""
TTL_DIGEST: float | None = None
"""What a digest names never changes: forever."""
DEFAULT_TIMEOUT = 30.0
DEFAULT_WORKERS = 8
MAX_MANIFEST = 4 << 20
"""The largest manifest read (containers/image's own limit)."""

_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def handler(context: LiveContext) -> Resolver | LockResolver:
    """The `image` handler of a live compile (registered in `oracles.live.FACTORIES`).

    One resolver per run: the compiles of one run share it through the context's
    session, so a reference named by several files is asked once."""
    session = context.session
    key = ("image", _settings_key(context))
    resolver = session.get(key) if session is not None else None
    if not isinstance(resolver, Resolver | LockResolver):
        lock = context.settings.get("lock")
        resolver = LockResolver(str(lock)) if lock else Resolver(context)
        if session is not None:
            session[key] = resolver
    elif isinstance(resolver, Resolver):
        resolver.context = context  # the store of this compile
    return resolver


def _settings_key(context: LiveContext) -> str:
    return json.dumps(
        [context.offline, context.refresh, {k: str(v) for k, v in context.settings.items()}],
        sort_keys=True,
    )


@dataclass(frozen=True)
class Settings:
    """How to reach registries."""

    skopeo: str = "skopeo"
    registries_conf: str = ""
    authfile: str = ""
    insecure_registries: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    workers: int = DEFAULT_WORKERS

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> Settings:
        insecure = settings.get("insecure_registries") or ()
        if isinstance(insecure, str):
            insecure = tuple(filter(None, insecure.split(",")))
        return cls(
            skopeo=str(settings.get("skopeo") or "skopeo"),
            # skopeo 1.9 ignores this standard variable: jobc passes it on itself.
            registries_conf=str(
                settings.get("registries_conf") or os.environ.get("CONTAINERS_REGISTRIES_CONF", "")
            ),
            authfile=str(settings.get("authfile") or ""),
            insecure_registries=tuple(insecure),
            timeout=float(settings.get("registry_timeout") or DEFAULT_TIMEOUT),
            workers=max(1, int(settings.get("workers") or DEFAULT_WORKERS)),
        )


def ttl(ref: imageref.ImageReference, platform: str = "") -> float | None:
    """How long a resolution of `ref` may be reused."""
    if ref.digest:
        return TTL_DIGEST
    return TTL_LATEST if ref.tag == imageref.DEFAULT_TAG else TTL_TAG


def cache_key(ref: str, platform: str = "") -> str:
    """The cache key of a question: the normalised reference, and the platform if any."""
    return f"{ref} {platform}" if platform else ref


class Resolver:
    """Resolves image references through skopeo, with the store's cache and a worker pool."""

    def __init__(self, context: LiveContext) -> None:
        self.context = context
        self.settings = Settings.of(context.settings)
        self.answers: dict[str, str | Exception] = {}
        """This run's answers (digest or the error), by cache key."""
        self.calls = 0
        """skopeo runs so far (the bench and the tests count them)."""
        self._lock = threading.Lock()

    # --- the oracle interface ------------------------------------------------------------

    def __call__(self, question: Fact) -> Fact:
        ref, platform = _question(question)
        key = cache_key(ref, platform)
        if key not in self.answers:
            self.prefetch([question], refresh=self.context.refresh)
        answer = self.answers[key]
        if isinstance(answer, Exception):
            raise answer
        return FrozenMap({"digest": answer})

    def prefetch(self, questions: Iterable[Fact], *, refresh: bool = False) -> None:
        """Resolve every question not answered yet this run: cache first, then the
        registries, `workers` at a time. Errors are kept for `ask`."""
        refresh = refresh or self.context.refresh
        todo: dict[str, tuple[imageref.ImageReference, str]] = {}
        for question in questions:
            try:
                ref, platform = _question(question)
                key = cache_key(ref, platform)
                if key in self.answers or key in todo:
                    continue
                parsed = imageref.parse(ref)
            except OracleError as exc:
                self.answers[cache_key(str(question.get("ref")))] = exc
                continue
            except imageref.ReferenceError as exc:
                self.answers[key] = OracleError(
                    f"invalid image reference {ref!r}: {exc}", exc.hint, "image-ref"
                )
                continue
            if not refresh:
                cached = self.context.store.cache_get(CACHE_NAMESPACE, key)
                if isinstance(cached, dict) and imageref.PINNED_DIGEST.match(
                    str(cached.get("digest", ""))
                ):
                    self.answers[key] = str(cached["digest"])
                    continue
            if self.context.offline:
                self.answers[key] = OracleUnavailable(
                    "offline, and no cached resolution of this reference"
                )
                continue
            todo[key] = (parsed, platform)
        if not todo:
            return
        if len(todo) == 1:
            results = [self._resolve_safely(*next(iter(todo.values())))]
        else:
            with ThreadPoolExecutor(min(self.settings.workers, len(todo))) as pool:
                results = list(pool.map(lambda item: self._resolve_safely(*item), todo.values()))
        store = self.context.store
        with store.transaction():
            for (key, (parsed, platform)), result in zip(todo.items(), results, strict=True):
                self.answers[key] = result
                if isinstance(result, str):
                    store.cache_put(
                        CACHE_NAMESPACE, key, {"digest": result}, ttl=ttl(parsed, platform)
                    )

    # --- resolving ------------------------------------------------------------------------

    def _resolve_safely(self, ref: imageref.ImageReference, platform: str) -> str | Exception:
        try:
            return self.resolve(ref, platform)
        except (OracleError, OracleUnavailable) as exc:
            return exc

    def resolve(self, ref: imageref.ImageReference, platform: str = "") -> str:
        """The digest `ref` names (for `platform`, the child of an index): asks the registry."""
        raw = self.manifest(ref, str(ref))
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if ref.digest and digest != ref.digest:
            raise OracleError(
                f"the registry's manifest for {ref} hashes to {digest}, not to that digest",
                "the registry (or a mirror) serves other bytes than it claims: do not trust it",
                "image-digest-mismatch",
            )
        if not platform:
            return digest
        manifest = _json(raw, str(ref))
        if manifest.get("mediaType") not in _INDEX_TYPES and "manifests" not in manifest:
            # One image, not an index: its digest is the answer if its config says it is
            # for that platform (an amd64-only image cannot run as arm64).
            pinned = imageref.ImageReference(ref.domain, ref.path, "", digest)
            config = _json(self.manifest(pinned, str(ref), config=True), str(ref))
            has = [str(config.get("os", "")), str(config.get("architecture", ""))]
            if config.get("variant"):
                has.append(str(config["variant"]))
            want = platform.split("/")
            if has[:2] != want[:2] or (len(want) > 2 and has[2:] != want[2:]):
                raise OracleError(
                    f"{ref} is one image for {'/'.join(has)}, not for {platform}",
                    "name an image built for that platform, or drop `platform`",
                    "image-platform",
                )
            return digest
        child = _child(manifest, platform, str(ref))
        child_ref = imageref.ImageReference(ref.domain, ref.path, "", child)
        child_raw = self.manifest(child_ref, f"{ref} ({platform})")
        got = "sha256:" + hashlib.sha256(child_raw).hexdigest()
        if got != child:
            raise OracleError(
                f"the index {ref} lists {child} for {platform}, but the registry's "
                f"manifest for it hashes to {got}",
                "the registry (or a mirror) serves other bytes than it claims: do not trust it",
                "image-digest-mismatch",
            )
        return child

    def manifest(self, ref: imageref.ImageReference, shown: str, *, config: bool = False) -> bytes:
        """The raw manifest bytes of `ref`, from `skopeo inspect --raw` (with `config`:
        its config blob's, from `--config`)."""
        s = self.settings
        argv = [s.skopeo, "--command-timeout", f"{s.timeout:g}s"]
        if s.registries_conf:
            argv += ["--registries-conf", s.registries_conf]
        argv += ["inspect", "--raw", "--no-tags", "--retry-times", "0"]
        if config:
            argv.append("--config")
        if s.authfile:
            argv += ["--authfile", s.authfile]
        if ref.domain in s.insecure_registries:
            argv.append("--tls-verify=false")
        # `--` ends the options: the reference, rebuilt from its parts, is never a flag.
        argv += ["--", f"docker://{ref}"]
        with self._lock:
            self.calls += 1
        try:
            proc = process.run(argv, timeout=s.timeout + 5, env={**GO_ENVIRONMENT, **os.environ})
        except OSError as exc:
            raise OracleUnavailable(
                f"cannot run {s.skopeo}: {exc.strerror or exc} (install skopeo)"
            ) from None
        except subprocess.TimeoutExpired:
            raise _timeout(shown, s.timeout) from None
        out: bytes = proc.stdout
        err: bytes = proc.stderr
        if proc.returncode != 0:
            raise _failure(shown, ref, err.decode("utf-8", "replace"), s.timeout)
        if len(out) > MAX_MANIFEST:
            raise OracleError(f"the manifest of {shown} is over {MAX_MANIFEST} bytes")
        return out


class LockResolver:
    """Answers only from a lock file (`jobc lock`): never contacts a registry."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries = read_lock(path)

    def __call__(self, question: Fact) -> Fact:
        ref, platform = _question(question)
        digest = self.entries.get(cache_key(ref, platform))
        if digest is None:
            shown = f"{ref} ({platform})" if platform else ref
            raise OracleError(
                f"{shown} is not in the lock file {self.path}",
                "run `jobc lock` on this spec to add it, or compile without --lock "
                "(lock files hold the digests `jobc lock` found)",
                "image-not-locked",
            )
        return FrozenMap({"digest": digest})


# --- the lock file ------------------------------------------------------------------------

LOCK_VERSION = 1


def read_lock(path: str) -> dict[str, str]:
    """A lock file's entries, by cache key; OracleError if it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise OracleError(
            f"cannot read the lock file {path}: {exc.strerror or exc}",
            "write it with `jobc lock FILE…`",
            "lock",
        ) from None
    except ValueError as exc:
        raise OracleError(f"the lock file {path} is not JSON: {exc}", code="lock") from None
    if not isinstance(data, dict) or data.get("jobc-lock") != LOCK_VERSION:
        raise OracleError(
            f"{path} is not a jobc lock file (version {LOCK_VERSION})",
            "write it with `jobc lock FILE…`",
            "lock",
        )
    out: dict[str, str] = {}
    for entry in data.get("images", []):
        if not isinstance(entry, dict):
            continue
        ref, digest = entry.get("ref"), entry.get("digest")
        if (
            isinstance(ref, str)
            and isinstance(digest, str)
            and imageref.PINNED_DIGEST.match(digest)
        ):
            out[cache_key(ref, str(entry.get("platform", "")))] = digest
    return out


def lock_document(facts: Iterable[Mapping[str, Any]]) -> bytes:
    """A lock file holding these resolve-images facts (sorted, one entry per question)."""
    entries: dict[str, dict[str, str]] = {}
    for f in facts:
        entry = {"ref": str(f["ref"]), "digest": str(f["digest"])}
        if f.get("platform"):
            entry["platform"] = str(f["platform"])
        entries[cache_key(entry["ref"], entry.get("platform", ""))] = entry
    doc = {"jobc-lock": LOCK_VERSION, "images": [entries[k] for k in sorted(entries)]}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


# --- helpers ------------------------------------------------------------------------------


def _question(question: Mapping[str, Any]) -> tuple[str, str]:
    ref, platform = question.get("ref"), question.get("platform", "")
    if not isinstance(ref, str) or not isinstance(platform, str):
        raise OracleError("an image question needs a `ref` string", code="oracle")
    return ref, platform


def _json(raw: bytes, shown: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise OracleError(f"the registry's manifest for {shown} is not JSON") from None
    if not isinstance(value, dict):
        raise OracleError(f"the registry's manifest for {shown} is not a JSON object")
    return value


def _child(index: dict[str, Any], platform: str, shown: str) -> str:
    """The digest of the index's manifest for `platform` (os/arch[/variant])."""
    want = platform.split("/")
    offered: list[str] = []
    for m in index.get("manifests") or []:
        p = m.get("platform") if isinstance(m, dict) else None
        if not isinstance(p, dict):
            continue
        has = [str(p.get("os", "")), str(p.get("architecture", ""))]
        variant = str(p.get("variant", ""))
        offered.append("/".join([*has, variant] if variant else has))
        if has == want[:2] and (len(want) < 3 or variant == want[2]):
            digest = str(m.get("digest", ""))
            if not imageref.PINNED_DIGEST.match(digest):
                raise OracleError(f"the index {shown} lists an invalid digest for {platform}")
            return digest
    raise OracleError(
        f"the index {shown} has no image for {platform}",
        "it has: " + (", ".join(sorted(set(offered))) or "no platforms at all"),
        "image-platform",
    )


def _timeout(shown: str, seconds: float) -> OracleError:
    return OracleError(
        f"the registry of {shown} did not answer within {seconds:g} s",
        "check the registry, or raise --registry-timeout",
        "registry-timeout",
    )


def _failure(shown: str, ref: imageref.ImageReference, stderr: str, seconds: float) -> Exception:
    """An error for a failed skopeo run, from what it said (the last line, trimmed)."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "no message"
    m = re.search(r'msg="(.*)"\s*$', last)
    said = (m.group(1) if m else last).replace('\\"', '"')
    low = said.lower()
    if "invalid reference format" in low:
        # jobc's grammar accepted it, skopeo's (older) parser does not (IPv6 registries
        # before containers/image 5.25): the job cannot be pinned here; not the user's fault.
        return OracleUnavailable(f"this skopeo cannot read the reference {shown}")
    if "manifest unknown" in low or "name unknown" in low or "not found" in low:
        what = f"no tag {ref.tag!r}" if ref.tag else "no such digest"
        return OracleError(
            f"the registry has {what} in {ref.repository}, or no such repository",
            "check the name and tag (`skopeo list-tags docker://" + ref.repository + "`)",
            "image-unknown",
        )
    if "unauthorized" in low or "authentication required" in low or "denied" in low:
        return OracleError(
            f"the registry refused access to {ref.repository}",
            "log in with `skopeo login`, or pass --authfile",
            "registry-auth",
        )
    if "deadline exceeded" in low or "timeout" in low or "timed out" in low:
        return _timeout(shown, seconds)
    if "connection refused" in low or "no such host" in low or "network is unreachable" in low:
        return OracleError(
            f"cannot reach the registry of {shown} ({ref.domain}): {_tail(said)}",
            "check the registry is up, or compile --offline (the job stays unpinned)",
            "registry-down",
        )
    return OracleError(
        f"cannot resolve {shown}: {_tail(said)}",
        "check the reference and the registry, or compile --offline",
        "registry",
    )


def _tail(text: str, limit: int = 200) -> str:
    """The end of skopeo's message (its start repeats the reference we already name)."""
    text = ": ".join(text.rsplit(": ", 2)[-2:])
    return text if len(text) <= limit else text[: limit - 1] + "…"
