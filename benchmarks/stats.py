"""The ratio of two throughputs over paired repeats, and its confidence interval."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

CONFIDENCE = 0.95


@dataclass(frozen=True)
class RatioInterval:
    """A ratio of two throughputs and its confidence interval (``low``, ``high``) over ``n`` paired repeats."""

    estimate: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the interval's width relative to the estimate: 0.02 means +-2%, enough to see a 5% difference."""
        return (self.high - self.low) / 2 / self.estimate if math.isfinite(self.high) else math.inf

    def text(self) -> str:
        if self.n < 2:
            return f"{self.estimate:.2f} (1 repeat: no interval)"
        return f"{self.estimate:.2f} [{self.low:.2f}, {self.high:.2f}]"


def ratio_interval(numerator: list[float], denominator: list[float], confidence: float = CONFIDENCE) -> RatioInterval:
    """Geometric mean of the paired ratios ``numerator[i] / denominator[i]`` and its Student-t interval.

    Each pair is measured back to back, so load that drifts over minutes hits both sides of a pair alike and
    cancels in its ratio; the interval is the t-interval of the mean log ratio over the pairs (ratios are
    multiplicative and skewed: in logs they are symmetric), mapped back with exp. With ``n`` pairs of log
    standard deviation ``s`` its half-width is about ``t(n-1) * s / sqrt(n)``: 10 pairs at a 3% spread give
    +-2%. Raises ValueError on unpaired or non-positive figures.
    """
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError(f"paired figures expected, got {len(numerator)} and {len(denominator)}")
    if min(numerator + denominator) <= 0:
        raise ValueError("throughputs must be positive")
    logs = [math.log(a / b) for a, b in zip(numerator, denominator, strict=True)]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return RatioInterval(math.exp(mean), -math.inf, math.inf, 1)
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, len(logs) - 1)) * statistics.stdev(logs) / math.sqrt(len(logs))
    return RatioInterval(math.exp(mean), math.exp(mean - half), math.exp(mean + half), len(logs))


def spread(values: list[float]) -> float:
    """(max - min) / median over the repeats: how much the machine moved the figures."""
    return (max(values) - min(values)) / statistics.median(values)
