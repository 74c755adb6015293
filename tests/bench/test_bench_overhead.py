"""The benchmarks' overhead verdict: a budget is called met or missed only when the whole 95 %
interval of the median per-round ratio is on one side of it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from overhead import median_interval, overhead_lines, verdict


def test_verdicts() -> None:
    assert verdict(-0.01, 0.02, 0.03) == "met"
    assert verdict(0.031, 0.2, 0.03) == "missed"
    assert verdict(0.0, 0.05, 0.03).startswith("not resolved")


def test_interval_holds_the_median_and_is_reproducible() -> None:
    ratios = [0.01, 0.2, -0.1, 0.05, 0.03, 0.4, -0.2, 0.02, 0.06]
    low, high = median_interval(ratios)
    assert low <= 0.03 <= high
    assert (low, high) == median_interval(ratios)
    tight = [0.010, 0.011, 0.012, 0.009, 0.010, 0.011, 0.010, 0.012]
    assert 0.009 <= median_interval(tight)[0] <= median_interval(tight)[1] <= 0.012


def test_noisy_rounds_do_not_resolve_a_small_budget_and_clear_ones_do() -> None:
    base = [1.0] * 9
    noisy = [1.0 + r for r in (0.25, -0.15, 0.05, 0.1, -0.05, 0.3, 0.0, 0.08, -0.1)]
    assert "not resolved" in overhead_lines(base, noisy, 0.03)[0]
    clear = [1.0 + r for r in (0.09, 0.1, 0.11, 0.1, 0.095, 0.105, 0.1, 0.1, 0.098)]
    assert overhead_lines(base, clear, 0.03)[0].endswith("budget 3%: missed")
    small = [1.0 + r for r in (0.01, 0.012, 0.008, 0.01, 0.011, 0.009, 0.01, 0.01, 0.012)]
    assert overhead_lines(base, small, 0.03)[0].endswith("budget 3%: met")
    assert "budget" not in overhead_lines(base, small)[0]
