"""Gemini API tunedModels over raw HTTP: progress metadata, patch semantics, delete, permissions, errors."""

from __future__ import annotations

import pytest

from emulator_api import assert_error, violations


def test_operation_metadata_progresses_with_virtual_time(api, emulator):
    operation = api.create_tuned_model()
    assert operation["name"].startswith("tunedModels/math-bot/operations/")
    metadata = operation["metadata"]
    assert metadata["@type"] == "type.googleapis.com/google.ai.generativelanguage.v1beta.CreateTunedModelMetadata"
    assert metadata["totalSteps"] == 4 and "done" not in operation      # ceil(2 examples x 2 epochs / batch 1)
    emulator.advance(31)
    halfway = api.gemini("GET", operation["name"]).json()
    assert halfway["metadata"]["completedSteps"] == 2 and halfway["metadata"]["completedPercent"] == 50.0
    losses = [s["meanLoss"] for s in halfway["metadata"]["snapshots"]]
    assert losses == sorted(losses, reverse=True)
    assert api.gemini("GET", "tunedModels/math-bot").json()["state"] == "CREATING"
    emulator.advance(30)
    done = api.gemini("GET", operation["name"]).json()
    assert done["done"] is True and done["metadata"]["completedPercent"] == 100.0
    model = done["response"]
    assert model["@type"] == "type.googleapis.com/google.ai.generativelanguage.v1beta.TunedModel"
    assert model["state"] == "ACTIVE" and "trainingData" not in model["tuningTask"]
    assert model["tuningTask"]["completeTime"] and len(model["tuningTask"]["snapshots"]) == 4
    listed = api.gemini("GET", "tunedModels/math-bot/operations").json()["operations"]
    assert [op["name"] for op in listed] == [operation["name"]]
    assert api.gemini("GET", operation["name"], version="v1").json()["done"] is True      # v1 surface too


def test_defaults_and_generated_ids(api):
    body = {"baseModel": "models/gemini-1.5-flash-001-tuning", "displayName": "Sentence Translator",
            "tuningTask": {"trainingData": {"examples": {"examples": [{"textInput": "a", "output": "b"}] * 15}}}}
    operation = api.gemini("POST", "tunedModels", json=body).json()
    name = operation["metadata"]["tunedModel"]
    assert name.startswith("tunedModels/sentence-translator-") and len(name.split("-")[-1]) == 5
    model = api.gemini("GET", name).json()
    assert model["tuningTask"]["hyperparameters"] == {"epochCount": 5, "batchSize": 4, "learningRate": 0.001}
    assert operation["metadata"]["totalSteps"] == 19          # the tutorial: 15 examples, 5 epochs, batch 4
    anonymous = api.gemini("POST", "tunedModels", json={**body, "displayName": ""}).json()
    assert len(anonymous["metadata"]["tunedModel"].removeprefix("tunedModels/")) == 11


@pytest.mark.parametrize(("params", "change", "field"), [
    ({"tunedModelId": "Bad_Id"}, {}, "tuned_model_id"),
    ({"tunedModelId": "a" * 41}, {}, "tuned_model_id"),
    ({"tunedModelId": "ends-with-"}, {}, "tuned_model_id"),
    ({}, {"tuningTask": None}, "tuned_model.tuning_task"),
    ({}, {"tuningTask": {"hyperparameters": {"epochCount": 1}}}, "tuned_model.tuning_task.training_data"),
    ({}, {"baseModel": None}, "tuned_model.base_model"),
    ({}, {"tunedModelSource": {"tunedModel": "tunedModels/x"}}, "tuned_model.base_model"),
    ({}, {"displayName": "x" * 41}, "tuned_model.display_name"),
    ({}, {"temperature": 1.5}, "tuned_model.temperature"),
    ({}, {"labels": {"a": "b"}}, "tuned_model"),                              # no labels on the Gemini API
    ({}, {"tuningTask": {"trainingData": {"examples": {"examples": [{"textInput": "a"}]}}}},
     "tuned_model.tuning_task.training_data.examples.examples[0].output"),
    ({}, {"tuningTask": {"trainingData": {"examples": {"examples": [{"textInput": "a", "output": "b"}]}},
                         "hyperparameters": {"learningRate": 0.1, "learningRateMultiplier": 1.0}}},
     "tuned_model.tuning_task.hyperparameters"),
])
def test_create_validation(api, params, change, field):
    body = {"baseModel": "models/gemini-1.5-flash-001-tuning",
            "tuningTask": {"trainingData": {"examples": {"examples": [{"textInput": "a", "output": "b"}]}}}, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = api.gemini("POST", "tunedModels", params=params, json=body)
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert field in violations(response)


def test_tolerant_input_snake_case_and_tuning_from_another_tuned_model(api, emulator):
    body = {"base_model": "models/gemini-1.5-flash-001-tuning", "display_name": "snake",
            "tuning_task": {"training_data": {"examples": {"examples": [{"text_input": "1", "output": "2"}]}},
                            "hyperparameters": {"epoch_count": "3", "batch_size": 1, "learning_rate_multiplier": 2}}}
    api.gemini("POST", "tunedModels", params={"tuned_model_id": "snake"}, json=body)
    model = api.gemini("GET", "tunedModels/snake").json()
    assert model["tuningTask"]["hyperparameters"] == {"epochCount": 3, "batchSize": 1, "learningRateMultiplier": 2.0}
    api.create_tuned_model("child", baseModel=None, tunedModelSource={"tuned_model": "tunedModels/snake"})
    child = api.gemini("GET", "tunedModels/child").json()
    assert child["tunedModelSource"] == {"tunedModel": "tunedModels/snake",
                                         "baseModel": "models/gemini-1.5-flash-001-tuning"}
    assert "baseModel" not in child


def test_patch_applies_only_masked_mutable_fields_and_ignores_output_only(api):
    api.create_tuned_model()
    current = api.gemini("GET", "tunedModels/math-bot").json()
    whole = {**{k: v for k, v in current.items() if k != "name"}, "state": 2, "description": "new",
             "displayName": "ignored", "temperature": 0.2}                  # as google-generativeai sends it
    patched = api.gemini("PATCH", "tunedModels/math-bot", params={"updateMask": "description,temperature"},
                         json=whole).json()
    assert patched["description"] == "new" and patched["temperature"] == 0.2
    assert patched["displayName"] == "math bot" and patched["state"] == "CREATING"
    replaced = api.gemini("PATCH", "tunedModels/math-bot", json={"displayName": "only this"}).json()
    assert replaced["displayName"] == "only this" and "description" not in replaced and "temperature" not in replaced
    for mask in ("baseModel", "tuningTask.hyperparameters", "state", "nonsense"):
        assert_error(api.gemini("PATCH", "tunedModels/math-bot", params={"updateMask": mask}, json={}),
                     400, "INVALID_ARGUMENT")


def test_delete_stops_a_creating_tune_and_keeps_the_operation_readable(api, emulator):
    operation = api.create_tuned_model()
    assert api.gemini("DELETE", "tunedModels/math-bot").json() == {}
    stopped = api.gemini("GET", operation["name"]).json()
    assert stopped["done"] is True and stopped["error"]["code"] == 1
    assert_error(api.gemini("GET", "tunedModels/math-bot"), 404, "NOT_FOUND")
    assert_error(api.gemini("DELETE", "tunedModels/math-bot"), 404, "NOT_FOUND")
    emulator.advance(61)
    assert api.gemini("GET", operation["name"]).json() == stopped
    api.create_tuned_model()                                         # the ID can be reused after a delete
    assert api.gemini("GET", "tunedModels/math-bot").json()["state"] == "CREATING"


def test_failed_tune_via_admin_and_generate_content(api, emulator):
    operation = api.create_tuned_model()
    assert api.admin("POST", "tunedModels:fail", {"name": "tunedModels/math-bot", "code": "RESOURCE_EXHAUSTED",
                                                  "message": "no capacity"}).json() == {}
    failed = api.gemini("GET", operation["name"]).json()
    assert failed["done"] and failed["error"] == {"code": 8, "message": "no capacity"}
    assert api.gemini("GET", "tunedModels/math-bot").json()["state"] == "FAILED"
    assert_error(api.gemini("POST", "tunedModels/math-bot:generateContent",
                            json={"contents": [{"parts": [{"text": "2+2?"}]}]}), 400, "FAILED_PRECONDITION")
    api.create_tuned_model("ready")
    emulator.advance(61)
    question = {"contents": [{"role": "user", "parts": [{"text": "3+3?"}]}]}
    first = api.gemini("POST", "tunedModels/ready:generateContent", json=question).json()
    assert first["candidates"][0]["content"]["parts"][0]["text"] == "6"
    assert first == api.gemini("POST", "tunedModels/ready:generateContent", json=question, version="v1").json()
    other = {"contents": [{"role": "user", "parts": [{"text": "unseen"}]}]}
    assert api.gemini("POST", "tunedModels/ready:generateContent", json=other).json() == \
        api.gemini("POST", "tunedModels/ready:generateContent", json=other).json()    # deterministic


def test_permissions_and_transfer_ownership(api):
    api.create_tuned_model()
    base = "tunedModels/math-bot/permissions"
    owners = api.gemini("GET", base).json()["permissions"]
    assert [(p["role"], p["granteeType"]) for p in owners] == [("OWNER", "USER")]
    reader = api.gemini("POST", base, json={"grantee_type": 1, "email_address": "r@example.com", "role": "READER"}).json()
    assert reader["name"].startswith(base + "/") and reader["granteeType"] == "USER" and reader["role"] == "READER"
    assert_error(api.gemini("POST", base, json={"granteeType": "USER", "emailAddress": "r@example.com",
                                                "role": "WRITER"}), 409, "ALREADY_EXISTS")
    everyone = api.gemini("POST", base, json={"granteeType": "EVERYONE", "role": 3}).json()
    assert "emailAddress" not in everyone
    assert_error(api.gemini("POST", base, json={"granteeType": "USER", "role": "READER"}), 400, "INVALID_ARGUMENT")
    assert_error(api.gemini("PATCH", reader["name"], json={"role": "WRITER"}), 400, "INVALID_ARGUMENT")  # mask
    writer = api.gemini("PATCH", reader["name"], params={"updateMask": "role"}, json={"role": "WRITER"}).json()
    assert writer["role"] == "WRITER" and api.gemini("GET", reader["name"]).json()["role"] == "WRITER"
    listed = api.gemini("GET", "tunedModels", params={"filter": "readers:everyone"}).json()["tunedModels"]
    assert [m["name"] for m in listed] == ["tunedModels/math-bot"]
    assert api.gemini("DELETE", everyone["name"]).json() == {}
    assert_error(api.gemini("GET", everyone["name"]), 404, "NOT_FOUND")
    assert api.gemini("POST", "tunedModels/math-bot:transferOwnership",
                      json={"emailAddress": "r@example.com"}).json() == {}
    roles = {p["emailAddress"]: p["role"] for p in api.gemini("GET", base).json()["permissions"]}
    assert roles == {"owner@example.com": "WRITER", "r@example.com": "OWNER"}
    assert_error(api.gemini("DELETE", reader["name"]), 400, "FAILED_PRECONDITION")      # the owner stays
    first_page = api.gemini("GET", base, params={"pageSize": 1}).json()
    assert len(first_page["permissions"]) == 1 and first_page["nextPageToken"]


def test_list_filter_is_full_text_over_display_name_and_description(api):
    api.create_tuned_model("one", displayName="Support bot", description="tier one")
    api.create_tuned_model("two", displayName="Sales bot")
    names = lambda f: [m["name"] for m in api.gemini("GET", "tunedModels", params={"filter": f}).json().get(  # noqa: E731
        "tunedModels", [])]
    assert names("bot") == ["tunedModels/one", "tunedModels/two"]
    assert names("support") == ["tunedModels/one"] and names("tier owner:me") == ["tunedModels/one"]
    assert names("nothing") == []


def test_no_tuning_crud_on_v1_and_operation_cancel_only_on_v1(api, emulator):
    assert_error(api.gemini("GET", "tunedModels", version="v1"), 404, "NOT_FOUND")
    operation = api.create_tuned_model()
    assert_error(api.gemini("POST", operation["name"] + ":cancel"), 404, "NOT_FOUND")
    assert api.gemini("POST", operation["name"] + ":cancel", version="v1").json() == {}
    cancelled = api.gemini("GET", operation["name"]).json()
    assert cancelled["done"] and cancelled["error"]["code"] == 1
    assert api.gemini("GET", "tunedModels/math-bot").json()["state"] == "FAILED"
    assert_error(api.gemini("POST", "tunedModels/x:cancel"), 404, "NOT_FOUND")      # google-genai's mldev cancel
