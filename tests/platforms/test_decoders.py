"""Every decoder of the APIs' resources either returns a typed value or raises a typed BadResponse: never a
KeyError, TypeError or AttributeError (exit 3). Property-based over arbitrary JSON, plus the named cases."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.clients import responses
from reconciler.clients.http import RetryPolicy, Session
from reconciler.errors import ApiError, BadResponse
from reconciler.observed import Generation
from reconciler.platforms import gemini, vertex_read

P = "projects/p/locations/us-central1"
OWN = {"managed-by": "reconciler", "reconciler-name": "bot", "reconciler-digest": "0123456789ab"}

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=20)
KEYS = ["name", "state", "labels", "error", "createTime", "tunedModel", "tunedModelDisplayName", "description",
        "displayName", "versionId", "deployedModels", "model", "endpoint", "checkpoints", "metadata", "done",
        "tuningTask", "snapshots", "meanLoss", "completedPercent", "temperature", "topP", "topK", "message",
        "modelVersionId", "id", "tuningJobs", "models", "endpoints", "tunedModels", "nextPageToken"]
# Objects built from the keys the decoders read, so the fuzzing reaches past the first check.
shaped = st.recursive(
    st.one_of(scalars, st.just(f"{P}/tuningJobs/1"), st.just("tunedModels/bot-0123abcd"), st.just(OWN)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=8)), max_leaves=30)
anything = st.one_of(json_values, shaped)

DECODERS = {
    "vertex job": vertex_read.decode_job,
    "vertex model": vertex_read.decode_model,
    "vertex endpoint": vertex_read.decode_endpoint,
    "vertex generation": vertex_read.generation,
    "vertex generation with model": lambda data: vertex_read.generation(
        {"name": f"{P}/tuningJobs/1", "labels": OWN, "tunedModel": {"model": f"{P}/models/1@1"}}, data),
    "gemini tuned model": gemini.tuned_model,
    "gemini create operation": gemini.create_operation,
    "gemini generation": gemini.generation,
    "gemini generation with operation": lambda data: gemini.generation(
        {"name": "tunedModels/bot-0123abcd", "state": "CREATING"}, data),
    "operation": responses.operation,
}


@pytest.mark.parametrize("decoder", sorted(DECODERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=anything)
def test_a_decoder_returns_or_raises_a_typed_error(decoder, data):
    try:
        result = DECODERS[decoder](data)
    except BadResponse:
        return
    if isinstance(result, Generation):
        json.dumps(result.to_json() if hasattr(result, "to_json") else result.__dict__, default=str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.integers(200, 399), content_type=st.sampled_from(["application/json", "application/json; charset=utf-8",
                                                                   "text/html", "", "application/x-protobuf"]),
       body=st.one_of(st.binary(max_size=200), anything.map(lambda v: json.dumps(v).encode())))
def test_the_session_answers_a_dict_or_a_typed_error(status, content_type, body):
    headers = {"content-type": content_type} if content_type else {}
    http = Session(httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(status, headers=headers,
                                                                                        content=body))),
                   policy=RetryPolicy(max_attempts=1), sleep=lambda s: None)
    try:
        assert isinstance(http.call("GET", "http://api.test/v1/x", idempotent=True), dict)
        assert isinstance(list(http.pages("http://api.test/v1/x", "tuningJobs")), list)
    except ApiError:
        pass


@pytest.mark.parametrize(("decoder", "data", "message"), [
    (vertex_read.decode_job, {"labels": OWN}, "a tuning job whose `name` is missing"),
    (vertex_read.decode_job, {"name": ""}, "`name` is a string; expected a non-empty string"),
    (vertex_read.decode_job, {"name": "j", "labels": {"a": 1}}, "`labels` is a object; expected a map of strings"),
    (vertex_read.decode_job, {"name": "j", "state": 4}, "`state` is a number"),
    (vertex_read.decode_job, {"name": "j", "tunedModel": {"checkpoints": {}}}, "`checkpoints` is a object"),
    (vertex_read.decode_job, {"name": "j", "error": "failed"}, "`error` is a string"),
    (vertex_read.decode_model, {"name": "m", "deployedModels": [1]}, "`deployedModels` is a list"),
    (vertex_read.decode_endpoint, {"deployedModels": []}, "an endpoint whose `name` is missing"),
    (gemini.tuned_model, {"state": "ACTIVE"}, "a tuned model whose `name` is missing"),
    (gemini.tuned_model, {"name": "tunedModels/x", "temperature": "hot"}, "`temperature` is a string"),
    (gemini.tuned_model, {"name": "tunedModels/x", "tuningTask": {"snapshots": [{"meanLoss": "x"}]}}, "meanLoss"),
    (gemini.create_operation, {"metadata": {"tunedModel": "tunedModels/x"}}, "a create operation whose `name`"),
    (gemini.create_operation, {"name": "o", "metadata": []}, "`metadata` is a list"),
])
def test_named_shapes_are_refused_with_the_field_in_the_message(decoder, data, message):
    with pytest.raises(BadResponse, match=message.replace("(", r"\(").replace("`", "`")):
        decoder(data)


def test_healthy_shapes_still_decode():
    job = {"name": f"{P}/tuningJobs/1", "labels": OWN, "state": "JOB_STATE_SUCCEEDED",
           "tunedModel": {"model": f"{P}/models/1@1", "checkpoints": [{"endpoint": f"{P}/endpoints/2"}]}}
    assert vertex_read.generation(job).endpoints == (f"{P}/endpoints/2",)
    model = {"name": "tunedModels/bot-0123abcd", "state": 2, "temperature": 0.5, "topK": 40}
    assert gemini.generation(model).phase == "succeeded"


class _Removal:
    """A Vertex client answering the reads of a removal; nothing may be deleted from broken answers."""

    def __init__(self, model: dict, endpoint: dict):
        self.model, self.endpoint, self.deleted = model, endpoint, []

    def url(self, name: str) -> str:
        return f"http://api.test/v1/{name}"

    def get_model(self, name: str) -> dict:
        return self.model

    def get_endpoint(self, name: str) -> dict:
        return self.endpoint

    def __getattr__(self, verb: str):  # undeploy, delete...: recorded, never reached in these cases
        return lambda *args: self.deleted.append(verb)


class _Steps:
    def before_request(self) -> None: ...
    def learned(self, generation) -> None: ...


_MODEL = "projects/p/locations/l/models/m@1"
_OWN = {"managed-by": "reconciler", "reconciler-name": "bot"}


@pytest.mark.parametrize(("model", "endpoint", "message"), [
    ({"name": _MODEL, "labels": ["x"]}, {}, "`labels` is a list"),
    ({"name": _MODEL, "labels": _OWN, "deployedModels": [{"endpoint": "projects/p/locations/l/endpoints/e"}]},
     {"name": "projects/p/locations/l/endpoints/e", "deployedModels": [{"model": _MODEL}]}, "`id` is missing"),
])
def test_removal_reads_through_the_decoders_and_deletes_nothing_from_a_broken_answer(model, endpoint, message):
    from reconciler.platforms.vertex import VERTEX

    client = _Removal(model, endpoint)
    generation = Generation(platform="vertex", owner="bot", digest="", phase="succeeded", job="j", model=_MODEL)
    with pytest.raises(BadResponse, match=message) as caught:
        VERTEX.remove(client, generation, _Steps())
    assert caught.value.method == "GET" and client.deleted == []


REFUSED = "refused, expecting "


@pytest.mark.parametrize(("reader", "value", "read"), [
    ("int64", "12", 12), ("int64", 12, 12), ("int64", "-3", -3), ("int64", None, None),
    ("int64", "1.5", REFUSED + "an int64"), ("int64", True, REFUSED + "an int64"), ("int64", 1.5, REFUSED + "an int64"),
    ("boolean", True, True), ("boolean", False, False), ("boolean", None, None),
    ("boolean", "true", REFUSED + "true or false"), ("boolean", 1, REFUSED + "true or false"),
])
def test_the_typed_readers_of_json_scalars(reader, value, read):
    from reconciler.platforms import decode

    read_it = getattr(decode, reader)
    if isinstance(read, str) and read.startswith(REFUSED):
        with pytest.raises(BadResponse, match=f"`k` is .*; expected {read.removeprefix(REFUSED)}"):
            read_it({"k": value}, "k", "a job")
    else:
        assert read_it({"k": value}, "k", "a job") == read
