"""google-genai (unmodified) against the emulator's Vertex AI surface, with api_version v1 and the default v1beta1."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from emulator_api import LOCATION, PROJECT
from reconciler.emulator.names import project_number

NUMBER = project_number(PROJECT)


@pytest.fixture(params=["v1", None], ids=["v1", "default-v1beta1"])
def client(request: pytest.FixtureRequest, emulator) -> genai.Client:
    options = {"api_version": request.param} if request.param else {}
    return genai.Client(vertexai=True, project=PROJECT, location=LOCATION,
                        credentials=Credentials(token="emulator-token"),
                        http_options=types.HttpOptions(base_url=emulator.base_url + "/", **options))


def tune(client: genai.Client, **config) -> types.TuningJob:
    return client.tunings.tune(
        base_model="gemini-2.5-flash",
        training_dataset=types.TuningDataset(gcs_uri="gs://bucket/train.jsonl"),
        config=types.CreateTuningJobConfig(**{"tuned_model_display_name": "support-bot", **config}))


def test_tune_with_labels_and_hyperparameters_then_get_until_success(client, emulator):
    job = tune(client, epoch_count=3, learning_rate_multiplier=1.0, adapter_size="ADAPTER_SIZE_FOUR",
               validation_dataset=types.TuningValidationDataset(gcs_uri="gs://bucket/val.jsonl"),
               labels={"managed-by": "reconciler", "reconciler-name": "support-bot"}, description="demo")
    assert job.name.startswith(f"projects/{NUMBER}/locations/{LOCATION}/tuningJobs/")
    assert job.state == types.JobState.JOB_STATE_QUEUED
    assert job.labels == {"managed-by": "reconciler", "reconciler-name": "support-bot"}
    assert job.supervised_tuning_spec.hyper_parameters.epoch_count == 3
    assert job.supervised_tuning_spec.hyper_parameters.adapter_size == types.AdapterSize.ADAPTER_SIZE_FOUR

    emulator.advance(30)
    assert client.tunings.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING
    emulator.advance(31)
    done = client.tunings.get(name=job.name)
    assert done.has_succeeded and done.has_ended
    assert done.tuned_model.model.endswith("@1")
    assert done.tuned_model.endpoint.startswith(f"projects/{NUMBER}/locations/{LOCATION}/endpoints/")
    assert [c.checkpoint_id for c in done.tuned_model.checkpoints] == ["1", "2", "3"]
    assert done.tuning_data_stats.supervised_tuning_data_stats.tuning_step_count > 0
    # the SDK reads the tuned model's base model from the system label the service adds
    model = client.models.get(model=done.tuned_model.model)
    assert model.tuned_model_info.base_model == "gemini-2_5-flash"


def test_list_across_several_pages(client, emulator):
    names = {tune(client, labels={"batch": "paging"}).name for _ in range(5)}
    listed = list(client.tunings.list(config=types.ListTuningJobsConfig(page_size=2)))
    assert {job.name for job in listed} == names
    page_calls = [r for r in emulator.requests() if r["method"] == "GET" and "pageToken=" in r["query"]]
    assert len(page_calls) == 2          # 5 jobs, 2 per page: two follow-up pages


def test_cancel_goes_through_cancelling_to_cancelled(client, emulator):
    job = tune(client)
    client.tunings.cancel(name=job.name)
    assert client.tunings.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLING
    emulator.advance(10)
    cancelled = client.tunings.get(name=job.name)
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED and cancelled.has_ended
    assert cancelled.error.code == 1 and cancelled.tuned_model is None
    with pytest.raises(errors.ClientError) as failure:
        client.tunings.cancel(name=job.name)
    assert failure.value.code == 400 and failure.value.status == "FAILED_PRECONDITION"


def test_continuous_tuning_through_the_sdk_adds_a_version(client, emulator):
    first = tune(client, export_last_checkpoint_only=True)
    emulator.advance(61)
    model = client.tunings.get(name=first.name).tuned_model.model
    # base_model "projects/..." makes the SDK send preTunedModel (with snake_case keys, a known quirk)
    second = client.tunings.tune(base_model=model,
                                 training_dataset=types.TuningDataset(gcs_uri="gs://bucket/more.jsonl"),
                                 config=types.CreateTuningJobConfig(tuned_model_display_name="support-bot"))
    emulator.advance(61)
    result = client.tunings.get(name=second.name)
    assert result.tuned_model.model == model.replace("@1", "@2")
    assert result.pre_tuned_model.base_model == "gemini-2.5-flash"


def test_unknown_job_is_a_client_error_404(client):
    with pytest.raises(errors.ClientError) as failure:
        client.tunings.get(name=f"projects/{PROJECT}/locations/{LOCATION}/tuningJobs/123")
    assert failure.value.code == 404 and failure.value.status == "NOT_FOUND"
