"""How sure an overhead number is: the per-round ratios' median, a bootstrap interval, a verdict.

The storm benchmarks run the same workload without and with the agent, alternately, and get
one ratio per round. On a virtual machine those ratios scatter by more than the budget they are
judged against (here: ±15-25 % per round, more than the 3 % exec-storm budget), so a median
alone says little. ``overhead_lines`` adds a 95 % bootstrap interval for the median ratio (the
rounds resampled with replacement, seeded, so a run's output is reproducible) and says whether
the budget is met, missed, or not resolved by this run (the interval straddles it). It must
not run anything: it only does arithmetic on the times it is given.
"""

from __future__ import annotations

import random
import statistics


def median_interval(ratios: list[float], *, draws: int = 4000, seed: int = 1) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the median of ``ratios`` resampled with replacement."""
    rng = random.Random(seed)
    n = len(ratios)
    medians = sorted(statistics.median(rng.choices(ratios, k=n)) for _ in range(draws))
    return medians[int(0.025 * (draws - 1))], medians[int(0.975 * (draws - 1))]


def verdict(low: float, high: float, budget: float) -> str:
    """``met``, ``missed`` or ``not resolved`` for an interval against a budget (all as ratios)."""
    if high <= budget:
        return "met"
    if low > budget:
        return "missed"
    return "not resolved by this run (the interval contains it)"


def overhead_lines(base: list[float], with_agent: list[float], budget: float | None = None) -> list[str]:
    """The overhead line (median of per-round ratios, its 95 % interval, the verdict) and the
    noise line (how far the baseline runs themselves are apart)."""
    ratios = [w / b - 1 for w, b in zip(with_agent, base, strict=True)]
    med = statistics.median(ratios)
    low, high = median_interval(ratios)
    line = (
        f"  overhead : {100 * med:+.1f}% (median of {len(ratios)} per-round ratios; 95% interval "
        f"{100 * low:+.1f}% .. {100 * high:+.1f}%)"
    )
    if budget is not None:
        line += f"; budget {100 * budget:.0f}%: {verdict(low, high, budget)}"
    noise = (
        f"  noise    : baseline runs differ by up to {100 * (max(base) / min(base) - 1):.1f}% among "
        f"themselves; per-round ratios {[f'{100 * r:+.1f}%' for r in ratios]}"
    )
    return [line, noise]
