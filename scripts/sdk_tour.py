"""`make sdk-tour`: one Vertex AI tuning job through its whole lifecycle, driven by the real google-genai SDK
against the local emulator (no Google account, no network beyond loopback).

Starts the emulator in-process with an 8-second job, creates the job with labels, polls it and prints every
state change, then shows the model and endpoint that the successful job created.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")          # the SDK flags tuning as experimental; not news for a demo

import httpx  # noqa: E402
from google import genai  # noqa: E402
from google.genai import types  # noqa: E402
from google.oauth2.credentials import Credentials  # noqa: E402

from reconciler.emulator import Emulator  # noqa: E402

JOB_SECONDS = 8.0
PROJECT, LOCATION = "demo-project", "us-central1"


def say(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S.%f}"[:-3] + f"  {message}", flush=True)


def main() -> int:
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
                 "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GENAI_API_VERSION"):
        os.environ.pop(name, None)         # the SDK would otherwise prefer them over the explicit settings
    with Emulator(job_duration=JOB_SECONDS) as emulator:
        say(f"emulator listening on {emulator.base_url} (a tuning job takes {JOB_SECONDS:g} s here, hours on Google)")
        client = genai.Client(vertexai=True, project=PROJECT, location=LOCATION,
                              credentials=Credentials(token="demo-token"),
                              http_options=types.HttpOptions(base_url=emulator.base_url + "/", api_version="v1"))
        job = client.tunings.tune(
            base_model="gemini-2.5-flash",
            training_dataset=types.TuningDataset(
                gcs_uri="gs://cloud-samples-data/ai-platform/generative_ai/gemini/text/sft_train_data.jsonl"),
            config=types.CreateTuningJobConfig(
                tuned_model_display_name="support-bot", epoch_count=3, adapter_size="ADAPTER_SIZE_FOUR",
                labels={"managed-by": "reconciler", "reconciler-name": "support-bot"}))
        say(f"created tuning job {job.name}")
        say(f"  labels {job.labels}")
        state = None
        deadline = time.monotonic() + 4 * JOB_SECONDS
        while time.monotonic() < deadline:
            job = client.tunings.get(name=job.name)
            if job.state != state:
                state = job.state
                say(f"  state {state.name}")
            if job.has_ended:
                break
            time.sleep(0.25)
        if not job.has_succeeded:
            say(f"the job did not succeed: {job.state.name} {job.error}")
            return 1
        tuned = job.tuned_model
        say(f"tuned model  {tuned.model}")
        say(f"endpoint     {tuned.endpoint}")
        for checkpoint in tuned.checkpoints or []:
            say(f"checkpoint {checkpoint.checkpoint_id} (epoch {checkpoint.epoch}, step {checkpoint.step}) "
                f"on {checkpoint.endpoint}")
        with httpx.Client(base_url=emulator.base_url, headers={"Authorization": "Bearer demo-token"}) as http:
            model = http.get(f"/v1/{tuned.model}").json()
        say(f"model '{model['displayName']}' version {model['versionId']} carries the job's labels {model['labels']}")
        say(f"{len(emulator.requests())} API calls served; the SDK never noticed it was not talking to Google")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
