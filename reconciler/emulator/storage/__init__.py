"""A strict subset of the Cloud Storage JSON API, served on the emulator's base URL next to the tuning APIs:

    POST   /storage/v1/b?project=P                         buckets.insert   {"name": B, ...}
    GET    /storage/v1/b/{bucket}                          buckets.get
    GET    /storage/v1/b/{bucket}/o                        objects.list     prefix, delimiter, pageToken, maxResults
    GET    /storage/v1/b/{bucket}/o/{object}               objects.get      alt=json (default) | alt=media
    PATCH  /storage/v1/b/{bucket}/o/{object}               objects.patch    metadata only (metageneration + 1)
    DELETE /storage/v1/b/{bucket}/o/{object}               objects.delete   -> 204
    GET    /download/storage/v1/b/{bucket}/o/{object}      objects.get      (the Python client downloads here)
    POST   /upload/storage/v1/b/{bucket}/o                 objects.insert   uploadType=media | multipart
The object name is ONE path segment, percent-encoded (`/` as %2F). Object calls take the preconditions
ifGenerationMatch (0: must not exist), ifGenerationNotMatch, ifMetagenerationMatch, ifMetagenerationNotMatch.
Every call needs `Authorization: Bearer <token>` (or ?access_token=), as Vertex AI does. Errors come in the JSON
API v1 envelope (errors.py), also for what happens before routing (quota, injected faults)."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from urllib.parse import unquote

from ..rpc import Reply
from ..store import Store
from .errors import StorageError, invalid, not_found, unauthenticated
from .objects import Buckets, Call, Objects

PREFIXES = {"/storage/": "api", "/upload/": "upload", "/download/": "download"}
_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]{1,300}")
# The Python client (blob.py, multipart uploads) spells this precondition with a capital G.
ALIASES = {"ifMetaGenerationNotMatch": "ifMetagenerationNotMatch"}


def is_storage_path(raw_path: str) -> bool:
    return raw_path.startswith(tuple(PREFIXES))


def _bearer(headers: dict[str, str], query: dict[str, str]) -> bool:
    value = headers.get("authorization", "")
    return (value[:7].lower() == "bearer " and bool(value[7:].strip())) or bool(query.get("access_token"))


class Storage:
    def __init__(self, store: Store) -> None:
        self.buckets = Buckets(store)
        self.objects = Objects(store, self.buckets)
        # (surface, shape) -> {method: handler}; shape: "b", "b/B", "b/B/o", "b/B/o/O"
        objects, buckets = self.objects, self.buckets
        self.table: dict[tuple[str, str], dict[str, Callable[[Call, float], Reply]]] = {
            ("api", "b"): {"POST": buckets.insert},
            ("api", "b/B"): {"GET": buckets.get},
            ("api", "b/B/o"): {"GET": objects.list},
            ("api", "b/B/o/O"): {"GET": objects.get, "PATCH": objects.patch, "DELETE": objects.delete},
            ("download", "b/B/o/O"): {"GET": objects.get},
            ("upload", "b/B/o"): {"POST": objects.insert},
        }

    def serve(self, method: str, raw_path: str, pairs: list[tuple[str, str]], headers: dict[str, str],
              body: bytes, transaction: Callable[[], AbstractContextManager[float]]) -> Reply:
        """One call (the raw, still percent-encoded path): auth, routing, then the handler under `transaction`."""
        try:
            query = {ALIASES.get(key, key): value for key, value in pairs}
            if not _bearer(headers, query):
                raise unauthenticated()
            handler, call = self.route(method, raw_path, query, headers, body)
            with transaction() as now:
                return handler(call, now)
        except StorageError as err:
            return err.reply()

    def route(self, method: str, raw_path: str, query: dict[str, str], headers: dict[str, str],
              body: bytes) -> tuple[Callable[[Call, float], Reply], Call]:
        surface = next(kind for prefix, kind in PREFIXES.items() if raw_path.startswith(prefix))
        parts = raw_path.split("/")[1 if surface == "api" else 2:]       # ["storage", "v1", "b", ...]
        rest = parts[2:]
        shape = "/".join("B" if i == 1 else "O" if i == 3 else segment for i, segment in enumerate(rest))
        methods = self.table.get((surface, shape)) if parts[:2] == ["storage", "v1"] and all(rest) else None
        if methods is None:
            raise not_found(f"Not Found: no Cloud Storage JSON API method at {raw_path[:200]!r}.")
        handler = methods.get(method)
        if handler is None:
            raise StorageError(405, f"Method {method} is not allowed on {raw_path[:200]!r}: use "
                                    f"{', '.join(sorted(methods))}.", "methodNotAllowed")
        try:
            bucket = unquote(rest[1], errors="strict") if len(rest) > 1 else None
            name = unquote(rest[3], errors="strict") if len(rest) > 3 else None
        except UnicodeDecodeError:
            raise invalid("The path is not valid percent-encoded UTF-8.") from None
        host = headers.get("host", "").strip()
        base_url = "http://" + (host if _HOST.fullmatch(host) else "127.0.0.1")
        return handler, Call(method, bucket, name, query, headers, body, base_url)


__all__ = ["Storage", "is_storage_path"]
