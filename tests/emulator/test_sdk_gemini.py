"""google-generativeai (unmodified, transport="rest") against the emulator's Gemini API surface."""

from __future__ import annotations

import threading
import warnings

import pytest

with warnings.catch_warnings():      # the package announces its own deprecation on import
    warnings.simplefilter("ignore")
    import google.generativeai as genai
    from google.api_core import exceptions

EXAMPLES = [{"text_input": "2+2?", "output": "4"}, {"text_input": "3+3?", "output": "6"}]


@pytest.fixture
def configured(emulator):
    genai.configure(api_key="emulator-key", transport="rest", client_options={"api_endpoint": emulator.base_url})
    return emulator


def create(model_id: str, **kwargs):
    return genai.create_tuned_model(source_model="models/gemini-1.5-flash-001-tuning", training_data=EXAMPLES,
                                    id=model_id, display_name="math-bot", epoch_count=2, batch_size=1,
                                    learning_rate=0.001, **kwargs)


def test_full_tuned_model_lifecycle(configured):
    operation = create("math-bot-v1")
    assert operation.metadata.tuned_model == "tunedModels/math-bot-v1"
    assert operation.metadata.total_steps == 4            # ceil(2 examples x 2 epochs / batch 1)
    timer = threading.Timer(0.3, configured.advance, args=(61,))
    timer.start()
    model = operation.result(timeout=30)                   # polls tunedModels/{id}/operations/{op}
    timer.join()
    assert model.name == "tunedModels/math-bot-v1" and model.state.name == "ACTIVE"
    assert [s["step"] for s in model.tuning_task.snapshots] == [1, 2, 3, 4]

    fetched = genai.get_tuned_model("tunedModels/math-bot-v1")
    assert fetched.display_name == "math-bot" and fetched.tuning_task.hyperparameters.epoch_count == 2
    assert [m.name for m in genai.list_tuned_models(page_size=10)] == ["tunedModels/math-bot-v1"]

    updated = genai.update_tuned_model("tunedModels/math-bot-v1", {"description": "new"})
    assert updated.description == "new" and updated.display_name == "math-bot"
    answer = genai.GenerativeModel(model_name="tunedModels/math-bot-v1").generate_content("2+2?")
    assert answer.text == "4"

    genai.delete_tuned_model("tunedModels/math-bot-v1")
    with pytest.raises(exceptions.NotFound):
        genai.get_tuned_model("tunedModels/math-bot-v1")


def test_duplicate_id_fails_with_already_exists(configured):
    create("dup-model")
    with pytest.raises(exceptions.Conflict) as failure:
        create("dup-model")
    # google-api-core's REST path maps 409 by HTTP status to Conflict, the parent class of AlreadyExists;
    # the google.rpc status in the body is what distinguishes ALREADY_EXISTS from ABORTED.
    assert failure.value.code == 409
    assert failure.value.response.json()["error"]["status"] == "ALREADY_EXISTS"


def test_list_pages_through_many_models(configured):
    for index in range(12):
        create(f"bulk-{index}")
    assert len(list(genai.list_tuned_models(page_size=5))) == 12
