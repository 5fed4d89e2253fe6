"""What Cloud Storage checks on names and preconditions, and how a stored object or bucket is rendered as its
JSON resource (`storage#object`, `storage#bucket`; int64 values as strings, timestamps RFC 3339).

A stored object record: {"bucket", "name", "generation": int, "metageneration": int, "size": int, "md5Hash",
"crc32c", "contentType", "metadata": {..}, "timeCreated": float, "updated": float, "media": base64, and the
optional writable fields of FIELDS}."""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any
from urllib.parse import quote

from ..clock import rfc3339
from .errors import StorageError, condition_not_met, invalid

FIELDS = ("cacheControl", "contentDisposition", "contentEncoding", "contentLanguage")   # optional, stored as given
STORAGE_CLASSES = ("STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE")
PRECONDITIONS = ("ifGenerationMatch", "ifGenerationNotMatch", "ifMetagenerationMatch", "ifMetagenerationNotMatch")
INT64_MAX = 2**63 - 1
_INT64 = re.compile(r"[0-9]{1,19}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")


# ---------------------------------------------------------------------------------------------- names
def check_bucket_name(name: Any) -> str:
    """3-63 characters (up to 222 with dots, each dot-separated part at most 63): lowercase letters, digits,
    `-`, `_` and `.`, starting and ending with a letter or digit; not an IP address, no "goog" prefix."""
    ok = isinstance(name, str) and _BUCKET.fullmatch(name) is not None and 3 <= len(name) <= 222 \
        and (len(name) <= 63 or "." in name) and all(0 < len(part) <= 63 for part in name.split(".")) \
        and not name.startswith("goog") and not re.fullmatch(r"[0-9.]+", name) and ".." not in name
    if not ok:
        raise invalid(f"Invalid bucket name: {name!r}", "bucket")
    return name


def check_object_name(name: str) -> str:
    """1-1024 bytes of UTF-8, no carriage return or line feed, not `.` or `..`, not under the ACME challenge path."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= 1024 or "\r" in name or "\n" in name or name in (".", "..") \
            or name.startswith(".well-known/acme-challenge/"):
        raise invalid(f"The object name {name[:80]!r} is invalid: object names are 1-1024 bytes of UTF-8, "
                      "without carriage returns or line feeds, and are not '.' or '..'.", "name")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("Object names must be valid UTF-8.", "name") from None
    return name


# ---------------------------------------------------------------------------------------------- preconditions
def int64(query: dict[str, str], key: str) -> int | None:
    value = query.get(key)
    if value is None:
        return None
    if not _INT64.fullmatch(value) or int(value) > INT64_MAX:
        raise invalid(f"Invalid value for {key}: {value!r} is not a non-negative 64-bit integer.", key)
    return int(value)


def preconditions(query: dict[str, str]) -> dict[str, int]:
    """The preconditions a call carries, parsed (400 `invalid` for a value that is not an int64)."""
    found = {key: int64(query, key) for key in PRECONDITIONS}
    return {key: value for key, value in found.items() if value is not None}


def check(conditions: dict[str, int], record: dict[str, Any] | None, *, read: bool = False) -> None:
    """412 conditionNotMet when one fails (on a read, a failed `...NotMatch` is 304 Not Modified instead).
    A missing object has no generation: ifGenerationMatch=0 holds, any other *Match fails, *NotMatch holds."""
    generation = record["generation"] if record else 0
    metageneration = record["metageneration"] if record else None
    for key, value in conditions.items():
        if key == "ifGenerationMatch":
            held = generation == value
        elif key == "ifMetagenerationMatch":
            held = metageneration == value
        elif key == "ifGenerationNotMatch":
            held = generation != value or record is None
        else:
            held = metageneration != value
        if not held:
            if read and key.endswith("NotMatch"):
                raise StorageError(304, "Not Modified", "notModified")
            raise condition_not_met()


# ---------------------------------------------------------------------------------------------- rendering
def etag(generation: int, metageneration: int) -> str:
    """As Cloud Storage's: base64 of a protobuf message {1: generation, 2: metageneration}."""
    def varint(number: int) -> bytes:
        out = bytearray()
        while True:
            byte, number = number & 0x7F, number >> 7
            out.append(byte | (0x80 if number else 0))
            if not number:
                return bytes(out)
    return base64.b64encode(b"\x08" + varint(generation) + b"\x10" + varint(metageneration)).decode("ascii")


def object_path(bucket: str, name: str) -> str:
    return f"/storage/v1/b/{bucket}/o/{quote(name, safe='')}"


def render_object(record: dict[str, Any], base_url: str) -> dict[str, Any]:
    bucket, name, generation = record["bucket"], record["name"], record["generation"]
    path = object_path(bucket, name)
    resource: dict[str, Any] = {
        "kind": "storage#object", "id": f"{bucket}/{name}/{generation}", "selfLink": base_url + path,
        "mediaLink": f"{base_url}/download{path}?generation={generation}&alt=media",
        "name": name, "bucket": bucket, "generation": str(generation),
        "metageneration": str(record["metageneration"]), "contentType": record["contentType"],
        "storageClass": record["storageClass"], "size": str(record["size"]), "md5Hash": record["md5Hash"],
        "crc32c": record["crc32c"], "etag": etag(generation, record["metageneration"]),
        "timeCreated": rfc3339(record["timeCreated"]), "updated": rfc3339(record["updated"]),
        "timeStorageClassUpdated": rfc3339(record["timeCreated"])}
    resource.update({key: record[key] for key in FIELDS if key in record})
    if record.get("metadata"):
        resource["metadata"] = dict(record["metadata"])
    return resource


def project_number(project: str) -> str:
    """A project number for a project id (an id that is a number is its own); the emulator has no registry."""
    return project if project.isdigit() else str(100_000_000_000 + zlib.crc32(project.encode("utf-8")))


def render_bucket(record: dict[str, Any], base_url: str) -> dict[str, Any]:
    created = rfc3339(record["timeCreated"])
    resource = {"kind": "storage#bucket", "selfLink": f"{base_url}/storage/v1/b/{record['name']}",
                "id": record["name"], "name": record["name"], "projectNumber": record["projectNumber"],
                "metageneration": "1", "location": record["location"], "storageClass": record["storageClass"],
                "etag": "CAE=", "timeCreated": created, "updated": created,
                "locationType": "multi-region" if record["location"] in ("US", "EU", "ASIA") else "region"}
    if record.get("labels"):
        resource["labels"] = dict(record["labels"])
    return resource
