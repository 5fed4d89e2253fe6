"""One YAML document of a manifest file, as the loader and the checks across documents hold it. Apart from
`yaml_nodes` (which composes and converts it) so that a load whose files all come from the cache imports no YAML:
the nodes of a cached document are composed again only when a message needs a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.manifest.diagnostics import Diagnostics

if TYPE_CHECKING:
    from yaml.nodes import Node

    from reconciler.manifest.cache import CachedDocument, Facts
    from reconciler.manifest.schema import TunedModel
    from reconciler.manifest.yaml_nodes import Found


@dataclass
class Document:
    """One YAML document of a manifest file: its nodes, its plain data, and once valid, its model and facts. A
    document taken from the cache (manifest.cache) has its line and facts but no data; its model is unpickled and
    its nodes composed again from `text` only when something reads them."""

    path: str
    file: str  # as the walk spelled it (files.manifest_files)
    _node: Node | None
    data: Any = None
    flagged: frozenset[int] = frozenset()  # nodes already reported while reading the YAML
    _model: TunedModel | None = None
    line: int = 0  # 1-based line where the document starts
    text: str | None = field(default="", repr=False)  # the file's text (cached documents; None: not read)
    index: int = 0  # among the file's non-empty documents (cached documents)
    cached: CachedDocument | None = None  # its entry in the cache, when it is or will be cached
    facts: Facts | None = None  # once valid

    def __post_init__(self) -> None:
        if self._node is not None:
            self.line = self._node.start_mark.line + 1
        if self.cached is not None:
            self.facts = self.cached.facts

    @property
    def node(self) -> Node:
        if self._node is None:
            from reconciler.manifest.yaml_nodes import compose

            if self.text is None:  # recalled by its status (manifest.cache): read now that a message needs a line
                from reconciler.state import atomic

                self.text = (atomic.read_regular(self.file) or b"").decode("utf-8-sig", "replace")
            self._node = list(compose(self.text, self.path, Diagnostics(secrets=())))[self.index]
        return self._node

    def locate(self, path: tuple) -> Found:
        """Where `path` (keys and indexes) is in this document: the deepest node of it that exists."""
        from reconciler.manifest.yaml_nodes import locate

        return locate(self.node, path)

    @property
    def model(self) -> TunedModel | None:
        if self._model is None and self.cached is not None:
            self._model = self.cached.model()
        return self._model

    @model.setter
    def model(self, model: TunedModel) -> None:
        self._model = model

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"
