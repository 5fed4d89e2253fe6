"""The Cloud Storage JSON API subset, over raw HTTP: buckets, uploads (media, multipart), metadata, downloads,
checksums, preconditions, listing, errors, persistence, reset, faults and quota."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from urllib.parse import quote

import google_crc32c
import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.emulator.storage.checksums import crc32c, crc32c_b64
from reconciler.emulator.storage.objects import MAX_OBJECT_BYTES
from tests.testing.emulators import running

AUTH = {"Authorization": "Bearer test-token"}
BUCKET = "state-bucket"
UPLOAD = f"/upload/storage/v1/b/{BUCKET}/o"
ENVELOPE_KEYS = {"code", "message", "errors"}


@pytest.fixture
def gcs(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, headers=AUTH, timeout=10) as http:
        assert http.post("/storage/v1/b", params={"project": "p"}, json={"name": BUCKET}).status_code == 200
        yield http


def obj(name: str, bucket: str = BUCKET) -> str:
    """The metadata path of an object: its name as ONE percent-encoded segment."""
    return f"/storage/v1/b/{bucket}/o/{quote(name, safe='')}"


def put(http: httpx.Client, name: str, data: bytes, **params: str) -> httpx.Response:
    return http.post(UPLOAD, params={"uploadType": "media", "name": name, **params}, content=data,
                     headers={"Content-Type": "text/plain"})


def multipart(metadata: dict, data: bytes, media_type: str = "application/octet-stream",
              boundary: str = "==b0undary==") -> tuple[bytes, dict[str, str]]:
    body = (f"--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{json.dumps(metadata)}\r\n"
            f"--{boundary}\r\ncontent-type: {media_type}\r\n\r\n").encode() + data + f"\r\n--{boundary}--".encode()
    return body, {"Content-Type": f'multipart/related; boundary="{boundary}"'}


def assert_gcs_error(response: httpx.Response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == ENVELOPE_KEYS and error["code"] == status and "status" not in error
    assert error["errors"][0]["reason"] == reason and error["errors"][0]["domain"] == "global"
    return error


# ---------------------------------------------------------------------------------------------- checksums
@pytest.mark.parametrize(("data", "value"), [
    (b"", 0x00000000), (b"123456789", 0xE3069283), (b"a", 0xC1D04330),
    (bytes(32), 0x8A9136AA), (b"\xff" * 32, 0x62A8AB43), (bytes(range(32)), 0x46DD794E)])   # RFC 3720 B.4
def test_crc32c_known_vectors(data, value):
    assert crc32c(data) == value
    assert crc32c_b64(data) == base64.b64encode(value.to_bytes(4, "big")).decode()


def test_crc32c_matches_the_reference_implementation_and_continues():
    data = bytes(range(256)) * 37 + b"tail"
    assert crc32c(data) == google_crc32c.value(data)
    assert crc32c(data[1000:], crc32c(data[:1000])) == crc32c(data)


# ---------------------------------------------------------------------------------------------- buckets
def test_bucket_create_get_conflict_and_validation(gcs):
    bucket = gcs.get(f"/storage/v1/b/{BUCKET}").json()
    assert (bucket["kind"], bucket["name"], bucket["id"], bucket["storageClass"]) == \
        ("storage#bucket", BUCKET, BUCKET, "STANDARD")
    assert_gcs_error(gcs.post("/storage/v1/b", params={"project": "p"}, json={"name": BUCKET}), 409, "conflict")
    assert_gcs_error(gcs.get("/storage/v1/b/missing-bucket"), 404, "notFound")
    assert_gcs_error(gcs.post("/storage/v1/b", json={"name": "other-bucket"}), 400, "required")   # no project
    for bad in ("ab", "Upper", "-dash", "a" * 64, "goog-bucket", "10.0.0.1", "a..b"):
        assert_gcs_error(gcs.post("/storage/v1/b", params={"project": "p"}, json={"name": bad}), 400, "invalid")


# ---------------------------------------------------------------------------------------------- uploads
def test_media_upload_metadata_fields(gcs, emulator):
    data = b"hello, state"
    resource = put(gcs, "dir/a b+c.json", data).json()
    generation = resource["generation"]
    assert resource["kind"] == "storage#object" and resource["name"] == "dir/a b+c.json"
    assert resource["id"] == f"{BUCKET}/dir/a b+c.json/{generation}" and generation.isdigit()
    assert (resource["metageneration"], resource["size"], resource["contentType"], resource["storageClass"]) == \
        ("1", str(len(data)), "text/plain", "STANDARD")
    assert resource["md5Hash"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert resource["crc32c"] == crc32c_b64(data)
    assert resource["selfLink"] == f"{emulator.base_url}/storage/v1/b/{BUCKET}/o/dir%2Fa%20b%2Bc.json"
    assert resource["mediaLink"].startswith(f"{emulator.base_url}/download/storage/v1/b/{BUCKET}/o/dir%2F")
    assert resource["timeCreated"] == resource["updated"] and resource["timeCreated"].endswith("Z")
    assert "metadata" not in resource
    assert gcs.get(obj("dir/a b+c.json")).json() == resource


def test_multipart_upload_takes_name_content_type_and_metadata(gcs):
    body, headers = multipart({"name": "m/x.bin", "contentType": "application/x-thing",
                               "metadata": {"owner": "reconciler", "dropped": None}, "cacheControl": "no-cache"},
                              b"\x00\x01 multipart \r\n--not-a-boundary")
    resource = gcs.post(UPLOAD, params={"uploadType": "multipart"}, content=body, headers=headers).json()
    assert (resource["name"], resource["contentType"], resource["metadata"], resource["cacheControl"]) == \
        ("m/x.bin", "application/x-thing", {"owner": "reconciler"}, "no-cache")
    assert gcs.get(obj("m/x.bin"), params={"alt": "media"}).content == b"\x00\x01 multipart \r\n--not-a-boundary"
    body, headers = multipart({"name": "m/typed"}, b"{}", media_type="application/json")
    assert gcs.post(UPLOAD, params={"uploadType": "multipart"}, content=body,
                    headers=headers).json()["contentType"] == "application/json"    # from the media part


@pytest.mark.parametrize(("params", "metadata", "headers", "reason"), [
    ({"uploadType": "resumable"}, None, None, "invalid"),
    ({"uploadType": "chunky"}, None, None, "invalid"),
    ({}, None, None, "invalid"),                                                   # no uploadType
    ({"uploadType": "media"}, None, None, "required"),                             # no name
    ({"uploadType": "multipart"}, {"contentType": "text/plain"}, None, "required"),  # no name
    ({"uploadType": "multipart"}, {"name": "x", "crc32c": "AAAAAA=="}, None, "invalid"),   # wrong checksum
    ({"uploadType": "multipart"}, {"name": "x", "md5Hash": "AAAA"}, None, "invalid"),
    ({"uploadType": "multipart"}, {"name": "x", "metadata": {"n": 1}}, None, "invalid"),
    ({"uploadType": "multipart"}, {"name": "x"}, {"Content-Type": "multipart/related"}, "invalid"),  # no boundary
    ({"uploadType": "media", "name": "x", "ifGenerationMatch": "abc"}, None, None, "invalid"),
    ({"uploadType": "media", "name": "x", "ifMetagenerationMatch": "-1"}, None, None, "invalid"),
    ({"uploadType": "media", "name": "x", "ifGenerationMatch": str(2**63)}, None, None, "invalid"),
])
def test_bad_uploads_are_400(gcs, params, metadata, headers, reason):
    if metadata is not None:
        body, multipart_headers = multipart(metadata, b"data")
        response = gcs.post(UPLOAD, params=params, content=body, headers=headers or multipart_headers)
    else:
        response = gcs.post(UPLOAD, params=params, content=b"data")
    assert_gcs_error(response, 400, reason)
    assert gcs.get(f"/storage/v1/b/{BUCKET}/o").json() == {"kind": "storage#objects"}   # nothing stored


def test_malformed_multipart_bodies_are_400(gcs):
    headers = {"Content-Type": 'multipart/related; boundary="b"'}
    for body in (b"garbage", b"--b\r\n\r\n{}\r\n--b--", b"--b\r\n\r\n{}\r\n--b\r\n\r\nx\r\n--b",
                 b"--b\r\n\r\nnot json\r\n--b\r\n\r\nx\r\n--b--", b"--b\r\n\r\n[1]\r\n--b\r\n\r\nx\r\n--b--"):
        assert_gcs_error(gcs.post(UPLOAD, params={"uploadType": "multipart"}, content=body, headers=headers),
                         400, "invalid")
    ok = b"--b\r\n\r\n{\"name\": \"bare\"}\r\n--b\r\n\r\nx\r\n--b--"            # parts without headers
    assert gcs.post(UPLOAD, params={"uploadType": "multipart"}, content=ok, headers=headers).status_code == 200


@pytest.mark.parametrize(("name", "ok"), [
    ("a", True), ("x" * 1024, True), ("é" * 512, True), ("dir/sub/obj", True), (" spaced ", True),
    ("", False), ("x" * 1025, False), ("é" * 513, False), (".", False), ("..", False),
    ("line\nfeed", False), ("carriage\rreturn", False), (".well-known/acme-challenge/x", False)])
def test_object_name_rules(gcs, name, ok):
    response = put(gcs, name, b"x")
    if ok:
        assert response.status_code == 200 and response.json()["name"] == name
        assert gcs.get(obj(name)).json()["name"] == name
    else:
        assert_gcs_error(response, 400, "required" if name == "" else "invalid")


def test_object_size_is_capped(gcs):
    error = assert_gcs_error(put(gcs, "big", b"x" * (MAX_OBJECT_BYTES + 1)), 413, "uploadTooLarge")
    assert str(MAX_OBJECT_BYTES) in error["message"]
    gcs.timeout = httpx.Timeout(120)  # the emulator's pure-Python CRC32C of 30 MiB takes seconds on a busy machine
    assert put(gcs, "fits", b"x" * MAX_OBJECT_BYTES).json()["size"] == str(MAX_OBJECT_BYTES)


# ---------------------------------------------------------------------------------------------- downloads
@pytest.mark.parametrize("path", ["/storage/v1/b/{b}/o/{o}", "/download/storage/v1/b/{b}/o/{o}"])
def test_media_download_bytes_and_headers(gcs, path):
    data = bytes(range(256)) * 10
    resource = put(gcs, "bin/blob", data).json()
    response = gcs.get(path.format(b=BUCKET, o="bin%2Fblob"), params={"alt": "media"})
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["x-goog-generation"] == resource["generation"]
    assert response.headers["x-goog-metageneration"] == "1"
    assert response.headers["x-goog-hash"] == f"crc32c={resource['crc32c']},md5={resource['md5Hash']}"
    assert gcs.get(path.format(b=BUCKET, o="bin%2Fblob"), params={"alt": "xml"}).status_code == 400


def test_generation_selects_the_live_object_only(gcs):
    first = put(gcs, "g", b"1").json()["generation"]
    second = put(gcs, "g", b"2").json()["generation"]
    assert int(second) > int(first)
    assert gcs.get(obj("g"), params={"generation": second, "alt": "media"}).content == b"2"
    assert_gcs_error(gcs.get(obj("g"), params={"generation": first}), 404, "notFound")   # no noncurrent versions


# ---------------------------------------------------------------------------------------------- preconditions
# (parameter, value relative to the live object: "gen", "gen+1", "0", "meta", "meta+1") -> outcome per call
CASES = [
    ("ifGenerationMatch", "gen", 200, 200, 204),
    ("ifGenerationMatch", "gen+1", 412, 412, 412),
    ("ifGenerationMatch", "0", 412, 412, 412),
    ("ifGenerationNotMatch", "gen", 304, 412, 412),
    ("ifGenerationNotMatch", "gen+1", 200, 200, 204),
    ("ifMetagenerationMatch", "meta", 200, 200, 204),
    ("ifMetagenerationMatch", "meta+1", 412, 412, 412),
    ("ifMetagenerationNotMatch", "meta", 304, 412, 412),
    ("ifMetagenerationNotMatch", "meta+1", 200, 200, 204),
]


@pytest.mark.parametrize(("parameter", "value", "get", "insert", "delete"), CASES)
def test_preconditions_on_an_existing_object(gcs, parameter, value, get, insert, delete):
    live = put(gcs, "p", b"v1").json()
    number = {"gen": int(live["generation"]), "gen+1": int(live["generation"]) + 1, "0": 0, "meta": 1,
              "meta+1": 2}[value]
    params = {parameter: str(number)}
    for alt in ("json", "media"):
        response = gcs.get(obj("p"), params={**params, "alt": alt})
        assert response.status_code == get
        if get == 304:
            assert response.content == b""
    response = put(gcs, "p", b"v2", **params)
    assert response.status_code == insert
    if insert == 412:
        error = assert_gcs_error(response, 412, "conditionNotMet")
        assert error["errors"][0]["locationType"] == "header" and error["errors"][0]["location"] == "If-Match"
        current = live
    else:
        current = response.json()
        params = {parameter: str(number if "Not" in parameter or parameter.startswith("ifMeta")
                                 else int(current["generation"]))}
    response = gcs.delete(obj("p"), params=params)
    assert response.status_code == delete, response.text
    if delete == 204:
        assert response.content == b"" and gcs.get(obj("p")).status_code == 404
    else:
        assert gcs.get(obj("p")).json()["generation"] == current["generation"]


@pytest.mark.parametrize(("parameter", "value", "status"), [
    ("ifGenerationMatch", "0", 200), ("ifGenerationMatch", "5", 412), ("ifGenerationNotMatch", "5", 200),
    ("ifMetagenerationMatch", "1", 412), ("ifMetagenerationNotMatch", "1", 200)])
def test_preconditions_on_a_missing_object(gcs, parameter, value, status):
    assert put(gcs, "new", b"x", **{parameter: value}).status_code == status
    assert_gcs_error(gcs.get(obj("absent"), params={parameter: value}), 404, "notFound")
    assert_gcs_error(gcs.delete(obj("absent"), params={parameter: value}), 404, "notFound")


def test_create_only_is_a_lock(gcs):
    lock = put(gcs, "env/default.tflock", b"holder-1", ifGenerationMatch="0")
    assert lock.status_code == 200
    assert_gcs_error(put(gcs, "env/default.tflock", b"holder-2", ifGenerationMatch="0"), 412, "conditionNotMet")
    assert gcs.get(obj("env/default.tflock"), params={"alt": "media"}).content == b"holder-1"
    assert_gcs_error(gcs.delete(obj("env/default.tflock"), params={"ifGenerationMatch": "1"}), 412,
                     "conditionNotMet")
    assert gcs.delete(obj("env/default.tflock"),
                      params={"ifGenerationMatch": lock.json()["generation"]}).status_code == 204
    assert put(gcs, "env/default.tflock", b"holder-2", ifGenerationMatch="0").status_code == 200


def test_patch_bumps_metageneration_and_keeps_the_generation(gcs):
    live = put(gcs, "meta", b"x").json()
    patched = gcs.patch(obj("meta"), params={"ifMetagenerationMatch": "1"},
                        json={"metadata": {"k": "v", "gone": None}, "contentType": "application/json"}).json()
    assert (patched["metageneration"], patched["generation"], patched["metadata"], patched["contentType"]) == \
        ("2", live["generation"], {"k": "v"}, "application/json")
    assert patched["etag"] != live["etag"]
    assert_gcs_error(gcs.patch(obj("meta"), params={"ifMetagenerationMatch": "1"}, json={}), 412, "conditionNotMet")
    assert gcs.get(obj("meta"), params={"alt": "media"}).headers["x-goog-metageneration"] == "2"


# ---------------------------------------------------------------------------------------------- listing
NAMES = ["a/1", "a/2", "a/b/3", "b", "c/x", "c/y", "d", "é"]


@pytest.mark.parametrize(("query", "items", "prefixes"), [
    ({}, NAMES, []),
    ({"prefix": "a/"}, ["a/1", "a/2", "a/b/3"], []),
    ({"delimiter": "/"}, ["b", "d", "é"], ["a/", "c/"]),
    ({"prefix": "a/", "delimiter": "/"}, ["a/1", "a/2"], ["a/b/"]),
    ({"prefix": "zzz"}, [], []),
])
def test_list_prefix_and_delimiter(gcs, query, items, prefixes):
    for name in reversed(NAMES):
        put(gcs, name, name.encode())
    page = gcs.get(f"/storage/v1/b/{BUCKET}/o", params=query).json()
    assert [item["name"] for item in page.get("items", [])] == items
    assert page.get("prefixes", []) == prefixes
    assert ("items" in page) == bool(items) and ("prefixes" in page) == bool(prefixes)
    assert page["kind"] == "storage#objects" and "nextPageToken" not in page


@pytest.mark.parametrize(("query", "size", "pages"), [
    ({}, 3, [["a/1", "a/2", "a/b/3"], ["b", "c/x", "c/y"], ["d", "é"]]),
    ({"delimiter": "/"}, 2, [["a/", "b"], ["c/", "d"], ["é"]]),                # items and prefixes count together
    ({}, 8, [NAMES]),
    ({"prefix": "c/"}, 1, [["c/x"], ["c/y"]]),
])
def test_list_pagination(gcs, query, size, pages):
    for name in NAMES:
        put(gcs, name, b"x")
    seen, token = [], None
    for _ in range(10):
        page = gcs.get(f"/storage/v1/b/{BUCKET}/o", params={**query, "maxResults": size,
                                                           **({"pageToken": token} if token else {})}).json()
        seen.append(sorted([i["name"] for i in page.get("items", [])] + page.get("prefixes", [])))
        token = page.get("nextPageToken")
        if token is None:
            break
    assert seen == pages


@pytest.mark.parametrize("query", [{"maxResults": "0"}, {"maxResults": "x"}, {"pageToken": "***"}])
def test_list_bad_parameters_are_400(gcs, query):
    assert_gcs_error(gcs.get(f"/storage/v1/b/{BUCKET}/o", params=query), 400, "invalid")


# ---------------------------------------------------------------------------------------------- errors, routing
@pytest.mark.parametrize(("method", "path", "status", "reason"), [
    ("GET", "/storage/v1/b/missing-bucket/o", 404, "notFound"),
    ("GET", "/storage/v1/b/missing-bucket/o/x", 404, "notFound"),
    ("GET", f"/storage/v1/b/{BUCKET}/o/absent", 404, "notFound"),
    ("DELETE", f"/storage/v1/b/{BUCKET}/o/absent", 404, "notFound"),
    ("POST", "/upload/storage/v1/b/missing-bucket/o?uploadType=media&name=x", 404, "notFound"),
    ("GET", "/storage/v1/b/x/o/a/b", 404, "notFound"),                        # an object name is ONE segment
    ("GET", "/storage/v2/b/x", 404, "notFound"),
    ("GET", "/storage/v1/buckets", 404, "notFound"),
    ("GET", "/upload/storage/v1/b/x/o/y", 404, "notFound"),
    ("GET", "/download/storage/v1/b", 404, "notFound"),
    ("GET", f"/storage/v1/b/{BUCKET}/o/", 404, "notFound"),
    ("PUT", f"/storage/v1/b/{BUCKET}/o/x", 405, "methodNotAllowed"),
    ("DELETE", f"/storage/v1/b/{BUCKET}", 405, "methodNotAllowed"),
    ("GET", f"/upload/storage/v1/b/{BUCKET}/o", 405, "methodNotAllowed"),
    ("GET", f"/storage/v1/b/{BUCKET}/o/%FF", 400, "invalid"),                 # not UTF-8
])
def test_errors_and_unknown_routes(gcs, method, path, status, reason):
    assert_gcs_error(gcs.request(method, path), status, reason)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                                     {"x-goog-api-key": "k"}])
def test_401_without_a_bearer_token(emulator, headers):
    with httpx.Client(base_url=emulator.base_url) as http:
        for method, path in (("GET", f"/storage/v1/b/{BUCKET}"), ("POST", UPLOAD + "?uploadType=media&name=x"),
                             ("GET", f"/download/storage/v1/b/{BUCKET}/o/x?alt=media")):
            error = assert_gcs_error(http.request(method, path, headers=headers), 401, "required")
            assert error["errors"][0]["location"] == "Authorization"
        assert http.get(f"/storage/v1/b/{BUCKET}", params={"access_token": "t"}).status_code == 404


def test_a_bug_in_a_handler_is_500_in_the_envelope(gcs, emulator, monkeypatch):
    def broken(call, now):
        raise KeyError("boom")
    monkeypatch.setitem(emulator.service.storage.table[("api", "b/B")], "GET", broken)
    error = assert_gcs_error(gcs.get(f"/storage/v1/b/{BUCKET}"), 500, "internalError")
    assert "boom" in error["message"]
    assert gcs.get(f"/storage/v1/b/{BUCKET}/o").status_code == 200              # still serving


# ---------------------------------------------------------------------------------------------- integration
def test_state_file_persists_across_restart_and_reset_clears(tmp_path):
    state = tmp_path / "state.json"
    with running(state_file=str(state)) as emu, httpx.Client(base_url=emu.base_url, headers=AUTH) as http:
        http.post("/storage/v1/b", params={"project": "p"}, json={"name": BUCKET})
        generation = put(http, "kept/obj", b"\x00persisted\xff").json()["generation"]
    with running(state_file=str(state)) as emu, httpx.Client(base_url=emu.base_url, headers=AUTH) as http:
        response = http.get(obj("kept/obj"), params={"alt": "media"})
        assert response.content == b"\x00persisted\xff" and response.headers["x-goog-generation"] == generation
        assert int(put(http, "kept/obj", b"again").json()["generation"]) > int(generation)
        emu.reset()
        assert_gcs_error(http.get(f"/storage/v1/b/{BUCKET}"), 404, "notFound")
    assert json.loads(state.read_text())["gcsObjects"] == {}


def test_request_log_records_calls_but_not_media(gcs, emulator):
    emulator.clear_requests()
    put(gcs, "d/x", b"secret bytes")
    gcs.get(obj("d/x"), params={"alt": "media"})
    gcs.delete(obj("d/x"))
    log = emulator.requests()
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("POST", UPLOAD, "uploadType=media&name=d/x", 200),
        ("GET", f"/storage/v1/b/{BUCKET}/o/d/x", "alt=media", 200),
        ("DELETE", f"/storage/v1/b/{BUCKET}/o/d/x", "", 204)]
    assert log[0]["response"]["name"] == "d/x" and "response" not in log[1] and "response" not in log[2]


def test_faults_apply_error_and_commit_then_drop(gcs, emulator):
    [rule] = emulator.add_faults([{"method": "POST", "path": "/upload/storage/v1/b/*/o", "status": 503,
                                   "retryAfterSeconds": 2, "times": 1}])
    response = put(gcs, "f", b"1")
    assert_gcs_error(response, 503, "backendError")
    assert response.headers["retry-after"] == "2"
    assert gcs.get(obj("f")).status_code == 404                                   # refused before the write
    emulator.add_faults([{"method": "POST", "path": "/upload/*", "action": "drop", "times": 1}])
    with pytest.raises(httpx.TransportError):
        put(gcs, "f", b"2", ifGenerationMatch="0")
    assert gcs.get(obj("f"), params={"alt": "media"}).content == b"2"            # committed though unanswered
    assert_gcs_error(put(gcs, "f", b"3", ifGenerationMatch="0"), 412, "conditionNotMet")   # the retry sees it
    emulator.add_faults([{"path": "/storage/v1/b/*/o/f", "status": 429, "times": 1}])
    assert_gcs_error(gcs.get(obj("f")), 429, "rateLimitExceeded")
    log = emulator.requests()
    assert log[1]["fault"] == f"error#{rule['id']}" and any(e.get("dropped") for e in log)


def test_quota_and_latency_apply_to_storage_calls():
    with running(quota_rps=1) as emu, httpx.Client(base_url=emu.base_url, headers=AUTH) as http:
        statuses = [http.get("/storage/v1/b/x").status_code for _ in range(3)]
        assert statuses[0] == 404 and 429 in statuses
        refused = http.get("/storage/v1/b/x")
        if refused.status_code == 429:
            assert_gcs_error(refused, 429, "rateLimitExceeded")
            assert refused.headers["retry-after"]
    with running(latency_ms=150) as emu, httpx.Client(base_url=emu.base_url, headers=AUTH) as http:
        started = time.monotonic()
        assert http.get("/storage/v1/b/x").status_code == 404
        assert time.monotonic() - started >= 0.15


def test_writes_to_one_object_name_are_held_to_about_one_a_second_after_a_burst():
    """Cloud Storage: "writing to the same object name at a rate above [one per second] might result in
    throttling errors": five at once pass, the sixth is 429 rateLimitExceeded; another name is not affected."""
    with running() as emu, httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer t"}) as http:
        http.post("/storage/v1/b", params={"project": "p"}, json={"name": "rate"}).raise_for_status()

        def upload(name: str) -> httpx.Response:
            return http.post("/upload/storage/v1/b/rate/o", params={"uploadType": "media", "name": name},
                             content=b"x")

        assert [upload("hot").status_code for _ in range(6)] == [200] * 5 + [429]
        refused = upload("hot").json()["error"]
        assert refused["errors"][0]["reason"] == "rateLimitExceeded" and "object mutation" in refused["message"]
        assert upload("cold").status_code == 200
        time.sleep(1.1)
        assert upload("hot").status_code == 200
