"""Where the grammars and schemas are: inside the installed wheel, or in the source tree."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


@functools.cache
def data_dir(kind: str) -> Path:
    """The folder holding `grammars` or `schemas`: the wheel's copy first, else the repo's."""
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"jobc is installed without its {kind}/ folder")


def grammar_text(name: str) -> str:
    """The text of `grammars/<name>.lark`."""
    return (data_dir("grammars") / f"{name}.lark").read_text(encoding="utf-8")


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema `schemas/<name>.schema.json`."""
    path = data_dir("schemas") / f"{name}.schema.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded
