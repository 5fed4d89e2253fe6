"""`StorageClient.stream`: a dataset's bytes as they arrive, never past the cap, never through a redirect, and
no credential in what a failure says."""

from __future__ import annotations

import httpx
import pytest

from reconciler.clients.storage import StorageClient
from reconciler.errors import BadResponse, NotFound, ResponseTooLarge, TransportError

TOKEN = "ya29.secret-token-value"


def client(handler) -> StorageClient:
    http = httpx.Client(transport=httpx.MockTransport(handler), headers={"authorization": f"Bearer {TOKEN}"})
    return StorageClient(http, endpoint="http://storage.test")


def chunks(data: bytes, size: int = 100):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("answer, error, said", [
    # no content-length: the cap is found while streaming, and the download stops there
    (lambda r: httpx.Response(200, content=chunks(b"x" * 5000)), ResponseTooLarge, "streamed past the 1000-byte cap"),
    (lambda r: httpx.Response(200, content=b"x" * 5000), ResponseTooLarge, "over the 1000-byte cap; not downloaded"),
    (lambda r: httpx.Response(302, headers={"location": "http://elsewhere.test/o"}), BadResponse,
     "redirects are not followed"),
    (lambda r: httpx.Response(404, json={"error": {"code": 404, "message": "No such object: b/o"}}), NotFound,
     "No such object"),
])
def test_a_stream_stops_at_the_cap_a_redirect_and_a_refusal(answer, error, said):
    with pytest.raises(error) as raised:
        b"".join(client(answer).stream("b", "o", 1000))
    assert said in str(raised.value)


def test_a_stream_under_the_cap_yields_every_byte():
    data = b"row\n" * 200
    assert b"".join(client(lambda r: httpx.Response(200, content=chunks(data))).stream("b", "o", 1000)) == data


def test_a_dropped_download_names_no_credential():
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError(f"connection reset while sending {request.headers['authorization']}", request=request)

    with pytest.raises(TransportError) as raised:
        b"".join(client(drop).stream("b", "o", 1000))
    assert "the download failed (ReadError:" in str(raised.value) and TOKEN not in str(raised.value)
