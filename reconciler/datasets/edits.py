"""What an edit to a training file kept in the repository did, said in the retrain's reason: rows added and
removed, and the size before and after (`data/train.jsonl: 120 → 135 rows (+20, −5), 14.1 kB → 16.0 kB`).

The rows before are read back from the staging location, where the earlier version was uploaded under its
content digest (one streaming download per edited file); when it cannot be read, the counts and sizes recorded
in the lock still say how the file changed, never a made-up figure.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.clients.storage import split_uri
from reconciler.datasets.vertex_jsonl import CHUNK_BYTES, MAX_FILE_BYTES, row_digests
from reconciler.desired import DesiredState, LocalData
from reconciler.errors import ApiError
from reconciler.plan.model import Change, Plan
from reconciler.plan.planner import DATA_CHANGED



def described(plan: Plan, desired: DesiredState, storage) -> Plan:
    """`plan` with every retrain of an edited repository file saying what the edit did."""
    changes = tuple(_described(c, desired, storage) if c.action == "retrain" else c for c in plan.changes)
    return replace(plan, changes=changes) if changes != plan.changes else plan


def _described(change: Change, desired: DesiredState, storage) -> Change:
    resource = desired.resources.get(change.name)
    if resource is None or not resource.data or DATA_CHANGED not in change.reason:
        return change
    before = {d.path.split(".")[1]: d.before for d in change.diffs
              if d.path.startswith("training.") and d.path.endswith(".sha256") and d.before}
    rows = {d.path.split(".")[1]: d.before for d in change.diffs if d.path.endswith(".rows")}
    sizes = {d.path.split(".")[1]: d.before for d in change.diffs if d.path.endswith(".bytes")}
    said = [_edit(data, before[data.field], rows.get(data.field), sizes.get(data.field), resource.staging, storage,
                  desired.config.root) for data in resource.data if data.field in before]
    if not said:
        return change
    return replace(change, reason=change.reason.replace(DATA_CHANGED, f"{DATA_CHANGED}: {'; '.join(said)}", 1))


def _edit(data: LocalData, old_sha: str, old_rows: int | None, old_size: int | None, staging: str | None,
          storage, root: Path) -> str:
    counts = f"{old_rows} → {data.rows} rows" if isinstance(old_rows, int) else f"{data.rows} rows"
    delta = _row_delta(data, old_sha, staging, storage, root)
    size = f"{_size(old_size)} → {_size(data.size)}" if isinstance(old_size, int) else _size(data.size)
    return f"{data.path}: {counts}{f' ({delta})' if delta else ''}, {size}"


def _row_delta(data: LocalData, old_sha: str, staging: str | None, storage, root: Path) -> str:
    """`+20, −5` rows, from the earlier version as staged; "" when it cannot be read."""
    if storage is None or not staging:
        return ""
    bucket, name = split_uri(f"{staging.rstrip('/')}/sha256-{old_sha}.jsonl")
    try:
        old = row_digests(storage.stream(bucket, name, MAX_FILE_BYTES))
        with open(root / data.path, "rb") as file:
            new = row_digests(iter(lambda: file.read(CHUNK_BYTES), b""))
    except (ApiError, OSError):
        return ""
    added, removed = sum((new - old).values()), sum((old - new).values())
    return f"+{added}, −{removed}"


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
