"""A refresh that had any error aborts: every listing and GET error (a refused call, a broken answer, a listing
item of the wrong shape) propagates from refresh(), and no partial ObservedState is ever returned."""

from __future__ import annotations

import httpx
import pytest

from reconciler.errors import ApiError, BadResponse, PermissionDenied
from reconciler.refresh import refresh
from tests.refresh.test_refresh_tables import P, VERTEX, FakeApis, job, tuned
from tests.testing.claims import claims

GEMINI = [("gemini-api", None, None)]
LOCK_JOB = f"{P}/tuningJobs/9"
CLAIMS = claims("math-bot-0123abcd", recorded={LOCK_JOB: "support-bot"})


def world() -> FakeApis:
    apis = FakeApis()
    apis.add(P, "tuningJobs", job("1", model=f"{P}/models/7@1"))  # its model is not listed: one GET
    apis.add(P, "models")
    apis.add(P, "endpoints", {"name": f"{P}/endpoints/e1", "labels": {}, "deployedModels": []})
    apis.resources[f"{P}/models/7"] = {"name": f"{P}/models/7", "versionId": "1"}
    apis.resources[LOCK_JOB] = job("9")  # recorded in the lock, not listed: one GET
    apis.add("", "tunedModels", tuned("math-bot-0123abcd", "CREATING"))
    apis.add("tunedModels/math-bot-0123abcd", "operations", {"name": "tunedModels/math-bot-0123abcd/operations/o"})
    return apis


BREAKS = {
    "refused": (lambda: httpx.Response(403, json={"error": {"code": 403, "status": "PERMISSION_DENIED",
                                                            "message": "no"}}), PermissionDenied),
    "empty 200": (lambda: httpx.Response(200), BadResponse),
    "html 200": (lambda: httpx.Response(200, text="<html/>", headers={"content-type": "text/html"}), BadResponse),
    "error in a 200": (lambda: httpx.Response(200, json={"error": {"message": "x"}}), BadResponse),
    "redirect": (lambda: httpx.Response(302, headers={"location": "http://elsewhere"}), BadResponse),
}
PATHS = {
    "tuning job listing": f"/v1/{P}/tuningJobs",
    "model listing": f"/v1/{P}/models",
    "endpoint listing": f"/v1/{P}/endpoints",
    "lock entry GET": f"/v1/{LOCK_JOB}",
    "model GET": f"/v1/{P}/models/7@1",
    "tuned model listing": "/v1beta/tunedModels",
    "operation listing": "/v1beta/tunedModels/math-bot-0123abcd/operations",
}


class Broken(FakeApis):
    def __init__(self, path: str, answer) -> None:
        super().__init__()
        healthy = world()
        self.lists, self.resources = healthy.lists, healthy.resources
        self.path, self.answer = path, answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path:
            self.requests.append(request)
            return self.answer()
        return super().__call__(request)


def test_the_healthy_world_reads_every_path():
    apis = world()
    state = refresh(VERTEX + GEMINI, CLAIMS, apis.clients())
    assert len(state.generations) == 3
    assert set(PATHS.values()) <= set(apis.paths())


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("brokenness", sorted(BREAKS))
def test_any_read_error_aborts_the_refresh(path, brokenness):
    answer, error = BREAKS[brokenness]
    apis = Broken(PATHS[path], answer)
    with pytest.raises(error):
        refresh(VERTEX + GEMINI, CLAIMS, apis.clients())


@pytest.mark.parametrize(("collection", "item"), [
    ("tuningJobs", {"labels": {"managed-by": "reconciler"}}),
    ("models", {"versionId": "1"}),
    ("endpoints", {"deployedModels": "none"}),
])
def test_a_listing_item_of_the_wrong_shape_aborts_the_refresh(collection, item):
    apis = world()
    apis.lists[(P, collection)] = [*apis.lists.get((P, collection), []), item]
    with pytest.raises(BadResponse) as caught:
        refresh(VERTEX, claims(), apis.clients())
    assert caught.value.method == "GET" and caught.value.url == f"http://fake/v1/{P}/{collection}"


def test_a_gemini_listing_item_without_a_name_aborts_the_refresh():
    apis = world()
    apis.lists[("", "tunedModels")].append({"state": "ACTIVE"})
    with pytest.raises(ApiError, match="a tuned model whose `name` is missing"):
        refresh(GEMINI, claims("math-bot-0123abcd"), apis.clients())
