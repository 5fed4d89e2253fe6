"""URL building of the two thin clients: hosts, versions, verbs, query parameters, retry flags."""

from __future__ import annotations

import json

import httpx
import pytest

from reconciler.clients.gemini import GeminiClient
from reconciler.clients.http import RetryPolicy
from reconciler.clients.vertex import VertexClient, vertex_host
from reconciler.errors import FailedPrecondition, Unavailable

JOB = "projects/p/locations/us-central1/tuningJobs/42"
MODEL = "projects/p/locations/us-central1/models/7@1"
ENDPOINT = "projects/p/locations/us-central1/endpoints/9"


class Recorder:
    def __init__(self, answer=None):
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda request: httpx.Response(200, json={"name": "x", "done": True}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    @property
    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, str(r.url)) for r in self.requests]


def vertex(recorder: Recorder, **kwargs) -> VertexClient:
    return VertexClient(httpx.Client(transport=httpx.MockTransport(recorder)), sleep=lambda s: None, **kwargs)


def gemini(recorder: Recorder, **kwargs) -> GeminiClient:
    return GeminiClient(httpx.Client(transport=httpx.MockTransport(recorder)), sleep=lambda s: None, **kwargs)


@pytest.mark.parametrize(("location", "host"), [
    ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
    ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
    ("global", "https://aiplatform.googleapis.com"),
    ("us", "https://aiplatform.us.rep.googleapis.com"),
    ("eu", "https://aiplatform.eu.rep.googleapis.com"),
])
def test_vertex_hosts(location, host):
    assert vertex_host(location) == host
    recorder = Recorder()
    vertex(recorder).get_tuning_job(f"projects/p/locations/{location}/tuningJobs/1")
    assert recorder.calls == [("GET", f"{host}/v1/projects/p/locations/{location}/tuningJobs/1")]


def test_vertex_methods_build_the_reference_urls():
    recorder = Recorder()
    client = vertex(recorder)
    base = "https://us-central1-aiplatform.googleapis.com/v1"
    client.create_tuning_job("projects/p/locations/us-central1", {"baseModel": "gemini-2.5-flash"})
    client.cancel_tuning_job(JOB)
    client.get_model(MODEL)
    client.patch_model(MODEL, {"displayName": "d"}, ["displayName", "labels"])
    client.delete_model("projects/p/locations/us-central1/models/7")
    client.delete_model_version(MODEL)
    client.get_endpoint(ENDPOINT)
    client.undeploy_model(ENDPOINT, "123")
    client.delete_endpoint(ENDPOINT)
    client.get_operation("projects/p/locations/us-central1/operations/5")
    assert recorder.calls == [
        ("POST", f"{base}/projects/p/locations/us-central1/tuningJobs"),
        ("POST", f"{base}/{JOB}:cancel"),
        ("GET", f"{base}/{MODEL}"),
        ("PATCH", f"{base}/{MODEL}?updateMask=displayName%2Clabels"),
        ("DELETE", f"{base}/projects/p/locations/us-central1/models/7"),
        ("DELETE", f"{base}/{MODEL}:deleteVersion"),
        ("GET", f"{base}/{ENDPOINT}"),
        ("POST", f"{base}/{ENDPOINT}:undeployModel"),
        ("DELETE", f"{base}/{ENDPOINT}"),
        ("GET", f"{base}/projects/p/locations/us-central1/operations/5"),
    ]
    bodies = {r.url.path: r.content for r in recorder.requests if r.content}
    assert json.loads(bodies[f"/v1/{ENDPOINT}:undeployModel"]) == {"deployedModelId": "123"}
    assert json.loads(bodies[f"/v1/{JOB}:cancel"]) == {}


def test_vertex_lists_page_with_the_label_filter():
    def answer(request):
        token = request.url.params.get("pageToken")
        page = {None: {"tuningJobs": [{"name": "a"}], "nextPageToken": "t1"}, "t1": {"tuningJobs": [{"name": "b"}]}}
        return httpx.Response(200, json=page[token])
    recorder = Recorder(answer)
    jobs = list(vertex(recorder, page_size=50).list_tuning_jobs("projects/p/locations/us-central1",
                                                                 'labels.managed-by="reconciler"'))
    assert [j["name"] for j in jobs] == ["a", "b"]
    assert [dict(r.url.params) for r in recorder.requests] == [
        {"filter": 'labels.managed-by="reconciler"', "pageSize": "50"},
        {"filter": 'labels.managed-by="reconciler"', "pageSize": "50", "pageToken": "t1"}]


def test_the_endpoint_override_replaces_every_host():
    recorder = Recorder()
    client = vertex(recorder, endpoint="http://127.0.0.1:8123/")
    client.get_tuning_job("projects/p/locations/global/tuningJobs/1")
    client.get_tuning_job("projects/p/locations/eu/tuningJobs/1")
    assert [url for _, url in recorder.calls] == [
        "http://127.0.0.1:8123/v1/projects/p/locations/global/tuningJobs/1",
        "http://127.0.0.1:8123/v1/projects/p/locations/eu/tuningJobs/1"]


def test_create_is_sent_once_but_get_is_retried():
    recorder = Recorder(lambda request: httpx.Response(503, json={"error": {"code": 503, "status": "UNAVAILABLE",
                                                                             "message": "later"}}))
    client = vertex(recorder, policy=RetryPolicy(max_attempts=3))
    with pytest.raises(Unavailable):
        client.create_tuning_job("projects/p/locations/us-central1", {})
    assert len(recorder.requests) == 1
    with pytest.raises(Unavailable):
        client.get_tuning_job(JOB)
    assert len(recorder.requests) == 4


def test_cancelling_a_finished_job_is_reported_as_failed_precondition():
    recorder = Recorder(lambda request: httpx.Response(400, json={"error": {
        "code": 400, "status": "FAILED_PRECONDITION", "message": "job is already in a terminal state"}}))
    with pytest.raises(FailedPrecondition, match="terminal state"):
        vertex(recorder).cancel_tuning_job(JOB)
    assert len(recorder.requests) == 1


def test_wait_operation_polls_the_operation_name():
    answers = iter([{"name": "projects/p/locations/us-central1/operations/5", "done": False},
                    {"name": "projects/p/locations/us-central1/operations/5", "done": True, "response": {}}])
    recorder = Recorder(lambda request: httpx.Response(200, json=next(answers)))
    client = vertex(recorder)
    op = client.delete_endpoint(ENDPOINT)
    assert client.wait_operation(op, timeout=30)["done"] is True
    assert recorder.calls[-1] == ("GET", "https://us-central1-aiplatform.googleapis.com/v1/"
                                         "projects/p/locations/us-central1/operations/5")


def test_gemini_methods_build_the_reference_urls():
    recorder = Recorder()
    client = gemini(recorder)
    base = "https://generativelanguage.googleapis.com/v1beta"
    client.create_tuned_model({"baseModel": "models/m"}, "bot-0123abcd")
    client.get_tuned_model("tunedModels/bot-0123abcd")
    client.get_tuned_model("bot-0123abcd")
    client.patch_tuned_model("tunedModels/bot-0123abcd", {"description": "d"}, ["description", "topK"])
    client.delete_tuned_model("tunedModels/bot-0123abcd")
    client.get_operation("tunedModels/bot-0123abcd/operations/op1")
    list(client.list_tuned_models())
    assert recorder.calls == [
        ("POST", f"{base}/tunedModels?tunedModelId=bot-0123abcd"),
        ("GET", f"{base}/tunedModels/bot-0123abcd"),
        ("GET", f"{base}/tunedModels/bot-0123abcd"),
        ("PATCH", f"{base}/tunedModels/bot-0123abcd?updateMask=description%2CtopK"),
        ("DELETE", f"{base}/tunedModels/bot-0123abcd"),
        ("GET", f"{base}/tunedModels/bot-0123abcd/operations/op1"),
        ("GET", f"{base}/tunedModels?pageSize=1000"),
    ]


def test_gemini_create_is_sent_once():
    recorder = Recorder(lambda request: httpx.Response(500, json={"error": {"code": 500, "status": "INTERNAL",
                                                                             "message": "oops"}}))
    with pytest.raises(Exception):
        gemini(recorder).create_tuned_model({}, "bot-0123abcd")
    assert len(recorder.requests) == 1


def test_reprs_show_no_credentials():
    client = httpx.Client(transport=httpx.MockTransport(Recorder()), headers={"x-goog-api-key": "AIza-secret"})
    assert "AIza-secret" not in repr(GeminiClient(client)) + repr(GeminiClient(client).session)
