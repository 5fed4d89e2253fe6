"""Fixtures for the emulator suite: `api`, thin HTTP helpers (emulator_api.Api) over the shared `emulator`
fixture (a real server on loopback per test, port 0; see tests/testing/emulators.py), and the autouse check that
every response body the emulator produced validates against the reference schemas in schemas/. Tests import
their helpers from emulator_api, never from this file."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator import Emulator

from emulator_api import Api, assert_schema_valid

SDK_ENV = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
           "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GENAI_API_VERSION")

warnings.filterwarnings("ignore", category=FutureWarning)
HERE = Path(__file__).resolve().parent
SDK_NOISE = ("ignore::FutureWarning", "ignore::DeprecationWarning",      # google-generativeai is deprecated
             "ignore:.*experimental")                       # google-genai tunings are "experimental"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            for spec in SDK_NOISE:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(autouse=True)
def _clean_sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SDK_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _every_response_matches_the_reference(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every in-process Emulator a test creates keeps its response bodies; after the test, each one is
    validated against the reference schema of its method (subprocess tests fetch theirs via the admin log)."""
    created: list[Emulator] = []
    original = Emulator.__init__

    def recording_init(self: Emulator, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **{**kwargs, "record_bodies": True})
        created.append(self)

    monkeypatch.setattr(Emulator, "__init__", recording_init)
    yield
    for emu in created:
        assert_schema_valid(emu.requests())


@pytest.fixture
def api(emulator: Emulator) -> Iterator[Api]:
    client = Api(emulator)
    yield client
    client.close()
