"""Read YAML and JSON documents into plain data, keeping the line and column of every node.

Both syntaxes give the same data model: maps with string keys, lists, strings,
integers, booleans, null, byte strings (YAML `!!binary`) and floats (kept so the
front-end can reject them where identity forbids them, with a position).

YAML is read as YAML 1.2 core (`on`, `yes`, `0777` are strings, not booleans or
octal), from libyaml's event stream with an explicit stack: no recursion, so a deeply
nested document is a diagnostic, not a crash. Aliases are allowed, but their expansion
is bounded (a "billion laughs" document is an error). Duplicate keys are errors.
A plain document (no anchor, alias, tag, merge key, duplicate or non-string key, within
the limits: nearly every job) is read by `_load_yaml_fast`, which keeps no positions;
anything else, and the positions of a plain document once a diagnostic asks for one,
by `_load_yaml`, which makes the same tree and notes where every value stands.

JSON is read with orjson when the document is plainly valid (no duplicate keys, no
floats: see `_json_fast`), else with Python's C decoder, which reports exactly what is
wrong; positions are computed only when a diagnostic needs them, by parsing again with
`grammars/json.lark`.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from compiler.diagnostics import Diagnostic, Span, SpecError, error

if TYPE_CHECKING:
    import json

Syntax = Literal["yaml", "json"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a document may cost to read."""

    max_bytes: int = 16 * 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 100_000
    """Values after alias expansion: a YAML alias bomb stops here."""


DEFAULT_LIMITS = Limits()


def escape_pointer_token(token: str) -> str:
    """Escape one JSON-pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


@dataclass
class SourceDocument:
    """A document as read: its bytes, text, data tree and where each value stands."""

    name: str
    raw: bytes
    text: str
    syntax: Syntax
    tree: Any
    _spans: dict[str, Span] | None = None
    _key_spans: dict[str, Span] | None = None
    limits: Limits = field(default_factory=Limits)
    plain: bool = False
    """The tree holds nothing that JSON cannot write back (byte strings, NaN,
    infinities), so a front-end need not look for them."""

    def span(self, pointer: str, *, key: bool = False) -> Span:
        """Where the value (or, with `key`, the map key) at `pointer` stands.

        A pointer to something absent gives its nearest present ancestor.
        """
        if self._spans is None:
            self._compute_spans()
        assert self._spans is not None
        assert self._key_spans is not None
        p = pointer
        while True:
            if key and p in self._key_spans:
                return self._key_spans[p]
            if p in self._spans:
                return self._spans[p]
            if not p:
                return Span(self.name, 1, 1, 0)
            p = p.rsplit("/", 1)[0]
            key = False

    def _compute_spans(self) -> None:
        if self.syntax == "json":
            # The text was read already, so it is valid JSON: a scan finds the places
            # (the lark parser, several times slower, is for documents that do not read).
            self._spans, self._key_spans = json_spans(self.name, self.text)
        else:
            # Read again, the exact way: `_load_yaml_fast` read it, so this gives the
            # same tree, and no diagnostic.
            _, self._spans, self._key_spans = _load_yaml(self.name, self.text, self.limits)


def _span_at(name: str, text: str, offset: int) -> Span:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Span(name, line, col, offset)


def decode_text(name: str, raw: bytes, limits: Limits) -> str:
    """Check the size limit and decode UTF-8 (a BOM is allowed), or stop with a diagnostic."""
    if len(raw) > limits.max_bytes:
        raise SpecError(
            error(
                f"document is {len(raw):,} bytes, over the limit of {limits.max_bytes:,}",
                span=Span(name, 1, 1, 0),
                hint="split the job, or keep large data in input files rather than in the spec",
                code="too-large",
            )
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = raw[: exc.start].decode("utf-8", errors="replace")
        raise SpecError(
            error(
                f"document is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                span=_span_at(name, prefix, len(prefix)),
                hint="save the file as UTF-8",
                code="encoding",
            )
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def sniff_syntax(name: str, text: str) -> Syntax:
    """JSON for `.json` files and for text that starts with `{` or `[`; YAML otherwise."""
    if name.endswith(".json"):
        return "json"
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    stripped = text.lstrip()
    return "json" if stripped[:1] in ("{", "[") else "yaml"


def load(
    name: str, raw: bytes, *, limits: Limits = DEFAULT_LIMITS, syntax: Syntax | None = None
) -> SourceDocument:
    """Read a YAML or JSON document, or stop with every diagnostic found."""
    text = decode_text(name, raw, limits)
    syn = syntax or sniff_syntax(name, text)
    if syn == "json":
        tree, plain = _load_json_plain(name, text, limits)
        return SourceDocument(name, raw, text, "json", tree, limits=limits, plain=plain)
    tree, plain = _load_yaml_fast(text, limits)
    if tree is not _UNDECIDED:  # the positions are found when a diagnostic needs one
        return SourceDocument(name, raw, text, "yaml", tree, limits=limits, plain=plain)
    tree, spans, key_spans = _load_yaml(name, text, limits)
    return SourceDocument(name, raw, text, "yaml", tree, spans, key_spans, limits)


# --- JSON ---------------------------------------------------------------------------------


class _Duplicate(Exception):
    pass


class _NotJSON(Exception):
    """NaN, Infinity or -Infinity: Python's decoder reads them, but they are not JSON."""


def _reject_constant(name: str) -> Any:
    raise _NotJSON(name)


# Python refuses to convert integers of more than this many digits (a DoS guard):
# such an integer is a diagnostic, not a ValueError deep inside jobc.
MAX_INT_DIGITS = 4300
_INT_TOO_BIG = 10**MAX_INT_DIGITS
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _too_long_int(span: Span) -> Diagnostic:
    return error(
        f"an integer with more than {MAX_INT_DIGITS:,} digits",
        span=span,
        hint="write it as a string",
        code="int-range",
    )


def _lone_surrogate(span: Span) -> Diagnostic:
    return error(
        "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not a character",
        span=span,
        hint="a \\uD8xx-\\uDBxx escape must be followed by a \\uDCxx-\\uDFxx escape",
        code="encoding",
    )


def _has_lone_surrogate(tree: Any) -> bool:
    stack = [tree]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Duplicate
    return out


# `json` is imported where it is used, not at the top: orjson reads nearly every JSON
# document, and a YAML one needs neither (`jobc cid spec.yaml` is measured).


@functools.cache
def _json_decoder() -> json.JSONDecoder:
    """One decoder with our hooks, made on first use."""
    import json

    return json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)


def _json_loads(text: str) -> Any:
    """`json.loads` with our hooks, without building a decoder for every document."""
    if text.startswith("\ufeff"):  # json.loads has its own error for this: let it say so
        import json

        return json.loads(text, object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)
    return _json_decoder().decode(text)


def _load_json(name: str, text: str, limits: Limits) -> Any:
    return _load_json_plain(name, text, limits)[0]


def _load_json_plain(name: str, text: str, limits: Limits) -> tuple[Any, bool]:
    """The tree, and whether it is plain (`SourceDocument.plain`): what orjson read is."""
    if not text or text.isspace():  # `not text.strip()`, without copying the text
        raise SpecError(
            error(
                "the document is empty",
                span=Span(name, 1, 1, 0),
                hint='a jobspec/1 document starts with {"jobspec": 1, ...}',
                code="empty",
            )
        )
    depth_at = _json_depth_violation(text, limits.max_depth)
    if depth_at is not None:
        raise SpecError(_too_deep(name, text, depth_at, limits))
    fast = _json_fast(text, limits)
    if fast is not _UNDECIDED:
        return fast, True
    import json

    try:
        tree = _json_loads(text)
        if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(tree):
            _json_with_positions(name, text, limits)  # raises, at each lone surrogate
        if _json_values(tree) > limits.max_nodes:
            raise SpecError(_too_many_json_values(name, limits))
        return tree, False
    except json.JSONDecodeError as exc:
        msg = exc.msg[0].lower() + exc.msg[1:]
        raise SpecError(
            error(
                f"invalid JSON: {msg}",
                span=Span(name, exc.lineno, exc.colno, exc.pos),
                hint=_json_hint(exc),
                code="syntax",
            )
        ) from None
    except (_Duplicate, _NotJSON, RecursionError, ValueError):
        # ValueError: an integer over MAX_INT_DIGITS. The slow path finds the exact place
        # (and raises).
        tree, _, _ = _json_with_positions(name, text, limits)
        return tree, False


_UNDECIDED: Any = object()


def orjson_tree(data: bytes | str, limits: Limits) -> tuple[Any, bool] | None:
    """orjson's tree of `data`, and whether it is exact as it stands: orjson writes it
    back byte for byte (compact JSON, as programs send it), so nothing was lost to a
    duplicate key or turned into a float, and each value took a character (so the value
    limit holds). None if orjson cannot read it. The first tier of JSON reading, here
    and in the fast path (`compiler/fastpath.py`), which reads the file's bytes."""
    import orjson  # here, not at the top: `jobc cid spec.yaml` need not load it

    try:
        tree = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    written = data.encode() if isinstance(data, str) else data
    return tree, len(data) <= limits.max_nodes and orjson.dumps(tree) == written


def _json_fast(text: str, limits: Limits) -> Any:
    """The tree of a document that orjson reads and that passes every check here, else
    `_UNDECIDED` (the exact path then reads it and reports what is wrong).

    A document that orjson writes back exactly as it was read is decided at once.
    Others are walked:

    orjson keeps the last of duplicate keys, and reads integers beyond 64 bits as floats,
    so: no float may appear (the exact path reads floats the way `json` does), and the
    maps must hold as many keys as the text has key tokens. Every key ends with `"`,
    optional whitespace and `:`. Counting `":` may also count text inside strings, but
    only ever adds: when the count equals the keys read, no key was lost to a duplicate.
    Whitespace before a colon would hide a key from the count, so its presence sends the
    document to the exact path.
    """
    read = orjson_tree(text, limits)
    if read is None:
        return _UNDECIDED
    tree, exact = read
    if exact:
        return tree
    keys = 0
    values = 1
    stack = [tree]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            keys += len(node)
            values += len(node)
            children: Any = node.values()
        elif type(node) is list:
            values += len(node)
            children = node
        else:
            continue
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append(child)
            elif kind is float:
                return _UNDECIDED
    if values > limits.max_nodes or keys != text.count('":'):
        return _UNDECIDED
    if ('" ' in text or '"\n' in text or '"\t' in text or '"\r' in text) and (
        _WHITESPACE_COLON.search(text)
    ):
        return _UNDECIDED
    return tree


_WHITESPACE_COLON = re.compile(r'"[ \t\r\n]+:')


def _json_values(tree: Any) -> int:
    """How many values a JSON tree holds (containers included)."""
    values = 1
    stack = [tree] if type(tree) is dict or type(tree) is list else []
    while stack:
        node = stack.pop()
        children = node.values() if type(node) is dict else node
        values += len(children)
        stack.extend(c for c in children if type(c) is dict or type(c) is list)
    return values


def _too_many_json_values(name: str, limits: Limits) -> Diagnostic:
    return error(
        f"the document holds more than {limits.max_nodes:,} values",
        span=Span(name, 1, 1, 0),
        hint="keep large data in input files rather than in the spec",
        code="too-many-values",
    )


def _json_hint(exc: json.JSONDecodeError) -> str:
    if "Expecting property name" in exc.msg:
        return "JSON keys must be in double quotes, and a trailing comma is not allowed"
    if "Expecting ',' delimiter" in exc.msg:
        return "a comma is missing between two items"
    if "Extra data" in exc.msg:
        return "a JSON document holds exactly one value"
    if "Invalid control character" in exc.msg:
        return "escape tabs and newlines inside strings as \\t and \\n"
    return "check the JSON syntax near the caret"


_json_parser: Any = None


def _json_with_positions(
    name: str, text: str, limits: Limits
) -> tuple[Any, dict[str, Span], dict[str, Span]]:
    """Parse JSON with lark, giving the tree and a span for every value and key."""
    global _json_parser
    from lark import Lark, Token, Tree
    from lark.exceptions import UnexpectedInput

    from compiler.resources import grammar_text

    depth_at = _json_depth_violation(text, limits.max_depth)
    if depth_at is not None:
        raise SpecError(_too_deep(name, text, depth_at, limits))
    if _json_parser is None:
        _json_parser = Lark(grammar_text("json"), parser="lalr", propagate_positions=True)
    try:
        parsed = _json_parser.parse(text)
    except UnexpectedInput as exc:
        pos = exc.pos_in_stream or 0
        constant = re.match(r"-?(NaN|Infinity)", text[pos : pos + 9])
        raise SpecError(
            error(
                f"invalid JSON: {constant.group(0)} is not a JSON number"
                if constant
                else "invalid JSON",
                span=Span(name, exc.line, exc.column, pos),
                hint="write it as a string" if constant else "check the JSON syntax near the caret",
                code="syntax",
            )
        ) from None

    spans: dict[str, Span] = {}
    key_spans: dict[str, Span] = {}
    diags: list[Diagnostic] = []

    def node_span(node: Tree[Any] | Token) -> Span:
        if isinstance(node, Token):
            return Span(name, node.line or 1, node.column or 1, node.start_pos or 0)
        meta = node.meta
        return Span(name, meta.line, meta.column, meta.start_pos)

    def scalar(tok: Token) -> Any:
        try:
            value = _json_scalar(tok)
        except ValueError:  # an integer over MAX_INT_DIGITS
            diags.append(_too_long_int(node_span(tok)))
            return 0
        if isinstance(value, str) and _LONE_SURROGATE.search(value):
            diags.append(_lone_surrogate(node_span(tok)))
        return value

    def build(node: Any, pointer: str) -> Any:
        # Depth is bounded above, so recursion here is safe.
        spans[pointer] = node_span(node)
        if isinstance(node, Token):  # ?value inlined a bare token
            return scalar(node)
        kind = node.data
        if kind == "object":
            out: dict[str, Any] = {}
            for pair in node.children:
                if pair is None:
                    continue
                key_tok, value = pair.children
                key = scalar(key_tok)
                child = f"{pointer}/{escape_pointer_token(key)}"
                if key in out:
                    diags.append(
                        error(
                            f"duplicate key {key!r}",
                            span=node_span(key_tok),
                            pointer=child,
                            hint=f"{key!r} was already given at line {key_spans[child].line}; "
                            "keep one of them",
                            code="duplicate-key",
                        )
                    )
                    continue
                key_spans[child] = node_span(key_tok)
                out[key] = build(value, child)
            return out
        if kind == "array":
            return [
                build(v, f"{pointer}/{i}")
                for i, v in enumerate(c for c in node.children if c is not None)
            ]
        if kind in ("string", "number"):
            return scalar(node.children[0])
        return {"true": True, "false": False, "null": None}[kind]

    tree = build(parsed, "")
    if diags:
        raise SpecError(diags)
    return tree, spans, key_spans


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')
"""A token of valid JSON: a string, punctuation, or a number or literal."""


def json_spans(name: str, text: str) -> tuple[dict[str, Span], dict[str, Span]]:
    """The span of every value and key of the valid JSON document `text`, by pointer:
    what `_json_with_positions` gives, from one regular-expression scan."""
    spans: dict[str, Span] = {}
    key_spans: dict[str, Span] = {}
    # One frame per open container: [pointer, is an object, the next key's pointer or
    # the next item's index, whether a key comes next].
    stack: list[list[Any]] = []
    line, line_start, last = 1, 0, 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        offset = match.start()
        newlines = text.count("\n", last, offset)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", last, offset) + 1
        last = offset
        first = token[0]
        top = stack[-1] if stack else None
        if first == ",":
            if top is not None:
                if top[1]:
                    top[3] = True
                else:
                    top[2] += 1
            continue
        if first == ":":
            continue
        if first in "}]":
            stack.pop()
            continue
        if top is not None and top[1] and top[3]:
            key = _json_scalar(token) if "\\" in token else token[1:-1]
            top[2] = f"{top[0]}/{escape_pointer_token(key)}"
            top[3] = False
            key_spans[top[2]] = Span(name, line, offset - line_start + 1, offset)
            continue
        pointer = "" if top is None else top[2] if top[1] else f"{top[0]}/{top[2]}"
        spans[pointer] = Span(name, line, offset - line_start + 1, offset)
        if first == "{":
            stack.append([pointer, True, "", True])
        elif first == "[":
            stack.append([pointer, False, 0, False])
    return spans, key_spans


def _json_scalar(tok: Any) -> Any:
    import json

    return json.loads(str(tok))


def _json_depth_violation(text: str, max_depth: int) -> int | None:
    """The offset where JSON nesting first exceeds `max_depth`, if it does."""
    if text.count("[") + text.count("{") <= max_depth:
        return None
    depth = 0
    in_string = False
    escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return i
        elif ch in "]}":
            depth -= 1
    return None


def _yaml_flow_depth_violation(text: str, max_depth: int) -> int | None:
    """The offset where YAML flow nesting (`[`, `{`) first exceeds `max_depth`, if it does.

    Only used to place the error when libyaml's own nesting limit stopped it: quoted
    scalars and comments are skipped; a bracket counts inside a flow collection, or in
    block context where a value can start (after `: `, `- `, or at a line's start).
    """
    depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'" and (depth > 0 or _value_can_start(text, i)):
            end = i + 1
            while end < n:
                if text[end] == ch:
                    if ch == "'" and text[end + 1 : end + 2] == "'":
                        end += 2
                        continue
                    break
                end += 2 if ch == '"' and text[end] == "\\" else 1
            i = end + 1
            continue
        if ch == "#" and (i == 0 or text[i - 1] in " \t\n"):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if ch in "[{" and (depth > 0 or _value_can_start(text, i)):
            depth += 1
            if depth > max_depth:
                return i
        elif ch in "]}" and depth > 0:
            depth -= 1
        i += 1
    return None


def _value_can_start(text: str, i: int) -> bool:
    """Whether a block-context value may start at offset `i`."""
    j = i - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j < 0 or text[j] == "\n" or (text[j] in ":-?" and j + 1 < i)


def _too_deep(name: str, text: str, offset: int, limits: Limits) -> Diagnostic:
    return error(
        f"nesting is deeper than the limit of {limits.max_depth} levels",
        span=_span_at(name, text, offset),
        hint="a job spec never needs this depth; flatten the data or keep it in an input file",
        code="too-deep",
    )


# --- YAML ---------------------------------------------------------------------------------

_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))
_INT10 = re.compile(r"[-+]?[0-9]+\Z")
_INT8 = re.compile(r"0o[0-7]+\Z")
_INT16 = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")
_TAG = "tag:yaml.org,2002:"
_FIRST_CHARS_OF_NON_STRINGS = frozenset("-+.0123456789~nNtTfF")


def resolve_plain(value: str) -> Any:
    """The YAML 1.2 core schema's reading of a plain (unquoted, untagged) scalar."""
    if value[:1] not in _FIRST_CHARS_OF_NON_STRINGS and value:
        return value
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT10.match(value):
        return int(value)
    if _INT8.match(value):
        return int(value[2:], 8)
    if _INT16.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.match(value):
        return float("nan")
    return value


def _load_yaml_fast(text: str, limits: Limits) -> tuple[Any, bool]:
    """The tree of a plain YAML document and whether it is plain (`SourceDocument.plain`),
    or `(_UNDECIDED, False)`: then `_load_yaml` reads it (and reports what is wrong).

    Plain: no anchor, alias, tag or merge key, string keys each given once, within the
    depth and value limits, and valid YAML. What is read is what `_load_yaml` reads,
    without a position, a JSON pointer or a call per value: this is the hot path of every
    YAML compile, at about half of libyaml's own `CSafeLoader` load. Anything else is
    left undecided, never guessed at: the exact path has the one reading of it.
    """
    import yaml
    from yaml import events
    from yaml._yaml import CParser

    scalar_event, alias_event = events.ScalarEvent, events.AliasEvent
    map_start, seq_start = events.MappingStartEvent, events.SequenceStartEvent
    map_end, seq_end = events.MappingEndEvent, events.SequenceEndEvent
    first_chars = _FIRST_CHARS_OF_NON_STRINGS
    max_depth = limits.max_depth
    quoted = (False, True)
    parents: list[Any] = []  # the open collections around `top`, outermost first
    parent_keys: list[Any] = []  # the key each of them waits to give a value, if a map
    top: Any = None  # the innermost open collection (None: at the document's top)
    key: Any = _NO_KEY  # the key `top` (a map) waits to give a value
    root: Any = _NO_KEY
    values = 0  # as `_load_yaml` counts them: every scalar (keys too) and collection
    documents = 0
    plain = True
    parser = CParser(text)
    event: Any  # the stubs type events as their base class
    try:
        # `get_event` gives None after the stream's end: no generator in between.
        for event in iter(parser.get_event, None):
            kind = type(event)
            if kind is scalar_event:
                if event.anchor is not None or event.tag is not None:
                    return _UNDECIDED, False
                value = event.value
                values += 1
                if (
                    not event.style
                    and event.implicit != quoted
                    and (not value or value[0] in first_chars)
                ):
                    try:
                        value = resolve_plain(value)
                    except ValueError:  # more than MAX_INT_DIGITS digits
                        return _UNDECIDED, False
                    if type(value) is int:
                        if abs(value) >= _INT_TOO_BIG:
                            return _UNDECIDED, False
                    elif type(value) is float and not math.isfinite(value):
                        plain = False
            elif kind is map_start or kind is seq_start:
                if (
                    event.anchor is not None
                    or event.tag is not None
                    or (key is _NO_KEY and type(top) is dict)  # a collection as a key
                    or len(parents) >= max_depth
                ):
                    return _UNDECIDED, False
                values += 1
                parents.append(top)
                parent_keys.append(key)
                top = {} if kind is map_start else []
                key = _NO_KEY
                continue
            elif kind is map_end or kind is seq_end:
                value = top
                top = parents.pop()
                key = parent_keys.pop()
            elif kind is alias_event:
                return _UNDECIDED, False
            elif kind is events.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return _UNDECIDED, False
                continue
            else:
                continue
            # Place the value: in a map, first as the key, then as the key's value.
            if type(top) is dict:
                if key is _NO_KEY:
                    if type(value) is not str or value == "<<":
                        return _UNDECIDED, False
                    key = value
                elif key in top:
                    return _UNDECIDED, False
                else:
                    top[key] = value
                    key = _NO_KEY
            elif top is None:
                root = value
            else:
                top.append(value)
    except yaml.YAMLError:
        return _UNDECIDED, False
    finally:
        parser.dispose()
    if values > limits.max_nodes:
        return _UNDECIDED, False
    return (None if root is _NO_KEY else root), plain


class _Frame:
    __slots__ = ("anchor", "container", "is_map", "key", "key_span", "merged", "pointer", "size")

    def __init__(self, container: Any, pointer: str, anchor: str | None) -> None:
        self.container = container
        self.is_map = isinstance(container, dict)
        self.pointer = pointer
        self.key: Any = _NO_KEY
        self.key_span: Span | None = None
        self.anchor = anchor
        self.size = 1
        self.merged: set[str] = set()
        """Keys that came from a merge key (<<): an explicit key overrides them."""


_NO_KEY = object()


def _load_yaml(
    name: str, text: str, limits: Limits
) -> tuple[Any, dict[str, Span], dict[str, Span]]:
    import yaml
    from yaml import events as ev
    from yaml._yaml import CParser

    spans: dict[str, Span] = {}
    key_spans: dict[str, Span] = {}
    anchors: dict[str, tuple[Any, int]] = {}
    diags: list[Diagnostic] = []
    stack: list[_Frame] = []
    root: Any = _NO_KEY
    documents = 0
    total = 0

    def span_of(event: Any) -> Span:
        m = event.start_mark
        return Span(name, m.line + 1, m.column + 1, m.index)

    def place(value: Any, size: int, span: Span, event: Any, new: int | None = None) -> None:
        """Put a finished value into the container on top of the stack.

        `size` counts the value with everything in it; `new` (default: `size`) only what
        was not counted before: a closing collection's items were counted as they came.
        """
        nonlocal root, total
        total += size if new is None else new
        if total > limits.max_nodes:
            raise SpecError(
                error(
                    f"the document expands to more than {limits.max_nodes:,} values",
                    span=span,
                    hint="YAML aliases that repeat large parts are not allowed to "
                    "multiply without bound (an alias bomb); write the data out or shrink it",
                    code="too-many-values",
                )
            )
        if not stack:
            root = value
            return
        top = stack[-1]
        top.size += size
        if not top.is_map:
            top.container.append(value)
            return
        if top.key is _NO_KEY:
            # `value` is a key.
            if isinstance(value, str):
                top.key = value
            elif value is _MERGE:
                top.key = _MERGE
            else:
                diags.append(
                    error(
                        f"a map key must be a string, not {kind_of(value)} ({_short(value)})",
                        span=span,
                        hint="quote the key",
                        code="key-not-string",
                    )
                )
                top.key = str(value)
            top.key_span = span
            return
        key = top.key
        top.key = _NO_KEY
        if key is _MERGE:
            _merge(top, value, span)
            return
        child = f"{top.pointer}/{escape_pointer_token(key)}"
        if key in top.container and key not in top.merged:
            first = key_spans.get(child)
            where = f" at line {first.line}" if first else ""
            diags.append(
                error(
                    f"duplicate key {key!r}",
                    span=top.key_span,
                    pointer=child,
                    hint=f"{key!r} was already given{where}; keep one of them",
                    code="duplicate-key",
                )
            )
            return
        assert top.key_span is not None
        key_spans[child] = top.key_span
        top.merged.discard(key)
        top.container[key] = value

    def _merge(top: _Frame, value: Any, span: Span) -> None:
        sources = value if isinstance(value, list) else [value]
        for src in sources:
            if not isinstance(src, dict):
                diags.append(
                    error(
                        "a merge key (<<) needs a map or a list of maps",
                        span=span,
                        code="bad-merge",
                    )
                )
                continue
            for k, v in src.items():
                if k not in top.container:
                    top.container[k] = v
                    top.merged.add(k)

    def pointer_for_next() -> str:
        if not stack:
            return ""
        top = stack[-1]
        if not top.is_map:
            return f"{top.pointer}/{len(top.container)}"
        if top.key is _NO_KEY:
            return f"{top.pointer}/<key>"  # a (rejected) collection used as a key
        if top.key is _MERGE:
            return f"{top.pointer}/<<"  # merged content: placed under its own pseudo-path
        return f"{top.pointer}/{escape_pointer_token(top.key)}"

    def is_key_position() -> bool:
        return bool(stack) and stack[-1].is_map and stack[-1].key is _NO_KEY

    parser = CParser(text)
    try:
        for event in iter(parser.get_event, None):  # as `yaml.parse`, without a generator
            kind = type(event)
            event_: Any = event
            if kind is ev.ScalarEvent:
                span = span_of(event)
                as_key = is_key_position()
                value = _scalar(event, text, span, diags, as_key)
                if not as_key:
                    spans[pointer_for_next()] = span
                if event_.anchor:
                    anchors[event_.anchor] = (value, 1)
                place(value, 1, span, event)
            elif kind is ev.MappingStartEvent or kind is ev.SequenceStartEvent:
                span = span_of(event)
                if is_key_position():
                    diags.append(
                        error(
                            "a map key must be a string, not a collection",
                            span=span,
                            hint="use a plain string as the key",
                            code="key-not-string",
                        )
                    )
                if len(stack) >= limits.max_depth:
                    raise SpecError(
                        error(
                            f"nesting is deeper than the limit of {limits.max_depth} levels",
                            span=span,
                            hint="a job spec never needs this depth; flatten the data "
                            "or keep it in an input file",
                            code="too-deep",
                        )
                    )
                p = pointer_for_next()
                spans[p] = span
                container: Any = {} if kind is ev.MappingStartEvent else []
                stack.append(_Frame(container, p, event_.anchor))
            elif kind is ev.MappingEndEvent or kind is ev.SequenceEndEvent:
                frame = stack.pop()
                if frame.anchor:
                    anchors[frame.anchor] = (frame.container, frame.size)
                place(
                    frame.container,
                    frame.size,
                    spans.get(frame.pointer, span_of(event)),
                    event,
                    new=1,
                )
            elif kind is ev.AliasEvent:
                span = span_of(event)
                if event_.anchor not in anchors:
                    raise SpecError(
                        error(f"unknown alias *{event_.anchor}", span=span, code="syntax")
                    )
                value, size = anchors[event_.anchor]
                if not is_key_position():
                    p = pointer_for_next()
                    spans[p] = span
                place(value, size, span, event)
            elif kind is ev.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise SpecError(
                        error(
                            "a file holds one job document, but this one has several",
                            span=span_of(event),
                            hint="remove the `---` separator and the second document, or split "
                            "it into its own file",
                            code="multiple-documents",
                        )
                    )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if "maximum nesting depth" in problem:
            # libyaml >= 0.2.6 (PyYAML 6.0.4) has a nesting limit of its own (far above
            # ours) that its scanner can reach while looking ahead through flow
            # collections, before the parser hands us the event past our limit.
            at = _yaml_flow_depth_violation(text, limits.max_depth)
            if at is None and mark is not None:
                at = mark.index
            raise SpecError(_too_deep(name, text, at or 0, limits)) from None
        span = Span(name, mark.line + 1, mark.column + 1, mark.index) if mark else Span(name, 1, 1)
        hint = "check the indentation and quoting near the caret"
        context, problem_mark = exc.context_mark, exc.problem_mark
        if exc.context and context and problem_mark and context.index != problem_mark.index:
            # e.g. "while parsing a flow mapping": where the unfinished thing starts
            hint += f" ({exc.context} that starts at line {context.line + 1}, "
            hint += f"column {context.column + 1})"
        # libyaml says "found character that cannot start any token", not which one
        if "tab" in problem or (mark and text[mark.index : mark.index + 1] == "\t"):
            hint = "YAML indentation must use spaces, not tabs"
        elif "mapping values are not allowed" in problem:
            hint = "a value containing ': ' must be quoted"
        diags.append(error(f"invalid YAML: {problem}", span=span, hint=hint, code="syntax"))
        raise SpecError(diags) from None
    except yaml.YAMLError as exc:
        raise SpecError(
            error(f"invalid YAML: {exc}", span=Span(name, 1, 1), code="syntax")
        ) from None
    finally:
        parser.dispose()
    if diags:
        raise SpecError(diags)
    if root is _NO_KEY:
        root = None
    return root, spans, key_spans


_MERGE = object()


def _scalar(event: Any, text: str, span: Span, diags: list[Diagnostic], as_key: bool) -> Any:
    value: str = event.value
    tag = event.tag
    if tag is None or tag == "!":
        if event.style or event.implicit == (False, True):
            return value  # quoted or block scalar: always a string
        if as_key and value == "<<":
            return _MERGE
        return _resolve_int_safely(value, span, diags)
    short = tag[len(_TAG) :] if tag.startswith(_TAG) else None
    if short == "str":
        return value
    if short == "binary":
        import base64
        import binascii

        try:
            return base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            diags.append(error("invalid base64 in a !!binary value", span=span, code="bad-binary"))
            return b""
    if short in ("int", "float", "bool", "null"):
        resolved = _resolve_int_safely(value, span, diags)
        expected = {"int": int, "float": float, "bool": bool, "null": type(None)}[short]
        if short == "float" and isinstance(resolved, int) and not isinstance(resolved, bool):
            return float(resolved)
        if isinstance(resolved, expected) and not (short == "int" and isinstance(resolved, bool)):
            return resolved
        diags.append(error(f"{value!r} is not a valid !!{short}", span=span, code="bad-tag"))
        return value
    # Any other tag (a local `!tag`, `!!timestamp`, …): the text as written.
    return value


def _resolve_int_safely(value: str, span: Span, diags: list[Diagnostic]) -> Any:
    """`resolve_plain`, with integers of more than MAX_INT_DIGITS digits a diagnostic."""
    try:
        resolved = resolve_plain(value)
    except ValueError:  # int() refuses more than MAX_INT_DIGITS decimal digits
        diags.append(_too_long_int(span))
        return value
    if type(resolved) is int and abs(resolved) >= _INT_TOO_BIG:  # 0x…, 0o…
        diags.append(_too_long_int(span))
        return value
    return resolved


def kind_of(value: Any) -> str:
    """A user-facing name for a value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
