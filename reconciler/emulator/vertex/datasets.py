"""What a tuning job reads from its training dataset, when the emulator holds the object (its own Cloud Storage,
or the public samples): the example count and characters its `tuningDataStats` report, so that a job's billable
tokens follow its data as Google's do. A dataset the emulator does not hold keeps a stable made-up size."""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from ..names import stable_int
from ..rpc import status
from ..storage import public
from ..store import Store


def missing(store: Store, uri: str) -> bool:
    """A gs:// dataset in a bucket the emulator holds, that is not there: the job fails when it starts reading
    it, as Vertex AI's does (the create itself is accepted). A bucket the emulator does not hold is not judged."""
    bucket, _, _ = uri.removeprefix("gs://").partition("/")
    key = uri.removeprefix("gs://")
    known = bucket == public.BUCKET or bucket in store["gcsBuckets"]
    return uri.startswith("gs://") and known and key not in store["gcsObjects"] and key not in public.objects()


def unreadable(store: Store, spec: dict[str, Any], starts: float) -> dict[str, Any]:
    """The failure a job's record is given when a dataset it names is missing (`failAt`: when it starts)."""
    for field in ("trainingDatasetUri", "validationDatasetUri"):
        if missing(store, spec.get(field) or ""):
            return {"failAt": starts, "failError": status("INVALID_ARGUMENT", f"Failed to read the dataset "
                                                                              f"{spec[field]}: the object does not exist.")}
    return {}


def measure(store: Store, uri: str) -> tuple[int, int | None]:
    """(examples, characters of the text parts; None when the object is not held)."""
    key = uri.removeprefix("gs://")
    record = store["gcsObjects"].get(key) or public.objects().get(key)
    if not uri.startswith("gs://") or record is None:
        return stable_int(uri, 100, 1000), None
    return _measured(key, record["generation"], record["media"])


@lru_cache(maxsize=64)
def _measured(key: str, generation: int, media: str) -> tuple[int, int]:
    """Once per object generation: a thousand jobs on one dataset decoded its rows a thousand times, inside the
    store's transaction (the emulator's creates queued behind it)."""
    examples = characters = 0
    for line in base64.b64decode(media).splitlines():
        if not line.strip():
            continue
        examples += 1
        try:
            characters += _characters(json.loads(line))
        except ValueError:
            continue
    return examples, characters


def _characters(row: Any) -> int:
    if not isinstance(row, dict):
        return 0
    messages = list(row.get("contents") or []) + ([row["systemInstruction"]] if row.get("systemInstruction") else [])
    return sum(len(part.get("text") or "") for message in messages if isinstance(message, dict)
               for part in (message.get("parts") or []) if isinstance(part, dict) and isinstance(part.get("text"), str))
