"""The Cloud Storage datasets the manifests name, downloaded as a stream (never held whole, never past a size cap)
and checked as `vertex_jsonl` checks a local file, every problem located `gs://bucket/object:line:col`.

Takes a storage client (anything with `stream(bucket, name, max_bytes)`), never makes one: the CLI connects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from reconciler.clients.storage import split_uri
from reconciler.datasets.vertex_jsonl import MAX_FILE_BYTES, DataSummary, check_stream, readable_size
from reconciler.errors import (ApiError, NotFound, PermissionDenied, ResponseTooLarge, TransportError,
                               Unauthenticated)
from reconciler.desired import DesiredResource
from reconciler.manifest.diagnostics import Diagnostics


class Streams(Protocol):
    def stream(self, bucket: str, name: str, max_bytes: int) -> Iterable[bytes]: ...


def datasets(resources: Iterable[DesiredResource]) -> dict[str, set[str]]:
    """Every Cloud Storage dataset the resources train on, once, with the fields that name it (`dataset`,
    `validationDataset`), in the order the manifests name them (a Vertex dataset resource is not a file)."""
    found: dict[str, set[str]] = {}
    for resource in resources:
        for field, uri in resource.remote_data.items():
            found.setdefault(uri, set()).add(field)
    return found


def check_all(storage: Streams | None, resources: Iterable[DesiredResource],
              diagnostics: Diagnostics) -> dict[str, DataSummary]:
    """Every gs:// dataset of `resources` downloaded once and checked (`validate --remote`, `plan --remote`): what
    each training dataset holds, by URI; the problems, located, in `diagnostics`."""
    found = {}
    for uri, fields in datasets(resources).items():  # one download, the stricter rules when it validates too
        summary = check_remote(storage, uri, diagnostics, validation="validationDataset" in fields)
        if summary is not None and "dataset" in fields:
            found[uri] = summary
    return found


def check_remote(storage: Streams | None, uri: str, diagnostics: Diagnostics, *, validation: bool,
                 max_bytes: int = MAX_FILE_BYTES) -> DataSummary | None:
    """Download `uri` as a stream and check it; None (and a located error) when it could not be read whole."""
    bucket, name = split_uri(uri)
    if storage is None:  # no Vertex AI connection, so no Cloud Storage client either
        diagnostics.add(uri, 0, 0, "cannot download it: no Cloud Storage client (Vertex AI is not connected)")
        return None
    if not bucket or not name:
        diagnostics.add(uri, 0, 0, "not a Cloud Storage object: expected gs://BUCKET/OBJECT")
        return None
    try:
        return check_stream(storage.stream(bucket, name, max_bytes), uri, diagnostics, validation=validation,
                            max_bytes=max_bytes)
    except ApiError as err:
        diagnostics.add(uri, 0, 0, _refused(err, bucket, max_bytes))
        return None


def _refused(err: ApiError, bucket: str, max_bytes: int) -> str:
    status = f" (HTTP {err.http_status})" if err.http_status else ""
    if isinstance(err, NotFound):
        missing = "bucket" if "bucket" in err.api_message.lower() else "object"  # GCS: "...bucket does not exist."
        return f"no such {missing}{status}"
    if isinstance(err, (PermissionDenied, Unauthenticated)):
        return (f"the credentials cannot read it{status}: they need storage.objects.get on bucket {bucket} "
                "(e.g. roles/storage.objectViewer)")
    if isinstance(err, ResponseTooLarge):
        return f"larger than {readable_size(max_bytes)}, the most a dataset may be; download aborted"
    if isinstance(err, TransportError):
        return f"cannot download it: {err.api_message}"
    return f"cannot download it{status}: {err.api_message}"
