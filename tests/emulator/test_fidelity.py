"""The emulator as unkind as Google: expiring tokens and the token endpoint, the Gemini API's quota project rule,
slow deletes and undeploys, and the base models each API tunes."""

from __future__ import annotations

import base64
import json
import time

import pytest
from emulator_api import PARENT, Api, assert_error

from reconciler.emulator import Emulator


@pytest.fixture
def strict():
    with Emulator(job_duration=10, token_lifetime=300, operation_duration=5) as emu:
        api = Api(emu)
        yield api
        api.close()


def jwt(claims: dict, alg: str = "RS256") -> str:
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def grant(api: Api, assertion: str):
    return api.http.post("/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                         "assertion": assertion})


def test_a_static_token_expires_after_its_lifetime_with_googles_401(strict):
    assert strict.vertex("GET", "tuningJobs").status_code == 200
    strict.emu.advance(301)
    error = assert_error(strict.vertex("GET", "tuningJobs"), 401, "UNAUTHENTICATED")
    assert error["message"].startswith("Request had invalid authentication credentials.")
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"


def test_the_token_endpoint_issues_expiring_tokens_for_a_jwt_assertion(strict):
    now = int(time.time())
    claims = {"iss": "sa@p.iam.gserviceaccount.com", "aud": strict.emu.base_url + "/token", "iat": now,
              "exp": now + 3600, "scope": "https://www.googleapis.com/auth/cloud-platform"}
    answer = grant(strict, jwt(claims))
    assert answer.status_code == 200 and answer.json()["expires_in"] == 300 and strict.emu.token_grants() == 1
    token = answer.json()["access_token"]
    # a service account's token needs no quota project on the Gemini API; a user's token does
    assert strict.gemini("GET", "tunedModels", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    strict.emu.advance(301)
    assert_error(strict.vertex("GET", "tuningJobs", headers={"Authorization": f"Bearer {token}"}), 401,
                 "UNAUTHENTICATED")


@pytest.mark.parametrize("claims, alg, error", [
    ({"aud": "x", "iat": 0, "exp": 3600}, "RS256", "invalid_grant"),                        # no iss
    ({"iss": "a", "aud": "x", "iat": "now", "exp": 1}, "RS256", "invalid_grant"),
    ({"iss": "a", "aud": "x", "iat": None, "exp": None}, "none", "invalid_grant"),
    ({"iss": "a", "aud": "x", "iat": -7200, "exp": -3600}, "RS256", "invalid_grant"),        # expired
])
def test_bad_assertions_are_refused_as_oauth_errors(strict, claims, alg, error):
    now = int(time.time())
    claims = {k: (now + v if isinstance(v, int) else v) for k, v in claims.items()}
    answer = grant(strict, jwt(claims, alg))
    assert answer.status_code == 400 and answer.json()["error"] == error and strict.emu.token_grants() == 0


def test_an_unknown_grant_type_is_refused(strict):
    answer = strict.http.post("/token", data={"grant_type": "password"})
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"


def test_gemini_calls_with_a_user_token_need_a_quota_project(strict):
    refused = assert_error(strict.gemini("GET", "tunedModels", headers={"x-goog-api-key": "",
                                                                          "Authorization": "Bearer user"}),
                           403, "PERMISSION_DENIED")
    assert "requires a quota project" in refused["message"]
    assert refused["details"][0]["reason"] == "SERVICE_DISABLED"
    ok = strict.gemini("GET", "tunedModels", headers={"x-goog-api-key": "", "Authorization": "Bearer user",
                                                      "x-goog-user-project": "billing"})
    assert ok.status_code == 200


def test_undeploy_and_delete_take_virtual_time_and_a_model_stays_undeletable_for_a_while(strict):
    job = strict.create_job(supervisedTuningSpec={"trainingDatasetUri": "gs://b/t.jsonl",
                                                  "exportLastCheckpointOnly": True})
    strict.emu.advance(11)
    job = strict.vertex("GET", job["name"]).json()
    model, endpoint = job["tunedModel"]["model"].split("@")[0], job["tunedModel"]["endpoint"]
    deployed = strict.vertex("GET", endpoint).json()["deployedModels"][0]["id"]
    operation = strict.vertex("POST", f"{endpoint}:undeployModel", json={"deployedModelId": deployed}).json()
    assert operation["done"] is False and "response" not in operation
    assert_error(strict.vertex("DELETE", model), 400, "FAILED_PRECONDITION")
    strict.emu.advance(5)
    done = strict.vertex("GET", operation["name"]).json()
    assert done["done"] is True and done["response"]["@type"].endswith("UndeployModelResponse")
    assert_error(strict.vertex("DELETE", model), 400, "FAILED_PRECONDITION")   # still being released
    strict.emu.advance(16)
    deleted = strict.vertex("DELETE", model).json()
    assert deleted["done"] is False
    strict.emu.advance(5)
    assert strict.vertex("GET", deleted["name"]).json()["done"] is True


def test_the_gemini_catalogue_says_which_base_models_can_be_tuned():
    with Emulator() as emu:
        api = Api(emu)
        models = {m["name"]: m for m in api.gemini("GET", "models").json()["models"]}
        assert "createTunedModel" in models["models/gemini-1.5-flash-001-tuning"]["supportedGenerationMethods"]
        assert "createTunedModel" not in models["models/gemini-2.5-flash"]["supportedGenerationMethods"]
        assert api.gemini("GET", "models/gemini-1.0-pro-001").json()["name"] == "models/gemini-1.0-pro-001"
        assert_error(api.gemini("GET", "models/no-such-model"), 404, "NOT_FOUND")
        refused = assert_error(api.gemini("POST", "tunedModels", json={
            "baseModel": "models/gemini-2.5-flash",
            "tuningTask": {"trainingData": {"examples": {"examples": [{"textInput": "a", "output": "b"}]}}}}),
            404, "NOT_FOUND")
        assert "not supported for createTunedModel" in refused["message"]
        api.close()


def test_gemini_tunable_none_mirrors_google_today():
    with Emulator(gemini_tunable="none") as emu:
        api = Api(emu)
        models = api.gemini("GET", "models").json()["models"]
        assert not [m for m in models if "createTunedModel" in m["supportedGenerationMethods"]]
        with pytest.raises(AssertionError, match="createTunedModel"):
            api.create_tuned_model()
        api.close()


@pytest.mark.parametrize("base_model, status", [("gemini-2.5-flash", 200), ("gemini-2.0-flash-lite-001", 200),
                                                 ("gemini-1.5-pro-002", 400), ("gemini-1.0-pro-002", 400)])
def test_vertex_refuses_base_models_it_does_not_tune(strict, base_model, status):
    body = {"baseModel": base_model, "supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t.jsonl"}}
    response = strict.vertex("POST", f"{PARENT}/tuningJobs", json=body)
    assert response.status_code == status, response.text
    if status == 400:
        assert "not supported" in response.json()["error"]["message"]
