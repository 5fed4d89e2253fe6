"""The price of supervised tuning per million training tokens, by base model family: the table packaged beside
this module (prices.json, with its source and as-of date), under the prices reconciler.yaml sets.

Platform names live in the table, not here: a platform is a key of prices.json, as it is of a manifest."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType

PRICES_FILE = "prices.json"
_VERSION = re.compile(r"-\d{3}$")  # gemini-2.0-flash-001 is priced as gemini-2.0-flash


def family(base_model: str) -> str:
    """The name a price is listed under: `gemini-2.0-flash` for `gemini-2.0-flash-001`,
    `publishers/google/models/gemini-2.0-flash-001` and `models/gemini-1.5-flash-001-tuning`."""
    name = base_model.strip().rsplit("/", 1)[-1].removesuffix("-tuning")
    return _VERSION.sub("", name)


@dataclass(frozen=True)
class PriceTable:
    source: str
    date: str
    per_million: Mapping[str, Mapping[str, float]]  # USD per 1M training tokens, by platform, then family
    free: frozenset[str] = frozenset()  # the platforms whose tuning is free of charge
    default_epochs: Mapping[str, int] = field(default_factory=dict)  # by platform: when a manifest sets none
    overrides: Mapping[str, float] = field(default_factory=dict)  # by base model or family, on every platform

    @classmethod
    def packaged(cls, overrides: Mapping[str, float] = MappingProxyType({})) -> PriceTable:
        """The packaged table; `overrides` (reconciler.yaml) win over it, on every platform."""
        data = json.loads(resources.files(__package__).joinpath(PRICES_FILE).read_text(encoding="utf-8"))
        return cls.from_json(data, overrides)

    @classmethod
    def from_json(cls, data: dict, overrides: Mapping[str, float] = MappingProxyType({})) -> PriceTable:
        platforms: dict = data["platforms"]
        per_million = {p: MappingProxyType({model: float(price) for model, price in v.items()})
                       for p, v in ((p, v.get("perMillionTrainingTokens")) for p, v in platforms.items()) if v}
        return cls(source=data["source"], date=data["date"], per_million=MappingProxyType(per_million),
                   free=frozenset(p for p, v in platforms.items() if v.get("free")),
                   default_epochs=MappingProxyType({p: int(v["defaultEpochs"]) for p, v in platforms.items()
                                                    if "defaultEpochs" in v}),
                   overrides=MappingProxyType(_checked(overrides)))

    def price(self, platform: str, base_model: str) -> float | None:
        """USD per 1M training tokens of tuning `base_model` on `platform`; None when no price is known."""
        for key in (base_model, family(base_model)):
            if key in self.overrides:
                return self.overrides[key]
        if platform in self.free:
            return 0.0
        return self.per_million.get(platform, {}).get(family(base_model))


def _checked(overrides: Mapping[str, float]) -> dict[str, float]:
    checked = {}
    for model, price in overrides.items():
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            raise ValueError(f"price of {model!r}: expected a number of USD per 1M training tokens (0 or more), "
                             f"got {price!r}")
        checked[str(model)] = float(price)
    return checked
