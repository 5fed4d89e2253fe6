"""What a paid change is estimated to cost: training tokens (the data's characters over a characters-per-token
ratio) × epochs × the price per million training tokens. Pure: a figure is never made up, so data not read or a
base model without a price gives an estimate that says why it has no figure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.cost.prices import PriceTable

DEFAULT_CHARS_PER_TOKEN = 4.0  # English text averages about 4 characters a token
MOST_NAMED = 10  # names in a refusal, then "… and N more"


@dataclass(frozen=True)
class Estimate:
    tokens: int | None  # estimated training tokens per epoch (characters / chars_per_token, rounded up)
    epochs: int | None
    usd: float | None
    price: float | None  # USD per 1M training tokens used
    unknown: str = ""  # why there is no figure: "data not read", "no price for base model 'x'"
    epochs_assumed: bool = False  # epochs not written in the manifest: the service default assumed

    @property
    def known(self) -> bool:
        return self.usd is not None

    @property
    def free(self) -> bool:
        return self.price == 0.0

    def to_json(self) -> dict:
        return {"tokens": self.tokens, "epochs": self.epochs, "usd": self.usd, "price": self.price,
                "unknown": self.unknown, "epochs_assumed": self.epochs_assumed}

    @classmethod
    def from_json(cls, data: Mapping) -> Estimate:
        return cls(tokens=data.get("tokens"), epochs=data.get("epochs"), usd=data.get("usd"),
                   price=data.get("price"), unknown=data.get("unknown", ""),
                   epochs_assumed=bool(data.get("epochs_assumed", False)))

    def text(self) -> str:
        """`≈ 1.2 M tokens × 3 epochs ≈ $18.00`, or `cost unknown: data not read`."""
        volume = f"≈ {self._volume()}" if self.tokens is not None else ""
        if not self.known:
            return f"cost unknown: {self.unknown}" + (f" · {volume}" if volume else "")
        if self.free:
            return f"{volume}: {self.short()}" if volume else self.short()
        return f"{volume} {self.short()}".strip()

    def short(self) -> str:
        """`≈ $18.00`, `$0.00 (free)` or `cost unknown`: for a table cell."""
        if not self.known:
            return "cost unknown"
        return dollars(self.usd, free=True) if self.free else approximately(self.usd)

    def _volume(self) -> str:
        volume = token_count(self.tokens)
        if self.epochs is not None:
            volume += f" × {self.epochs} epoch{'' if self.epochs == 1 else 's'}"
            volume += " (assumed)" if self.epochs_assumed else ""
        return volume


def estimate(*, platform: str, base_model: str | None, characters: int | None, epochs: int | None,
             prices: PriceTable, chars_per_token: float = DEFAULT_CHARS_PER_TOKEN) -> Estimate:
    """The cost of one tuning job. `characters`: the training data's size (None: not read); `epochs`: as the
    manifest sets it (None: the platform's default, marked as assumed)."""
    if chars_per_token <= 0:
        raise ValueError(f"chars_per_token must be above 0, got {chars_per_token!r}")
    assumed = epochs is None
    epochs = prices.default_epochs.get(platform) if epochs is None else epochs
    price = prices.price(platform, base_model) if base_model else None
    tokens = None if characters is None else math.ceil(characters / chars_per_token)
    if price == 0.0:  # free whatever the data: nothing to read, nothing a budget must wait for
        return Estimate(tokens, epochs, 0.0, price, epochs_assumed=assumed and epochs is not None)
    why = [reason for reason, missing in (
        ("data not read", tokens is None),
        ("no base model", not base_model),
        (f"no price for base model {base_model!r}", base_model and price is None),
        (f"no default epoch count for platform {platform!r}", epochs is None)) if missing]
    usd = None if why else round(tokens * epochs * price / 1_000_000, 6)
    return Estimate(tokens, epochs, usd, price, "; ".join(why), assumed and epochs is not None)


def total(estimates: Iterable[Estimate]) -> tuple[float, int]:
    """(the sum of the known figures in USD, how many have none)."""
    known, unknown = 0.0, 0
    for e in estimates:
        if e.known:
            known += e.usd
        else:
            unknown += 1
    return round(known, 6), unknown


def summary(estimates: Iterable[Estimate]) -> str:
    """`Estimated cost: ≈ $42.00 for 3 paid changes (1 unknown: data not read)`."""
    estimates = list(estimates)
    usd, unknown = total(estimates)
    n = len(estimates)
    changes = f"{n} paid change{'' if n == 1 else 's'}"
    reasons = "; ".join(dict.fromkeys(e.unknown for e in estimates if not e.known))
    if unknown == n and n:
        return f"Estimated cost: unknown for {changes} ({reasons})"
    free = all(e.free for e in estimates)
    line = f"Estimated cost: {dollars(usd, free=True) if free else approximately(usd)} for {changes}"
    return line + (f" ({unknown} unknown: {reasons})" if unknown else "")


def over_limit(estimates: Mapping[str, Estimate], limit_usd: float, limit: str = "--max-cost") -> str | None:
    """Why `--max-cost limit_usd` refuses these changes (by manifest name), or None when it allows them: the
    estimated total exceeds the limit, or some change has no estimate to compare."""
    usd, _ = total(estimates.values())
    unknown = {name: e.unknown for name, e in sorted(estimates.items()) if not e.known}
    problems = []
    if usd > limit_usd:
        costly = sorted(((e.usd, name) for name, e in estimates.items() if e.known and e.usd), reverse=True)
        problems.append(f"the estimated cost {approximately(usd)} exceeds it ("
                        + _listed([f"{name} {approximately(e)}" for e, name in costly]) + ")")
    if unknown:
        problems.append(f"the cost of {len(unknown)} change{'' if len(unknown) == 1 else 's'} is unknown ("
                        + _listed([f"{name}: {why}" for name, why in unknown.items()]) + ")")
    if not problems:
        return None
    return (f"{limit} {dollars(limit_usd)}: " + "; and ".join(problems) + ". "
            + _remedy(usd > limit_usd, unknown.values(), limit))


def _remedy(over: bool, unknown: Iterable[str], limit: str) -> str:
    why = " ".join(unknown)
    steps = ["read the data with --remote"] if "data not read" in why else []
    steps += ["set a price for the base model under cost.prices in reconciler.yaml"] if "no price" in why else []
    steps += ["apply fewer changes (--target)"] if over else []
    return "To go on: " + ", ".join(steps + [f"raise or remove {limit}"]) + "."


def _listed(items: list[str]) -> str:
    more = len(items) - MOST_NAMED
    return ", ".join(items[:MOST_NAMED]) + (f", … and {more} more" if more > 0 else "")


def token_count(n: int) -> str:
    """`950 tokens`, `12.3 k tokens`, `1.2 M tokens`."""
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit * 0.99995:  # 999,960 reads 1.0 M, not 1000.0 k
            value = n / limit
            return f"{value:.1f} {unit} tokens" if round(value, 1) < 100 else f"{value:,.0f} {unit} tokens"
    return f"{n} token{'' if n == 1 else 's'}"


def approximately(usd: float) -> str:
    """`≈ $18.00`; `< $0.01` below a cent (already a bound)."""
    money = dollars(usd)
    return money if money.startswith("<") else f"≈ {money}"


def dollars(usd: float, *, free: bool = False) -> str:
    """`$0.42`, `$18.00`, `$1,250.00`; `< $0.01` below a cent; `$0.00 (free)` when tuning is free."""
    if free and usd == 0:
        return "$0.00 (free)"
    if 0 < usd < 0.01:
        return "< $0.01"
    return f"${usd:,.2f}"
