"""Every output reference resolves: each resource name the emulator returns in a response can be fetched from
the API that owns it. A realistic scenario (jobs to success with checkpoints, a continuous tune from a
checkpoint, a cancelled and a failed job, v1beta1, undeploys and deletes, Gemini tuned models with their
operations and permissions) runs step by step; after each step every string of every new JSON response that
looks like a resource name is fetched, and must answer 200.

Deliberate exceptions (each a fact of the real service, not a gap of the emulator):
- a name this scenario deleted in an earlier step answers 404 (a job keeps naming the model it made; a
  delete's operation is nested under the deleted resource, and stays readable);
- Cloud KMS key names (`encryptionSpec.kmsKeyName`) belong to Cloud KMS, which the emulator does not serve.
"""

from __future__ import annotations

import re
from typing import Any

from emulator_api import Api

NAME = re.compile(r"^(projects/[^/\s]+/locations/[^/\s]+/[^\s]+|tunedModels/[^\s]+|models/[^\s]+)$")
KMS = re.compile(r"/keyRings/[^/]+/cryptoKeys/")


def names_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {n for key, item in value.items() if key != "@type" for n in names_in(item)}
    if isinstance(value, list):
        return {n for item in value for n in names_in(item)}
    return {value} if isinstance(value, str) and NAME.match(value) else set()


class References:
    """Checks the responses logged since the last check; its own GETs are not checked again."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seen = 0
        self.deleted: set[str] = set()
        self.checked: set[str] = set()

    def check(self) -> None:
        log = self.api.emu.requests()
        new, self.seen = log[self.seen:], len(log)
        found = {n for entry in new if entry.get("status") == 200 for n in names_in(entry.get("response"))}
        problems = []
        for name in sorted(found - self.checked):
            if KMS.search(name):
                continue
            response = self.fetch(name)
            gone = any(name == d or name.startswith(d + "@") or name.startswith(d + "/") for d in self.deleted)
            if response.status_code != 200 and not (gone and response.status_code == 404):
                problems.append(f"{name}: {response.status_code} {response.text[:200]}")
            self.checked.add(name)
        self.seen = len(self.api.emu.requests())
        assert not problems, "references that do not resolve:\n" + "\n".join(problems)

    def fetch(self, name: str) -> Any:
        if name.startswith("projects/"):
            return self.api.vertex("GET", name)
        return self.api.gemini("GET", name)


def test_every_name_the_emulator_returns_can_be_fetched(api):
    refs = References(api)
    kms = "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"
    # --- Vertex AI: a tune with checkpoints, a continuation from a checkpoint, v1beta1, a cancel and a failure
    first = api.create_job(labels={"team": "a"}, encryptionSpec={"kmsKeyName": kms})
    refs.check()
    api.emu.advance(61)
    first = api.vertex("GET", first["name"]).json()
    assert first["state"] == "JOB_STATE_SUCCEEDED" and first["experiment"]
    refs.check()
    model = first["tunedModel"]["model"]
    second = api.create_job(preTunedModel={"tunedModelName": model, "checkpointId": "1"}, baseModel=None)
    beta = api.create_job(version="v1beta1", supervisedTuningSpec={
        "trainingDatasetUri": "gs://b/t.jsonl", "tuningMode": "TUNING_MODE_FULL"})
    cancelled = api.create_job()
    failed = api.create_job()
    api.vertex("POST", cancelled["name"] + ":cancel")
    api.admin("POST", "resources:fail", {"name": failed["name"]})
    refs.check()
    api.emu.advance(61)
    for version in ("v1", "v1beta1"):
        for path in ("tuningJobs", "models", "endpoints", "operations"):
            api.vertex("GET", path, version=version)
        for job in (first, second, beta, cancelled, failed):
            api.vertex("GET", job["name"], version=version)
    base = model.split("@")[0]
    api.vertex("GET", base + ":listVersions")
    api.vertex("GET", base + ":listCheckpoints")
    api.vertex("GET", f"{base}@2")
    refs.check()
    # --- undeploys and deletes: the second version, then the first job's checkpoint endpoint
    two = api.vertex("GET", f"{base}@2").json()
    for ref in two["deployedModels"]:
        api.vertex("POST", ref["endpoint"] + ":undeployModel", json={"deployedModelId": ref["deployedModelId"]})
        api.vertex("DELETE", ref["endpoint"])
        refs.deleted.add(ref["endpoint"])
    api.vertex("DELETE", f"{base}@2:deleteVersion")
    refs.deleted.add(f"{base}@2")
    checkpoint_endpoint = first["tunedModel"]["checkpoints"][0]["endpoint"]
    deployed = api.vertex("GET", checkpoint_endpoint).json()["deployedModels"][0]["id"]
    api.vertex("POST", checkpoint_endpoint + ":undeployModel", json={"deployedModelId": deployed})
    api.vertex("DELETE", checkpoint_endpoint)
    refs.deleted.add(checkpoint_endpoint)
    for path in ("operations", "models", "endpoints"):
        api.vertex("GET", path)
    refs.check()
    # --- the Gemini API: a tune, one continued from it, permissions, a patch, a delete
    tuned = api.create_tuned_model("ref-bot")
    refs.check()
    api.emu.advance(120)
    api.gemini("GET", "tunedModels/ref-bot")
    api.gemini("POST", "tunedModels/ref-bot/permissions",
               json={"granteeType": "USER", "emailAddress": "reader@example.com", "role": "READER"})
    api.gemini("GET", "tunedModels/ref-bot/permissions")
    api.gemini("GET", "tunedModels/ref-bot/operations")
    api.gemini("GET", tuned["name"])
    api.gemini("PATCH", "tunedModels/ref-bot", params={"updateMask": "description"}, json={"description": "d"})
    continued = api.gemini("POST", "tunedModels", params={"tunedModelId": "ref-bot-2"}, json={
        "tunedModelSource": {"tunedModel": "tunedModels/ref-bot"}, "displayName": "again",
        "tuningTask": {"trainingData": {"examples": {"examples": [{"textInput": "a", "output": "b"}]}}}})
    assert continued.status_code == 200, continued.text
    api.gemini("GET", "tunedModels")
    refs.check()
    api.emu.advance(120)
    api.gemini("DELETE", "tunedModels/ref-bot-2")
    refs.deleted.add("tunedModels/ref-bot-2")
    api.gemini("GET", "tunedModels")
    refs.check()
    kinds = {re.sub(r"[0-9]+", "N", n.split("/", 4)[-1]).split("/")[0].split("@")[0] for n in refs.checked}
    assert {"tuningJobs", "models", "endpoints", "metadataStores"} <= kinds, sorted(refs.checked)
    assert any("/operations/" in n for n in refs.checked) and any("@" in n for n in refs.checked)
    assert any(n.startswith("tunedModels/") and "/permissions/" in n for n in refs.checked), sorted(refs.checked)
    assert any(n.startswith("tunedModels/") and "/operations/" in n for n in refs.checked), sorted(refs.checked)
