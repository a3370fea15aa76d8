"""The intermediate representation: one canonical job, whatever format it was written in.

Every node is a frozen, slotted dataclass; edits go through `dataclasses.replace`, so a
pass can never mutate its input. The IR holds only *what* a job computes (DESIGN §2):
names, labels and execution options live beside it, in `compile.Compiled`.

Generic values (unknown fields kept under `x`, WASM arguments, parameters of extension
engines) are `Value`s: None, bool, int, str, bytes, `Link`, tuples and `FrozenMap`s.
Floats are not values: identity has no floats (DESIGN §3).
"""

from __future__ import annotations

import functools
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass, field, fields
from typing import ClassVar, Literal, TypeAlias, TypeVar, overload

import libipld

IR_VERSION = 1

V = TypeVar("V")
T = TypeVar("T")


class FrozenMap(Mapping[str, V]):
    """An immutable, hashable map with string keys (iteration order: sorted keys)."""

    __slots__ = ("_data",)
    _data: dict[str, V]

    def __init__(self, items: Mapping[str, V] | None = None) -> None:
        if not items:
            data = {}
        elif len(items) == 1:
            data = dict(items)
        else:
            data = dict(sorted(items.items()))
        object.__setattr__(self, "_data", data)

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    # The Mapping mixins go through __iter__ and __getitem__ one key at a time; these
    # hand the work to the dict (same results, several times faster on hot paths).
    def __contains__(self, key: object) -> bool:
        return key in self._data

    @overload
    def get(self, key: str, /) -> V | None: ...
    @overload
    def get(self, key: str, /, default: V | T) -> V | T: ...
    def get(self, key: str, /, default: object = None) -> object:
        """The value at `key`, or `default`."""
        return self._data.get(key, default)

    def keys(self) -> KeysView[str]:
        """The keys, sorted."""
        return self._data.keys()

    def items(self) -> ItemsView[str, V]:
        """The (key, value) pairs, sorted by key."""
        return self._data.items()

    def values(self) -> ValuesView[V]:
        """The values, in key order."""
        return self._data.values()

    def to_dict(self) -> dict[str, V]:
        """A plain dict copy, in the map's (sorted) order."""
        return dict(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        # Not cached: maps are built far more often than hashed (a slot to cache it in
        # would cost every construction).
        return hash(tuple(self._data.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return bool(self._data == other._data)
        if isinstance(other, Mapping):
            return bool(self._data == dict(other))
        return NotImplemented

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("FrozenMap is immutable")

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def set(self, key: str, value: V) -> FrozenMap[V]:
        """A copy with `key` set to `value`."""
        data = dict(self._data)
        data[key] = value
        return FrozenMap(data)


EMPTY: FrozenMap[object] = FrozenMap()


def empty_map() -> FrozenMap[V]:
    """The empty map, typed for any value type."""
    return EMPTY  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Link:
    """A CID: a link to a block or to content (tag 42 in DAG-CBOR, `{"/": …}` in DAG-JSON)."""

    raw: bytes
    """The binary CID (version, codec, multihash), without the multibase prefix."""

    @classmethod
    def parse(cls, text: str) -> Link:
        """Parse a CID string (any multibase, CIDv0 or v1); raises ValueError if malformed."""
        try:
            info = libipld.decode_cid(text)
        except Exception as exc:  # libipld raises ValueError subclasses of its own
            raise ValueError(f"not a valid CID: {exc}") from exc
        mh = info["hash"]
        if info["version"] == 0 and mh["code"] == 0x12:
            return cls(b"\x12\x20" + mh["digest"])
        return cls(
            _cid_prefix(info["version"], info["codec"], mh["code"], mh["size"]) + mh["digest"]
        )

    @property
    def version(self) -> int:
        """0 for a bare sha2-256 multihash (CIDv0), else 1."""
        return 0 if self.raw[:2] == b"\x12\x20" and len(self.raw) == 34 else 1

    def v1(self) -> Link:
        """The same content as a CIDv1 (CIDv0 is dag-pb)."""
        raw = self.raw
        if raw[:2] == b"\x12\x20" and len(raw) == 34:  # `self.version == 0`, inlined
            return Link(b"\x01\x70" + raw)
        return self

    def __str__(self) -> str:
        # Not cached: encoding 36 bytes costs less than looking them up in a cache big
        # enough to matter (measured: an LRU cache here made compiles 5% slower).
        raw = self.raw
        text: str
        if raw[:2] == b"\x12\x20" and len(raw) == 34:  # CIDv0: base58btc, no multibase prefix
            text = libipld.encode_multibase("z", raw)
            return text[1:]
        text = libipld.encode_multibase("b", raw)
        return text

    def __repr__(self) -> str:
        return f"Link({self})"


@functools.lru_cache(maxsize=256)
def _cid_prefix(version: int, codec: int, code: int, size: int) -> bytes:
    """The bytes of a CID before its digest; a CIDv0 (version 0) is a bare multihash.
    Cached: a few kinds of CID (dag-pb, raw, dag-cbor with sha2-256) are nearly all of them."""
    multihash = _varint(code) + _varint(size)
    return multihash if version == 0 else _varint(1) + _varint(codec) + multihash


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


Value: TypeAlias = "bool | int | str | bytes | Link | tuple[Value, ...] | FrozenMap[Value] | None"
Content: TypeAlias = "Link | str"
"""Content: a CID once pinned, else the source URI as written, normalised."""

Determinism = Literal["strict", "unordered", "none"]
DETERMINISM_VALUES: tuple[Determinism, ...] = ("strict", "unordered", "none")


@dataclass(frozen=True, slots=True)
class ImageDigest:
    """A resolved image: its manifest digest only (no registry, repository or tag)."""

    digest: str


Image: TypeAlias = "str | ImageDigest"
"""An unresolved normalised reference string, or a resolved digest."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerTask:
    """Run a container image."""

    engine: ClassVar[str] = "docker"
    image: Image
    entrypoint: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: FrozenMap[str] = field(default_factory=empty_map)
    workdir: str = ""
    platform: str = ""
    """`os/arch[/variant]`; identity only while the image is unresolved (the digest says it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WasmTask:
    """Run a WebAssembly module under WASI."""

    engine: ClassVar[str] = "wasm"
    module: Content
    entrypoint: str = "_start"
    args: tuple[Value, ...] = ()
    env: FrozenMap[str] = field(default_factory=empty_map)
    imports: FrozenMap[Content] = field(default_factory=empty_map)
    stdin: Content | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceTask:
    """Compile a Rust or C program to WASM (the `lower` pass), then run it."""

    engine: Literal["rust", "c"]
    source: Content
    edition: str = ""
    """Rust edition; "" means the default (2021). Always "" for C."""
    args: tuple[str, ...] = ()
    env: FrozenMap[str] = field(default_factory=empty_map)


RUST_DEFAULT_EDITION = "2021"


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherTask:
    """An extension engine: its parameters are kept as written."""

    engine: str
    params: FrozenMap[Value] = field(default_factory=empty_map)


Task: TypeAlias = "DockerTask | WasmTask | SourceTask | OtherTask"
BUILTIN_ENGINES = ("docker", "wasm", "rust", "c")


@dataclass(frozen=True, slots=True)
class Await:
    """An input read from another job's output: that job's CID and the output path."""

    job: Link
    path: str


@dataclass(frozen=True, slots=True)
class Input:
    """Data mounted at `target` before the job runs."""

    target: str
    source: Content | Await


@dataclass(frozen=True, slots=True)
class Network:
    """Network access the job needs; absent (None on the Job) means no network."""

    mode: Literal["http", "full"]
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """A compute job: the unit that gets a job CID."""

    task: Task
    inputs: tuple[Input, ...] = ()
    outputs: tuple[str, ...] = ()
    determinism: Determinism = "none"
    network: Network | None = None
    nonce: str = ""
    x: FrozenMap[Value] = field(default_factory=empty_map)


N = TypeVar("N")
_INIT_FIELDS: dict[type, tuple[str, ...]] = {}


def replace(node: N, /, **changes: object) -> N:
    """`dataclasses.replace` for IR nodes, without its introspection on every call."""
    cls = type(node)
    names = _INIT_FIELDS.get(cls)
    if names is None:
        names = _INIT_FIELDS[cls] = tuple(f.name for f in fields(cls) if f.init)  # type: ignore[arg-type]
    for name in names:
        if name not in changes:
            changes[name] = getattr(node, name)
    return cls(**changes)


def default_determinism(engine: str) -> Determinism:
    """What a job is when its source says nothing (DESIGN §3)."""
    return "strict" if engine in ("wasm", "rust", "c") else "none"


@overload
def freeze(value: list[object]) -> tuple[Value, ...]: ...
@overload
def freeze(value: object) -> Value: ...
def freeze(value: object) -> Value:
    """Turn plain JSON-like data (dict/list) into an immutable `Value`."""
    if isinstance(value, dict):
        return FrozenMap({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if value is None or isinstance(value, bool | int | str | bytes | Link | FrozenMap):
        return value
    raise TypeError(f"not an IR value: {type(value).__name__}")


def is_pinned(job: Job) -> bool:
    """Whether everything the job needs is content-addressed (no tag, no URL left)."""
    return not unpinned(job)


def unpinned(job: Job) -> list[tuple[str, str]]:
    """Every (IR path, reference) still not content-addressed."""
    out: list[tuple[str, str]] = []
    task = job.task
    if isinstance(task, DockerTask):
        if isinstance(task.image, str):
            out.append(("/task/image", task.image))
    elif isinstance(task, WasmTask):
        if isinstance(task.module, str):
            out.append(("/task/module", task.module))
        for name, content in task.imports.items():
            if isinstance(content, str):
                out.append((f"/task/imports/{name}", content))
        if isinstance(task.stdin, str):
            out.append(("/task/stdin", task.stdin))
    elif isinstance(task, SourceTask) and isinstance(task.source, str):
        out.append(("/task/source", task.source))
    for inp in job.inputs:
        if isinstance(inp.source, str):
            out.append((f"/inputs/{inp.target}", inp.source))
    return out
