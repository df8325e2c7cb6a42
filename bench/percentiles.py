"""The percentile every benchmark reports: nearest rank, on the sorted sample."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The value below which a share ``q`` of the sample lies (``q`` = 0.99: the p99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
