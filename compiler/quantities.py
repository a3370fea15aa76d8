"""Sizes and durations as people write them: `512MiB`, `64Mi`, `2GB`, `10m`, `1h30m`, `90`.

Execution options (`execution.timeout`, `execution.resources.memory`) and command-line
limits use these; they are never identity, so no choice here changes a CID.
"""

from __future__ import annotations

import re

_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "K": 1000,
    "KB": 1000,
    "M": 10**6,
    "MB": 10**6,
    "G": 10**9,
    "GB": 10**9,
    "T": 10**12,
    "TB": 10**12,
    "KI": 1 << 10,
    "KIB": 1 << 10,
    "MI": 1 << 20,
    "MIB": 1 << 20,
    "GI": 1 << 30,
    "GIB": 1 << 30,
    "TI": 1 << 40,
    "TIB": 1 << 40,
}
_SIZE = re.compile(r"\s*(\d+)\s*([A-Za-z]*)\s*\Z")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_size(text: str | int) -> int:
    """A byte count: `1000000`, `512MiB`, `64Mi` (Kubernetes), `2GB`; raises ValueError."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = _SIZE.match(str(text))
    unit = m[2].upper() if m else ""
    if m is None or unit not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size (write e.g. 500MiB, 64Mi or 2GB)")
    return int(m[1]) * _SIZE_UNITS[unit]


def parse_duration(text: str | int) -> float:
    """Seconds: `90` (seconds), `30s`, `10m`, `1h30m`, `500ms`; raises ValueError."""
    if isinstance(text, int) and not isinstance(text, bool):
        return float(text)
    value = str(text).strip()
    if value.isdigit():
        return float(value)
    pos, total = 0, 0.0
    while pos < len(value):
        m = _DURATION_PART.match(value, pos)
        if m is None:
            raise ValueError(f"{text!r} is not a duration (write e.g. 30s, 10m or 1h30m)")
        total += float(m[1]) * _DURATION_SECONDS[m[2]]
        pos = m.end()
    if not value:
        raise ValueError("an empty duration")
    return total
