"""YAML text -> composed nodes -> plain data, keeping every node so that each value keeps its line and column.

Safe loading only: libyaml (CSafeLoader) composes when present, ten times faster; when it fails, the pure
parser reads the text again to word the error. Conversion interpolates ${VAR}, checks tags and refuses
unsafe input (alias bombs, recursive aliases, deep nesting, duplicate keys, non-finite numbers) and credentials:
a ${VAR} of a credential variable, or a key or value containing a credential's current value (masked at once, so
that no later stage or message ever sees it).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.manifest.diagnostics import CREDENTIAL_VARIABLES, Diagnostics, brief, holds_secret, secret_refused


MAX_EXPANDED_NODES = 100_000  # a document may not grow past this through aliases (billion laughs)
MAX_DEPTH = 64

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_YAML}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader (when present), with the implicit tag of plain scalars memoised: manifests repeat the
    same keys and most values, and matching each against the resolvers' regular expressions was a third of the
    time spent composing 10,000 manifests. The tag depends only on the text and how it was written."""

    _tags: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is not ScalarNode or len(value) > 64:
            return super().resolve(kind, value, implicit)
        key = (value, tuple(implicit))
        tag = self._tags.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._tags) < 50_000:
                self._tags[key] = tag
        return tag


_FAST_LOADER = _FastLoader
_RESOLVER = yaml.resolver.Resolver()
_VARIABLE = re.compile(r"\$(?:(\$)|\{([^}]*)\}|(\{))")
_VARIABLE_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


class _Refused(Exception):
    """Stop reading one document: it is unsafe or unusable to go on (alias bomb, too deep)."""

    def __init__(self, node: Node, message: str):
        super().__init__(message)
        self.node, self.message = node, message


def _is_empty_document(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag == f"{_YAML}null")


def compose(text: str, shown: str, diagnostics: Diagnostics) -> Iterator[Node]:
    """The text's non-empty documents as node trees; invalid YAML is reported, not raised."""
    try:  # libyaml when present: ten times faster; its errors are re-read with the pure parser below
        nodes = list(yaml.compose_all(text, Loader=_FAST_LOADER))
    except (yaml.YAMLError, RecursionError):
        nodes = None
    if nodes is not None:
        yield from (n for n in nodes if not _is_empty_document(n))
        return
    try:
        for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
            if not _is_empty_document(node):
                yield node
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        context = f" ({err.context})" if err.context else ""
        if err.context and err.context_mark and err.problem_mark and err.context_mark.line != mark.line:
            context = f" ({err.context} started at line {err.context_mark.line + 1}, column " \
                      f"{err.context_mark.column + 1})"
        diagnostics.add(shown, mark.line + 1, mark.column + 1, f"invalid YAML: {err.problem}{context}")
    except yaml.reader.ReaderError as err:
        line, col = line_col(text, err.position)
        diagnostics.add(shown, line, col, f"invalid YAML: unacceptable character #x{err.character:04x}")
    except yaml.YAMLError as err:
        diagnostics.add(shown, 1, 1, f"invalid YAML: {err}")
    except RecursionError:
        diagnostics.add(shown, 1, 1, "invalid YAML: nested too deeply")


def to_data(node: Node, shown: str, env: Mapping[str, str], diagnostics: Diagnostics,
            reads: dict[str, str | None] | None = None) -> tuple[Any, frozenset[int]]:
    """(plain data, ids of the nodes already reported); (None, ...) when the document is refused.
    reads: filled with each ${VAR} interpolated and the value `env` had for it (None: unset)."""
    converter = _Converter(shown, env, diagnostics, {} if reads is None else reads)
    try:
        return converter.convert(node), frozenset(converter.flagged)
    except _Refused as refused:
        diagnostics.at(shown, refused.node, refused.message)
    return None, frozenset()


class _Converter:
    """Turns composed YAML nodes into plain data, interpolating ${VAR} and refusing unsafe input."""

    def __init__(self, shown: str, env: Mapping[str, str], diagnostics: Diagnostics, reads: dict[str, str | None]):
        self.shown, self.env, self.diagnostics, self.reads = shown, env, diagnostics, reads
        self.secrets = diagnostics.secrets
        self.budget = MAX_EXPANDED_NODES
        self.open: set[int] = set()
        self.flagged: set[int] = set()
        self.masked: set[tuple[int, str]] = set()

    def report(self, node: Node, message: str) -> None:
        self.flagged.add(id(node))
        self.diagnostics.at(self.shown, node, message)

    def spend(self, node: Node) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise _Refused(node, f"document expands to more than {MAX_EXPANDED_NODES} values through aliases; "
                           "refusing it (alias bomb?)")

    def convert(self, node: Node, depth: int = 0) -> Any:
        self.spend(node)
        if depth > MAX_DEPTH:
            raise _Refused(node, f"nested more than {MAX_DEPTH} levels deep")
        if id(node) in self.open:
            raise _Refused(node, "recursive alias: a value contains itself")
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode) and node.tag == f"{_YAML}seq":
                return [self.convert(item, depth + 1) for item in node.value]
            if isinstance(node, MappingNode) and node.tag == f"{_YAML}map":
                return self._mapping(node, depth)
        finally:
            self.open.discard(id(node))
        return self._refuse_tag(node)

    def _mapping(self, node: MappingNode, depth: int) -> dict:
        result: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        for key_node, value_node, merged in pairs(node):
            self.spend(key_node)
            if not isinstance(key_node, ScalarNode):
                self.report(key_node, "mapping keys must be plain strings")
                continue
            key = self._unsecret(key_node, key_node.value, "this key") if self.secrets else key_node.value
            if key in first_seen:
                if not merged:
                    earlier = first_seen[key].start_mark
                    self.report(key_node, f"duplicate key {key!r} (first at line "
                                          f"{earlier.line + 1})")
                continue
            first_seen[key] = key_node
            result[sys.intern(key)] = self.convert(value_node, depth + 1)
        return result

    def _scalar(self, node: ScalarNode) -> Any:
        tag, value = node.tag, node.value
        if "$" in value and tag in _SCALAR_TAGS:
            value = self._interpolate(node)
            if node.style is None:  # a plain scalar: "${EPOCHS}" may now read as the number 4
                tag = _RESOLVER.resolve(ScalarNode, value, (True, False))
        if self.secrets:
            value = self._unsecret(node, value)
        if tag not in _SCALAR_TAGS:
            return self._refuse_tag(node)
        if tag in (f"{_YAML}str", f"{_YAML}timestamp"):
            return sys.intern(value)  # one object per distinct string: 10,000 cached manifests hold 60,000, not 130,000
        try:
            result = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, ScalarNode(tag, value))
        except (ValueError, OverflowError):
            self.report(node, f"invalid {tag.removeprefix(_YAML)} {brief(value)}")
            return None
        if isinstance(result, float) and (result != result or result in (float("inf"), float("-inf"))):
            self.report(node, f"{brief(value)} is not a finite number")
            return None
        return result

    def _interpolate(self, node: ScalarNode) -> str:
        def substitute(match: re.Match) -> str:
            escaped, body, unclosed = match.groups()
            if escaped:
                return "$"
            parsed = _VARIABLE_BODY.fullmatch(body) if body is not None else None
            if parsed is None:
                shown = match.group(0) if body is not None else "${"
                self.report(node, f"invalid variable reference {shown!r}; write ${{NAME}} "
                                  "or ${NAME:-default}, and $$ for a literal $")
                return match.group(0)
            name, default = parsed.groups()
            if name in CREDENTIAL_VARIABLES:
                self.report(node, secret_refused(f"this value references ${{{name}}}", "remove the reference"))
                return match.group(0)
            self.reads[name] = self.env.get(name)
            if self.env.get(name):
                return self.env[name]
            if default is not None:
                return default
            if name in self.env:
                return ""
            self.flagged.add(id(node))  # reported once per variable, however many values use it (loader)
            self.diagnostics.unset_variable(name, self.shown, node)
            return match.group(0)

        return _VARIABLE.sub(substitute, node.value)

    def _unsecret(self, node: ScalarNode, value: str, what: str = "this value") -> str:
        """`value` with every credential in it masked as `<VARIABLE>`, each reported once per node."""
        for name, secret in self.secrets:
            if secret in value:
                if (id(node), name) not in self.masked:  # an alias converts a node again: one report
                    self.masked.add((id(node), name))
                    self.report(node, holds_secret(what, name))
                value = value.replace(secret, f"<{name}>")
        return value

    def _refuse_tag(self, node: Node) -> None:
        self.report(node, f"tag {node.tag.replace(_YAML, '!!')!r} is not allowed: manifests are plain YAML "
                          "(mappings, lists, strings, numbers, booleans)")
        return None


def pairs(node: MappingNode, merged: bool = False, seen: frozenset = frozenset()) -> Iterator[tuple[Node, Node, bool]]:
    """The mapping's own key/value pairs, then those brought in by `<<: *anchor` merge keys."""
    merges = []
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag == f"{_YAML}merge":
            merges.extend(value.value if isinstance(value, SequenceNode) else [value])
        else:
            yield key, value, merged
    seen = seen | {id(node)}
    for source in merges:
        if isinstance(source, MappingNode) and id(source) not in seen:  # a mapping may merge itself
            yield from pairs(source, True, seen)


def line_col(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


@dataclass(frozen=True)
class Found:
    node: Node
    key: Node | None
    complete: bool


def locate(root: Node, path: tuple) -> Found:
    """Follow a path of keys and indexes through the node tree, as far as it exists."""
    node, key = root, None
    for segment in path:
        if segment == "[key]":
            node = key or node
            continue
        if isinstance(node, MappingNode) and isinstance(segment, str):
            pair = next(((k, v) for k, v, _ in pairs(node) if isinstance(k, ScalarNode) and k.value == segment), None)
            if pair is None:
                return Found(node, key, False)
            key, node = pair
        elif isinstance(node, SequenceNode) and isinstance(segment, int) and segment < len(node.value):
            key, node = None, node.value[segment]
        else:
            return Found(node, key, False)
    return Found(node, key, True)
