"""The two upload protocols the emulator takes on `POST /upload/storage/v1/b/{bucket}/o`:

    uploadType=media      body = the bytes; `name` from the query, the content type from Content-Type
    uploadType=multipart  Content-Type: multipart/related; boundary=B; part 1 the JSON object metadata (`name`,
                          `contentType`, `metadata`, ...), part 2 the media (its own Content-Type)
`uploadType=resumable` (what the Python client uses above 8 MiB) is refused with 400, as is any other type."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import invalid, required
from .resource import FIELDS, STORAGE_CLASSES

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_BOUNDARY = re.compile(r';\s*boundary=(?:"([^"]{1,200})"|([^;\s]{1,200}))', re.IGNORECASE)


@dataclass
class Upload:
    name: str
    content_type: str
    data: bytes
    metadata: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)          # FIELDS and storageClass, as given
    checksums: dict[str, str] = field(default_factory=dict)       # crc32c / md5Hash the client declared


def parse(query: dict[str, str], headers: dict[str, str], body: bytes) -> Upload:
    kind = query.get("uploadType")
    if kind == "media":
        name = query.get("name")
        if not name:
            raise required("name")
        return Upload(name, headers.get("content-type") or DEFAULT_CONTENT_TYPE, body)
    if kind == "multipart":
        return _multipart(query, headers, body)
    if kind is None:
        raise invalid("Upload requests must include an uploadType URL parameter (media or multipart).",
                      "uploadType")
    raise invalid(f"Unsupported uploadType {kind!r}: this emulator takes uploadType=media and "
                  "uploadType=multipart (objects up to its size limit), not resumable uploads.", "uploadType")


def _multipart(query: dict[str, str], headers: dict[str, str], body: bytes) -> Upload:
    content_type = headers.get("content-type", "")
    found = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/related") or found is None:
        raise invalid("A multipart upload needs Content-Type: multipart/related; boundary=...")
    parts = _parts(body, (found.group(1) or found.group(2)).encode("latin-1"))
    if len(parts) != 2:
        raise invalid(f"A multipart upload has exactly two parts (metadata, media), not {len(parts)}.")
    (_, raw_metadata), (media_headers, data) = parts
    try:
        metadata = json.loads(raw_metadata)
    except ValueError as err:
        raise invalid(f"The metadata part is not valid JSON: {err}") from None
    if not isinstance(metadata, dict):
        raise invalid("The metadata part must be a JSON object.")
    name = metadata.get("name", query.get("name"))
    if not isinstance(name, str) or not name:
        raise required("name")
    upload = Upload(name, _string(metadata, "contentType") or media_headers.get("content-type")
                    or DEFAULT_CONTENT_TYPE, data, _user_metadata(metadata.get("metadata")))
    for key in (*FIELDS, "storageClass"):
        value = _string(metadata, key)
        if value is not None:
            upload.fields[key] = value
    if upload.fields.get("storageClass", "STANDARD") not in STORAGE_CLASSES:
        raise invalid(f"Invalid storageClass {upload.fields['storageClass']!r}.", "storageClass")
    for key in ("crc32c", "md5Hash"):
        value = _string(metadata, key)
        if value is not None:
            upload.checksums[key] = value
    return upload


def _string(metadata: dict[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"Invalid value for {key}: a string is expected.", key)
    return value


def _user_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise invalid("metadata must be a map of strings.", "metadata")
    bad = [k for k, v in value.items() if v is not None and not isinstance(v, str)]
    if bad:
        raise invalid(f"metadata.{bad[0]} must be a string.", "metadata")
    return {k: v for k, v in value.items() if v is not None}     # a null value means "no such key"


def _parts(body: bytes, boundary: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart body: (lower-cased headers, content) each; 400 when it is malformed."""
    delimiter = b"--" + boundary
    if not body.startswith(delimiter):
        raise invalid("The multipart body does not start with its boundary.")
    chunks = body.split(b"\r\n" + delimiter)
    first = chunks[0][len(delimiter):]
    chunks = [first, *chunks[1:]]
    if not chunks[-1].startswith(b"--"):
        raise invalid("The multipart body does not end with its closing boundary.")
    parts = []
    for chunk in chunks[:-1]:
        if not chunk.startswith(b"\r\n"):
            raise invalid("Malformed multipart body: a boundary line must end with CRLF.")
        rest = chunk[2:]
        head, separator, content = (b"", b"", rest[2:]) if rest.startswith(b"\r\n") else rest.partition(b"\r\n\r\n")
        if not separator and head:
            raise invalid("Malformed multipart body: a part has no blank line after its headers.")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, colon, value = line.partition(":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        parts.append((headers, content))
    return parts
