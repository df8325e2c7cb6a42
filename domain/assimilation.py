"""When an organelle's improvement is real enough to merge (seed 002's assimilation), decided
with statistics rather than a window of four scores.

The gate asks three things: the treatment (the candidate adapter) beats the control (the
colony without it) by at least a threshold on enough samples, with a one-sided Welch t-test
below ``alpha``; and the merged adapter itself, scored on a held-out set of at least
``min_holdout`` tasks, does better than before the merge. Every verdict carries its reasons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from scipy import stats

MIN_HOLDOUT = 30


@dataclass(frozen=True)
class Uplift:
    control_mean: float
    treatment_mean: float
    uplift: float
    low: float
    high: float
    """The confidence interval of the uplift (Welch)."""
    p_value: float
    """One-sided: the chance of an uplift this large if the treatment were no better."""
    n_control: int
    n_treatment: int


def uplift(control: Sequence[float], treatment: Sequence[float],
           confidence: float = 0.95) -> Uplift:
    if len(control) < 2 or len(treatment) < 2:
        raise ValueError("an uplift needs at least two scores on each side")
    mean_c, mean_t = sum(control) / len(control), sum(treatment) / len(treatment)
    var_c, var_t = _variance(control), _variance(treatment)
    se2_c, se2_t = var_c / len(control), var_t / len(treatment)
    difference = mean_t - mean_c
    if se2_c + se2_t == 0:  # every score equal on each side: the difference is exact
        p_value = 0.0 if difference > 0 else 1.0
        return Uplift(mean_c, mean_t, difference, difference, difference, p_value,
                      len(control), len(treatment))
    se = math.sqrt(se2_c + se2_t)
    # Welch-Satterthwaite degrees of freedom
    df = (se2_c + se2_t) ** 2 / (_term(se2_c, len(control)) + _term(se2_t, len(treatment)))
    margin = stats.t.ppf(0.5 + confidence / 2, df) * se
    p_value = float(stats.t.sf(difference / se, df))
    return Uplift(mean_c, mean_t, difference, difference - margin, difference + margin,
                  p_value, len(control), len(treatment))


def _variance(values: Sequence[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def _term(se2: float, n: int) -> float:
    return se2 ** 2 / (n - 1) if se2 else 0.0


@dataclass(frozen=True)
class Accuracy:
    """Held-out accuracy with its Wilson score interval."""

    correct: int
    total: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.correct / self.total


def accuracy(correct: int, total: int, confidence: float = 0.95) -> Accuracy:
    if total < 1 or not 0 <= correct <= total:
        raise ValueError(f"{correct} correct of {total} is not an accuracy")
    interval = stats.binomtest(correct, total).proportion_ci(confidence, method="wilson")
    return Accuracy(correct, total, float(interval.low), float(interval.high))


@dataclass(frozen=True)
class Difference:
    """One accuracy minus another, in points of rate, with Newcombe's interval (method 10:
    the two Wilson intervals combined), which stays inside [-1, 1] and is sound at 0/n."""

    points: float
    low: float
    high: float


def difference(treated: Accuracy, control: Accuracy) -> Difference:
    p1, p2 = treated.rate, control.rate
    points = p1 - p2
    low = points - math.sqrt((p1 - treated.low) ** 2 + (control.high - p2) ** 2)
    high = points + math.sqrt((treated.high - p1) ** 2 + (p2 - control.low) ** 2)
    return Difference(points, low, high)


@dataclass(frozen=True)
class AssimilationGate:
    threshold: float = 0.05
    """The least uplift worth a merge."""
    alpha: float = 0.05
    min_samples: int = 30
    """Scores on each side of the uplift test."""
    min_holdout: int = MIN_HOLDOUT

    def __post_init__(self) -> None:
        if self.min_holdout < MIN_HOLDOUT:
            raise ValueError(f"a holdout has at least {MIN_HOLDOUT} tasks")
        if self.min_samples < 2 or not 0 < self.alpha < 1 or not -1 <= self.threshold <= 1:
            raise ValueError("min_samples >= 2, 0 < alpha < 1 and threshold in [-1, 1]")

    def candidate(self, test: Uplift) -> Verdict:
        """Whether a candidate's uplift earns a merge attempt (before any merge is built)."""
        reasons = []
        if min(test.n_control, test.n_treatment) < self.min_samples:
            reasons.append(f"{min(test.n_control, test.n_treatment)} scores on a side, fewer "
                           f"than {self.min_samples}")
        if test.uplift < self.threshold:
            reasons.append(f"uplift {test.uplift:+.3f} below the threshold {self.threshold}")
        if test.p_value >= self.alpha:
            reasons.append(f"p-value {test.p_value:.3f} not below alpha {self.alpha}")
        return Verdict(not reasons, tuple(reasons))

    def merged(self, before: Accuracy, after: Accuracy) -> Verdict:
        """Whether the merged adapter, scored on the held-out set, keeps its place."""
        reasons = []
        if min(before.total, after.total) < self.min_holdout:
            reasons.append(f"holdout of {min(before.total, after.total)} tasks, fewer than "
                           f"{self.min_holdout}")
        if after.rate <= before.rate:
            reasons.append(f"holdout {after.correct}/{after.total} after the merge, not above "
                           f"{before.correct}/{before.total} before")
        return Verdict(not reasons, tuple(reasons))


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...] = field(default=())
