"""Checks across the valid documents: unique names, label counts with reconciler.yaml defaults, and
`fromManifest` links (the target exists, is of the same platform, no cycle, no shared model)."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from reconciler.desired import Config
from reconciler.manifest.diagnostics import Diagnostics
from reconciler.manifest.document import Document
from reconciler.ownership import MAX_LABELS, OWNERSHIP_LABELS

if TYPE_CHECKING:
    from yaml.nodes import Node

    from reconciler.manifest.schema import TunedModel


def check_all(docs: list[Document], config: Config, diagnostics: Diagnostics) -> None:
    check_names(docs, diagnostics)
    check_labels(docs, config, diagnostics)
    check_dependencies(docs, diagnostics)
    check_base_models(docs, diagnostics)


def check_base_models(docs: list[Document], diagnostics: Diagnostics) -> None:
    """A warning (offline) for a base model the platform does not tune: the API would refuse the create."""
    from reconciler.platforms import base_models

    for doc in docs:
        problem = base_models.warning(doc.facts.platform, doc.facts.base_model)
        if problem:
            diagnostics.at(doc.path, doc.locate(("spec", "baseModel")).node, problem, severity="warning")


def check_names(docs: list[Document], diagnostics: Diagnostics) -> None:
    by_name: dict[str, list[Document]] = {}
    for doc in docs:
        by_name.setdefault(doc.facts.name, []).append(doc)
    for name, same in by_name.items():
        for doc in same if len(same) > 1 else ():
            others = ", ".join(_where(other) for other in same if other is not doc)
            diagnostics.at(doc.path, _name_node(doc), f"duplicate name {name!r}: also defined at {others}")


def check_labels(docs: list[Document], config: Config, diagnostics: Diagnostics) -> None:
    for doc in docs:
        labels = {*config.defaults.labels, *doc.facts.labels}
        if doc.facts.has_labels and len(labels) > MAX_LABELS:
            found = doc.locate(("metadata", "labels"))
            diagnostics.at(doc.path, found.key or found.node,
                           f"too many labels ({len(labels)}, counting reconciler.yaml defaults); at most "
                           f"{MAX_LABELS}, as reconciler adds {len(OWNERSHIP_LABELS)} of its own")


def check_dependencies(docs: list[Document], diagnostics: Diagnostics) -> None:
    by_name = {doc.facts.name: doc for doc in docs}
    cycles = _cycles({n: d.facts.upstream for n, d in by_name.items()})
    in_cycle = {name for cycle in cycles for name in cycle}
    for doc in docs:
        target = doc.facts.upstream
        if target is None:
            continue
        node = doc.locate(_upstream_path(doc.model)).node
        if target not in by_name:
            # never the manifest that holds the reference: it cannot continue itself
            close = difflib.get_close_matches(target, [n for n in by_name if n != doc.facts.name], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            diagnostics.at(doc.path, node, f"fromManifest {target!r} does not match any manifest{hint}")
        elif by_name[target].facts.platform != doc.facts.platform:
            diagnostics.at(doc.path, node, f"fromManifest {target!r} is a "
                           f"{by_name[target].facts.platform} model; this manifest is "
                           f"{doc.facts.platform} and can only continue a model of its platform")
        elif doc.facts.name not in in_cycle and _shares_model(doc.model, by_name[target].model):
            how = (f"with the same displayName {doc.model.spec.displayName!r}" if doc.model.spec.displayName
                   else "without a displayName")
            diagnostics.at(doc.path, node, f"fromManifest {target!r} {how} would make this a new version "
                           f"of {target}'s model, whose name, description and labels two manifests would "
                           "then both own; give this manifest its own displayName")
    for cycle in cycles:
        doc = by_name[cycle[0]]
        diagnostics.at(doc.path, doc.locate(_upstream_path(doc.model)).node,
                       "fromManifest cycle: " + " -> ".join([*cycle, cycle[0]]))


def _upstream_path(model: TunedModel) -> tuple:
    return ("spec", model.spec.upstream_field, "fromManifest")


def _shares_model(dependent: TunedModel, upstream_model: TunedModel) -> bool:
    """Whether continuing `upstream_model` would add a version to its model rather than make a new one: on a
    platform where continuations share the model, when the dependent's display name is the upstream's or is
    left empty (Vertex reference: continuous tuning)."""
    name = getattr(dependent.spec, "displayName", None)
    return dependent.spec.continuation_shares_model and (
        not name or name == getattr(upstream_model.spec, "displayName", None))


def _name_node(doc: Document) -> Node:
    return doc.locate(("metadata", "name")).node


def _where(doc: Document) -> str:
    mark = _name_node(doc).start_mark
    return f"{doc.path}:{mark.line + 1}:{mark.column + 1}"


def _cycles(upstream_of: dict[str, str | None]) -> list[list[str]]:
    cycles, settled = [], set()
    for start in sorted(upstream_of):
        chain: list[str] = []
        name: str | None = start
        while name in upstream_of and name not in settled and name not in chain:
            chain.append(name)
            name = upstream_of[name]
        if name in chain:
            cycle = chain[chain.index(name):]
            turn = cycle.index(min(cycle))
            cycles.append(cycle[turn:] + cycle[:turn])
        settled.update(chain)
    return cycles
