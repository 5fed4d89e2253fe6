"""Gemini API tuned-model ids are one global namespace: a 409 whose follow-up lookup answers 404 (or 403) is
someone else's model, reported as such and never adopted."""

from __future__ import annotations

import pytest

from reconciler.errors import AlreadyExists, PermissionDenied
from reconciler.platforms import gemini
from tests.apply import test_create
from tests.apply.test_create import BOT, FakePlatform


class GlobalIds(FakePlatform):
    """A create answers 409 and nothing the lookup can read is there: another account holds the id."""

    one_id_per_spec = True

    def create(self, client, desired, intent, upstream_model):
        self.sent.append(intent)
        raise AlreadyExists("Tuned model tunedModels/bot-dddddddd already exists.")

    def occupant(self, desired) -> str:
        return "tunedModels/bot-dddddddd"


def test_a_409_then_404_is_the_id_taken_by_someone_else(monkeypatch):
    monkeypatch.setattr(test_create, "FakePlatform", GlobalIds)
    with pytest.raises(AlreadyExists, match="taken by someone else") as caught:
        test_create.run(["409"])
    assert "tunedModels/bot-dddddddd" in str(caught.value) and "nothing was created" in str(caught.value)


class Forbidden:
    def get_tuned_model(self, name):
        raise PermissionDenied("The caller does not have permission", http_status=403)


def test_a_403_on_the_lookup_is_the_id_taken_by_someone_else():
    desired = BOT.__class__(**{**BOT.__dict__, "platform": "gemini-api", "project": None, "location": None})
    with pytest.raises(AlreadyExists, match="taken by someone else"):
        gemini.GEMINI.lookup(Forbidden(), desired)
