"""The buckets and objects of the emulated Cloud Storage, kept in the store (`gcsBuckets`: name -> bucket
record, `gcsObjects`: "bucket/name" -> object record with its media in base64). Handlers run under the store
lock (see `Storage.serve`) and answer a `Reply`; a refusal is a `StorageError`."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from ..rpc import Reply
from ..store import Store
from . import pages, public, resource, uploads
from .checksums import crc32c_b64, md5_b64
from .errors import StorageError, invalid, not_found, required

MIB = 1024 * 1024
# one object: Cloud Storage takes up to 5 TiB in one media upload; the emulator holds what fits in one request
# body (the state of 10,000 manifests is about 15 MiB), and refuses more plainly rather than pretend
MAX_OBJECT_BYTES = 30 * MIB
MAX_STORED_BYTES = 128 * MIB      # all objects together: the state file is rewritten after every mutation
NO_BUCKET = "The specified bucket does not exist."


@dataclass
class Call:
    """One Cloud Storage call, routed: the bucket and the decoded object name (None for bucket calls)."""
    method: str
    bucket: str | None
    name: str | None
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str            # what links in resources point at: the emulator as the client addressed it

    def json_body(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body) if self.body.strip() else {}
        except ValueError as err:
            raise invalid(f"Invalid JSON payload received. {err}") from None
        if not isinstance(value, dict):
            raise invalid("Invalid JSON payload received: expected an object.")
        return value


class Buckets:
    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, call: Call, now: float) -> Reply:
        project = call.query.get("project")
        if not project:
            raise required("project")
        body = call.json_body()
        name = resource.check_bucket_name(body.get("name"))
        if name in self.store["gcsBuckets"]:
            raise StorageError(409, "Your previous request to create the named bucket succeeded and you already "
                                    "own it.", "conflict")
        labels = body.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise invalid("labels must be a map of strings.", "labels")
        storage_class = body.get("storageClass") or "STANDARD"
        if storage_class not in resource.STORAGE_CLASSES:
            raise invalid(f"Invalid storageClass {storage_class!r}.", "storageClass")
        location = body.get("location") or "US"
        if not isinstance(location, str):
            raise invalid("location must be a string.", "location")
        record = {"name": name, "projectNumber": resource.project_number(project), "location": location.upper(),
                  "storageClass": storage_class, "labels": labels, "timeCreated": now}
        self.store["gcsBuckets"][name] = record
        self.store.changed()
        return Reply(200, resource.render_bucket(record, call.base_url))

    def get(self, call: Call, now: float) -> Reply:
        return Reply(200, resource.render_bucket(self.require(call.bucket or ""), call.base_url))

    def require(self, bucket: str) -> dict[str, Any]:
        record = self.store["gcsBuckets"].get(bucket)
        if record is None:
            raise not_found(NO_BUCKET)
        return record


class Objects:
    def __init__(self, store: Store, buckets: Buckets) -> None:
        self.store, self.buckets = store, buckets
        self.mutations = MutationRate()

    # ------------------------------------------------------------------ reads
    def get(self, call: Call, now: float) -> Reply:
        record = self.require(call)
        resource.check(resource.preconditions(call.query), record, read=True)
        alt = call.query.get("alt", "json")
        if alt == "json":
            return Reply(200, resource.render_object(record, call.base_url))
        if alt != "media":
            raise invalid(f"Invalid value for alt: {alt!r} (json or media).", "alt")
        data = base64.b64decode(record["media"])
        headers = {"Content-Type": record["contentType"], "x-goog-generation": str(record["generation"]),
                   "x-goog-metageneration": str(record["metageneration"]),
                   "x-goog-hash": f"crc32c={record['crc32c']},md5={record['md5Hash']}",
                   "x-goog-stored-content-length": str(record["size"]),
                   "x-goog-stored-content-encoding": record.get("contentEncoding", "identity"),
                   "x-goog-storage-class": record["storageClass"],
                   "ETag": resource.etag(record["generation"], record["metageneration"])}
        return Reply(200, data, headers)

    def list(self, call: Call, now: float) -> Reply:
        bucket = call.bucket or ""
        self.buckets.require(bucket)
        records = self.store["gcsObjects"]
        start = bucket + "/"
        names = [key[len(start):] for key in records if key.startswith(start)]
        return Reply(200, pages.page(names, call.query,
                                     lambda name: resource.render_object(records[start + name], call.base_url)))

    # ------------------------------------------------------------------ writes
    def insert(self, call: Call, now: float) -> Reply:
        bucket = call.bucket or ""
        if bucket == public.BUCKET:
            raise StorageError(403, f"The caller does not have storage.objects.create access to the Google Cloud "
                                    f"Storage bucket {bucket}.", "forbidden")
        self.buckets.require(bucket)
        upload = uploads.parse(call.query, call.headers, call.body)
        name = resource.check_object_name(upload.name)
        conditions = resource.preconditions(call.query)
        key = f"{bucket}/{name}"
        previous = self.store["gcsObjects"].get(key)
        resource.check(conditions, previous)
        self._check_size(len(upload.data), previous)
        checksums = {"crc32c": crc32c_b64(upload.data), "md5Hash": md5_b64(upload.data)}
        for field, declared in upload.checksums.items():
            if declared != checksums[field]:
                raise invalid(f"Provided {field} {declared!r} doesn't match calculated {checksums[field]!r}.",
                              field)
        self.mutations.take(key)
        record = {"bucket": bucket, "name": name, "generation": self._next_generation(now), "metageneration": 1,
                  "size": len(upload.data), **checksums, "contentType": upload.content_type,
                  "storageClass": upload.fields.pop("storageClass", "STANDARD"), "metadata": upload.metadata,
                  **upload.fields, "timeCreated": now, "updated": now,
                  "media": base64.b64encode(upload.data).decode("ascii")}
        self.store["gcsObjects"][key] = record
        self.store.changed()
        return Reply(200, resource.render_object(record, call.base_url))

    def patch(self, call: Call, now: float) -> Reply:
        """Metadata only: `metadata` merged (a null value removes a key), contentType and the FIELDS replaced
        (null clears them); metageneration + 1."""
        record = self.require(call)
        resource.check(resource.preconditions(call.query), record)
        body = call.json_body()
        changes: dict[str, Any] = {}
        for key in ("contentType", *resource.FIELDS):
            if key in body:
                value = body[key]
                if value is not None and not isinstance(value, str):
                    raise invalid(f"Invalid value for {key}: a string is expected.", key)
                changes[key] = value
        metadata = dict(record.get("metadata") or {})
        if body.get("metadata") is not None:
            patch = body["metadata"]
            if not isinstance(patch, dict) or not all(v is None or isinstance(v, str) for v in patch.values()):
                raise invalid("metadata must be a map of strings.", "metadata")
            metadata.update(patch)
        elif "metadata" in body:
            metadata = {}
        self.mutations.take(f"{record['bucket']}/{record['name']}")
        for key, value in changes.items():
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value
        record.setdefault("contentType", uploads.DEFAULT_CONTENT_TYPE)
        record["metadata"] = {k: v for k, v in metadata.items() if v is not None}
        record["metageneration"] += 1
        record["updated"] = now
        self.store.changed()
        return Reply(200, resource.render_object(record, call.base_url))

    def delete(self, call: Call, now: float) -> Reply:
        record = self.require(call)
        resource.check(resource.preconditions(call.query), record)
        self.mutations.take(f"{record['bucket']}/{record['name']}")
        del self.store["gcsObjects"][f"{record['bucket']}/{record['name']}"]
        self.store.changed()
        return Reply(204, None)

    # ------------------------------------------------------------------ helpers
    def require(self, call: Call) -> dict[str, Any]:
        """The live object the call names (404 notFound for a missing bucket or object, or another generation:
        the emulator keeps no noncurrent versions)."""
        bucket, name = call.bucket or "", resource.check_object_name(call.name or "")
        if bucket == public.BUCKET:
            record = public.objects().get(f"{bucket}/{name}")
        else:
            self.buckets.require(bucket)
            record = self.store["gcsObjects"].get(f"{bucket}/{name}")
        generation = resource.int64(call.query, "generation")
        if record is None or (generation is not None and generation != record["generation"]):
            raise not_found(f"No such object: {bucket}/{name}")
        return record

    def _next_generation(self, now: float) -> int:
        """Microseconds of the virtual clock, and always above every generation handed out before."""
        generation = max(int(now * 1_000_000), self.store.state["gcsGeneration"] + 1)
        self.store.state["gcsGeneration"] = generation
        return generation

    def _check_size(self, size: int, previous: dict[str, Any] | None) -> None:
        if size > MAX_OBJECT_BYTES:
            raise StorageError(413, f"Object too large: {size} bytes; the emulator stores objects of at most "
                                    f"{MAX_OBJECT_BYTES} bytes ({MAX_OBJECT_BYTES // MIB} MiB).", "uploadTooLarge")
        stored = sum(record["size"] for record in self.store["gcsObjects"].values()) - (previous or {}).get("size", 0)
        if stored + size > MAX_STORED_BYTES:
            raise StorageError(413, f"Storage limit reached: the emulator keeps at most {MAX_STORED_BYTES // MIB} MiB "
                                    f"of objects in all ({stored} bytes stored now).", "storageLimitExceeded")



class MutationRate:
    """Cloud Storage allows about one write per second to one object name ("writing to the same object name at a
    rate above the limit might result in throttling errors"): a token bucket per name, `burst` writes at once and
    `rate` per second after that (wall clock), refused with 429 `rateLimitExceeded` as the service words it."""

    def __init__(self, rate: float = 1.0, burst: int = 5) -> None:
        self.rate, self.burst = rate, float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> None:
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens < 1:
            raise StorageError(429, "The object exceeded the rate limit for object mutation operations (create, "
                                    "update, and delete). Please reduce your request rate. See "
                                    "https://cloud.google.com/storage/docs/gcs429.", "rateLimitExceeded",
                               headers={"Retry-After": "1"})
        self._buckets[key] = (tokens - 1, now)
