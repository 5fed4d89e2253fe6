"""Which bytes a gs:// dataset holds now: one metadata GET per distinct URI per run, all concurrent.

A dataset rewritten at the same URI gets a new object generation (and checksums); comparing it with the one a
job trained on (the lock's `trainedOn`) is how a plan notices changed data. What cannot be read is said, never
guessed: a 404 is "missing", a refusal or a broken answer "unreadable: why".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future

from reconciler.clients.storage import StorageClient, split_uri
from reconciler.errors import ApiError, NotFound, PermissionDenied
from reconciler.observed import DataVersion

MAX_TEXT = 200  # of any value taken from an answer


def read(storage: StorageClient | None, uris: Iterable[str],
         submit: Callable[..., Future]) -> Callable[[], dict[str, DataVersion]]:
    """Start reading every URI's metadata on `submit` (a pool's); call the result to collect them."""
    distinct = sorted(set(uris))
    if storage is None:
        return lambda: {uri: DataVersion(uri, problem="unreadable: no Cloud Storage client") for uri in distinct}
    futures = {uri: submit(version, storage, uri) for uri in distinct}
    return lambda: {uri: future.result() for uri, future in futures.items()}


def version(storage: StorageClient, uri: str) -> DataVersion:
    bucket, name = split_uri(uri)
    try:
        found = storage.metadata(bucket, name)
    except NotFound:
        return DataVersion(uri, problem="missing")
    except PermissionDenied:
        return DataVersion(uri, problem="unreadable: the credentials may not read it (HTTP 403)")
    except ApiError as err:
        return DataVersion(uri, problem=f"unreadable: {str(err)[:MAX_TEXT]}")
    if not isinstance(found, dict) or not _text(found.get("generation")).isdigit():
        return DataVersion(uri, problem="unreadable: the answer has no object generation")
    size = _text(found.get("size"))
    return DataVersion(uri, generation=_text(found["generation"]), crc32c=_text(found.get("crc32c")),
                       md5=_text(found.get("md5Hash")), size=int(size) if size.isdigit() else 0,
                       created=_text(found.get("timeCreated")))


def _text(value: object) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else str(value) if isinstance(value, int) else ""
