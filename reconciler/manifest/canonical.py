"""The canonical form of a spec and its digest.

The digest (algorithm `sha256/v1`) is recorded in lock files and in live resources' labels and ids: its
bytes must never change for a given spec (tests/manifests/test_manifests_digest.py pins the rules).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.desired import DIGEST_ALGORITHM, LocalData

if TYPE_CHECKING:
    from reconciler.manifest.schema import AnySpec


def _without_empty(value: Any) -> Any:
    """`x: null` and `x: {}` mean the same as leaving x out, so they must not change a digest."""
    if isinstance(value, dict):
        cleaned = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None and v != {}}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def examples_sha256(examples: tuple[dict, ...] | list[dict]) -> str:
    rows = [{"output": row["output"], "textInput": row["textInput"]} for row in examples]
    return hashlib.sha256(canonical_json(rows)).hexdigest()


def canonical_immutable(spec: AnySpec, examples: tuple[dict, ...] = (), data: tuple[LocalData, ...] = ()) -> dict:
    """The user-written immutable fields, normalised: API names and number types, no defaults. A file kept in
    the repository enters by its content (digest, rows, bytes), never by its path: moving it retrains nothing."""
    written = spec.model_dump(mode="json", exclude_unset=True, include=set(spec.immutable_fields) - {"training"})
    if spec.trains_on_examples:
        written["training"] = {"exampleCount": len(examples), "examplesSha256": examples_sha256(examples)}
    else:
        written["training"] = spec.training.model_dump(mode="json", exclude_unset=True)
        for file in data:
            written["training"][file.field] = {"sha256": file.sha256, "rows": file.rows, "bytes": file.size}
    return _without_empty(written)


def canonical_mutable(spec: AnySpec, labels: Mapping[str, str]) -> dict:
    written = spec.model_dump(mode="json", exclude_unset=True, include=set(spec.mutable_fields) - {"labels"})
    if spec.has_labels and labels:
        written["labels"] = dict(sorted(labels.items()))
    return {k: v for k, v in written.items() if v is not None}


def spec_digest(platform: str, project: str | None, location: str | None, immutable: dict,
                upstream_digest: str | None = None, *, scoped: bool) -> str:
    """sha256 over the canonical JSON of the versioned algorithm name, scope (a `scoped` platform's project
    and location), immutable spec and upstream."""
    document = {"algorithm": DIGEST_ALGORITHM, "platform": platform, "immutable": immutable}
    if scoped:
        document["scope"] = {"project": project, "location": location}
    if upstream_digest:
        document["upstreamDigest"] = upstream_digest
    return hashlib.sha256(canonical_json(document)).hexdigest()
