"""How a live resource is known to be ours: ownership labels, listing filters, deterministic ids, digests.

Vertex: every job carries the labels below (the service copies them to its model and endpoint).
Gemini API: there are no labels; the tunedModelId `{name}-{8 hex}` carries name and spec (and the stack).
A repository's identity (`stack:`, and the workspace) separates repositories that use the same manifest names
in one project or account: a resource carrying another identity is never ours, and with an identity only the
resources carrying it, or recorded in our lock (the record, from before the stack existed), are.
Imports nothing else from the product: every stage may use it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

MANAGED_BY, MANAGER = "managed-by", "reconciler"
NAME_LABEL, DIGEST_LABEL, INTENT_LABEL = "reconciler-name", "reconciler-digest", "reconciler-intent"
STACK_LABEL = "reconciler-stack"
OWNERSHIP_LABELS = (MANAGED_BY, NAME_LABEL, DIGEST_LABEL, INTENT_LABEL, STACK_LABEL)
MAX_LABELS = 64 - len(OWNERSHIP_LABELS)  # a manifest's own: a resource carries at most 64 labels, ours among them
MANAGED_FILTER = f'labels.{MANAGED_BY}="{MANAGER}"'

SHORT_DIGEST = 12  # the digest label's length
ID_DIGEST = 8  # the digest part of a deterministic id
_ID = re.compile(r"(?P<name>[a-z](?:[a-z0-9-]*[a-z0-9])?)-(?P<digest>[0-9a-f]{8})")


def labels(name: str, digest: str, intent: str, identity: str | None = None) -> dict[str, str]:
    """The ownership labels of a resource created for manifest `name` at spec `digest` by `intent`."""
    found = {MANAGED_BY: MANAGER, NAME_LABEL: name, DIGEST_LABEL: digest[:SHORT_DIGEST], INTENT_LABEL: intent}
    return {**found, STACK_LABEL: identity} if identity else found


def listing_filter(identity: str | None) -> str:
    """The server-side filter of every listing: managed by this tool (and of this identity, when there is one).
    Without an identity the listing includes other stacks' resources: `owns` drops them."""
    return f'{MANAGED_FILTER} AND labels.{STACK_LABEL}="{identity}"' if identity else MANAGED_FILTER


def label_filter(name: str, digest: str, identity: str | None = None) -> str:
    """The listing filter that finds this manifest's resources for one digest (checked again client-side)."""
    return (f'{listing_filter(identity)} AND labels.{NAME_LABEL}="{name}" '
            f'AND labels.{DIGEST_LABEL}="{digest[:SHORT_DIGEST]}"')


def owns(labels_: Mapping[str, str] | None, identity: str | None, recorded_name: str | None = None) -> bool:
    """Whether a labelled resource is ours.

    A stack label other than our identity (or any stack label when we have none) is another repository's:
    never ours, whatever our lock says. Recorded in our lock (`recorded_name`: the entry's name), it is ours
    without labels, or with ours from before the stack existed, as long as a name label names that entry.
    Otherwise it must carry managed-by, a name and exactly our identity.
    """
    labels_ = labels_ or {}
    stack = labels_.get(STACK_LABEL)
    if stack != identity and stack is not None:
        return False
    if recorded_name is not None:
        return labels_.get(NAME_LABEL, recorded_name) == recorded_name
    return labels_.get(MANAGED_BY) == MANAGER and bool(labels_.get(NAME_LABEL)) and stack == identity


def may_delete(labels_: Mapping[str, str] | None, owner: str, identity: str | None) -> bool:
    """The last check before a delete: this tool's labels for `owner`, and no other repository's stack."""
    labels_ = labels_ or {}
    stack = labels_.get(STACK_LABEL)
    return (bool(owner) and labels_.get(MANAGED_BY) == MANAGER and labels_.get(NAME_LABEL) == owner
            and (stack is None or stack == identity))


def without_ownership(labels_: dict | None) -> dict:
    return {k: v for k, v in (labels_ or {}).items() if k not in OWNERSHIP_LABELS}


def only_ownership(labels_: dict | None) -> dict:
    return {k: v for k, v in (labels_ or {}).items() if k in OWNERSHIP_LABELS}


def deterministic_id(name: str, digest: str, identity: str | None = None) -> str:
    """The id a spec can only ever have: `{name}-{8 hex}`; a repeated create of it answers 409.

    Without an identity the hex is the digest's own prefix; with one it is a hash of both, so that two
    repositories (or workspaces) training the same spec under the same name never share an id."""
    if identity is None:
        return f"{name}-{digest[:ID_DIGEST]}"
    mixed = hashlib.sha256(f"{identity}\n{digest}".encode()).hexdigest()
    return f"{name}-{mixed[:ID_DIGEST]}"


def parse_id(resource_id: str) -> tuple[str, str] | None:
    """`{manifest name}-{8 hex}` -> (name, 8 hex): the digest's prefix for an id made without an identity,
    a hash of identity and digest for one made with it. Both forms parse alike."""
    match = _ID.fullmatch(resource_id)
    return (match["name"], match["digest"]) if match else None


def digest_matches(full: str, recorded: str) -> bool:
    """Whether a recorded digest names the same spec as `full`: Vertex labels carry a 12-character prefix,
    Gemini ids an 8-character one, the lock the whole digest (either side may be the shorter)."""
    return bool(full and recorded) and (full.startswith(recorded) or recorded.startswith(full))


class Recorded(NamedTuple):
    """What the lock says about one generation key: its manifest name and the spec digest recorded for it."""

    name: str
    digest: str


@dataclass(frozen=True)
class Claims:
    """Everything besides a resource's own labels or id that says whether it is ours, as refresh reads."""

    identity: str | None = None  # Config.identity: the stack (and workspace), None without a stack
    recorded: Mapping[str, Recorded] = field(default_factory=dict)  # generation key in the lock -> its record
    wanted: Mapping[str, frozenset[str]] = field(default_factory=dict)  # name -> digests a create may have used

    def by_id(self, key: str, resource_id: str) -> Recorded | None:
        """Whose the resource `key` with id `resource_id` is, for a platform whose ids carry ownership.

        Ours when the id is exactly the deterministic id of a wanted spec (its digest is then that spec's), or
        when the lock records the key (and a parsable id carries the entry's name); nothing else is: an id of
        the same name made under another identity (or none) is another repository's.
        """
        parsed = parse_id(resource_id)
        if parsed is not None:
            for digest in sorted(self.wanted.get(parsed[0], ())):
                if deterministic_id(parsed[0], digest, self.identity) == resource_id:
                    return Recorded(parsed[0], digest[:ID_DIGEST])
        recorded = self.recorded.get(key)
        if recorded is not None and (parsed is None or parsed[0] == recorded.name):
            return recorded
        return None
