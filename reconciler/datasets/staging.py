"""Uploading the repository's training files to the staging location, named by their content digest.

`gs://BUCKET/PREFIX/sha256-<hex>.jsonl` is written with `ifGenerationMatch=0`: the same bytes are one object,
and a second upload (a rerun after a crash, another branch, another runner) is a no-op. Whatever answers, the
object is then verified to hold exactly these bytes (size and MD5) before a paid job is pointed at it.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from reconciler.clients.storage import MAX_OBJECT_BYTES, StorageClient, split_uri
from reconciler.desired import DesiredResource, LocalData
from reconciler.errors import ApiError, FailedPrecondition, NotFound, PermissionDenied


class StagingError(ApiError):
    """A training file cannot be staged as planned (edited since, too large, another object there): the create
    fails as a refused request would, before anything is paid for, and the other changes go on."""

    status = "FAILED_PRECONDITION"


def stage(storage: StorageClient | None, desired: DesiredResource, root: Path) -> None:
    """Upload every local training file of `desired` (verified against the digest it was planned with)."""
    if not desired.data:
        return
    if storage is None or not desired.staging:
        raise StagingError(f"{desired.name}: training files need a Cloud Storage client and a staging location")
    for data in desired.data:
        _stage_one(storage, desired, data, root)


def _stage_one(storage: StorageClient, desired: DesiredResource, data: LocalData, root: Path) -> None:
    uri = data.uri(desired.staging or "")
    content = _read(desired, data, root)
    bucket, name = split_uri(uri)
    try:
        stored = storage.upload(bucket, name, content, if_generation_match=0, content_type="application/jsonl")
    except FailedPrecondition:  # already there (an earlier run, another branch): the same name, so the same bytes?
        stored = storage.metadata(bucket, name)
    except NotFound:
        raise StagingError(f"{desired.name}: cannot upload {data.path} to the staging location {desired.staging}: "
                           f"the bucket does not exist (HTTP 404); create it (gcloud storage buckets create "
                           f"gs://{bucket}) or correct `staging:` in reconciler.yaml; nothing was trained") from None
    except PermissionDenied:
        raise StagingError(f"{desired.name}: cannot upload {data.path} to the staging location {desired.staging}: "
                           f"the credentials may not write there (HTTP 403); they need storage.objects.create and "
                           f"storage.objects.get on gs://{bucket}; nothing was trained") from None
    _verify(stored, content, uri)


def _read(desired: DesiredResource, data: LocalData, root: Path) -> bytes:
    path = root / data.path
    if data.size > MAX_OBJECT_BYTES:
        raise StagingError(f"{desired.name}: {data.path} is {data.size:,} bytes, more than the {MAX_OBJECT_BYTES:,} "
                           "this tool uploads in one request: upload it yourself and name it with training.dataset")
    try:
        content = path.read_bytes()
    except OSError as err:
        raise StagingError(f"{desired.name}: cannot read {data.path}: {err.strerror or err}") from None
    if hashlib.sha256(content).hexdigest() != data.sha256:
        raise StagingError(f"{desired.name}: {data.path} changed since it was planned (its content digest is not "
                           f"{data.sha256[:12]} any more): plan again")
    return content


def _verify(stored: dict, content: bytes, uri: str) -> None:
    """The object holds exactly `content`: a hostile or broken answer, or another object under our name, is
    never trained on."""
    md5 = base64.b64encode(hashlib.md5(content).digest()).decode()
    size = str(stored.get("size") if isinstance(stored, dict) else None)
    if size != str(len(content)) or stored.get("md5Hash") != md5:
        said = f"{size[:20]} bytes" if size.isdigit() else "no size"
        raise StagingError(f"{uri} does not hold the bytes uploaded ({said}, expected {len(content)}; the MD5 "
                           "differs or is missing): nothing was trained; remove the object or choose another staging "
                           "location")
