"""pydantic errors -> located messages a person can act on: the node to point at (line and column) and
wording with "did you mean" for misspelt fields and values."""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError
from yaml.nodes import Node, ScalarNode

from reconciler.manifest.diagnostics import Diagnostics, brief, did_you_mean
from reconciler.manifest.schema import PLATFORMS
from reconciler.manifest.yaml_nodes import locate

_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
          dict: "a mapping", type(None): "null"}
_EXPECTED = {"string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
             "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
             "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "a mapping",
             "model_type": "a mapping", "model_attributes_type": "a mapping", "list_type": "a list"}


def report(diagnostics: Diagnostics, err: ValidationError, root_type: type, shown: str, node: Node,
           flagged: frozenset[int], inherited: frozenset[str] = frozenset()) -> None:
    """Report every error of `err` (validating `root_type` from the document at `node`) once, located.
    `inherited`: the spec fields this document leaves to a reconciler.yaml default that is itself broken (its
    error is reported there, once, not again as a missing field here)."""
    errors = err.errors()
    misspelt = _misspelt_fields(errors, root_type)
    for error in errors:
        if error["type"] == "missing" and error["loc"] in misspelt:
            continue  # "unknown field 'datset'; did you mean 'dataset'?" already says it
        if inherited and error["loc"][:1] == ("spec",) and _missing(error) and _missing(error) <= inherited:
            continue  # the broken default is the cause, reported once at reconciler.yaml
        target, message = _explain(error, root_type, node)
        if id(target) in flagged:  # e.g. an unset ${VAR} is reported once, not again as a bad value
            continue
        if any(f"<{name}>" in message for name, _ in diagnostics.secrets):
            continue  # a value about a credential, masked: the credential is reported already, and that is enough
        diagnostics.at(shown, target, message)


def _missing(error: dict) -> frozenset[str]:
    """The fields a pydantic error says are missing."""
    if error["type"] == "missing":
        return frozenset({str(error["loc"][-1])})
    return frozenset((error.get("ctx") or {}).get("missing") or ())


def _unwrap(tp: Any) -> Any:
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp):
            members = [arg for arg in get_args(tp) if arg is not type(None)]
            tp = members[0] if len(members) == 1 else Union[tuple(members)]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_member(union: Any, tag: Any) -> Any:
    for member in get_args(union):
        metadata = get_args(member)[1:] if get_origin(member) is Annotated else ()
        if any(isinstance(m, Tag) and m.tag == tag for m in metadata):
            return member
        base = _unwrap(member)
        if _is_model(base) and "platform" in base.model_fields and tag in get_args(base.model_fields["platform"].annotation):
            return member
    return None


def _walk(root_type: Any, loc: tuple) -> tuple[tuple, Any]:
    """pydantic's `loc` -> (the path in the document, without union tags; the type expected there)."""
    tp, path = root_type, []
    for segment in loc:
        tp = _unwrap(tp)
        if get_origin(tp) in (Union, types.UnionType):
            tp = _union_member(tp, segment)
            continue
        path.append(segment)
        if _is_model(tp):
            found = tp.model_fields.get(segment)
            tp = found.annotation if found else None
        elif get_origin(tp) is list:
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            tp = None
    return tuple(path), _unwrap(tp)


def _dotted(path: tuple) -> str:
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif segment != "[key]":
            text += f".{segment}" if text else str(segment)
    return text


def _suggestion(field_name: Any, model: Any) -> str | None:
    allowed = list(model.model_fields) if _is_model(model) else []
    close = difflib.get_close_matches(str(field_name), allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def _misspelt_fields(errors: list[dict], root_type: Any) -> set[tuple]:
    """The pydantic locs of required fields that an unknown field in the same mapping most likely meant."""
    meant = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            parent = error["loc"][:-1]
            suggestion = _suggestion(error["loc"][-1], _walk(root_type, parent)[1])
            if suggestion:
                meant.add((*parent, suggestion))
    return meant


def _either(choices: Any) -> str:
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _got(value: Any) -> str:
    kind = _KINDS.get(type(value), type(value).__name__)
    return f"{kind} {brief(value)}" if isinstance(value, (bool, int, float, str)) else kind


def _explain(error: dict, root_type: Any, root: Node) -> tuple[Node, str]:
    """One pydantic error -> (the node to point at, a message a person can act on)."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    path, expected_type = _walk(root_type, error["loc"])
    if kind == "reconciler" and ctx.get("at"):
        path += tuple(ctx["at"].split("."))
    if kind == "union_tag_invalid":
        path += (ctx["discriminator"].strip("'"),)
    name = _dotted(path[:-2] if path[-1:] == ("[key]",) else path)  # a bad key: name the mapping
    if kind == "extra_forbidden":
        parent = _walk(root_type, error["loc"][:-1])[1]
        allowed = list(parent.model_fields) if _is_model(parent) else []
        suggestion = _suggestion(path[-1], parent)
        hint = f"; did you mean {suggestion!r}?" if suggestion else f"; expected one of: {', '.join(allowed)}"
        return locate(root, path).key or root, f"unknown field {path[-1]!r}{hint}"
    if kind in ("missing", "union_tag_not_found"):
        field_name = ctx.get("discriminator", "'platform'").strip("'") if kind != "missing" else path[-1]
        parent_path = path if kind != "missing" else path[:-1]
        found = locate(root, parent_path)
        where = f" in {_dotted(parent_path)}" if parent_path else ""
        return found.key or found.node, f"missing required field {field_name!r}{where}"
    found = locate(root, path)
    # a whole mapping or list is better pointed at by its key, on the line the reader looks at
    target = found.key if found.key is not None and not isinstance(found.node, ScalarNode) else found.node
    message = _message(kind, ctx, value, expected_type, error["msg"])
    return target, f"{name}: {message}" if name else message


def _message(kind: str, ctx: dict, value: Any, expected_type: Any, fallback: str) -> str:
    if kind == "reconciler":
        return ctx["message"]
    if kind == "literal_error":
        choices = get_args(expected_type) if get_origin(expected_type) is Literal else ()
        listed = _either(choices) if choices else ctx.get("expected", "")
        return f"invalid value {brief(value)}; expected {listed}{did_you_mean(value, choices)}"
    if kind == "union_tag_invalid":
        return (f"invalid platform {ctx.get('tag')!r}; expected {_either(PLATFORMS)}"
                f"{did_you_mean(ctx.get('tag'), PLATFORMS)}")
    if kind in _EXPECTED:
        quote = "; quote it to make it a string" if kind == "string_type" and isinstance(value, (int, float, bool)) else ""
        return f"expected {_EXPECTED[kind]}, got {_got(value)}{quote}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        relation = {"greater_than_equal": "at least", "greater_than": "greater than",
                    "less_than_equal": "at most", "less_than": "less than"}[kind]
        return f"must be {relation} {next(iter(ctx.values()))} (got {brief(value)})"
    if kind == "string_too_long":
        return f"too long ({len(value)} characters; at most {ctx['max_length']})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} item(s)"
    if kind == "string_pattern_mismatch":
        return f"invalid value {brief(value)} (must match {ctx['pattern']})"
    return fallback
