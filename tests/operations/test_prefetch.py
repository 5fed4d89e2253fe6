"""A plan lists its manifests' scopes while it reads the lock (`open_workspace(prefetch=True)`), and nothing else
about a run changes: the same observed state, the lock's problems said before missing credentials, and an apply
that lists only once it holds the state lock."""

from __future__ import annotations

import threading
import time

import pytest

from reconciler import operations
from reconciler.errors import LockfileError, UserError
from reconciler.state.local import LocalBackend
from tests.testing.emulators import running
from tests.testing.manifests import copy_examples


def _listings(emulator) -> list[str]:
    return [r["path"] for r in emulator.requests() if r.get("method") == "GET" and r["path"].endswith("/tuningJobs")]


@pytest.fixture
def lock_read_waits_for_a_listing(monkeypatch):
    """LocalBackend.read, waiting (up to 5 s) for a tuning-job listing to reach the emulator: what it saw."""
    seen: dict[str, bool] = {}
    original = LocalBackend.read

    def read(self):
        deadline = time.monotonic() + 5
        while not _listings(seen["emulator"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        seen["listed before the lock was read"] = bool(_listings(seen["emulator"]))
        return original(self)
    monkeypatch.setattr(LocalBackend, "read", read)
    return seen


@pytest.mark.parametrize("prefetch", [True, False])
def test_the_listings_are_under_way_while_the_lock_is_read_only_when_prefetching(tmp_path, prefetch,
                                                                                lock_read_waits_for_a_listing):
    root = copy_examples(tmp_path / "manifests")
    with running(job_duration=0.5) as emulator:
        lock_read_waits_for_a_listing["emulator"] = emulator
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True,
                                       prefetch=prefetch) as workspace:
            observed = workspace.refresh()
        assert lock_read_waits_for_a_listing["listed before the lock was read"] is prefetch
        assert len(_listings(emulator)) == 1  # listed once, prefetched or not
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True) as workspace:
            assert workspace.refresh() == observed


def test_a_prefetched_plan_sees_what_an_apply_made_and_plans_nothing_more(tmp_path):
    root = copy_examples(tmp_path / "manifests")
    options = operations.ApplyOptions(wait=True, timeout=60, poll_interval=0.05)
    with running(job_duration=0.5) as emulator:
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True) as workspace:
            assert not operations.apply(workspace, None, options, operations.Silent(), threading.Event()).failed
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True,
                                       prefetch=True) as workspace:
            workspace.refresh()
            assert not workspace.plan().has_changes


def test_a_corrupt_lock_is_said_before_missing_credentials(tmp_path, monkeypatch):
    root = copy_examples(tmp_path / "manifests")
    (root / "reconciler.lock").write_text("{not json", encoding="utf-8")
    for name in ("GOOGLE_OAUTH_ACCESS_TOKEN", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata server to ask
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud credentials file
    with running() as emulator:
        with pytest.raises(LockfileError, match="corrupt"):
            with operations.open_workspace(str(root), api_endpoint=emulator.base_url, prefetch=True):
                pass
        (root / "reconciler.lock").unlink()
        with pytest.raises(UserError, match="credentials"):
            with operations.open_workspace(str(root), api_endpoint=emulator.base_url, prefetch=True):
                pass
        assert not _listings(emulator)



def test_a_platform_only_the_lock_names_is_connected_once_the_lock_is_read(tmp_path):
    root = copy_examples(tmp_path / "manifests")
    options = operations.ApplyOptions(wait=True, timeout=60, poll_interval=0.05)
    with running(job_duration=0.5) as emulator:
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True) as workspace:
            assert not operations.apply(workspace, None, options, operations.Silent(), threading.Event()).failed
        for manifest in (root / "gemini").glob("*.yaml"):
            manifest.unlink()  # the manifests now name Vertex AI alone; the lock still records Gemini models
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True,
                                       prefetch=True) as workspace:
            assert set(workspace.clients.by_platform) == {"vertex", "gemini-api"}
            workspace.refresh()
            plan = workspace.plan()
    assert {(c.name, c.action) for c in plan.changes if c.is_change} == \
        {("math-bot", "delete"), ("number-generator", "delete")}
