"""Reading Bacalhau documents as Bacalhau's own decoders do: keys case-insensitive, null
and zero values the same as absent.

Go's `encoding/json` (and sigs.k8s.io/yaml, which goes through it) matches struct
fields case-insensitively, and the engine and storage parameters are decoded with
`mapstructure`, which does too: `Image`, `image` and `IMAGE` are one field. Bacalhau
itself writes `null` for unset lists and maps (`EnvironmentVariables: null`), so a
null means "not given" here. A key written twice in different cases is an error: Go
would silently keep the last one, and jobc does not guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from compiler.frontends.reader import Reader, child


class Fields:
    """One map of a Bacalhau document, read case-insensitively, noting what was read."""

    __slots__ = ("_by_fold", "pointer", "reader", "used", "where")

    def __init__(self, reader: Reader, value: Any, pointer: str, where: str) -> None:
        self.reader = reader
        self.pointer = pointer
        self.where = where
        self.used: set[str] = set()
        if type(value) is dict:
            # The common case: no two keys fold alike, found in one comprehension.
            self._by_fold = {k.casefold(): (k, v) for k, v in value.items()}
            if len(self._by_fold) == len(value):
                return
        self._by_fold = {}
        mapping = reader.mapping(value, pointer, where) if value is not None else {}
        for key, item in mapping.items():
            folded = key.casefold()
            if folded in self._by_fold:
                first = self._by_fold[folded][0]
                reader.error(
                    child(pointer, key),
                    f"`{key}` and `{first}` are the same field in {where} "
                    "(Bacalhau reads keys case-insensitively)",
                    f"keep one of them; the other is at {reader.doc.span(child(pointer, first))}",
                    key=True,
                    code="duplicate-key",
                )
                continue
            self._by_fold[folded] = (key, item)

    @classmethod
    def empty(cls, reader: Reader, pointer: str, where: str) -> Fields:
        """A map with nothing in it (a field that was not given)."""
        return cls(reader, None, pointer, where)

    def key(self, name: str) -> str | None:
        """The key as written for field `name`, or None if absent."""
        found = self._by_fold.get(_FOLDS.get(name) or _fold(name))
        return found[0] if found is not None else None

    def get(self, name: str) -> Any:
        """The value of field `name` (None if absent or null); marks the field as read."""
        folded = _FOLDS.get(name) or _fold(name)
        found = self._by_fold.get(folded)
        if found is None:
            return None
        self.used.add(folded)
        return found[1]

    def has(self, name: str) -> bool:
        """Whether field `name` is given with a value other than null."""
        found = self._by_fold.get(_FOLDS.get(name) or _fold(name))
        return found is not None and found[1] is not None

    def at(self, name: str) -> str:
        """The JSON pointer of field `name` (of the map itself when it is absent)."""
        key = self.key(name)
        return child(self.pointer, key) if key is not None else self.pointer

    def sub(self, name: str) -> Fields:
        """Field `name` as a map of its own (empty when absent or null)."""
        # `get`, `at` and `label` in one look-up: a document's maps are all read this way.
        folded = _FOLDS.get(name) or _fold(name)
        found = self._by_fold.get(folded)
        if found is None:
            return Fields(self.reader, None, self.pointer, self.label(name))
        self.used.add(folded)
        key, value = found
        where = f"{self.where}.{key}" if self.where else key
        return Fields(self.reader, value, child(self.pointer, key), where)

    def string(self, name: str, *, allow_int: bool = False) -> str:
        """Field `name` as a string ("" when absent)."""
        value = self.get(name)
        if type(value) is str:
            return value  # the common case, with no pointer or label to build
        if value is None:
            return ""
        return self.reader.string(value, self.at(name), self.label(name), allow_int=allow_int)

    def strings(self, name: str) -> tuple[str, ...]:
        """Field `name` as a list of strings (() when absent)."""
        value = self.get(name)
        if value is None:
            return ()
        if type(value) is list and all(type(v) is str for v in value):
            return tuple(value)
        return self.reader.string_list(value, self.at(name), self.label(name))

    def items(self, name: str) -> Iterator[tuple[str, Any, str]]:
        """(pointer, item, label) for each item of list field `name`."""
        value = self.get(name)
        if value is None:
            return
        pointer = self.at(name)
        label = self.label(name)
        for i, item in enumerate(self.reader.sequence(value, pointer, label)):
            yield child(pointer, i), item, f"{label}[{i}]"

    def label(self, name: str) -> str:
        """How to name field `name` in a message: as written, within its map."""
        key = self.key(name) or name
        return f"{self.where}.{key}" if self.where else key

    def unread(self, also_known: Iterable[str] = ()) -> dict[str, Any]:
        """The fields not read yet and not in `also_known`, by key as written."""
        if len(self.used) == len(self._by_fold):
            return {}  # everything was read (the common case)
        known = {_fold(k) for k in also_known} | self.used
        return {k: v for folded, (k, v) in self._by_fold.items() if folded not in known}

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _fold(name) in self._by_fold

    def keys(self) -> list[str]:
        """The keys as written."""
        return [k for k, _ in self._by_fold.values()]


_FOLDS: dict[str, str] = {}


def _fold(name: str) -> str:
    """`name.casefold()`, remembered (field names repeat in every document)."""
    folded = _FOLDS.get(name)
    if folded is None:
        if len(_FOLDS) > 4096:  # keys are data too: keep the memo small
            _FOLDS.clear()
        folded = _FOLDS[name] = name.casefold()
    return folded
