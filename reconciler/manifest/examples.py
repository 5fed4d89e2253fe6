"""Training examples of a spec that `trains_on_examples`: inline rows, or a JSONL file relative to the
manifest and inside the manifest root, every row checked (and the whole file for credentials)."""

from __future__ import annotations

import json
from pathlib import Path

from yaml.nodes import Node

from reconciler.manifest.diagnostics import (MAX_ROW_ERRORS, RECOMMENDED_EXAMPLES, Diagnostics, did_you_mean,
                                             few_examples, holds_secret, more_invalid)
from reconciler.manifest.data_files import resolve
from reconciler.manifest.files import read_text
from reconciler.manifest.document import Document
from reconciler.manifest.yaml_nodes import line_col

MAX_EXAMPLES_BYTES = 64 * 1024 * 1024


def read_examples(doc: Document, root: Path, diagnostics: Diagnostics) -> tuple[dict, ...]:
    """The rows of a valid document's training.examples, as {"textInput", "output"} dicts."""
    written = doc.model.spec.training.examples
    found = doc.locate(("spec", "training", "examples"))
    if isinstance(written, str):
        rows = _read_examples_file(doc, written, found.node, root, diagnostics)
    else:
        rows = tuple({"textInput": e.textInput, "output": e.output} for e in written)
    if rows and len(rows) < RECOMMENDED_EXAMPLES:
        diagnostics.at(doc.path, found.key or found.node, few_examples(len(rows)), "warning")
    return rows


def _read_examples_file(doc: Document, written: str, node: Node, root: Path,
                        diagnostics: Diagnostics) -> tuple[dict, ...]:
    located = resolve(doc, written, node, root, diagnostics, "examples file")
    if located is None:
        return ()
    file, shown = located
    text = read_text(file, shown, MAX_EXAMPLES_BYTES, root, diagnostics)
    if text is None or _holds_secret(text, shown, diagnostics):
        return ()
    rows = _parse_jsonl(text, shown, diagnostics)
    if rows == () and not any(d.path == shown for d in diagnostics.errors):
        diagnostics.at(doc.path, node, f"examples file {written!r} holds no examples")
    return rows


def _holds_secret(text: str, shown: str, diagnostics: Diagnostics) -> bool:
    """Whether the file holds a credential's current value anywhere (each reported at its first occurrence); its
    rows are then not read, so that no message or plan ever quotes them."""
    found = False
    for name, secret in diagnostics.secrets:
        position = text.find(secret)
        if position >= 0:
            found = True
            line, col = line_col(text, position)
            diagnostics.add(shown, line, col, holds_secret(f"row {line}", name))
    return found


def _parse_jsonl(text: str, shown: str, diagnostics: Diagnostics) -> tuple[dict, ...]:
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
        diagnostics.add(shown, 0, 0, more_invalid(bad))
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
            return None, f"unknown field {key!r}{did_you_mean(key, ('textInput', 'output'))}", 1
    for key in ("textInput", "output"):
        if key not in row:
            return None, f"missing field {key!r}", 1
        if not isinstance(row[key], str) or not row[key]:
            return None, f"{key!r} must be a non-empty string", 1
    return {"textInput": row["textInput"], "output": row["output"]}, None, 1
