"""Token-derived cost: built-in model prices, project overrides, and the cost computation."""

from heron.cost.pricing import (
    PriceBook,
    PriceEntry,
    PriceEntryError,
    PriceTier,
    compute_cost,
    load_builtin_prices,
)

__all__ = [
    "PriceBook",
    "PriceEntry",
    "PriceEntryError",
    "PriceTier",
    "compute_cost",
    "load_builtin_prices",
]
