"""List plumbing shared by both APIs: page sizes, opaque page tokens and AIP-160 style filters."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from .clock import parse_rfc3339
from .rpc import RpcError, invalid

# ---------------------------------------------------------------- pagination


def page_size(query: dict[str, str], default: int, maximum: int) -> int:
    raw = query.get("pageSize")
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError:
        raise invalid("page_size", f"Invalid value at 'page_size' (TYPE_INT32), {raw!r}") from None
    if size < 0:
        raise invalid("page_size", "page_size must not be negative.")
    return default if size == 0 else min(size, maximum)


def fingerprint(*parts: Any) -> str:
    """Identifies the request a page token belongs to (AIP-158: other parameters must not change)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def paginate(items: Sequence[Any], query: dict[str, str], *, default: int, maximum: int,
             request_key: str) -> tuple[list[Any], str | None]:
    """Slice `items` (already filtered and ordered) by offset carried in an opaque, request-bound token."""
    size = page_size(query, default, maximum)
    start = 0
    token = query.get("pageToken") or ""
    if token:
        start = _decode_token(token, request_key)
    page = list(items[start:start + size])
    end = start + len(page)
    return page, (_encode_token(end, request_key) if end < len(items) else None)


def _encode_token(offset: int, request_key: str) -> str:
    raw = json.dumps({"o": offset, "r": request_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, request_key: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset, owner = int(data["o"]), data["r"]
    except (ValueError, KeyError, TypeError):
        raise invalid("page_token", "Invalid page_token.") from None
    if owner != request_key:
        raise invalid("page_token", "The page_token does not match the other request parameters "
                                    "(filter, order_by, ...) of the request that produced it.")
    return max(offset, 0)


# ---------------------------------------------------------------- filters
# Grammar (a practical subset of AIP-160):
#   expression := sequence { ["AND"] sequence }      (whitespace between terms is an implicit AND)
#   sequence   := factor { "OR" factor }             (OR binds tighter than AND, as in AIP-160)
#   factor     := ["NOT" | "-"] ( "(" expression ")" | comparison )
#   comparison := FIELD OP VALUE      OP: = != : < > <= >=      VALUE: "quoted" | bare | *
#   FIELD      := name { "." (name | "quoted") }     e.g. labels.team, labels."a key", display_name
# `labels:KEY` and `labels.KEY:*` test presence; `:` with a value matches with `*` wildcards.

Predicate = Callable[[Any], bool]
Resolver = Callable[[Any, str], Any]  # (item, canonical field) -> value

_TOKEN_RE = re.compile(r"""
    \s*(?:
      (?P<lparen>\() | (?P<rparen>\)) |
      (?P<op>!=|<=|>=|=|:|<|>) |
      (?P<string>"(?:[^"\\]|\\.)*") |
      (?P<word>(?:[^\s()=!<>:"]|"(?:[^"\\]|\\.)*")+)
    )""", re.VERBOSE)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if not match or match.end() == position:
            raise invalid("filter", f"Unable to parse filter {text!r} at position {position}.")
        position = match.end()
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        while position < len(text) and text[position].isspace():
            position += 1
    return tokens


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


class _Parser:
    def __init__(self, text: str, fields: dict[str, str], resolve: Resolver) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.position = 0
        self.fields = fields      # accepted spelling -> canonical field ("labels" is special)
        self.resolve = resolve

    def fail(self, why: str) -> RpcError:
        return invalid("filter", f"Invalid filter {self.text!r}: {why}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end of filter")
        self.position += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.expression()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")
        return predicate

    def expression(self) -> Predicate:
        parts = [self.sequence()]
        while (token := self.peek()) is not None and token[0] != "rparen":
            if token == ("word", "AND"):
                self.take()
            parts.append(self.sequence())
        return parts[0] if len(parts) == 1 else (lambda item: all(p(item) for p in parts))

    def sequence(self) -> Predicate:
        parts = [self.factor()]
        while self.peek() == ("word", "OR"):
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda item: any(p(item) for p in parts))

    def factor(self) -> Predicate:
        token = self.peek()
        if token == ("word", "NOT"):
            self.take()
            inner = self.factor()
            return lambda item: not inner(item)
        if token is not None and token[0] == "word" and token[1].startswith("-") and len(token[1]) > 1:
            self.tokens[self.position] = ("word", token[1][1:])
            inner = self.factor()
            return lambda item: not inner(item)
        if token is not None and token[0] == "lparen":
            self.take()
            inner = self.expression()
            if self.take()[0] != "rparen":
                raise self.fail("missing ')'")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, field_text = self.take()
        if kind not in ("word", "string"):
            raise self.fail(f"expected a field name, got {field_text!r}")
        op_token = self.take()
        if op_token[0] != "op":
            raise self.fail(f"expected an operator after {field_text!r}")
        value_kind, value_text = self.take()
        if value_kind not in ("word", "string"):
            raise self.fail(f"expected a value after {field_text}{op_token[1]}")
        return self.build(field_text, op_token[1], _unquote(value_text), value_kind == "string")

    def build(self, field_text: str, op: str, value: str, quoted: bool) -> Predicate:
        head, _, rest = field_text.partition(".")
        resolve = self.resolve
        if head == "labels":
            if not rest:  # labels:KEY -> key present
                if op != ":":
                    raise self.fail("use labels.KEY=VALUE or labels:KEY")
                return lambda item: value in (resolve(item, "labels") or {})
            key = _unquote(rest)
            if op == ":" and value == "*" and not quoted:
                return lambda item: key in (resolve(item, "labels") or {})
            return _compare(lambda item: (resolve(item, "labels") or {}).get(key), op, value, self)
        canonical = self.fields.get(field_text)
        if canonical is None:
            raise self.fail(f"unsupported field {field_text!r}; supported: "
                            + ", ".join(sorted(set(self.fields)) + ["labels.KEY"]))
        if canonical.endswith("_time"):
            try:
                moment = parse_rfc3339(value)
            except ValueError:
                raise self.fail(f"{value!r} is not an RFC 3339 timestamp") from None
            return _compare(lambda item: resolve(item, canonical), op, moment, self)
        return _compare(lambda item: resolve(item, canonical), op, value, self)


def _compare(get: Callable[[Any], Any], op: str, expected: Any, parser: _Parser) -> Predicate:
    if op == "=":
        return lambda item: get(item) == expected
    if op == "!=":
        return lambda item: get(item) != expected
    if op == ":":
        if expected == "*":
            return lambda item: get(item) not in (None, "")
        pattern = str(expected)
        return lambda item: get(item) is not None and fnmatch.fnmatchcase(str(get(item)), pattern)
    ordering = {"<": lambda a, b: a < b, ">": lambda a, b: a > b,
                "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}[op]

    def ordered(item: Any) -> bool:
        actual = get(item)
        try:
            return actual is not None and ordering(actual, expected)
        except TypeError:
            return False
    return ordered


def compile_filter(text: str | None, fields: dict[str, str], resolve: Resolver) -> Predicate | None:
    """None when there is no filter; raises 400 INVALID_ARGUMENT on a parse error or unknown field."""
    if not text or not text.strip():
        return None
    return _Parser(text, fields, resolve).parse()


def order_items(items: list[Any], order_by: str | None, keys: dict[str, Callable[[Any], Any]]) -> list[Any]:
    """`order_by` like "display_name, create_time desc"; applied as a stable multi-key sort."""
    if not order_by or not order_by.strip():
        return items
    clauses = [clause.split() for clause in order_by.split(",") if clause.strip()]
    for clause in reversed(clauses):
        name = clause[0]
        descending = len(clause) > 1 and clause[1].lower() == "desc"
        if name not in keys or len(clause) > 2 or (len(clause) == 2 and clause[1].lower() not in ("asc", "desc")):
            raise invalid("order_by", f"Unsupported order_by {order_by!r}; fields: {', '.join(sorted(keys))}.")
        items = sorted(items, key=keys[name], reverse=descending)
    return items


def with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    """A list response: `nextPageToken` only when there is a next page."""
    if token:
        body["nextPageToken"] = token
    return body
