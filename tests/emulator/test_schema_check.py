"""The response-schema check itself: it must reject what a faithful emulator must never send."""

from __future__ import annotations

import pytest

import emulator_schemas

JOB = "/v1/projects/1/locations/us-central1/tuningJobs/2"


@pytest.mark.parametrize(("method", "path", "status", "body", "ok"), [
    ("GET", JOB, 200, {"name": "x", "state": "JOB_STATE_RUNNING"}, True),
    ("GET", JOB, 200, {"name": "x", "invented": 1}, False),                                  # unknown field
    ("GET", JOB, 200, {"supervisedTuningSpec": {"hyperParameters": {"epochCount": 3}}}, False),  # int64 as number
    ("GET", JOB, 200, {"state": "RUNNING"}, False),                                          # not an enum name
    ("GET", JOB, 200, {"createTime": "yesterday"}, False),
    ("GET", JOB.replace("/v1/", "/v1beta1/"), 200,
     {"supervisedTuningSpec": {"hyperParameters": {"batchSize": "4"}}}, True),               # v1beta1 field
    ("DELETE", "/v1/projects/1/locations/l/models/3", 200,
     {"name": "o", "done": True, "response": {"value": 1}}, False),                          # Any without @type
    ("DELETE", "/v1/projects/1/locations/l/models/3", 200,
     {"name": "o", "done": True, "metadata": {"@type": "type.googleapis.com/google.cloud.aiplatform.v1."
                                                       "DeleteOperationMetadata", "bogus": 1}}, False),
    ("GET", "/v1beta/tunedModels/x", 200, {"name": "tunedModels/x", "tuningTask": {"trainingData": {}}}, False),
    ("GET", "/v1beta/tunedModels/x", 200, {"name": "tunedModels/x", "state": 2}, True),
    ("GET", JOB, 404, {"error": {"code": 404, "message": "m", "status": "NOT_FOUND"}}, True),
    ("GET", JOB, 400, {"error": {"code": 400, "message": "m", "status": "NOT_FOUND"}}, False),  # wrong HTTP code
    ("POST", JOB + ":cancel", 200, {"unexpected": True}, False),                             # Empty must be {}
])
def test_schema_check(method, path, status, body, ok):
    entry = {"method": method, "path": path, "status": status, "response": body}
    assert (emulator_schemas.problems(entry) == []) is ok, emulator_schemas.problems(entry)
