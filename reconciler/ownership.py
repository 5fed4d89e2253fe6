"""How a live resource is known to be ours: ownership labels, listing filters, deterministic ids, digests.

Vertex: every job carries the labels below (the service copies them to its model and endpoint).
Gemini API: there are no labels; the tunedModelId `{name}-{digest[:8]}` carries name and spec.
Imports nothing else from the product: every stage may use it.
"""

from __future__ import annotations

import re

MANAGED_BY, MANAGER = "managed-by", "reconciler"
NAME_LABEL, DIGEST_LABEL, INTENT_LABEL = "reconciler-name", "reconciler-digest", "reconciler-intent"
OWNERSHIP_LABELS = (MANAGED_BY, NAME_LABEL, DIGEST_LABEL, INTENT_LABEL)
MANAGED_FILTER = f'labels.{MANAGED_BY}="{MANAGER}"'

SHORT_DIGEST = 12  # the digest label's length
ID_DIGEST = 8  # the digest part of a deterministic id
_ID = re.compile(r"(?P<name>[a-z](?:[a-z0-9-]*[a-z0-9])?)-(?P<digest>[0-9a-f]{8})")


def labels(name: str, digest: str, intent: str) -> dict[str, str]:
    """The ownership labels of a resource created for manifest `name` at spec `digest` by `intent`."""
    return {MANAGED_BY: MANAGER, NAME_LABEL: name, DIGEST_LABEL: digest[:SHORT_DIGEST], INTENT_LABEL: intent}


def label_filter(name: str, digest: str) -> str:
    """The listing filter that finds this manifest's resources for one digest (checked again client-side)."""
    return f'{MANAGED_FILTER} AND labels.{NAME_LABEL}="{name}" AND labels.{DIGEST_LABEL}="{digest[:SHORT_DIGEST]}"'


def is_managed(labels_: dict | None) -> bool:
    labels_ = labels_ or {}
    return labels_.get(MANAGED_BY) == MANAGER and bool(labels_.get(NAME_LABEL))


def without_ownership(labels_: dict | None) -> dict:
    return {k: v for k, v in (labels_ or {}).items() if k not in OWNERSHIP_LABELS}


def only_ownership(labels_: dict | None) -> dict:
    return {k: v for k, v in (labels_ or {}).items() if k in OWNERSHIP_LABELS}


def deterministic_id(name: str, digest: str) -> str:
    """The id a spec can only ever have: `{name}-{8 hex}`; a repeated create of it answers 409."""
    return f"{name}-{digest[:ID_DIGEST]}"


def parse_id(resource_id: str) -> tuple[str, str] | None:
    """`{manifest name}-{8 hex digest}` -> (name, digest)."""
    match = _ID.fullmatch(resource_id)
    return (match["name"], match["digest"]) if match else None


def digest_matches(full: str, recorded: str) -> bool:
    """Whether a recorded digest names the same spec as `full`: Vertex labels carry a 12-character prefix,
    Gemini ids an 8-character one, the lock the whole digest (either side may be the shorter)."""
    return bool(full and recorded) and (full.startswith(recorded) or recorded.startswith(full))
