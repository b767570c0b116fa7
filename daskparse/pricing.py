"""What Gemini calls cost: one model's prices and the arithmetic, in one place (stats, the spend cap, batch jobs).

    prices = Prices(input=0.30, output=2.50)            # USD per million tokens (Settings.prices() for the model's)
    prices.cost(1800, 300)                              # USD for 1,800 input and 300 output tokens
    prices.cost(1800, 300, thoughts_tokens=100)         # thinking is billed as output
    prices.cost(1800, 300, batch=True)                  # a batch request: ``batch_discount`` of the online price
    prices.most(1800, max_output_tokens=2048)           # the most one call can cost: what the spend cap reserves

Not rounded: the spend cap adds these up against its limit, and a sum of rounded costs may pass it. Round where a
cost is shown (``Settings.estimated_cost``).
"""

from __future__ import annotations

from dataclasses import dataclass

PER_TOKENS = 1e6  # prices are quoted per million tokens


@dataclass(frozen=True)
class Prices:
    """A model's prices: USD per million input tokens (text and image) and per million output tokens (thinking
    included); a batch request costs ``batch_discount`` of that."""

    input: float
    output: float
    batch_discount: float = 0.5

    def cost(self, input_tokens: int, output_tokens: int = 0, thoughts_tokens: int = 0, batch: bool = False) -> float:
        """USD for a call's (or a run's) tokens, as ``usageMetadata`` reports them."""
        cost = (input_tokens * self.input + (output_tokens + thoughts_tokens) * self.output) / PER_TOKENS
        return cost * (self.batch_discount if batch else 1.0)

    def most(self, input_tokens: int, max_output_tokens: int, batch: bool = False) -> float:
        """The most one call can cost: its input and its whole output budget, which thoughts count against too;
        the spend cap reserves this before a call, so no answer can take a run past it."""
        return self.cost(input_tokens, max_output_tokens, batch=batch)


__all__ = ["Prices"]
