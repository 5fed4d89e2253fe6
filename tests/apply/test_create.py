"""The exactly-once create, as a table: what was live, how the API answered -> creates sent, what was recorded.

A fake platform stands in for the API (the protocol is the executor's; what each API does is tested against
the emulator elsewhere), and a memory backend for the lock file.
"""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.apply import create
from reconciler.apply.context import Context
from reconciler.desired import DesiredResource, Policy
from reconciler.errors import (AlreadyExists, BadResponse, DeadlineExceeded, ResourceExhausted, TransportError,
                               Unavailable)
from reconciler.observed import Generation, ObservedState
from reconciler.plan.model import Change
from reconciler.state.journal import Journal
from reconciler.state.model import Intent, Lock, LockEntry

DIGEST = "d" * 64
BOT = DesiredResource(name="bot", platform="fake", project="p", location="l", digest=DIGEST, immutable={},
                      mutable={}, policy=Policy(), depends_on=None, source="bot.yaml:1")


class MemoryBackend:
    """A StateBackend that keeps the lock in memory and counts writes."""

    location = "memory"
    write_spacing = prompt_within = 0.0

    def __init__(self) -> None:
        self.stored: Lock | None = None

    def read(self) -> Lock | None:
        return self.stored

    def write(self, lock: Lock) -> Lock:
        self.stored = dataclasses.replace(lock, serial=lock.serial + 1)
        return self.stored

    def lock(self, command: str):
        raise NotImplementedError


def live(key: str, *, intent: str = "", phase: str = "running", digest: str = DIGEST[:12]) -> Generation:
    return Generation(platform="fake", owner="bot", digest=digest, phase=phase, job=key, intent=intent,
                      create_time=key)


class FakePlatform:
    """Answers creates from a script; `lookup` shows what earlier creates (and `existing`) made."""

    name, scoped, ownership, one_id_per_spec = "fake", True, "its labels", False

    def __init__(self, answers: list, existing: list[Generation]):
        self.answers, self.existing, self.sent = list(answers), list(existing), []

    def create(self, client, desired, intent, upstream_model) -> Generation:
        answer = self.answers.pop(0)
        self.sent.append(intent)
        made = live(f"job-{len(self.sent)}", intent=intent)
        if answer == "ok":
            self.existing.append(made)
            return made
        if answer in ("lost", "409", "unreadable", "slow"):  # it landed; its answer was lost, unreadable or late
            self.existing.append(made)
        raise {"lost": TransportError("connection reset"), "503": Unavailable("try again"),
               "429": ResourceExhausted("quota"), "409": AlreadyExists("exists"),
               "unreadable": BadResponse("the server answered with an empty body"),
               "slow": DeadlineExceeded("the answer took longer than 60s to arrive")}[answer]

    def lookup(self, client, desired) -> list[Generation]:
        return list(self.existing)

    def occupant(self, desired) -> None:
        return None


def run(answers: list, *, listed: list[Generation] = (), existing: list[Generation] = (),
        pending: Intent | None = None, listing_age: float = 0.0, released: tuple[str, ...] = ()):
    platform = FakePlatform(answers, existing=list(existing))
    backend = MemoryBackend()
    lock = dataclasses.replace(Lock.empty("sha256/v1"), released={key: "bot" for key in released})
    if pending is not None:
        lock = lock.with_entry(dataclasses.replace(LockEntry.new(BOT), pending=pending))
    ctx = Context(desired={"bot": BOT}, observed=ObservedState(generations=tuple(listed)),
                  journal=Journal(backend, lock), clients={"fake": None}, platforms={"fake": platform},
                  sleep=lambda seconds: None, clock=lambda: listing_age, observed_at=0.0)
    detail = create.train(ctx, Change(name="bot", action="train", reason="new", platform="fake"))
    entry = backend.stored.entries["bot"]
    return detail, platform.sent, entry


@pytest.mark.parametrize("case, answers, options, creates, current, detail", [
    ("a create that answers is recorded", ["ok"], {}, 1, "job-1", "started job-1"),
    ("this run's fresh listing shows an unrecorded job of the spec: adopted, nothing sent",
     [], {"listed": [live("job-0")]}, 0, "job-0", "adopted job-0"),
    ("a listing older than the freshness window is not trusted: the API is asked",
     ["ok"], {"listed": [live("job-0")], "listing_age": 60.0}, 1, "job-1", "started job-1"),
    ("a lost answer is found by lookup, never sent again",
     ["lost"], {}, 1, "job-1", "its create answer was lost; found it by its labels"),
    ("an unreadable create answer (a broken server) may have created: found by lookup, never sent again",
     ["unreadable"], {}, 1, "job-1", "its create answer was lost; found it by its labels"),
    ("an answer past the request deadline may have created: found by lookup, never sent again",
     ["slow"], {}, 1, "job-1", "its create answer was lost; found it by its labels"),
    ("a 503 that created nothing is sent again after a lookup finds nothing",
     ["503", "ok"], {}, 2, "job-2", "started job-2"),
    ("429 is a definite no: resent until it goes through",
     ["429", "429", "ok"], {}, 3, "job-3", "started job-3"),
    ("a 409 on the deterministic id is adopted",
     ["409"], {}, 1, "job-1", "its create answer was lost"),
    ("a failed job of the same spec from some other attempt is history, not adopted",
     ["ok"], {"existing": [live("job-0", phase="failed")], "listing_age": 60.0}, 1, "job-1", "started job-1"),
    ("an interrupted earlier run's intent is looked up in the API, even with a fresh listing",
     [], {"existing": [live("job-0", intent="i-earlier", phase="failed")],
          "pending": Intent(id="i-earlier", action="train", digest=DIGEST, created_at="")},
     0, "job-0", "adopted job-0"),
    ("a resource released by `state rm` is foreign: never adopted back, even by a lookup",
     ["ok"], {"existing": [live("job-0")], "listing_age": 60.0, "released": ("job-0",)}, 1, "job-1",
     "started job-1"),
])
def test_the_exactly_once_create(case, answers, options, creates, current, detail):
    said, sent, entry = run(answers, **options)
    assert len(sent) == creates, case
    assert entry.current.key == current and entry.pending is None and entry.digest == DIGEST
    assert detail in said
    if "pending" in options:
        assert sent == []  # the earlier intent's job was adopted, not recreated


def test_every_create_of_one_train_carries_the_same_intent():
    _, sent, entry = run(["503", "503", "ok"])
    assert len(sent) == 3 and len(set(sent)) == 1 and entry.current.intent == sent[0]


def test_an_intent_is_recorded_before_the_create_is_sent():
    seen = {}

    class Watching(FakePlatform):
        def create(self, client, desired, intent, upstream_model):
            seen["pending"] = backend.stored.entries["bot"].pending.id
            return super().create(client, desired, intent, upstream_model)

    platform, backend = Watching(["ok"], []), MemoryBackend()
    ctx = Context(desired={"bot": BOT}, observed=ObservedState(), journal=Journal(backend, Lock.empty("v")),
                  clients={"fake": None}, platforms={"fake": platform}, clock=lambda: 0.0)
    create.train(ctx, Change(name="bot", action="train", reason="new", platform="fake"))
    assert seen["pending"] == platform.sent[0]


def test_gives_up_after_repeated_ambiguous_answers_without_a_trace():
    with pytest.raises(Unavailable):
        run(["503"] * create.CREATE_ATTEMPTS)


def test_a_run_declares_every_intent_in_one_durable_write_and_withdraws_those_it_never_acted_on():
    """A paced backend (a bucket: about a write a second) must not cost a paced write per create: every intent
    is stored at once before the first create, and the creates then wait for no write at all."""
    other = dataclasses.replace(BOT, name="other")
    backend, slept = MemoryBackend(), []
    backend.write_spacing = 1.0
    platform = FakePlatform(["ok"], [])
    ctx = Context(desired={"bot": BOT, "other": other}, observed=ObservedState(),
                  journal=Journal(backend, Lock.empty("v"), sleep=slept.append, clock=lambda: 0.0),
                  clients={"fake": None}, platforms={"fake": platform}, clock=lambda: 0.0)
    changes = [Change(name=n, action="train", reason="new", platform="fake") for n in ("bot", "other")]
    create.declare(ctx, changes)
    declared = {name: entry.pending.id for name, entry in backend.stored.entries.items()}
    assert set(declared) == {"bot", "other"} and backend.stored.serial == 1
    create.train(ctx, changes[0])
    assert platform.sent == [declared["bot"]] and slept == []  # the stored intent was used: no write awaited
    create.withdraw_unattempted(ctx)
    ctx.journal.flush()
    assert set(backend.stored.entries) == {"bot"} and backend.stored.entries["bot"].pending is None
