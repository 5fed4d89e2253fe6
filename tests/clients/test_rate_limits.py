"""Quota per region (issue 13): one client-side limiter per quota bucket — Vertex AI per (project, region), the
Gemini API one — each paused only by its own 429s; and the emulator's --quota-rps counted per region too."""

from __future__ import annotations

import httpx
import pytest

from reconciler.clients.gemini import GeminiClient
from reconciler.clients.http import RateLimiter, RateLimits, RetryPolicy
from reconciler.clients.vertex import VertexClient, quota_bucket
from reconciler.emulator import Emulator
from reconciler.errors import ResourceExhausted
from tests.testing.clock import FakeClock

EAST, WEST = "projects/p/locations/us-east1", "projects/p/locations/us-west1"


def test_two_regions_do_not_throttle_each_other():
    clock = FakeClock()
    limits = RateLimits(rate=10, burst=10, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        limits.bucket(EAST).acquire()
    assert clock.now == 0.0                 # the east bucket is empty now
    for _ in range(10):
        limits.bucket(WEST).acquire()       # the west one is full: no wait at all
    assert clock.now == 0.0
    limits.bucket(EAST).acquire()           # the eleventh east request waits its token
    assert clock.now == pytest.approx(0.1)


def test_a_pause_holds_back_only_its_bucket():
    clock = FakeClock()
    limits = RateLimits(rate=100, burst=100, clock=clock, sleep=clock.sleep)
    limits.bucket(EAST).pause(5.0)
    limits.bucket(WEST).acquire()
    assert clock.now == 0.0
    limits.bucket(EAST).acquire()
    assert clock.now == pytest.approx(5.0)


@pytest.mark.parametrize("url, bucket", [
    ("https://us-east1-aiplatform.googleapis.com/v1/projects/p/locations/us-east1/tuningJobs", EAST),
    ("http://127.0.0.1:1/v1/projects/p/locations/us-west1/tuningJobs/1:cancel?x=1", WEST),
    ("http://127.0.0.1:1/v1/projects/p/locations/us-east1/endpoints/9/operations/3", EAST),
    ("http://127.0.0.1:1/v1beta/tunedModels", ""),
])
def test_the_vertex_bucket_is_project_and_region(url, bucket):
    assert quota_bucket(url) == bucket


def _client(script, limits, clock) -> VertexClient:
    http = httpx.Client(transport=httpx.MockTransport(script))
    return VertexClient(http, endpoint="http://vertex.test", limiter=limits, sleep=clock.sleep,
                        policy=RetryPolicy(max_attempts=2, initial_delay=0.0))


def test_a_429_in_one_region_pauses_only_that_region():
    clock = FakeClock()
    limits = RateLimits(rate=1000, burst=1000, clock=clock, sleep=clock.sleep)

    def script(request: httpx.Request) -> httpx.Response:
        if "us-east1" in request.url.path:
            return httpx.Response(429, headers={"Retry-After": "7"},
                                  json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}})
        return httpx.Response(200, json={"name": "x"})

    client = _client(script, limits, clock)
    with pytest.raises(ResourceExhausted):
        client.get_tuning_job(f"{EAST}/tuningJobs/1")
    paused_at = clock.now
    limits.bucket(WEST).acquire()                         # west: no wait
    assert clock.now == paused_at
    client.get_tuning_job(f"{WEST}/tuningJobs/2")
    assert set(limits.buckets()) == {EAST, WEST} and clock.now == paused_at
    east = limits.bucket(EAST)
    assert east._paused_until > clock.now                 # east still held back by its own Retry-After


def test_the_gemini_api_is_one_bucket_of_its_own():
    clock = FakeClock()
    limits = RateLimits(rate=5, clock=clock, sleep=clock.sleep)
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"name": "tunedModels/a"})))
    GeminiClient(http, endpoint="http://gemini.test", limiter=limits).get_tuned_model("tunedModels/a")
    assert set(limits.buckets()) == {"generativelanguage"}


def test_a_single_limiter_still_serves_every_call():
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock, sleep=clock.sleep)
    client = _client(lambda r: httpx.Response(200, json={"name": "x"}), limiter, clock)
    client.get_tuning_job(f"{EAST}/tuningJobs/1")
    client.get_tuning_job(f"{WEST}/tuningJobs/1")
    assert clock.now == pytest.approx(1.0)


def test_the_emulator_counts_quota_per_region():
    with Emulator(quota_rps=3) as emu, httpx.Client(base_url=emu.base_url,
                                                     headers={"Authorization": "Bearer t"}) as http:
        east = [http.get(f"/v1/{EAST}/tuningJobs").status_code for _ in range(4)]
        west = [http.get(f"/v1/{WEST}/tuningJobs").status_code for _ in range(3)]
        number = http.get("/v1/projects/p/locations/us-east1/models")   # the same bucket spelled by project id
        gemini = http.get("/v1beta/tunedModels", headers={"x-goog-api-key": "k"})
    assert east == [200, 200, 200, 429] and west == [200, 200, 200]
    assert number.status_code == 429 and "projects/" in number.json()["error"]["message"]
    assert gemini.status_code == 200
