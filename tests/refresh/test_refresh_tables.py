"""refresh() over canned API answers (httpx.MockTransport): the join, ownership, GET rules, request count."""

from __future__ import annotations

import threading

import httpx
import pytest

from reconciler.clients.gemini import GeminiClient
from reconciler.clients.vertex import VertexClient
from reconciler.observed import Generation
from reconciler.refresh import Scope, refresh
from tests.testing.claims import claims

P = "projects/acme/locations/us-central1"
OWN = {"managed-by": "reconciler", "reconciler-name": "support-bot", "reconciler-digest": "0123456789ab",
       "reconciler-intent": "i-1"}


def job(id: str, state: str = "JOB_STATE_SUCCEEDED", *, parent: str = P, labels: dict | None = None,
        model: str | None = None, endpoint: str | None = None, checkpoints=(), error: str = "", **extra) -> dict:
    body = {"name": f"{parent}/tuningJobs/{id}", "state": state, "labels": {**OWN, **(labels or {})},
            "createTime": f"2026-01-0{id[-1]}T00:00:00Z", "tunedModelDisplayName": "Support bot (job)", **extra}
    if model:
        body["tunedModel"] = {"model": model, "endpoint": endpoint,
                              "checkpoints": [{"checkpointId": str(i), "endpoint": e} for i, e in enumerate(checkpoints)]}
    if error:
        body["error"] = {"code": 1, "message": error}
    return body


class FakeApis:
    """Just enough of both APIs for refresh: paged lists (ignoring filters, like a careless server) and GETs."""

    def __init__(self, page_size: int = 1000, barrier: threading.Barrier | None = None):
        self.resources: dict[str, dict] = {}
        self.lists: dict[tuple[str, str], list[dict]] = {}
        self.requests: list[httpx.Request] = []
        self.page_size, self.barrier = page_size, barrier
        self._lock = threading.Lock()

    def add(self, collection_parent: str, collection: str, *items: dict) -> None:
        self.lists.setdefault((collection_parent, collection), []).extend(items)
        for item in items:
            self.resources[item["name"]] = item

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if self.barrier is not None and "pageToken" not in request.url.params:
            self.barrier.wait()  # every first page must be in flight at once: listings run concurrently
        path = request.url.path.split("/", 2)[2]  # drop /v1/ or /v1beta/
        parent, _, collection = path.rpartition("/")
        if (parent, collection) in self.lists or collection in ("tuningJobs", "models", "endpoints", "tunedModels",
                                                                "operations"):
            items = self.lists.get((parent, collection), [])
            size = min(int(request.url.params.get("pageSize", 10)), self.page_size)
            start = int(request.url.params.get("pageToken") or 0)
            page = {collection: items[start:start + size]}
            if start + size < len(items):
                page["nextPageToken"] = str(start + size)
            return httpx.Response(200, json=page)
        name = path.split("@")[0] if "/models/" in path else path
        if name in self.resources:
            return httpx.Response(200, json=self.resources[name])
        return httpx.Response(404, json={"error": {"code": 404, "status": "NOT_FOUND", "message": f"{path} not found"}})

    def clients(self) -> dict[str, VertexClient | GeminiClient]:
        http = httpx.Client(transport=httpx.MockTransport(self))
        return {"vertex": VertexClient(http, endpoint="http://fake"),
                "gemini-api": GeminiClient(http, endpoint="http://fake")}

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


VERTEX = [("vertex", "acme", "us-central1")]


def only(state, owner="support-bot") -> Generation:
    found = state.of(owner)
    assert len(found) == 1, found
    return found[0]


def test_a_succeeded_job_is_joined_to_its_model_and_every_endpoint():
    apis = FakeApis()
    apis.add(P, "tuningJobs", job("1", model=f"{P}/models/7@1", endpoint=f"{P}/endpoints/e1",
                                  checkpoints=[f"{P}/endpoints/e2"]))
    apis.add(P, "models", {"name": f"{P}/models/7", "versionId": "1", "displayName": "Support bot",
                           "description": "Tier-1", "labels": {**OWN, "team": "support"},
                           "deployedModels": [{"endpoint": f"{P}/endpoints/e3", "deployedModelId": "1"}]})
    apis.add(P, "endpoints", {"name": f"{P}/endpoints/e4", "labels": OWN,
                              "deployedModels": [{"id": "5", "model": f"{P}/models/7@1"}]},
             {"name": f"{P}/endpoints/other", "labels": OWN, "deployedModels": [{"id": "6", "model": f"{P}/models/8"}]})
    state = refresh(VERTEX, claims(), apis.clients())
    assert only(state) == Generation(
        platform="vertex", owner="support-bot", digest="0123456789ab", phase="succeeded",
        job=f"{P}/tuningJobs/1", model=f"{P}/models/7@1", model_exists=True,
        endpoints=tuple(f"{P}/endpoints/e{i}" for i in (1, 2, 3, 4)),
        live={"displayName": "Support bot", "description": "Tier-1", "labels": {"team": "support"}},
        intent="i-1", state="JOB_STATE_SUCCEEDED", create_time="2026-01-01T00:00:00Z")
    assert state.scopes == ("vertex:acme:us-central1",)
    assert len(apis.requests) == 3  # three listings, no GET


@pytest.mark.parametrize(("state", "phase", "error"), [
    ("JOB_STATE_QUEUED", "queued", ""), ("JOB_STATE_PENDING", "queued", ""), ("JOB_STATE_RUNNING", "running", ""),
    ("JOB_STATE_CANCELLING", "cancelling", ""), ("JOB_STATE_FAILED", "failed", "quota exceeded"),
    ("JOB_STATE_CANCELLED", "cancelled", "cancelled by user"), ("JOB_STATE_EXPIRED", "expired", ""),
    ("JOB_STATE_UNSPECIFIED", "queued", ""),
])
def test_a_job_before_success_reports_its_phase_error_and_live_fields_from_the_job(state, phase, error):
    apis = FakeApis()
    apis.add(P, "tuningJobs", job("1", state, error=error, description="from the job", labels={"team": "t"}))
    generation = only(refresh(VERTEX, claims(), apis.clients()))
    assert (generation.phase, generation.error, generation.state, generation.model) == (phase, error, state, None)
    assert generation.live == {"displayName": "Support bot (job)", "description": "from the job",
                               "labels": {"team": "t"}}
    assert generation.model_exists and generation.endpoints == ()


def test_resources_without_ownership_labels_are_ignored_even_if_the_server_filter_let_them_through():
    apis = FakeApis()
    stranger = job("2")
    stranger["labels"] = {"team": "x"}
    half = job("3")
    half["labels"] = {"managed-by": "reconciler"}  # no name: not ours to reason about
    apis.add(P, "tuningJobs", job("1", "JOB_STATE_RUNNING"), stranger, half)
    state = refresh(VERTEX, claims(), apis.clients())
    assert [g.job for g in state.generations] == [f"{P}/tuningJobs/1"]


def test_a_model_deleted_out_of_band_is_reported_missing():
    apis = FakeApis()
    apis.add(P, "tuningJobs", job("1", model=f"{P}/models/7@1", endpoint=f"{P}/endpoints/e1"))
    generation = only(refresh(VERTEX, claims(), apis.clients()))
    assert generation.model == f"{P}/models/7@1" and generation.model_exists is False
    assert generation.phase == "succeeded" and generation.live["displayName"] == "Support bot (job)"
    assert apis.paths()[-1] == f"/v1/{P}/models/7@1"  # one confirming GET, answered 404


def test_a_model_whose_labels_were_edited_away_still_exists():
    apis = FakeApis()
    apis.add(P, "tuningJobs", job("1", model=f"{P}/models/7@1"))
    apis.resources[f"{P}/models/7"] = {"name": f"{P}/models/7", "displayName": "Renamed", "labels": {}}
    generation = only(refresh(VERTEX, claims(), apis.clients()))
    assert generation.model_exists and generation.live == {"displayName": "Renamed", "labels": {}}


def test_lock_entries_the_listings_did_not_return_are_read_one_by_one():
    apis = FakeApis()
    other = "projects/acme/locations/europe-west4"
    apis.resources[f"{other}/tuningJobs/5"] = job("5", "JOB_STATE_RUNNING", parent=other)
    gone = f"{other}/tuningJobs/6"
    recorded = {f"{other}/tuningJobs/5": "support-bot", gone: "support-bot"}
    state = refresh(VERTEX, claims(recorded=recorded), apis.clients())
    assert [g.job for g in state.generations] == [f"{other}/tuningJobs/5"]
    assert state.find(gone) is None
    assert sorted(apis.paths()[3:]) == sorted([f"/v1/{other}/tuningJobs/5", f"/v1/{gone}"])


def test_a_lock_key_spelled_with_the_project_id_matches_a_job_listed_with_the_project_number():
    apis = FakeApis()
    numbered = "projects/123456/locations/us-central1"
    apis.add(P, "tuningJobs", job("1", "JOB_STATE_RUNNING", parent=numbered))
    state = refresh(VERTEX, claims(recorded={f"{P}/tuningJobs/1": "support-bot"}), apis.clients())
    assert state.find(f"{P}/tuningJobs/1") is not None
    assert len(apis.requests) == 3


def tuned(name: str, state="ACTIVE", **fields) -> dict:
    return {"name": f"tunedModels/{name}", "state": state, "displayName": name, "createTime": "2026-01-01T00:00:00Z",
            **fields}


def test_gemini_models_are_owned_by_id_for_known_names_only():
    apis = FakeApis()
    apis.add("", "tunedModels",
             tuned("math-bot-0123abcd", temperature=0.2, topP=0.9, topK=3, description="d"),
             tuned("math-bot-0123abcd-extra"), tuned("stranger-0123abcd"), tuned("math-bot"),
             tuned("math-bot-0123ABCD"), tuned("old-bot-89abcdef", state=3))
    apis.add("tunedModels/old-bot-89abcdef", "operations",
             {"name": "tunedModels/old-bot-89abcdef/operations/o", "done": True,
              "error": {"code": 3, "message": "bad examples"}})
    state = refresh([("gemini-api", None, None)], claims("math-bot-0123abcd", "old-bot-89abcdef"), apis.clients())
    assert only(state, "math-bot") == Generation(
        platform="gemini-api", owner="math-bot", digest="0123abcd", phase="succeeded",
        model="tunedModels/math-bot-0123abcd",
        live={"displayName": "math-bot-0123abcd", "description": "d", "temperature": 0.2, "topP": 0.9, "topK": 3},
        state="ACTIVE", create_time="2026-01-01T00:00:00Z")
    failed = only(state, "old-bot")
    assert (failed.phase, failed.state, failed.error) == ("failed", "FAILED", "bad examples")
    assert state.scopes == ("gemini-api",)


def test_a_creating_gemini_model_reads_progress_from_its_operation():
    apis = FakeApis()
    apis.add("", "tunedModels", tuned("a-bot-0123abcd", "CREATING"), tuned("b-bot-0123abcd", "CREATING"))
    apis.resources["tunedModels/a-bot-0123abcd/operations/recorded"] = {
        "name": "tunedModels/a-bot-0123abcd/operations/recorded", "metadata": {"completedPercent": 40.0}}
    apis.add("tunedModels/b-bot-0123abcd", "operations",
             {"name": "tunedModels/b-bot-0123abcd/operations/x", "metadata": {"completedPercent": 75}})
    state = refresh([("gemini-api", None, None)], claims("a-bot-0123abcd", "b-bot-0123abcd"), apis.clients(),
                    operations={"tunedModels/a-bot-0123abcd": "tunedModels/a-bot-0123abcd/operations/recorded"})
    assert (only(state, "a-bot").phase, only(state, "a-bot").progress) == ("running", 40.0)
    assert only(state, "b-bot").progress == 75.0
    assert sorted(apis.paths()[1:]) == ["/v1beta/tunedModels/a-bot-0123abcd/operations/recorded",
                                        "/v1beta/tunedModels/b-bot-0123abcd/operations"]


def test_gemini_lock_entries_missing_from_the_listing_are_read():
    apis = FakeApis()
    apis.resources["tunedModels/shared-bot-0123abcd"] = tuned("shared-bot-0123abcd")
    state = refresh([("gemini-api", None, None)],
                    claims(recorded=["tunedModels/shared-bot-0123abcd", "tunedModels/gone-bot-0123abcd"]),
                    apis.clients())
    assert [g.model for g in state.generations] == ["tunedModels/shared-bot-0123abcd"]
    assert len(apis.requests) == 3


def test_enum_numbers_are_understood():
    apis = FakeApis()
    apis.add("", "tunedModels", tuned("a-bot-0123abcd", 2))
    state = refresh([("gemini-api", None, None)], claims("a-bot-0123abcd"), apis.clients())
    assert only(state, "a-bot").phase == "succeeded"


@pytest.mark.parametrize("n", [1, 10, 95])
def test_requests_grow_with_pages_not_resources(n):
    apis = FakeApis(page_size=20)
    for i in range(n):
        owner = {"reconciler-name": f"bot-{i}"}
        model = f"{P}/models/{i}"
        apis.add(P, "tuningJobs", job(f"{i}1", labels=owner, model=f"{model}@1", endpoint=f"{P}/endpoints/{i}"))
        apis.add(P, "models", {"name": model, "displayName": f"bot {i}", "labels": {**OWN, **owner}})
        apis.add(P, "endpoints", {"name": f"{P}/endpoints/{i}", "labels": OWN,
                                  "deployedModels": [{"id": "1", "model": f"{model}@1"}]})
        apis.add("", "tunedModels", tuned(f"gem-{i}-0123abcd"))
    lock_keys = {**{f"{P}/tuningJobs/{i}1": f"bot-{i}" for i in range(n)},
                 **{f"tunedModels/gem-{i}-0123abcd": f"gem-{i}" for i in range(n)}}
    state = refresh(VERTEX + [("gemini-api", None, None)], claims(recorded=lock_keys), apis.clients())
    assert len(state.generations) == 2 * n and all(g.model_exists for g in state.generations)
    pages = -(-n // 20)
    assert len(apis.requests) == 4 * pages  # jobs, models, endpoints, tunedModels: pages only, no GETs


def test_scopes_are_listed_concurrently():
    scopes = [("vertex", "acme", loc) for loc in ("us-central1", "europe-west4", "asia-east1")]
    apis = FakeApis(barrier=threading.Barrier(3 * 3 + 1, timeout=10))  # would time out if listed one by one
    state = refresh(scopes + [("gemini-api", None, None)], claims(), apis.clients(), max_workers=10)
    assert state.scopes == ("gemini-api", *sorted(f"vertex:acme:{loc}" for _, _, loc in scopes))


def test_a_missing_client_is_a_wiring_error():
    with pytest.raises(ValueError, match="needs a client for vertex"):
        refresh(VERTEX, claims(), {})
    assert Scope("vertex", "p", "l").key == "vertex:p:l"


def test_scopes_are_read_once_each():
    apis = FakeApis()
    state = refresh([("gemini-api", None, None), ("gemini-api", "p", None), ("vertex", "acme", "us-central1"),
                     Scope("vertex", "acme", "us-central1")], claims(), apis.clients())
    assert state.scopes == ("gemini-api", "vertex:acme:us-central1") and len(apis.requests) == 4


def test_single_reads_become_generations_too():
    from reconciler.platforms.gemini import generation as gemini_generation
    from reconciler.platforms.vertex_read import generation as vertex_generation

    succeeded = job("1", model=f"{P}/models/7@1", endpoint=f"{P}/endpoints/e1")
    alone = vertex_generation(succeeded)
    assert alone.model_exists and alone.endpoints == (f"{P}/endpoints/e1",)
    assert alone.live["displayName"] == "Support bot (job)"
    model = {"name": f"{P}/models/7", "displayName": "From the model", "labels": OWN,
             "deployedModels": [{"endpoint": f"{P}/endpoints/e9"}]}
    joined = vertex_generation(succeeded, model)
    assert joined.live == {"displayName": "From the model", "labels": {}}
    assert joined.endpoints == (f"{P}/endpoints/e1", f"{P}/endpoints/e9")
    stranger = vertex_generation({"name": f"{P}/tuningJobs/2", "state": "JOB_STATE_RUNNING"})
    assert (stranger.owner, stranger.phase) == ("", "running")

    operation = {"name": "tunedModels/a-bot-0123abcd/operations/o", "metadata": {"completedPercent": 10}}
    creating = gemini_generation(tuned("a-bot-0123abcd", "CREATING"), operation)
    assert (creating.operation, creating.progress, creating.owner) == (operation["name"], 10.0, "a-bot")


def test_gemini_progress_and_latest_loss_come_from_the_create_operation():
    from reconciler.platforms.gemini import generation as gemini_generation

    model = {"name": "tunedModels/bot-0123abcd", "state": "CREATING",
             "tuningTask": {"snapshots": [{"step": 1, "meanLoss": 1.5}]}}
    operation = {"name": "tunedModels/bot-0123abcd/operations/op",
                 "metadata": {"completedPercent": 40.0,
                              "snapshots": [{"step": 4, "meanLoss": 0.9}, {"step": 8, "meanLoss": 0.42}]}}
    generation = gemini_generation(model, operation)
    assert (generation.owner, generation.phase, generation.progress, generation.loss) == ("bot", "running", 40.0, 0.42)
    assert gemini_generation(model).loss == 1.5  # without the operation, the model's own snapshots


@pytest.mark.parametrize(("identity", "owned"), [
    (None, ["1", "4"]),       # what carries no stack label; the lock's job 1 among them
    ("a", ["1", "2"]),        # what carries stack a, and job 1: recorded in the lock before the stack was set
    ("b", ["1", "3"]),
    ("a_staging", ["1"]),     # a workspace owns only its own
])
def test_a_stack_reads_its_own_jobs_and_what_its_lock_records(identity, owned):
    apis = FakeApis()  # it ignores the listing filter, as a careless server would: ownership is decided here
    apis.add(P, "tuningJobs", job("1"), job("2", labels={"reconciler-stack": "a"}),
             job("3", labels={"reconciler-stack": "b"}), job("4"))
    recorded = {f"{P}/tuningJobs/1": "support-bot"}
    state = refresh(VERTEX, claims(recorded=recorded, identity=identity), apis.clients())
    assert [g.job.rsplit("/", 1)[1] for g in state.generations] == owned
    listing = apis.requests[0].url.params["filter"]
    assert listing.endswith(f'labels.reconciler-stack="{identity}"') if identity else "stack" not in listing
