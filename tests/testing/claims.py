"""`ownership.Claims` as refresh tests write them: the tuned-model ids the manifests want and the keys a lock
records, without building a DesiredState and a Lock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.ownership import Claims, Recorded, parse_id


def digest_of(model_id: str) -> str:
    """A full digest whose deterministic id (without an identity) is `model_id` = `{name}-{8 hex}`."""
    parsed = parse_id(model_id)
    assert parsed is not None, model_id
    return parsed[1] + "0" * 56


def claims(*ids: str, recorded: Mapping[str, str] | Iterable[str] = (), identity: str | None = None) -> Claims:
    """ids: tuned-model ids made without an identity that the manifests want (each its own spec).
    recorded: lock keys -> their manifest names; a bare key is a tuned model, named by its id."""
    wanted: dict[str, set[str]] = {}
    for model_id in ids:
        wanted.setdefault(model_id.rpartition("-")[0], set()).add(digest_of(model_id))
    if not isinstance(recorded, Mapping):
        recorded = {key: parse_id(key.removeprefix("tunedModels/"))[0] for key in recorded}
    records = {key: Recorded(name, "") for key, name in recorded.items()}
    return Claims(identity=identity, recorded=records,
                  wanted={name: frozenset(digests) for name, digests in wanted.items()})
