"""google-cloud-storage (unmodified) against the emulator's Cloud Storage subset, aimed with explicit credentials
and `client_options={"api_endpoint": base_url}` (the client builds its upload and download URLs from that
endpoint: blob.py `_get_host_name(client._connection)`), and what STORAGE_EMULATOR_HOST does instead."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.auth.exceptions import InvalidOperation
from google.cloud import storage
from google.oauth2.credentials import Credentials

from reconciler.emulator.storage.checksums import crc32c_b64

PROJECT, BUCKET = "test-project", "sdk-bucket"


@pytest.fixture
def client(emulator) -> storage.Client:
    return storage.Client(project=PROJECT, credentials=Credentials(token="emulator-token"),
                          client_options={"api_endpoint": emulator.base_url})


@pytest.fixture
def bucket(client) -> storage.Bucket:
    return client.create_bucket(BUCKET)


def test_create_only_upload_download_and_reload(bucket, emulator):
    blob = bucket.blob("workspaces/default.tfstate")
    blob.upload_from_string(b'{"serial": 1}', content_type="application/json", if_generation_match=0)
    assert blob.generation > 0 and blob.metageneration == 1 and blob.crc32c == crc32c_b64(b'{"serial": 1}')
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("workspaces/default.tfstate").upload_from_string(b"other", if_generation_match=0)
    fresh = bucket.blob("workspaces/default.tfstate")
    assert fresh.download_as_bytes() == b'{"serial": 1}'            # the client checks our x-goog-hash
    fresh.reload()
    assert (fresh.generation, fresh.size, fresh.content_type, fresh.md5_hash) == \
        (blob.generation, 13, "application/json", blob.md5_hash)
    paths = [(e["method"], e["path"].split("?")[0]) for e in emulator.requests()]
    assert ("POST", f"/upload/storage/v1/b/{BUCKET}/o") in paths               # multipart, below 8 MiB
    assert ("GET", f"/download/storage/v1/b/{BUCKET}/o/workspaces/default.tfstate") in paths


def test_generation_preconditions_on_overwrite_and_download(bucket):
    blob = bucket.blob("state")
    blob.upload_from_string(b"v1", if_generation_match=0)
    first = blob.generation
    blob.upload_from_string(b"v2", if_generation_match=first)
    assert blob.generation > first
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("state").upload_from_string(b"v3", if_generation_match=first)
    with pytest.raises(exceptions.NotModified):
        bucket.blob("state").download_as_bytes(if_generation_not_match=blob.generation)
    assert bucket.blob("state").download_as_bytes(if_generation_match=blob.generation) == b"v2"


def test_list_blobs_with_prefix_and_pages(client, bucket):
    for name in ("lock/a", "lock/b", "lock/c", "state/x", "z"):
        bucket.blob(name).upload_from_string(name.encode())
    assert [b.name for b in client.list_blobs(BUCKET, prefix="lock/")] == ["lock/a", "lock/b", "lock/c"]
    assert [b.name for b in client.list_blobs(BUCKET, max_results=10, page_size=2)] == \
        ["lock/a", "lock/b", "lock/c", "state/x", "z"]
    iterator = client.list_blobs(BUCKET, delimiter="/")
    assert [b.name for b in iterator] == ["z"] and iterator.prefixes == {"lock/", "state/"}


def test_delete_with_generation_match(bucket):
    blob = bucket.blob("env/default.tflock")
    blob.upload_from_string(b"lock-info", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.delete(if_generation_match=blob.generation + 1)
    assert bucket.get_blob("env/default.tflock") is not None
    blob.delete(if_generation_match=blob.generation)
    assert bucket.get_blob("env/default.tflock") is None
    with pytest.raises(exceptions.NotFound):
        blob.delete()


def test_metadata_patch_and_metageneration_preconditions(bucket):
    blob = bucket.blob("meta")
    blob.upload_from_string(b"x")
    blob.metadata = {"owner": "reconciler"}
    blob.patch(if_metageneration_match=1)
    assert blob.metageneration == 2
    reloaded = bucket.get_blob("meta")
    assert reloaded.metadata == {"owner": "reconciler"} and reloaded.generation == blob.generation
    with pytest.raises(exceptions.PreconditionFailed):
        reloaded.reload(if_metageneration_match=1)
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("meta").upload_from_string(b"y", if_metageneration_match=1)
    with pytest.raises(exceptions.PreconditionFailed):        # sent as ifMetaGenerationNotMatch by the client
        bucket.blob("meta").upload_from_string(b"y", if_metageneration_not_match=2)
    bucket.blob("meta").upload_from_string(b"y", if_metageneration_not_match=1)
    assert bucket.blob("meta").download_as_bytes() == b"y"


def test_missing_bucket_and_bucket_conflict(client, bucket):
    with pytest.raises(exceptions.NotFound):
        client.get_bucket("no-such-bucket")
    with pytest.raises(exceptions.Conflict):
        client.create_bucket(BUCKET)
    assert client.get_bucket(BUCKET).name == BUCKET


def test_storage_emulator_host_is_anonymous_and_refused(emulator, monkeypatch):
    """STORAGE_EMULATOR_HOST makes the client anonymous (no Authorization header); the emulator requires a
    bearer token, as Cloud Storage itself does for private data, so every call is 401. The client's authorized
    session answers a 401 by refreshing its credentials, which anonymous ones cannot: the caller sees
    google.auth InvalidOperation. Use explicit credentials and api_endpoint (the fixtures above) instead."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.base_url)
    anonymous = storage.Client(project=PROJECT)
    with pytest.raises(InvalidOperation):
        anonymous.create_bucket("anon-bucket")
    with pytest.raises(InvalidOperation):
        anonymous.bucket("anon-bucket").blob("x").upload_from_string(b"x")
    assert {e["status"] for e in emulator.requests()} == {401}
