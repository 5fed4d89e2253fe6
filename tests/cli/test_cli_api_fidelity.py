"""The reconciler against an emulator as unkind as Google (issue 11): quota project, expiring tokens, ADC refresh
over the emulator's token endpoint, only the credentials a run needs, slow deletes, untunable base models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GEMINI_OAUTH_ONLY = {"GEMINI_API_KEY": "", "GOOGLE_OAUTH_ACCESS_TOKEN": "user-token"}


def gemini_calls(cli) -> list[dict]:
    return [r for r in cli.emulator.requests() if r["path"].startswith("/v1beta/")]


# ---------------------------------------------------------------------------------------------- quota project
def test_gemini_with_a_user_token_and_no_quota_project_is_refused_as_google_refuses_it(cli):
    result = cli.run("plan", "manifests", env=GEMINI_OAUTH_ONLY)
    assert result.returncode == 1 and "requires a quota project" in result.stderr, result


def test_the_quota_project_comes_from_the_environment(cli):
    result = cli.run("plan", "manifests", env={**GEMINI_OAUTH_ONLY, "GOOGLE_CLOUD_QUOTA_PROJECT": "billing"})
    assert result.returncode == 0, result


def test_the_quota_project_comes_from_reconciler_yaml(cli):
    config = cli.cwd / "manifests" / "reconciler.yaml"
    config.write_text(config.read_text() + "quotaProject: billing-project\n")
    result = cli.run("plan", "manifests", env=GEMINI_OAUTH_ONLY)
    assert result.returncode == 0, result


# ---------------------------------------------------------------------------------------------- only what is needed
def test_a_vertex_target_contacts_no_gemini_api(cli):
    """The Gemini API would refuse this token (no quota project): a Vertex-only --target never asks it."""
    result = cli.run("plan", "manifests", "--target", "support-bot", env=GEMINI_OAUTH_ONLY)
    assert result.returncode == 0, result
    assert gemini_calls(cli) == []


def test_a_vertex_target_needs_no_gemini_credentials(cli, tmp_path):
    """Vertex credentials from a key file, none at all for the Gemini API: --target of a Vertex model works."""
    key = service_account_key(tmp_path, cli.endpoint + "/token")
    env = {"GEMINI_API_KEY": "", "GOOGLE_OAUTH_ACCESS_TOKEN": "", "GOOGLE_APPLICATION_CREDENTIALS": str(key)}
    result = cli.run("plan", "manifests", "--target", "support-bot", env=env)
    assert result.returncode == 0, result
    assert gemini_calls(cli) == []


def test_every_missing_credential_is_reported_at_once(cli):
    missing = cli.cwd / "no-such-credentials.json"
    result = cli.run("plan", "manifests", env={"GOOGLE_OAUTH_ACCESS_TOKEN": "", "GEMINI_API_KEY": "",
                                               "GOOGLE_APPLICATION_CREDENTIALS": str(missing)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no credentials for Vertex AI" in result.stderr and "no credentials for the Gemini API" in result.stderr
    assert "GEMINI_API_KEY" in result.stderr and "GOOGLE_OAUTH_ACCESS_TOKEN" in result.stderr


# ---------------------------------------------------------------------------------------------- token lifetime
@pytest.mark.parametrize("cli", [{"token_lifetime": 2.0, "job_duration": 3600}], indirect=True)
def test_an_expired_static_token_mid_wait_is_exit_1_with_the_state_intact(cli):
    result = cli.run("apply", "manifests", "--target", "support-bot", "--yes", "--wait")
    assert result.returncode == 1, result
    assert "reconciler wait" in result.stderr and "expired or revoked" in result.stderr, result
    assert "Traceback" not in result.stderr
    lock = json.loads((cli.cwd / "manifests" / "reconciler.lock").read_text())
    job = lock["entries"]["support-bot"]["current"]["job"]
    assert "/tuningJobs/" in job
    cli.emulator.advance(3600)
    resumed = cli.run("wait", "manifests", env={"GOOGLE_OAUTH_ACCESS_TOKEN": "a-fresh-token"})
    assert resumed.returncode == 0, resumed
    creates = [r for r in cli.emulator.requests() if r["method"] == "POST" and r["path"].endswith("/tuningJobs")]
    assert len(creates) == 1


@pytest.mark.parametrize("cli", [{"token_lifetime": 2.0, "job_duration": 6}], indirect=True)
def test_application_default_credentials_refresh_over_the_emulators_token_endpoint(cli, tmp_path):
    """A service-account key file whose token_uri is the emulator's: google-auth signs assertions and trades
    them for 2-second tokens, again and again, for a run that outlives several of them."""
    key = service_account_key(tmp_path, cli.endpoint + "/token")
    env = {"GOOGLE_OAUTH_ACCESS_TOKEN": "", "GOOGLE_APPLICATION_CREDENTIALS": str(key)}
    result = cli.run("apply", "manifests", "--target", "support-bot", "--yes", "--wait", env=env)
    assert result.returncode == 0, result
    assert "succeeded" in result.stdout
    assert cli.emulator.token_grants() >= 3
    assert not [r for r in cli.emulator.requests() if r["status"] == 401]


def service_account_key(directory: Path, token_uri: str) -> Path:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    key = {"type": "service_account", "project_id": "demo-project", "private_key_id": "k1", "private_key": pem,
           "client_email": "tuner@demo-project.iam.gserviceaccount.com", "client_id": "1",
           "token_uri": token_uri}
    path = directory / "service-account.json"
    path.write_text(json.dumps(key))
    return path


# ---------------------------------------------------------------------------------------------- long operations
@pytest.mark.parametrize("cli", [{"operation_duration": 2.0, "job_duration": 1}], indirect=True)
def test_removal_completes_with_slow_operations(cli):
    assert cli.run("apply", "manifests", "--target", "support-bot", "--yes", "--wait").returncode == 0
    (cli.cwd / "manifests" / "vertex" / "support-bot-tier2.yaml").unlink()
    (cli.cwd / "manifests" / "vertex" / "support-bot-continued.yaml").unlink()
    (cli.cwd / "manifests" / "vertex" / "support-bot.yaml").unlink()
    cli.emulator.clear_requests()
    result = cli.run("apply", "manifests", "--target", "support-bot", "--yes")
    assert result.returncode == 0, result
    log = cli.emulator.requests()
    deletes = [r for r in log if r["method"] == "DELETE" and "/models/" in r["path"]]
    assert [r["status"] for r in deletes][-1] == 200
    assert 400 in [r["status"] for r in deletes]          # refused right after the undeploy, then retried
    operations = [r for r in log if r["method"] == "GET" and "/operations/" in r["path"]]
    assert len(operations) >= 3                           # each operation was followed until done
    lock = json.loads((cli.cwd / "manifests" / "reconciler.lock").read_text())
    assert "support-bot" not in lock["entries"]


# ---------------------------------------------------------------------------------------------- base models
@pytest.mark.parametrize("cli", [{"gemini_tunable": "none"}], indirect=True)
def test_an_untunable_gemini_base_model_is_refused_at_plan_time_with_nothing_created(cli):
    result = cli.run("apply", "manifests", "--yes")
    assert result.returncode == 1, result
    assert "cannot tune" in result.stderr and "models/gemini-1.5-flash-001-tuning" in result.stderr
    assert "no Gemini API base model is currently offered for tuning" in result.stderr
    assert not [r for r in cli.emulator.requests() if r["method"] == "POST"]
    gets = [r for r in cli.emulator.requests() if r["path"] == "/v1beta/models/gemini-1.5-flash-001-tuning"]
    assert len(gets) == 1                                  # once per run, however many manifests use it


def test_a_retired_vertex_base_model_is_a_validate_warning_and_a_clear_refusal(cli):
    manifest = cli.cwd / "manifests" / "vertex" / "support-bot.yaml"
    manifest.write_text(manifest.read_text().replace("gemini-2.5-flash", "gemini-1.5-pro-002"))
    validated = cli.run("validate", "manifests", endpoint=False)
    assert validated.returncode == 0, validated
    assert "gemini-1.5-pro-002" in validated.stderr and "did you mean 'gemini-2.5-pro'" in validated.stderr
    applied = cli.run("apply", "manifests", "--target", "support-bot", "--yes")
    assert applied.returncode == 1, applied
    assert "is not one Vertex AI tunes" in applied.text and "did you mean 'gemini-2.5-pro'" in applied.text
