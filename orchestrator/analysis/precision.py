"""Runs too short for the precision orch prints. A throughput is a count of iterations over a
window, and a count of n is uncertain by about sqrt(n), 1/sqrt(n) of itself (the Poisson rule):
below MIN_ITERATIONS that is more than 5%, coarser than the whole iterations/s and two-decimal
ratios the tables show. The CI over seeds does not see it when the seeds count alike: a "± 0" of a
short run says the seeds agreed, not that the value is exact. orch run, sweep and report warn."""

from __future__ import annotations

import math
from collections.abc import Iterable

MIN_ITERATIONS = 400  # 1/sqrt(400) = 5%


def uncertainty(iterations: int) -> float:
    """The counting uncertainty of a throughput from this many iterations, as a share of it."""
    return 1 / math.sqrt(iterations) if iterations > 0 else math.inf


def long_enough(duration_ms: float, iterations: int) -> float:
    """The measured window that would count MIN_ITERATIONS at the same rate, in ms (rounded up to
    two significant digits)."""
    wanted = duration_ms * MIN_ITERATIONS / max(iterations, 1)
    scale = 10 ** (math.floor(math.log10(wanted)) - 1) if wanted > 0 else 1
    return math.ceil(wanted / scale) * scale


def run_warning(iterations: int, duration_ms: float) -> str | None:
    """orch run's warning for one run, None when it counted enough."""
    if iterations >= MIN_ITERATIONS:
        return None
    return (f"only {iterations:,} iterations in the {duration_ms:g} ms measured: a count that small is uncertain by "
            f"about 1/sqrt({iterations:,}) = {uncertainty(iterations):.0%} (fewer than {MIN_ITERATIONS} "
            f"iterations: more than 5%), coarser than the numbers printed; measure for "
            f"{long_enough(duration_ms, iterations):g} ms or more (--duration-ms)")


def runs_warning(runs: Iterable[dict], flag: str = "duration_ms") -> str | None:
    """One warning for the runs (rows of the runs table) that counted too few iterations, naming the
    shortest; None when none did. flag: what the user changes to lengthen them."""
    runs = [r for r in runs if r.get("iterations") is not None]
    short = [r for r in runs if r["iterations"] < MIN_ITERATIONS]
    if not short:
        return None
    fewest = min(short, key=lambda r: r["iterations"])
    n = fewest["iterations"]
    return (f"{len(short):,} of {len(runs):,} runs counted fewer than {MIN_ITERATIONS} iterations (fewest: {n:,} "
            f"in {fewest['duration_ms']:g} ms, {fewest['copies']:,} copies of {fewest['workload']} on "
            f"{fewest['topology']}, {fewest['strategy']}): their throughput is uncertain by about "
            f"1/sqrt(iterations), {uncertainty(n):.0%} for that one, whatever the CI over seeds says (a CI of "
            f"± 0 there means the seeds counted alike); raise {flag} to about "
            f"{long_enough(fewest['duration_ms'], n):g} ms")
