"""Training files kept in the repository: a path relative to its manifest, inside the manifest root.

Gemini API `training.examples` files are read into rows (examples.py); Vertex `training.file` and
`validationFile` are checked row by row while streaming (datasets.vertex_jsonl) and summarised as `LocalData`:
their content digest enters the spec digest, and apply uploads them to reconciler.yaml `staging`.
"""

from __future__ import annotations

import os
from pathlib import Path

from yaml.nodes import Node

from reconciler.desired import Config, LocalData
from reconciler.manifest.diagnostics import Diagnostics
from reconciler.manifest.files import inside
from reconciler.manifest.document import Document


def resolve(doc: Document, written: str, node: Node, root: Path, diagnostics: Diagnostics,
            what: str) -> tuple[Path, str] | None:
    """The file a manifest names (and how to show it), or None with the problem reported at `node`."""
    if os.path.isabs(written):
        diagnostics.at(doc.path, node, f"{what} {written!r} must be a path relative to the manifest")
        return None
    file = Path(doc.file).parent / written
    shown = os.path.normpath(os.path.join(os.path.dirname(doc.path), written))
    if not inside(file, root):
        diagnostics.at(doc.path, node, f"{what} {written!r} resolves outside the manifest root; "
                       "keep training data inside the repository")
        return None
    if not file.is_file():
        diagnostics.at(doc.path, node, f"{what} {written!r} does not exist ({shown})")
        return None
    return file, shown


def read_data_files(doc: Document, root: Path, config: Config, diagnostics: Diagnostics) -> tuple[LocalData, ...]:
    """The Vertex training files of a valid document, checked; () when it names none (or they are broken)."""
    from reconciler.datasets.vertex_jsonl import check_file

    files = doc.model.spec.training.local_files
    found = []
    for field, written in files.items():
        where = doc.locate(("spec", "training", field))
        if config.staging is None:
            diagnostics.at(doc.path, where.key or where.node, f"training.{field} needs a staging location for "
                           "the upload: add `staging: gs://BUCKET/PREFIX` to reconciler.yaml (files kept in the "
                           "repository are uploaded there, named by their content digest, before the job starts)")
            continue
        located = resolve(doc, written, where.node, root, diagnostics, "training file")
        if located is None:
            continue
        file, shown = located
        summary = check_file(file, shown, diagnostics, validation=field == "validationFile")
        relative = Path(os.path.relpath(file, root)).as_posix()
        found.append(LocalData(field=field, path=relative, sha256=summary.sha256, size=summary.size,
                               rows=summary.rows, characters=summary.characters))
    return tuple(found)
