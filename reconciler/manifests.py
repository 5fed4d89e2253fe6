"""Loading manifests: files and directories of YAML into a validated `DesiredState`.

Every problem is collected as a located `Diagnostic` and reported together in one `ManifestError`.
YAML is composed into nodes first (safe loader only) so that each value keeps its line and column:
interpolation, tag checks and the mapping of pydantic errors back to the file all work on the nodes.
"""

from __future__ import annotations

import difflib
import json
import functools
import os
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler import resources
from reconciler.errors import Diagnostic, ManifestError
from reconciler.resources import (CONFIG_ADAPTER, MANIFEST_ADAPTER, Config, ConfigFile, Defaults,
                                  DesiredResource, DesiredState, GeminiSpec, TunedModel, VertexSpec)

CONFIG_FILE = "reconciler.yaml"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_EXAMPLES_BYTES = 64 * 1024 * 1024
MAX_EXPANDED_NODES = 100_000  # a document may not grow past this through aliases (billion laughs)
MAX_DEPTH = 64
MAX_ROW_ERRORS = 20
RECOMMENDED_EXAMPLES = 100
MAX_MESSAGE = 400

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_YAML}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_VARIABLE = re.compile(r"\$(?:(\$)|\{([^}]*)\}|(\{))")
_VARIABLE_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def load(path: str | os.PathLike, env: Mapping[str, str] | None = None) -> DesiredState:
    """Load, validate and canonicalise every manifest under `path` (a file or a directory)."""
    return _Loader(Path(path), os.environ if env is None else env).run()


class _Refused(Exception):
    """Stop reading one document: it is unsafe or unusable to go on (alias bomb, too deep)."""

    def __init__(self, node: Node, message: str):
        super().__init__(message)
        self.node, self.message = node, message


@dataclass
class _Document:
    path: str
    file: Path
    node: Node
    data: Any = None
    flagged: frozenset[int] = frozenset()  # nodes already reported while reading the YAML
    model: TunedModel | None = None

    @property
    def source(self) -> str:
        return f"{self.path}:{self.node.start_mark.line + 1}"


@dataclass
class _Diagnostics:
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, path: str, line: int, col: int, message: str, severity: str = "error") -> None:
        if len(message) > MAX_MESSAGE:  # a message quotes user input, which may be huge
            message = message[:MAX_MESSAGE - 3] + "..."
        self.items.append(Diagnostic(path, line, col, message, severity))

    def at(self, path: str, node: Node, message: str, severity: str = "error") -> None:
        self.add(path, node.start_mark.line + 1, node.start_mark.column + 1, message, severity)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(sorted(d for d in self.items if d.severity == "warning"))


def _is_empty_document(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag == f"{_YAML}null")


class _Loader:
    def __init__(self, path: Path, env: Mapping[str, str]):
        self.path, self.env = path, env
        self.root = path if path.is_dir() else path.parent
        self.diagnostics = _Diagnostics()

    def run(self) -> DesiredState:
        if not self.path.exists():
            raise ManifestError([Diagnostic(str(self.path), 0, 0, "no such file or directory")])
        config = self._load_config()
        documents = [doc for file, shown in self._manifest_files() for doc in self._read_documents(file, shown)]
        valid = [doc for doc in documents if self._validate(doc, config)]
        self._check_names(valid)
        self._check_labels(valid, config)
        self._check_dependencies(valid)
        examples = {doc.model.metadata.name: self._examples(doc) for doc in valid
                    if isinstance(doc.model.spec, GeminiSpec)}
        if self.diagnostics.errors:
            raise ManifestError(self.diagnostics.items)
        resources_by_name = _build(valid, examples, config)
        return DesiredState(resources_by_name, config, self.diagnostics.warnings)

    # --- files -------------------------------------------------------------------------------------

    def _manifest_files(self) -> Iterator[tuple[Path, str]]:
        if not self.path.is_dir():
            yield self.path, str(self.path)
            return
        found = False
        for directory, subdirs, files in os.walk(self.path):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                file = Path(directory, name)
                if file.suffix in (".yaml", ".yml") and not name.startswith(".") and not self._is_config(file):
                    found = True
                    yield file, str(file)
        if not found:
            self.diagnostics.add(str(self.path), 0, 0, "no manifests (*.yaml, *.yml) found", "warning")

    def _is_config(self, file: Path) -> bool:
        return file.name == CONFIG_FILE and file.parent == self.root

    def _read_text(self, file: Path, shown: str, limit: int) -> str | None:
        try:
            if not _inside(file, self.root):
                self.diagnostics.add(shown, 0, 0, f"resolves outside the manifest root {self.root}")
                return None
            with open(file, "rb") as stream:
                data = stream.read(limit + 1)
        except OSError as err:
            self.diagnostics.add(shown, 0, 0, f"cannot read: {err.strerror or err}")
            return None
        if len(data) > limit:
            self.diagnostics.add(shown, 1, 1, f"file is larger than {limit // 1024} KiB; refusing to read it")
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
            self.diagnostics.add(shown, line, col, f"not valid UTF-8 (byte 0x{data[err.start]:02x}); "
                                 "save the file as UTF-8")
            return None

    def _compose(self, text: str, shown: str) -> Iterator[Node]:
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
            self.diagnostics.add(shown, mark.line + 1, mark.column + 1, f"invalid YAML: {err.problem}{context}")
        except yaml.reader.ReaderError as err:
            line, col = _line_col(text, err.position)
            self.diagnostics.add(shown, line, col, f"invalid YAML: unacceptable character #x{err.character:04x}")
        except yaml.YAMLError as err:
            self.diagnostics.add(shown, 1, 1, f"invalid YAML: {err}")
        except RecursionError:
            self.diagnostics.add(shown, 1, 1, "invalid YAML: nested too deeply")

    def _read_documents(self, file: Path, shown: str) -> Iterator[_Document]:
        text = self._read_text(file, shown, MAX_MANIFEST_BYTES)
        if text is None:
            return
        for node in self._compose(text, shown):
            data, flagged = self._to_data(node, shown)
            if data is not None:
                yield _Document(shown, file, node, data, flagged)

    def _to_data(self, node: Node, shown: str) -> tuple[Any, frozenset[int]]:
        converter = _Converter(shown, self.env, self.diagnostics)
        try:
            return converter.convert(node), frozenset(converter.flagged)
        except _Refused as refused:
            self.diagnostics.at(shown, refused.node, refused.message)
        return None, frozenset()

    # --- reconciler.yaml ---------------------------------------------------------------------------

    def _load_config(self) -> Config:
        file = self.root / CONFIG_FILE
        if not file.is_file():
            return Config.default(self.root)
        shown = str(file)
        text = self._read_text(file, shown, MAX_MANIFEST_BYTES)
        nodes = list(self._compose(text, shown)) if text is not None else []
        if len(nodes) > 1:
            self.diagnostics.at(shown, nodes[1], "reconciler.yaml must hold a single document")
        data, flagged = self._to_data(nodes[0], shown) if nodes else ({}, frozenset())
        if not isinstance(data, dict):
            if data is not None:
                self.diagnostics.at(shown, nodes[0], "reconciler.yaml must be a mapping")
            return Config.default(self.root)
        try:
            parsed: ConfigFile = CONFIG_ADAPTER.validate_python(data)
        except ValidationError as err:
            self._report(err, ConfigFile, shown, nodes[0], flagged)
            return Config.default(self.root)
        if len(parsed.defaults.labels) > resources.MAX_LABELS:
            self.diagnostics.at(shown, _locate(nodes[0], ("defaults", "labels")).key,
                                f"too many labels ({len(parsed.defaults.labels)}; at most {resources.MAX_LABELS})")
        defaults = Defaults(parsed.defaults.project, parsed.defaults.location, dict(parsed.defaults.labels))
        return Config(root=self.root, lock_path=self.root / parsed.lockFile, defaults=defaults,
                      state_backend=parsed.state.backend)

    # --- one document ------------------------------------------------------------------------------

    def _validate(self, doc: _Document, config: Config) -> bool:
        if not isinstance(doc.data, dict):
            self.diagnostics.at(doc.path, doc.node, "a manifest must be a mapping with apiVersion, kind, "
                                "metadata and spec")
            return False
        data = _with_scope_defaults(doc.data, config.defaults)
        try:
            doc.model = MANIFEST_ADAPTER.validate_python(data)
        except ValidationError as err:
            self._report(err, TunedModel, doc.path, doc.node, doc.flagged)
            return False
        return True

    def _report(self, err: ValidationError, root_type: type, shown: str, node: Node,
                flagged: frozenset[int]) -> None:
        errors = err.errors()
        misspelt = _misspelt_fields(errors, root_type)
        for error in errors:
            if error["type"] == "missing" and error["loc"] in misspelt:
                continue  # "unknown field 'datset'; did you mean 'dataset'?" already says it
            target, message = _explain(error, root_type, node)
            if id(target) not in flagged:  # e.g. an unset ${VAR} is reported once, not again as a bad value
                self.diagnostics.at(shown, target, message)

    # --- across documents --------------------------------------------------------------------------

    def _check_names(self, docs: list[_Document]) -> None:
        by_name: dict[str, list[_Document]] = {}
        for doc in docs:
            by_name.setdefault(doc.model.metadata.name, []).append(doc)
        for name, same in by_name.items():
            for doc in same if len(same) > 1 else ():
                others = ", ".join(_where(other) for other in same if other is not doc)
                self.diagnostics.at(doc.path, _name_node(doc), f"duplicate name {name!r}: also defined at {others}")

    def _check_labels(self, docs: list[_Document], config: Config) -> None:
        for doc in docs:
            labels = {**config.defaults.labels, **doc.model.metadata.labels}
            if doc.model.spec.platform == "vertex" and len(labels) > resources.MAX_LABELS:
                found = _locate(doc.node, ("metadata", "labels"))
                self.diagnostics.at(doc.path, found.key or found.node,
                                    f"too many labels ({len(labels)}, counting reconciler.yaml defaults); at most "
                                    f"{resources.MAX_LABELS}, as reconciler adds {len(resources.OWNERSHIP_LABELS)} "
                                    "of its own")

    def _check_dependencies(self, docs: list[_Document]) -> None:
        by_name = {doc.model.metadata.name: doc for doc in docs}
        cycles = _cycles({n: _upstream(d.model) for n, d in by_name.items()})
        in_cycle = {name for cycle in cycles for name in cycle}
        for doc in docs:
            target = _upstream(doc.model)
            if target is None:
                continue
            node = _locate(doc.node, _upstream_path(doc.model)).node
            if target not in by_name:
                close = difflib.get_close_matches(target, by_name, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.diagnostics.at(doc.path, node, f"fromManifest {target!r} does not match any manifest{hint}")
            elif by_name[target].model.spec.platform != doc.model.spec.platform:
                self.diagnostics.at(doc.path, node, f"fromManifest {target!r} is a "
                                    f"{by_name[target].model.spec.platform} model; this manifest is "
                                    f"{doc.model.spec.platform} and can only continue a model of its platform")
            elif doc.model.metadata.name not in in_cycle and _shares_model(doc.model, by_name[target].model):
                how = (f"with the same displayName {doc.model.spec.displayName!r}" if doc.model.spec.displayName
                       else "without a displayName")
                self.diagnostics.at(doc.path, node, f"fromManifest {target!r} {how} would make this a new version "
                                    f"of {target}'s model, whose name, description and labels two manifests would "
                                    "then both own; give this manifest its own displayName")
        for cycle in cycles:
            doc = by_name[cycle[0]]
            self.diagnostics.at(doc.path, _locate(doc.node, _upstream_path(doc.model)).node,
                                "fromManifest cycle: " + " -> ".join([*cycle, cycle[0]]))

    # --- training examples (gemini-api) ------------------------------------------------------------

    def _examples(self, doc: _Document) -> tuple[dict, ...]:
        written = doc.model.spec.training.examples
        found = _locate(doc.node, ("spec", "training", "examples"))
        if isinstance(written, str):
            rows = self._read_examples_file(doc, written, found.node)
        else:
            rows = tuple({"textInput": e.textInput, "output": e.output} for e in written)
        if rows and len(rows) < RECOMMENDED_EXAMPLES:
            self.diagnostics.at(doc.path, found.key or found.node, f"only {len(rows)} training examples; at least "
                                f"{RECOMMENDED_EXAMPLES} are recommended for good results", "warning")
        return rows

    def _read_examples_file(self, doc: _Document, written: str, node: Node) -> tuple[dict, ...]:
        if os.path.isabs(written):
            self.diagnostics.at(doc.path, node, f"examples file {written!r} must be a path relative to the manifest")
            return ()
        file = doc.file.parent / written
        shown = os.path.normpath(os.path.join(os.path.dirname(doc.path), written))
        if not _inside(file, self.root):
            self.diagnostics.at(doc.path, node, f"examples file {written!r} resolves outside the manifest root; "
                                "keep training data inside the repository")
            return ()
        if not file.is_file():
            self.diagnostics.at(doc.path, node, f"examples file {written!r} does not exist ({shown})")
            return ()
        text = self._read_text(file, shown, MAX_EXAMPLES_BYTES)
        if text is None:
            return ()
        rows = _parse_jsonl(text, shown, self.diagnostics)
        if rows == () and not any(d.path == shown for d in self.diagnostics.errors):
            self.diagnostics.at(doc.path, node, f"examples file {written!r} holds no examples")
        return rows


# ---------------------------------------------------------------------------------------------------
# YAML nodes -> plain data


class _Converter:
    """Turns composed YAML nodes into plain data, interpolating ${VAR} and refusing unsafe input."""

    def __init__(self, shown: str, env: Mapping[str, str], diagnostics: _Diagnostics):
        self.shown, self.env, self.diagnostics = shown, env, diagnostics
        self.budget = MAX_EXPANDED_NODES
        self.open: set[int] = set()
        self.flagged: set[int] = set()

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
        for key_node, value_node, merged in _pairs(node):
            self.spend(key_node)
            if not isinstance(key_node, ScalarNode):
                self.report(key_node, "mapping keys must be plain strings")
                continue
            key = key_node.value
            if key in first_seen:
                if not merged:
                    earlier = first_seen[key].start_mark
                    self.report(key_node, f"duplicate key {key!r} (first at line "
                                        f"{earlier.line + 1})")
                continue
            first_seen[key] = key_node
            result[key] = self.convert(value_node, depth + 1)
        return result

    def _scalar(self, node: ScalarNode) -> Any:
        tag, value = node.tag, node.value
        if "$" in value and tag in _SCALAR_TAGS:
            value = self._interpolate(node)
            if node.style is None:  # a plain scalar: "${EPOCHS}" may now read as the number 4
                tag = _RESOLVER.resolve(ScalarNode, value, (True, False))
        if tag not in _SCALAR_TAGS:
            return self._refuse_tag(node)
        if tag in (f"{_YAML}str", f"{_YAML}timestamp"):
            return value
        try:
            result = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, ScalarNode(tag, value))
        except (ValueError, OverflowError):
            self.report(node, f"invalid {tag.removeprefix(_YAML)} {_brief(value)}")
            return None
        if isinstance(result, float) and (result != result or result in (float("inf"), float("-inf"))):
            self.report(node, f"{_brief(value)} is not a finite number")
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
            if self.env.get(name):
                return self.env[name]
            if default is not None:
                return default
            if name in self.env:
                return ""
            self.report(node, f"environment variable {name!r} is not set; set it or write "
                                f"${{{name}:-default}}")
            return match.group(0)

        return _VARIABLE.sub(substitute, node.value)

    def _refuse_tag(self, node: Node) -> None:
        self.report(node, f"tag {node.tag.replace(_YAML, '!!')!r} is not allowed: manifests are plain YAML "
                            "(mappings, lists, strings, numbers, booleans)")
        return None


def _pairs(node: MappingNode, merged: bool = False, seen: frozenset = frozenset()) -> Iterator[tuple[Node, Node, bool]]:
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
            yield from _pairs(source, True, seen)


def _line_col(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _shares_model(dependent: TunedModel, upstream: TunedModel) -> bool:
    """Vertex continuous tuning keeps the upstream's Model (as version N+1) when the dependent's display name
    is the upstream's or is left empty (reference: continuous tuning)."""
    name = getattr(dependent.spec, "displayName", None)
    return dependent.spec.platform == "vertex" and (not name or name == getattr(upstream.spec, "displayName", None))


def _inside(file: Path, root: Path) -> bool:
    """Whether `file`, symlinks resolved, is inside `root` (which catches `..` and symlink escapes)."""
    real, top = os.path.realpath(file), _real(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=64)
def _real(root: Path) -> str:
    return os.path.realpath(root)


def _with_scope_defaults(data: dict, defaults: Defaults) -> dict:
    spec = data.get("spec")
    if not isinstance(spec, dict) or spec.get("platform") != "vertex":
        return data
    filled = {"project": defaults.project, "location": defaults.location}
    scope = {k: v for k, v in filled.items() if v is not None and k not in spec}
    return {**data, "spec": {**spec, **scope}}


# ---------------------------------------------------------------------------------------------------
# pydantic errors -> located messages


@dataclass(frozen=True)
class _Found:
    node: Node
    key: Node | None
    complete: bool


def _locate(root: Node, path: tuple) -> _Found:
    """Follow a path of keys and indexes through the node tree, as far as it exists."""
    node, key = root, None
    for segment in path:
        if segment == "[key]":
            node = key or node
            continue
        if isinstance(node, MappingNode) and isinstance(segment, str):
            pair = next(((k, v) for k, v, _ in _pairs(node) if isinstance(k, ScalarNode) and k.value == segment), None)
            if pair is None:
                return _Found(node, key, False)
            key, node = pair
        elif isinstance(node, SequenceNode) and isinstance(segment, int) and segment < len(node.value):
            key, node = None, node.value[segment]
        else:
            return _Found(node, key, False)
    return _Found(node, key, True)


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


def _did_you_mean(value: Any, choices: Any) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
          dict: "a mapping", type(None): "null"}
_EXPECTED = {"string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
             "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
             "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "a mapping",
             "model_type": "a mapping", "model_attributes_type": "a mapping", "list_type": "a list"}


def _brief(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "a huge number"
    return text if len(text) <= 60 else f"{text[:57]}..."


def _got(value: Any) -> str:
    kind = _KINDS.get(type(value), type(value).__name__)
    return f"{kind} {_brief(value)}" if isinstance(value, (bool, int, float, str)) else kind


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
        return _locate(root, path).key or root, f"unknown field {path[-1]!r}{hint}"
    if kind in ("missing", "union_tag_not_found"):
        field_name = ctx.get("discriminator", "'platform'").strip("'") if kind != "missing" else path[-1]
        parent_path = path if kind != "missing" else path[:-1]
        found = _locate(root, parent_path)
        where = f" in {_dotted(parent_path)}" if parent_path else ""
        return found.key or found.node, f"missing required field {field_name!r}{where}"
    found = _locate(root, path)
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
        return f"invalid value {_brief(value)}; expected {listed}{_did_you_mean(value, choices)}"
    if kind == "union_tag_invalid":
        return (f"invalid platform {ctx.get('tag')!r}; expected {_either(resources.PLATFORMS)}"
                f"{_did_you_mean(ctx.get('tag'), resources.PLATFORMS)}")
    if kind in _EXPECTED:
        quote = "; quote it to make it a string" if kind == "string_type" and isinstance(value, (int, float, bool)) else ""
        return f"expected {_EXPECTED[kind]}, got {_got(value)}{quote}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        relation = {"greater_than_equal": "at least", "greater_than": "greater than",
                    "less_than_equal": "at most", "less_than": "less than"}[kind]
        return f"must be {relation} {next(iter(ctx.values()))} (got {_brief(value)})"
    if kind == "string_too_long":
        return f"too long ({len(value)} characters; at most {ctx['max_length']})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} item(s)"
    if kind == "string_pattern_mismatch":
        return f"invalid value {_brief(value)} (must match {ctx['pattern']})"
    return fallback


# ---------------------------------------------------------------------------------------------------
# training examples files


def _parse_jsonl(text: str, shown: str, diagnostics: _Diagnostics) -> tuple[dict, ...]:
    rows, bad = [], 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row, problem, col = _parse_row(line)
        if problem is None:
            rows.append(row)
            continue
        bad += 1
        if bad <= MAX_ROW_ERRORS:
            diagnostics.add(shown, number, col, f"row {number}: {problem}")
    if bad > MAX_ROW_ERRORS:
        diagnostics.add(shown, 0, 0, f"{bad - MAX_ROW_ERRORS} more rows are invalid")
    return tuple(rows)


def _parse_row(line: str) -> tuple[dict | None, str | None, int]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        return None, f"invalid JSON: {err.msg}", err.colno
    except (ValueError, RecursionError):
        return None, "invalid JSON", 1
    if not isinstance(row, dict):
        return None, 'expected a JSON object {"textInput": ..., "output": ...}', 1
    for key in row:
        if key not in ("textInput", "output"):
            return None, f"unknown field {key!r}{_did_you_mean(key, ('textInput', 'output'))}", 1
    for key in ("textInput", "output"):
        if key not in row:
            return None, f"missing field {key!r}", 1
        if not isinstance(row[key], str) or not row[key]:
            return None, f"{key!r} must be a non-empty string", 1
    return {"textInput": row["textInput"], "output": row["output"]}, None, 1


# ---------------------------------------------------------------------------------------------------
# dependencies and the desired state


def _upstream(model: TunedModel) -> str | None:
    spec = model.spec
    source = spec.preTunedModel if isinstance(spec, VertexSpec) else spec.tunedModelSource
    return source.fromManifest if source else None


def _upstream_path(model: TunedModel) -> tuple:
    source = "preTunedModel" if isinstance(model.spec, VertexSpec) else "tunedModelSource"
    return ("spec", source, "fromManifest")


def _name_node(doc: _Document) -> Node:
    return _locate(doc.node, ("metadata", "name")).node


def _where(doc: _Document) -> str:
    mark = _name_node(doc).start_mark
    return f"{doc.path}:{mark.line + 1}:{mark.column + 1}"


def _cycles(upstream: dict[str, str | None]) -> list[list[str]]:
    cycles, settled = [], set()
    for start in sorted(upstream):
        chain: list[str] = []
        name: str | None = start
        while name in upstream and name not in settled and name not in chain:
            chain.append(name)
            name = upstream[name]
        if name in chain:
            cycle = chain[chain.index(name):]
            turn = cycle.index(min(cycle))
            cycles.append(cycle[turn:] + cycle[:turn])
        settled.update(chain)
    return cycles


def _dependency_order(docs: list[_Document]) -> list[_Document]:
    by_name = {doc.model.metadata.name: doc for doc in docs}
    ordered: list[_Document] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed:
            return
        placed.add(name)
        target = _upstream(by_name[name].model)
        if target is not None:
            place(target)
        ordered.append(by_name[name])

    for name in sorted(by_name):
        place(name)
    return ordered


def _build(docs: list[_Document], examples: dict[str, tuple[dict, ...]], config: Config) -> dict[str, DesiredResource]:
    built: dict[str, DesiredResource] = {}
    for doc in _dependency_order(docs):
        model, spec = doc.model, doc.model.spec
        name, rows = model.metadata.name, examples.get(model.metadata.name, ())
        upstream = _upstream(model)
        project = spec.project if isinstance(spec, VertexSpec) else None
        location = spec.location if isinstance(spec, VertexSpec) else None
        immutable = resources.canonical_immutable(spec, rows)
        upstream_digest = built[upstream].digest if upstream else None
        labels = {**config.defaults.labels, **model.metadata.labels}
        built[name] = DesiredResource(
            name=name, platform=spec.platform, project=project, location=location,
            digest=resources.spec_digest(spec.platform, project, location, immutable, upstream_digest),
            immutable=immutable, mutable=resources.canonical_mutable(spec, labels), policy=spec.policy,
            depends_on=upstream, source=doc.source, examples=rows)
    return built
