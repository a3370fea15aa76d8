"""Helpers for comparing jobc's encodings with the reference implementations
(`dag-cbor` + `multiformats`), shared by the identity and IPLD conformance tests."""

from __future__ import annotations

import struct
from typing import Any

from multiformats import CID


def same(a: Any, b: Any) -> bool:
    """Strict equality of decoded data: kinds must match (True is not 1, bytes not a CID,
    -0.0 not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, CID):
        return bytes(a) == bytes(b)
    if isinstance(a, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    return bool(a == b)
