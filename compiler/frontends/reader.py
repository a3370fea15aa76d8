"""Typed, position-aware reading of a document tree, shared by the front-ends.

Each accessor checks one value's shape and, when it is wrong, records an error at the
value's line and column and returns a placeholder so reading goes on: one run reports
every problem in the document, as a compiler does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from compiler.diagnostics import Diagnostic, DiagnosticSink, error, warning
from compiler.frontends.loader import SourceDocument, escape_pointer_token, kind_of
from compiler.ir import FrozenMap, Value


def child(pointer: str, token: str | int) -> str:
    """The JSON pointer of a child."""
    if isinstance(token, str) and ("~" in token or "/" in token):
        return f"{pointer}/{escape_pointer_token(token)}"
    return f"{pointer}/{token}"


class Reader:
    """Reads values out of a `SourceDocument`, collecting diagnostics."""

    def __init__(self, doc: SourceDocument, sink: DiagnosticSink | None = None) -> None:
        self.doc = doc
        self.sink = sink or DiagnosticSink()

    # -- diagnostics

    def error(
        self, pointer: str, message: str, hint: str = "", *, key: bool = False, code: str = ""
    ) -> None:
        """Record an error at the value (or key) at `pointer`."""
        self.sink.add(
            error(
                message, span=self.doc.span(pointer, key=key), pointer=pointer, hint=hint, code=code
            )
        )

    def warn(
        self, pointer: str, message: str, hint: str = "", *, key: bool = False, code: str = ""
    ) -> None:
        """Record a warning at the value (or key) at `pointer`."""
        self.sink.add(
            warning(
                message, span=self.doc.span(pointer, key=key), pointer=pointer, hint=hint, code=code
            )
        )

    def type_error(
        self, pointer: str, field: str, expected: str, value: Any, hint: str = ""
    ) -> None:
        """Record "`field` must be <expected>, not <what it is>"."""
        if not hint:
            hint = _TYPE_HINTS.get(expected, "")
        self.error(
            pointer, f"`{field}` must be {expected}, not {kind_of(value)}", hint, code="type"
        )

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Everything recorded so far."""
        return self.sink.diagnostics

    # -- accessors

    def mapping(self, value: Any, pointer: str, field: str) -> dict[str, Any]:
        """A map, or {} after recording an error."""
        if isinstance(value, dict):
            return value
        self.type_error(pointer, field, "a map", value)
        return {}

    def sequence(self, value: Any, pointer: str, field: str) -> list[Any]:
        """A list, or [] after recording an error."""
        if isinstance(value, list):
            return value
        self.type_error(pointer, field, "a list", value)
        return []

    def string(
        self, value: Any, pointer: str, field: str, *, allow_int: bool = False, hint: str = ""
    ) -> str:
        """A string (or, with `allow_int`, an integer written in decimal), else ""."""
        if isinstance(value, str):
            return value
        if allow_int and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, float | bool) and not hint:
            hint = "quote it to make it a string"
        self.type_error(pointer, field, "a string", value, hint)
        return ""

    def string_list(self, value: Any, pointer: str, field: str) -> tuple[str, ...]:
        """A list of strings (integers are written out in decimal)."""
        if type(value) is list and all(type(v) is str for v in value):
            return tuple(value)  # the common case: nothing to convert or report
        items = self.sequence(value, pointer, field)
        return tuple(
            self.string(v, child(pointer, i), f"{field}[{i}]", allow_int=True)
            for i, v in enumerate(items)
        )

    def env(self, value: Any, pointer: str, field: str) -> FrozenMap[str]:
        """Environment variables, as a map or as a list of `K=V` strings."""
        fast = _clean_env(value)
        if fast is not None:
            return fast
        out: dict[str, str] = {}
        if isinstance(value, list):
            for i, item in enumerate(value):
                p = child(pointer, i)
                text = self.string(item, p, f"{field}[{i}]")
                if not isinstance(item, str):
                    continue
                name, sep, val = text.partition("=")
                if not sep or not name:
                    self.error(
                        p,
                        f"`{field}[{i}]` must look like NAME=value",
                        "write NAME=value, e.g. LC_ALL=C, or give `env` as a map",
                        code="env",
                    )
                    continue
                if name in out:
                    self.error(
                        p,
                        f"environment variable {name!r} is given twice",
                        "keep one of them",
                        code="duplicate-env",
                    )
                out[name] = val
            return FrozenMap(out)
        for k, v in self.mapping(value, pointer, field).items():
            out[k] = self.string(v, child(pointer, k), f"{field}.{k}", allow_int=True)
        return FrozenMap(out)

    def boolean(self, value: Any, pointer: str, field: str) -> bool:
        """A boolean, else False after recording an error."""
        if isinstance(value, bool):
            return value
        self.type_error(pointer, field, "true or false", value)
        return False

    def generic(self, value: Any, pointer: str, *, dag_json: bool = False) -> Value:
        """Any value kept as written in identity: no floats (DESIGN §3), no map whose only
        key is `/` (`dag_json`: the document is DAG-JSON, where that map is a link or
        bytes, read by the caller)."""
        try:
            return plain_value(value)  # the common case, without building a pointer per value
        except NotPlain:
            pass
        if isinstance(value, dict):
            if "/" in value and len(value) == 1 and not dag_json:
                self.error(
                    pointer,
                    "a map whose only key is `/` cannot be part of a job's identity",
                    "DAG-JSON, which compiled documents are written in, reads it as a link "
                    "(or bytes): give the map another key, or name the key otherwise",
                    code="reserved-key",
                )
                return None
            return FrozenMap(
                {k: self.generic(v, child(pointer, k), dag_json=dag_json) for k, v in value.items()}
            )
        if isinstance(value, list):
            return tuple(
                self.generic(v, child(pointer, i), dag_json=dag_json) for i, v in enumerate(value)
            )
        if isinstance(value, float):
            self.error(
                pointer,
                f"a number with a fraction ({value!r}) cannot be part of a job's identity",
                'write it as a string (e.g. "1.5"), or as an integer in smaller units',
                code="float",
            )
            return None
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**64) <= value < 2**64:
            self.error(
                pointer,
                f"integer {value} does not fit in 64 bits",
                "write it as a string",
                code="int-range",
            )
            return None
        return value  # type: ignore[no-any-return]

    def unknown_fields(
        self,
        mapping: dict[str, Any],
        pointer: str,
        known: Iterable[str],
        *,
        strict: bool,
        where: str,
    ) -> dict[str, Any]:
        """The fields of `mapping` not in `known`, each with a warning (an error if strict)."""
        known_set: frozenset[str] = known if isinstance(known, frozenset) else frozenset(known)
        if mapping.keys() <= known_set:
            return {}
        unknown = {k: v for k, v in mapping.items() if k not in known_set}
        for k in unknown:
            near = _closest(k, known_set)
            hint = (
                f"did you mean `{near}`?"
                if near
                else ("it is kept in the job's identity under `x`; remove it if it is a typo")
            )
            msg = f"unknown field `{k}` in {where}"
            if strict:
                self.error(child(pointer, k), msg, hint, key=True, code="unknown-field")
            else:
                self.warn(
                    child(pointer, k),
                    msg + " (kept under `x`)",
                    hint,
                    key=True,
                    code="unknown-field",
                )
        return unknown


class ExtensionReader(Reader):
    """A Reader that keeps unknown fields in identity under `x` (DESIGN §2) and notes
    where every IR path came from."""

    def __init__(self, doc: SourceDocument, sink: DiagnosticSink | None = None) -> None:
        super().__init__(doc, sink)
        self.x: dict[str, Value] = {}
        self.x_pointers: dict[str, str] = {}
        self.locations: dict[str, str] = {}

    def add_x(self, key: str, value: Any, pointer: str) -> None:
        """Keep `value` in identity under `x.<key>`; a key given twice is an error."""
        if key in self.x:
            self.error(
                pointer,
                f"extension field `{key}` is given twice",
                f"it is also at {self.doc.span(self.x_pointers[key])}",
                code="duplicate-x",
            )
            return
        self.x[key] = self.generic(value, pointer)
        self.x_pointers[key] = pointer
        self.locations[f"/x/{key}"] = pointer


def unwritable(value: Any, pointer: str) -> list[tuple[str, Any]]:
    """Where `value` (kept beside identity, as written) holds what the compiled JSON
    document cannot carry: binary data (YAML `!!binary`), NaN and infinities."""
    if _writable(value):
        return []  # the common case, found without building a pointer per value
    found: list[tuple[str, Any]] = []
    stack = [(value, pointer)]
    while stack:
        v, p = stack.pop()
        if type(v) is dict:
            stack.extend((x, child(p, k)) for k, x in v.items())
        elif type(v) is list:
            stack.extend((x, child(p, i)) for i, x in enumerate(v))
        elif isinstance(v, bytes) or (isinstance(v, float) and not math.isfinite(v)):
            found.append((p, v))
    return sorted(found)


def _writable(value: Any) -> bool:
    """Whether `unwritable(value, …)` finds nothing."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str or t is int:
            continue
        if t is dict:
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
        elif isinstance(v, bytes) or (isinstance(v, float) and not math.isfinite(v)):
            return False
    return True


def _clean_env(value: Any) -> FrozenMap[str] | None:
    """`env` when it holds nothing to convert or report (strings only, no repeated name)."""
    if type(value) is dict:
        if all(type(v) is str for v in value.values()):
            return FrozenMap(value)
        return None
    if type(value) is not list:
        return None
    out: dict[str, str] = {}
    for item in value:
        if type(item) is not str:
            return None
        name, sep, val = item.partition("=")
        if not sep or not name or name in out:
            return None
        out[name] = val
    return FrozenMap(out)


class NotPlain(Exception):
    """A value `Reader.generic` has to look at closely: it may report something."""


_INT_RANGE = range(-(2**64), 2**64)


def plain_value(value: Any) -> Value:
    """`value` as an IR value if it is made only of strings, booleans, null, bytes, 64-bit
    integers, lists and maps: then `Reader.generic` has nothing to report. Else NotPlain.
    """
    t = type(value)
    if t is str or t is bool or value is None or t is bytes:
        return value  # type: ignore[no-any-return]
    if t is int:
        if value in _INT_RANGE:
            return value  # type: ignore[no-any-return]
        raise NotPlain
    if t is list:
        return tuple([plain_value(v) for v in value])
    if t is dict:
        if "/" in value and len(value) == 1:
            raise NotPlain  # DAG-JSON's form of a link: `generic` says why it cannot be
        return FrozenMap({k: plain_value(v) for k, v in value.items()})
    raise NotPlain


_TYPE_HINTS = {
    "a list": "write a list: one `- item` per line, or [a, b] on one line",
    "a map": "write a map: one `key: value` per line, or {key: value} on one line",
    "a string": "quote the value to make it a string",
    "true or false": "write true or false (without quotes)",
}


def _closest(word: str, choices: frozenset[str]) -> str:
    import difflib

    found = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return found[0] if found else ""
