"""Cloud Storage (JSON API v1): the objects a remote state backend reads, writes with preconditions, lists and
deletes, and the bucket `--emulator` creates.

Thin on purpose, like the tuning clients: URL building plus the shared `Session` policy. A write is retried only
when it carries a generation precondition (then a repeat cannot apply twice); whether a 412 after a retry means
"somebody else won" or "our first attempt landed" is the caller's question (it compares the stored bytes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from reconciler.clients import responses
from reconciler.clients.http import RateLimiter, RetryPolicy, Session, transport_detail
from reconciler.clients.redact import redact_url
from reconciler.clients.rpc import translate_error
from reconciler.errors import BadResponse, ResponseTooLarge, TransportError

STORAGE_HOST = "https://storage.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
MAX_OBJECT_BYTES = 64 * 1024 * 1024
STREAM_CHUNK = 1024 * 1024  # bytes a stream yields at a time


@dataclass(frozen=True)
class Blob:
    """An object's bytes and the generation they are (the precondition of the next write)."""

    data: bytes
    generation: int


class StorageClient:
    def __init__(self, http: httpx.Client, *, endpoint: str | None = None, policy: RetryPolicy | None = None,
                 limiter: RateLimiter | None = None, sleep: Callable[[float], None] = time.sleep,
                 session: Session | None = None):
        self.session = session or Session(http, policy=policy, limiter=limiter, sleep=sleep)
        self.base = (endpoint or STORAGE_HOST).rstrip("/")

    def __repr__(self) -> str:
        return f"StorageClient(base={redact_url(self.base)!r})"

    def _object(self, bucket: str, name: str, *, prefix: str = "") -> str:
        return f"{self.base}{prefix}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"

    # buckets
    def create_bucket(self, project: str, name: str) -> dict:
        return self.session.call("POST", f"{self.base}/storage/v1/b", params={"project": project},
                                 body={"name": name}, idempotent=False)

    # objects
    def metadata(self, bucket: str, name: str) -> dict:
        return self.session.call("GET", self._object(bucket, name), idempotent=True)

    def download(self, bucket: str, name: str) -> Blob:
        """The object's bytes, with the generation the server says they are (`x-goog-generation`)."""
        url = self._object(bucket, name, prefix="/download")
        response, content = self.session.exchange("GET", url, params={"alt": "media"}, idempotent=True)
        if not 200 <= response.status_code < 300:
            raise BadResponse(f"the server answered a download with HTTP {response.status_code}", method="GET",
                              url=redact_url(url), http_status=response.status_code)
        generation = _generation(response.headers.get("x-goog-generation"))
        if generation is None:
            raise BadResponse("the server answered a download without a valid x-goog-generation header",
                              method="GET", url=redact_url(url))
        return Blob(content, generation)

    def stream(self, bucket: str, name: str, max_bytes: int) -> Iterator[bytes]:
        """The object's bytes as they arrive, never held whole: for objects too large to download (datasets).

        Not through `Session.exchange`, which reads a whole body: the same client (auth, headers), limiter and
        translation of errors (a 404 is a NotFound, a 403 a PermissionDenied), but no total deadline (a large
        object takes long; each read still times out) and never retried (bytes already given would come twice). A ResponseTooLarge once the object declares, or streams, more than `max_bytes`."""
        url = self._object(bucket, name, prefix="/download")
        session = self.session
        limiter = session.limiter_for(url)
        if limiter is not None:
            limiter.acquire()
        try:
            with session.client.stream("GET", url, params={"alt": "media"}, timeout=session.policy.timeout,
                                       follow_redirects=False) as response:
                if response.status_code >= 300:
                    body = responses.read_body(response, deadline=time.monotonic() + session.policy.deadline,
                                     clock=time.monotonic, seconds=session.policy.deadline, limit=64 * 1024)
                    if response.status_code < 400:
                        responses.decode_success(response, body)  # raises: a redirect is never followed
                    raise translate_error(response, body)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ResponseTooLarge(f"the object is {int(declared)} bytes, over the {max_bytes}-byte cap; "
                                           "not downloaded", method="GET", url=redact_url(url))
                size = 0
                for chunk in response.iter_bytes(STREAM_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ResponseTooLarge(f"the object streamed past the {max_bytes}-byte cap; download "
                                               "aborted", method="GET", url=redact_url(url))
                    yield chunk
        except httpx.TransportError as exc:
            raise TransportError(f"the download failed ({type(exc).__name__}: {transport_detail(exc)[:200]})",
                                 method="GET", url=redact_url(url)) from None
        except httpx.DecodingError as exc:
            responses.fail(exc.request, f"bytes that cannot be decoded ({str(exc)[:200]})")

    def upload(self, bucket: str, name: str, data: bytes, *, if_generation_match: int,
               content_type: str = "application/json") -> dict:
        """Store `data` as `name` only if its live generation is `if_generation_match` (0: only if there is
        none); the new object's metadata. A 412 (FailedPrecondition) means the precondition did not hold."""
        if len(data) > MAX_OBJECT_BYTES:
            raise ValueError(f"{name}: {len(data)} bytes is more than this client uploads")
        params = {"uploadType": "media", "name": name, "ifGenerationMatch": str(if_generation_match)}
        return self.session.call(
            "POST", f"{self.base}/upload/storage/v1/b/{quote(bucket, safe='')}/o", params=params,
            content=data, headers={"content-type": content_type}, idempotent=True)

    def delete(self, bucket: str, name: str, *, if_generation_match: int) -> None:
        self.session.exchange("DELETE", self._object(bucket, name),
                              params={"ifGenerationMatch": str(if_generation_match)}, idempotent=True)

    def list(self, bucket: str, prefix: str) -> Iterator[dict]:
        return self.session.pages(f"{self.base}/storage/v1/b/{quote(bucket, safe='')}/o", "items",
                                  {"prefix": prefix})


def split_uri(uri: str) -> tuple[str, str]:
    """gs://BUCKET/NAME -> (BUCKET, NAME)."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


def generation_of(metadata: dict) -> int:
    """An object resource's generation (an int64 sent as a string)."""
    generation = _generation(metadata.get("generation"))
    if generation is None:
        raise BadResponse(f"the server answered an object without a valid generation: "
                          f"{metadata.get('generation')!r:.40}", method="GET")
    return generation


def _generation(value: object) -> int | None:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return int(text) if text.isdigit() and 0 < int(text) < 2**63 else None

