"""Cost estimates, decided by data tables: (platform, base model, characters, epochs[, overrides]) → the estimate;
the formats a person reads; the total; the `--max-cost` refusal."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from reconciler import cost
from reconciler.cost import Estimate, PriceTable, dollars, estimate, over_limit, token_count, total

PRICES = PriceTable.packaged()


def est(platform="vertex", base="gemini-2.5-flash", characters=4_000_000, epochs=3, prices=PRICES, **kw):
    return estimate(platform=platform, base_model=base, characters=characters, epochs=epochs, prices=prices, **kw)


# --- decisions -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("platform, base, characters, epochs, expected", [
    # model families: 1 M tokens × 1 epoch costs the price per million
    ("vertex", "gemini-2.5-pro", 4_000_000, 1, Estimate(1_000_000, 1, 25.0, 25.0)),
    ("vertex", "gemini-2.5-flash", 4_000_000, 1, Estimate(1_000_000, 1, 5.0, 5.0)),
    ("vertex", "gemini-2.5-flash-lite", 4_000_000, 1, Estimate(1_000_000, 1, 1.5, 1.5)),
    ("vertex", "gemini-2.0-flash", 4_000_000, 1, Estimate(1_000_000, 1, 3.0, 3.0)),
    ("vertex", "gemini-2.0-flash-lite", 4_000_000, 1, Estimate(1_000_000, 1, 1.0, 1.0)),
    # a versioned name is priced as its family
    ("vertex", "gemini-2.0-flash-001", 4_000_000, 2, Estimate(1_000_000, 2, 6.0, 3.0)),
    ("vertex", "gemini-2.5-flash-lite-001", 4_000_000, 2, Estimate(1_000_000, 2, 3.0, 1.5)),
    ("vertex", "publishers/google/models/gemini-2.5-pro", 4_000_000, 1, Estimate(1_000_000, 1, 25.0, 25.0)),
    # tokens × epochs × price: 1.2 M × 3 × $5 = $18
    ("vertex", "gemini-2.5-flash", 4_800_000, 3, Estimate(1_200_000, 3, 18.0, 5.0)),
    # characters / 4, rounded up
    ("vertex", "gemini-2.5-flash", 9, 1, Estimate(3, 1, 0.000015, 5.0)),
    ("vertex", "gemini-2.5-flash", 0, 1, Estimate(0, 1, 0.0, 5.0)),
    # no price: no figure, and a name for why
    ("vertex", "gemini-1.5-flash-002", 4_000, 1,
     Estimate(1_000, 1, None, None, "no price for base model 'gemini-1.5-flash-002'")),
    ("vertex", "gemini-9-ultra", 4_000, 1, Estimate(1_000, 1, None, None, "no price for base model 'gemini-9-ultra'")),
    ("vertex", None, 4_000, 1, Estimate(1_000, 1, None, None, "no base model")),
    ("other-cloud", "gemini-2.5-flash", 4_000, 1,
     Estimate(1_000, 1, None, None, "no price for base model 'gemini-2.5-flash'")),
    # data not read: never a made-up figure
    ("vertex", "gemini-2.5-flash", None, 3, Estimate(None, 3, None, 5.0, "data not read")),
    ("vertex", "gemini-9-ultra", None, 3,
     Estimate(None, 3, None, None, "data not read; no price for base model 'gemini-9-ultra'")),
    # the Gemini API tunes free of charge, whatever the data
    ("gemini-api", "models/gemini-1.5-flash-001-tuning", 40_000, 2, Estimate(10_000, 2, 0.0, 0.0)),
    ("gemini-api", "models/gemini-1.5-flash-001-tuning", None, 2, Estimate(None, 2, 0.0, 0.0)),
    # epochs not set: the platform's default, said to be assumed
    ("gemini-api", "models/gemini-1.5-flash-001-tuning", 4_000, None, Estimate(1_000, 5, 0.0, 0.0, "", True)),
    ("vertex", "gemini-2.5-flash", 4_000_000, None, Estimate(1_000_000, 10, 50.0, 5.0, "", True)),
    ("other-cloud", "gemini-2.5-flash", 4_000, None,
     Estimate(1_000, None, None, None, "no price for base model 'gemini-2.5-flash'; no default epoch count for "
                                       "platform 'other-cloud'")),
])
def test_estimate(platform, base, characters, epochs, expected):
    assert est(platform, base, characters, epochs) == expected


@pytest.mark.parametrize("overrides, platform, base, price", [
    ({"gemini-2.5-flash": 4.0}, "vertex", "gemini-2.5-flash", 4.0),      # reconciler.yaml wins
    ({"gemini-2.5-flash": 4.0}, "vertex", "gemini-2.5-flash-001", 4.0),  # a family's price prices its versions
    ({"gemini-2.5-flash-001": 4.5, "gemini-2.5-flash": 4.0}, "vertex", "gemini-2.5-flash-001", 4.5),  # exact first
    ({"gemini-1.5-flash": 8.0}, "vertex", "gemini-1.5-flash-002", 8.0),  # a price for a model the table lacks
    ({"gemini-1.5-flash": 2.0}, "gemini-api", "models/gemini-1.5-flash-001-tuning", 2.0),  # even over "free"
    ({"gemini-2.5-pro": 0}, "vertex", "gemini-2.5-flash", 5.0),          # other models keep the table's price
])
def test_overrides_win(overrides, platform, base, price):
    assert PriceTable.packaged(overrides).price(platform, base) == price


@pytest.mark.parametrize("bad", [-1, "5", None, True])
def test_an_override_must_be_a_price(bad):
    with pytest.raises(ValueError, match="gemini-2.5-flash"):
        PriceTable.packaged({"gemini-2.5-flash": bad})


def test_characters_per_token_is_a_parameter():
    assert est(characters=3_000_000, epochs=1, chars_per_token=3.0).tokens == 1_000_000
    with pytest.raises(ValueError):
        est(chars_per_token=0)


def test_the_packaged_table_names_its_source_and_date():
    data = json.loads(resources.files("reconciler.cost").joinpath("prices.json").read_text(encoding="utf-8"))
    assert data["source"].startswith("https://") and data["date"] and data["note"]
    assert all(p["source"].startswith("https://") for p in data["platforms"].values())
    assert PRICES.source == data["source"] and PRICES.date == data["date"]


def test_an_estimate_survives_a_json_round_trip():
    for e in (est(), est(characters=None), est(epochs=None), est("gemini-api", "models/x-tuning")):
        assert Estimate.from_json(json.loads(json.dumps(e.to_json()))) == e
    assert Estimate.from_json({}) == Estimate(None, None, None, None)


# --- formats -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, expected", [
    (0, "0 tokens"), (1, "1 token"), (950, "950 tokens"), (999, "999 tokens"), (1_000, "1.0 k tokens"),
    (12_345, "12.3 k tokens"), (123_456, "123 k tokens"), (999_960, "1.0 M tokens"), (1_200_000, "1.2 M tokens"),
    (45_600_000, "45.6 M tokens"), (2_500_000_000, "2.5 G tokens"),
])
def test_token_count(n, expected):
    assert token_count(n) == expected


@pytest.mark.parametrize("usd, free, expected", [
    (0.42, False, "$0.42"), (18, False, "$18.00"), (1250, False, "$1,250.00"), (0.004, False, "< $0.01"),
    (0.0099, False, "< $0.01"), (0.01, False, "$0.01"), (0.0, False, "$0.00"), (0.0, True, "$0.00 (free)"),
    (1_234_567.891, False, "$1,234,567.89"),
])
def test_dollars(usd, free, expected):
    assert dollars(usd, free=free) == expected


@pytest.mark.parametrize("e, text, short", [
    (Estimate(1_200_000, 3, 18.0, 5.0), "≈ 1.2 M tokens × 3 epochs ≈ $18.00", "≈ $18.00"),
    (Estimate(950, 1, 0.000475, 0.5), "≈ 950 tokens × 1 epoch < $0.01", "< $0.01"),
    (Estimate(1_000_000, 10, 50.0, 5.0, "", True), "≈ 1.0 M tokens × 10 epochs (assumed) ≈ $50.00", "≈ $50.00"),
    (Estimate(250_000_000, 1, 1250.0, 5.0), "≈ 250 M tokens × 1 epoch ≈ $1,250.00", "≈ $1,250.00"),
    (Estimate(12_300, 5, 0.0, 0.0, "", True), "≈ 12.3 k tokens × 5 epochs (assumed): $0.00 (free)", "$0.00 (free)"),
    (Estimate(None, 2, 0.0, 0.0), "$0.00 (free)", "$0.00 (free)"),
    (Estimate(None, 3, None, 5.0, "data not read"), "cost unknown: data not read", "cost unknown"),
    (Estimate(1_000, 1, None, None, "no price for base model 'x'"),
     "cost unknown: no price for base model 'x' · ≈ 1.0 k tokens × 1 epoch", "cost unknown"),
])
def test_text(e, text, short):
    assert (e.text(), e.short()) == (text, short)


# --- totals and the budget ---------------------------------------------------------------------------------

KNOWN_18 = Estimate(1_200_000, 3, 18.0, 5.0)
KNOWN_24 = Estimate(1_600_000, 3, 24.0, 5.0)
FREE = Estimate(1_000, 5, 0.0, 0.0)
NOT_READ = Estimate(None, 3, None, 5.0, "data not read")
NO_PRICE = Estimate(1_000, 3, None, None, "no price for base model 'gemini-9-ultra'")


@pytest.mark.parametrize("estimates, expected", [
    ([], (0.0, 0)),
    ([KNOWN_18, KNOWN_24], (42.0, 0)),
    ([KNOWN_18, KNOWN_24, NOT_READ], (42.0, 1)),
    ([KNOWN_18, FREE, NOT_READ, NO_PRICE], (18.0, 2)),
    ([Estimate(1, 1, 0.1, 1.0), Estimate(1, 1, 0.2, 1.0)], (0.3, 0)),  # no float dust
])
def test_total(estimates, expected):
    assert total(estimates) == expected


@pytest.mark.parametrize("estimates, expected", [
    ([KNOWN_18, KNOWN_24], "Estimated cost: ≈ $42.00 for 2 paid changes"),
    ([KNOWN_18, KNOWN_24, NOT_READ], "Estimated cost: ≈ $42.00 for 3 paid changes (1 unknown: data not read)"),
    ([KNOWN_18, NOT_READ, NOT_READ, NO_PRICE], "Estimated cost: ≈ $18.00 for 4 paid changes (3 unknown: data not "
                                               "read; no price for base model 'gemini-9-ultra')"),
    ([NOT_READ], "Estimated cost: unknown for 1 paid change (data not read)"),
    ([FREE, FREE], "Estimated cost: $0.00 (free) for 2 paid changes"),
    ([FREE, KNOWN_18], "Estimated cost: ≈ $18.00 for 2 paid changes"),
])
def test_summary(estimates, expected):
    assert cost.summary(estimates) == expected


def test_within_the_limit_nothing_is_refused():
    assert over_limit({}, 0) is None
    assert over_limit({"a": KNOWN_18, "b": KNOWN_24, "c": FREE}, 42.0) is None


def test_over_the_limit_the_refusal_names_the_costliest_changes_first():
    message = over_limit({"a": KNOWN_18, "b": KNOWN_24, "c": FREE}, 40)
    assert message == ("--max-cost $40.00: the estimated cost ≈ $42.00 exceeds it (b ≈ $24.00, a ≈ $18.00). "
                       "To go on: apply fewer changes (--target), raise or remove --max-cost.")


def test_an_unknown_cost_is_refused_whatever_the_limit_and_says_what_to_do():
    message = over_limit({"a": KNOWN_18, "b": NOT_READ, "c": NO_PRICE}, 1_000_000)
    assert message == ("--max-cost $1,000,000.00: the cost of 2 changes is unknown (b: data not read, c: no price "
                       "for base model 'gemini-9-ultra'). To go on: read the data with --remote, set a price for "
                       "the base model under cost.prices in reconciler.yaml, raise or remove --max-cost.")


def test_a_refusal_over_the_limit_and_with_unknowns_says_both_and_lists_at_most_ten_names():
    message = over_limit({f"bot-{i:02}": KNOWN_18 for i in range(12)} | {"x": NOT_READ}, 100)
    assert "exceeds it (" in message and "… and 2 more" in message
    assert "the cost of 1 change is unknown (x: data not read)" in message
    assert message.endswith("To go on: read the data with --remote, apply fewer changes (--target), raise or "
                            "remove --max-cost.")
