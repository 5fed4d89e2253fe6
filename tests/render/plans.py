"""Plans built directly from reconciler.plan.model objects, for the golden files: a 3-change plan, a 30-change plan
and a 1,000-model plan with 2 changes; and a plan made of hostile strings."""

from __future__ import annotations

import hashlib
import io

from reconciler import render
from reconciler.cost import Estimate
from reconciler.plan.model import Change, FieldDiff, Plan
from tests.render.hostile_corpus import HOSTILE, HOSTILE_KEYS

VERTEX = "projects/acme-prod/locations/us-central1"
POLICY = {"protect": False, "onDelete": "delete", "whileRunning": "restart", "previousVersion": "retire"}
BINDING = dict(lock_lineage="00000000-0000-4000-8000-000000000000", lock_serial=41, observed_fingerprint="o" * 64,
               desired_fingerprint="p" * 64, digest_algorithm="sha256/v1", root="models",
               created_at="2026-11-21T09:00:00Z")


def vertex_spec(name: str, *, epochs: int = 4, dataset: str = "", depends_on: str | None = None) -> dict:
    return {"name": name, "platform": "vertex", "project": "acme-prod", "location": "us-central1",
            "digest": hashlib.sha256(name.encode()).hexdigest(), "digestAlgorithm": "sha256/v1",
            "immutable": {"baseModel": "gemini-2.5-flash",
                          "training": {"dataset": dataset or f"gs://acme-tuning/{name}/train.jsonl",
                                       "validationDataset": f"gs://acme-tuning/{name}/val.jsonl"},
                          "hyperParameters": {"epochCount": epochs, "adapterSize": 4, "learningRateMultiplier": 1.0}},
            "mutable": {"displayName": name.replace("-", " ").capitalize(), "labels": {"team": "support"}},
            "policy": POLICY, "dependsOn": depends_on}


def gemini_spec(name: str) -> dict:
    return {"name": name, "platform": "gemini-api", "project": None, "location": None, "digest": "e" * 64,
            "digestAlgorithm": "sha256/v1",
            "immutable": {"baseModel": "models/gemini-1.5-flash-001-tuning",
                          "hyperParameters": {"epochCount": 2, "batchSize": 4, "learningRate": 0.001},
                          "training": {"exampleCount": 5, "examplesSha256": "c" * 64}},
            "mutable": {"displayName": name, "temperature": 0.2}, "policy": POLICY, "dependsOn": None}


def job(n: int) -> str:
    return f"{VERTEX}/tuningJobs/{8_000_000_000_000_000_000 + n}"


def model(n: int) -> str:
    return f"{VERTEX}/models/{4_000_000_000_000_000_000 + n}@1"


def noop(name: str, reason: str = "in sync") -> Change:
    return Change(name, "noop", reason, "vertex", digest="d" * 64)


FAILED = Change("triage-bot", "noop", "last job ended FAILED", "vertex", targets=(job(7),),
                attention=f"tuning job {job(7)} ended FAILED: Quota exceeded for aiplatform.googleapis.com/"
                          "tuning_jobs_per_region; it is retrained only by a spec change or --replace triage-bot")


def three_changes() -> Plan:
    """A train, an update and a delete; three resources in sync and one failed job."""
    changes = (
        Change("support-bot", "train", "new manifest, nothing live: start a tuning job ($)", "vertex",
               digest="a" * 64, spec=vertex_spec("support-bot")),
        Change("math-bot", "update", "mutable fields differ from the live model (displayName, temperature): patch "
               "in place", "gemini-api", diffs=(FieldDiff("displayName", "Math bot", "Arithmetic bot"),
                                                FieldDiff("temperature", 0.2, 0.1)),
               targets=("tunedModels/math-bot-0f3f5f256d01",), digest="b" * 64),
        Change("legacy-bot", "delete", f"manifest removed: undeploy and delete model {model(3)}", "vertex",
               targets=(job(3), model(3), f"{VERTEX}/endpoints/3003")),
        noop("faq-bot"), noop("sales-bot"), noop("billing-bot", "training, 40%"), FAILED,
    )
    return Plan(changes=changes, **BINDING)


def thirty_changes() -> Plan:
    """30 changes of every kind, follow-ups among them, and 5 resources in sync."""
    changes = [
        Change("support-bot", "train", "new manifest, nothing live: start a tuning job ($)", "vertex",
               digest="a" * 64, spec=vertex_spec("support-bot")),
        Change("support-bot-de", "train", "new manifest, nothing live: start a tuning job ($) once support-bot "
               "succeeds (preTunedModel.fromManifest)", "vertex", after="support-bot",
               spec=vertex_spec("support-bot-de", depends_on="support-bot")),
        Change("faq-bot", "retrain", f"immutable fields changed (hyperParameters.epochCount): start a tuning job "
               f"($); {job(1)} stays live until it succeeds", "vertex", digest="f" * 64,
               diffs=(FieldDiff("hyperParameters.epochCount", 3, 5),), targets=(job(1),),
               spec=vertex_spec("faq-bot", epochs=5)),
        Change("faq-bot", "retire", f"superseded by the retrain: undeploy and delete {model(1)} once it succeeds "
               "(previousVersion: retire)", "vertex", after="faq-bot", targets=(job(1), model(1))),
        Change("sales-bot", "retrain", "moved from acme-prod/us-central1 to acme-prod/europe-west4", "vertex",
               moved_from="acme-prod/us-central1", spec=vertex_spec("sales-bot"), targets=(job(2),),
               diffs=(FieldDiff("location", "us-central1", "europe-west4"),)),
        Change("math-bot", "update", "mutable fields differ from the live model (temperature): patch in place",
               "gemini-api", diffs=(FieldDiff("temperature", 0.2, 0.1),), targets=("tunedModels/math-bot-1",),
               reviewed_in="3f2a9c1d0b7e4a55"),
    ]
    for i in range(12):
        changes.append(Change(f"team-{i:02d}-bot", "update", "mutable fields differ from the live model (labels): "
                              "patch in place", "vertex", targets=(model(100 + i),),
                              diffs=(FieldDiff("labels.cost-center", "ml", "ml-platform"),
                                     FieldDiff("labels.owner", None, f"team-{i:02d}", "added"))))
    for i in range(6):
        changes.append(Change(f"old-{i}-bot", "delete", f"manifest removed: undeploy and delete model {model(200 + i)}",
                              "vertex", targets=(job(200 + i), model(200 + i))))
    changes += [
        Change("draft-bot", "cancel", f"manifest removed while tuning job {job(300)} is still training", "vertex",
               targets=(job(300),)),
        Change("lost-bot", "adopt", f"live tuning job {job(301)} is owned by this manifest but the lock has no "
               "record of it", "vertex", targets=(job(301),), digest="c" * 64),
        Change("kept-bot", "forget", "manifest removed (onDelete: orphan): dropped from the lock, left live",
               "vertex", targets=(model(302),)),
        Change("number-generator", "train", "new manifest, nothing live: start a tuning job ($)", "gemini-api",
               spec=gemini_spec("number-generator")),
        Change("eval-bot", "update", "mutable fields differ from the live model (description): patch in place",
               "vertex", targets=(model(303),), diffs=(FieldDiff("description", "v1", "v2"),)),
        Change("ops-bot", "update", "mutable fields differ from the live model (displayName): patch in place",
               "vertex", targets=(model(304),), diffs=(FieldDiff("displayName", "Ops", "Operations"),)),
    ]
    changes += [noop(f"steady-{i}-bot") for i in range(4)] + [FAILED]
    assert sum(c.is_change for c in changes) == 30
    return Plan(changes=tuple(changes), **BINDING)


def thousand_models() -> Plan:
    """1,000 models: a retrain and an update, 998 in sync."""
    changes = (
        Change("support-bot-0417", "retrain", "immutable fields changed (training.dataset): start a tuning job ($); "
               f"{job(417)} stays live until it succeeds", "vertex", digest="f" * 64, targets=(job(417),),
               diffs=(FieldDiff("training.dataset", "gs://acme-tuning/support/2026-10.jsonl",
                                "gs://acme-tuning/support/2026-11.jsonl"),),
               spec=vertex_spec("support-bot-0417", dataset="gs://acme-tuning/support/2026-11.jsonl")),
        Change("support-bot-0099", "update", "mutable fields differ from the live model (displayName): patch in place",
               "vertex", targets=(model(99),), diffs=(FieldDiff("displayName", "Support bot 99", "Support bot (fr)"),)),
    ) + tuple(noop(f"support-bot-{i:04d}") for i in range(1000) if i not in (99, 417))
    assert sum(not c.is_change for c in changes) == 998 and len(changes) == 1000
    return Plan(changes=changes, **BINDING)


def hostile() -> Plan:
    """Every hostile string as a name, a reason, an attention text, a target, a label key and value, a spec value."""
    changes = []
    for i, text in enumerate(HOSTILE):
        spec = vertex_spec("bot", dataset=text)
        spec["mutable"]["labels"] = {key: text for key in HOSTILE_KEYS}
        changes.append(Change(text, ("train", "update", "delete", "noop")[i % 4], text, "vertex",
                              diffs=tuple(FieldDiff(key, text, text) for key in HOSTILE_KEYS) if i % 4 == 1 else (),
                              targets=(text, f"{VERTEX}/tuningJobs/{text}"), attention=text if i % 3 == 0 else "",
                              after=text if i % 4 == 2 else "", spec=spec if i % 4 == 0 else {},
                              reviewed_in=text if i % 5 == 0 and i % 4 != 3 else ""))
    return Plan(changes=tuple(changes), **{**BINDING, "root": HOSTILE[0]})


def text_of(plan: Plan, **kwargs) -> str:
    """The text plan as a terminal without colour shows it."""
    stream = io.StringIO()
    render.text(plan, render.console(stream, color=False), **kwargs)
    return stream.getvalue()


# --- a priced plan (issue 14): one estimate of every kind ---------------------------------------------------

KNOWN = Estimate(1_200_000, 3, 18.0, 5.0)  # 4.8 M characters
ASSUMED = Estimate(480_000, 10, 24.0, 5.0, epochs_assumed=True)  # no epochCount: the platform's default
NOT_READ = Estimate(None, 3, None, 5.0, "data not read")
FREE = Estimate(12_250, 2, 0.0, 0.0)


def without_epochs(spec: dict) -> dict:
    spec["immutable"]["hyperParameters"].pop("epochCount")
    return spec


def priced() -> Plan:
    """Four paid changes with estimates (known, epochs assumed, data not read, free), an update and a delete."""
    changes = (
        Change("support-bot", "train", "new manifest, nothing live: start a tuning job ($)", "vertex",
               digest="a" * 64, spec=vertex_spec("support-bot", epochs=3), estimate=KNOWN.to_json()),
        Change("support-bot-de", "train", "new manifest, nothing live: start a tuning job ($) once support-bot "
               "succeeds (preTunedModel.fromManifest)", "vertex", after="support-bot",
               spec=vertex_spec("support-bot-de", epochs=3, depends_on="support-bot"),
               estimate=NOT_READ.to_json()),
        Change("faq-bot", "retrain", f"immutable fields changed (training.dataset): start a tuning job ($); "
               f"{job(1)} stays live until it succeeds", "vertex", digest="f" * 64,
               diffs=(FieldDiff("training.dataset", "gs://acme-tuning/faq-bot/v1.jsonl",
                                "gs://acme-tuning/faq-bot/v2.jsonl"),),
               targets=(job(1),), spec=without_epochs(vertex_spec("faq-bot")), estimate=ASSUMED.to_json()),
        Change("math-bot", "train", "new manifest, nothing live: start a tuning job", "gemini-api", digest="b" * 64,
               spec=gemini_spec("math-bot"), estimate=FREE.to_json()),
        Change("sales-bot", "update", "mutable fields differ from the live model (displayName): patch in place",
               "vertex", diffs=(FieldDiff("displayName", "Sales", "Sales bot"),), targets=(model(2),)),
        Change("legacy-bot", "delete", f"manifest removed: undeploy and delete model {model(3)}", "vertex",
               targets=(job(3), model(3))),
        noop("billing-bot"),
    )
    return Plan(changes=changes, **BINDING)


