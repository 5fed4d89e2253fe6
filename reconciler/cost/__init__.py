"""What a paid change costs before it starts: an estimate per train or retrain (tokens × epochs × price per
million training tokens), their total, and the `--max-cost` refusal. Pure, apart from reading the packaged
price table."""

from reconciler.cost.estimate import (DEFAULT_CHARS_PER_TOKEN, Estimate, dollars, estimate, over_limit, summary,
                                      token_count, total)
from reconciler.cost.prices import PriceTable

__all__ = ["DEFAULT_CHARS_PER_TOKEN", "Estimate", "PriceTable", "dollars", "estimate", "over_limit", "summary",
           "token_count", "total"]
