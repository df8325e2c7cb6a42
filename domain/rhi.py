"""The Reward Health Index (seed 003, phase 10): a stability guardrail that decides whether a
LoRA update is applied, skipped, rolled back or frozen, before a broken reward model can
teach the policy anything.

Five components, each on [0, 1] with 1 healthy: the gradient dimensions pull the same way
(DCS), their sizes agree (GVS), the representation keeps its shape (MSS), held-out
preferences stay right across domains (CDRS), and local reward follows the trajectory
(LRPS). The fast gate reads the cheap partial index on every update; the slow loop reads the
full one. Pure arithmetic on plain floats, so that a recorded run replays to the same gates.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum


def _finite(what: str, *sequences: Sequence[float]) -> None:
    if any(not math.isfinite(v) for values in sequences for v in values):
        raise ValueError(f"{what} must be finite numbers, not NaN or infinite")


def _unit(value: float, what: str) -> None:
    if not 0.0 <= value <= 1.0:  # also refuses NaN, which fails every comparison
        raise ValueError(f"{what} must lie in [0, 1], not {value}")


def _scaled(values: Sequence[float]) -> list[float]:
    # bring the largest magnitude into [0.5, 1): the measures below ignore scale, and their
    # squares and products then neither overflow nor underflow; a power of two is exact
    top = max((abs(v) for v in values), default=0.0)
    return [math.ldexp(v, -math.frexp(top)[1]) for v in values]


def _clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    # rounding can push a cosine or a correlation a hair past its bound
    return min(high, max(low, value))


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation in [-1, 1]; 0.0 when fewer than two pairs or either side is
    constant (no variance, no evidence of a relation)."""
    if len(xs) != len(ys):
        raise ValueError(f"pearson needs equal lengths, not {len(xs)} and {len(ys)}")
    _finite("pearson inputs", xs, ys)
    # 'all equal' is exact where a variance computed in floats may leave dust
    if len(xs) < 2 or min(xs) == max(xs) or min(ys) == max(ys):
        return 0.0
    xs, ys = _scaled(xs), _scaled(ys)
    mean_x, mean_y = math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)
    dx, dy = [x - mean_x for x in xs], [y - mean_y for y in ys]
    denominator = math.sqrt(math.fsum(d * d for d in dx)) * math.sqrt(math.fsum(d * d for d in dy))
    if denominator == 0.0:
        return 0.0
    return _clamp(math.fsum(a * b for a, b in zip(dx, dy)) / denominator, -1.0, 1.0)


def gradient_agreement(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two gradients; 0.0 if either is zero (it points nowhere)."""
    if len(a) != len(b):
        raise ValueError(f"gradients of different sizes: {len(a)} and {len(b)}")
    _finite("gradients", a, b)
    a, b = _scaled(a), _scaled(b)
    norms = math.hypot(*a) * math.hypot(*b)
    if norms == 0.0:
        return 0.0
    return _clamp(math.fsum(x * y for x, y in zip(a, b)) / norms, -1.0, 1.0)


def _mean_positive_pairs(cosine: Callable[[int, int], float], n: int) -> float:
    if n < 2:
        return 1.0  # a single dimension has nothing to disagree with
    pairs = [max(0.0, cosine(i, j)) for i in range(n) for j in range(i + 1, n)]
    return _clamp(math.fsum(pairs) / len(pairs))


def dcs(gradients: Sequence[Sequence[float]]) -> float:
    """Dimensional Coherence Score: the mean over pairs i<j of max(0, cos(g_i, g_j)).

    The seed writes 1/(N(N-1)) * sum max(0, GDA(i,j)). GDA is symmetric and N(N-1) counts
    ordered pairs, so the sum runs over ordered pairs; read literally over i<j only, a
    perfectly coherent model would score 0.5, and a component meant to be normalised to
    [0, 1] could never reach 1. The mean over unordered pairs is the same quantity."""
    _finite("gradients", *gradients)
    return _mean_positive_pairs(lambda i, j: gradient_agreement(gradients[i], gradients[j]),
                                len(gradients))


def dcs_from_gram(gram: Sequence[Sequence[float]]) -> float:
    """DCS from the Gram matrix K = G G^T of the gradients, which the trainer gets without
    materialising one gradient per dimension: cos_ij = K_ij / sqrt(K_ii K_jj)."""
    n = len(gram)
    if any(len(row) != n for row in gram):
        raise ValueError("a Gram matrix is square")
    _finite("Gram entries", *gram)
    if any(gram[i][i] < 0 for i in range(n)):
        raise ValueError("a Gram matrix has no negative diagonal (squared norms)")

    def cosine(i: int, j: int) -> float:
        norms = math.sqrt(gram[i][i]) * math.sqrt(gram[j][j])
        return _clamp(gram[i][j] / norms, -1.0, 1.0) if norms else 0.0

    return _mean_positive_pairs(cosine, n)


def gradient_variance_index(norms: Sequence[float]) -> float:
    """GVI: the population variance of the gradient norms over their squared mean (the
    squared coefficient of variation), so that it does not depend on the gradients' scale."""
    _finite("gradient norms", norms)
    if any(norm < 0 for norm in norms):
        raise ValueError("a gradient norm is not negative")
    norms = _scaled(norms)
    mean = statistics.fmean(norms) if norms else 0.0
    if len(norms) < 2 or mean == 0.0:
        return 0.0
    return statistics.pvariance([norm / mean for norm in norms])  # var(x / mean) = var / mean^2


def gvs(gvi: float, gvi_max: float) -> float:
    """Gradient Variance Stability: 1 at no spread, 0 from ``gvi_max`` on."""
    _finite("gvi and gvi_max", (gvi, gvi_max))
    if gvi_max <= 0 or gvi < 0:
        raise ValueError(f"gvi_max must be positive and gvi not negative: {gvi_max}, {gvi}")
    return 1.0 - min(1.0, gvi / gvi_max)


def rdm(vectors: Sequence[Sequence[float]]) -> list[float]:
    """The representational dissimilarity matrix's upper triangle (i<j, row-major):
    Euclidean distances between the representations of a fixed probe set."""
    _finite("representations", *vectors)
    if len({len(vector) for vector in vectors}) > 1:
        raise ValueError("representations of different sizes")
    return [math.dist(vectors[i], vectors[j])
            for i in range(len(vectors)) for j in range(i + 1, len(vectors))]


def rdm_drift(before: Sequence[float], after: Sequence[float]) -> float:
    """How far the manifold's shape moved: 1 - max(0, pearson) of the two RDMs. A constant
    RDM has no shape to correlate: no drift if it did not change, total drift if it did."""
    if len(before) != len(after):
        raise ValueError(f"RDMs of different sizes: {len(before)} and {len(after)}")
    _finite("RDM entries", before, after)
    if list(before) == list(after):
        return 0.0  # exactly: a correlation of a list with itself may round below 1
    if len(before) < 2 or min(before) == max(before) or min(after) == max(after):
        return 1.0
    return 1.0 - max(0.0, pearson(before, after))


def curvature_variance(trajectory: Sequence[float]) -> float:
    """How jagged a trajectory is, free of its scale: var(second differences) /
    (var(second differences) + var(trajectory)), in [0, 1]; a straight line scores 0."""
    _finite("trajectory", trajectory)
    if len(trajectory) < 3:
        return 0.0
    trajectory = _scaled(trajectory)
    second = [trajectory[i + 2] - 2 * trajectory[i + 1] + trajectory[i]
              for i in range(len(trajectory) - 2)]
    bend, spread = statistics.pvariance(second), statistics.pvariance(trajectory)
    return 0.0 if bend + spread == 0 else _clamp(bend / (bend + spread))


def mss(drift: float, curvature: float) -> float:
    """Manifold Stability Score: the mean of no-drift and smoothness."""
    _unit(drift, "drift")
    _unit(curvature, "curvature")
    return 0.5 * (1.0 - drift) + 0.5 * (1.0 - curvature)


@dataclass(frozen=True)
class CrossDomain:
    contradiction: float
    """Share of held-out margins that prefer the response labelled worse."""
    entropy: float
    """Mean binary entropy of the preference probabilities, in bits: 1 is a coin toss."""
    consistency: float
    """1 - the spread of accuracy across domains."""
    score: float


def _bits(margin: float) -> float:
    # H(sigmoid(m)) = p*softplus(-m) + (1-p)*softplus(m), with softplus written so that it
    # never overflows: stable where p itself rounds to 0 or 1
    up, down = (max(x, 0.0) + math.log1p(math.exp(-abs(x))) for x in (margin, -margin))
    p = math.exp(-down)
    return _clamp((p * down + (1 - p) * up) / math.log(2))


def cdrs(margins_by_domain: Mapping[str, Sequence[float]]) -> CrossDomain:
    """Cross-Domain Robustness from preference margins on held-out pairs (positive: the model
    agrees with the label). Empty domains say nothing and are left out."""
    domains = {name: list(m) for name, m in margins_by_domain.items() if len(m)}
    margins = [m for values in domains.values() for m in values]
    if not margins:
        raise ValueError("cross-domain robustness needs at least one held-out margin")
    _finite("margins", margins)
    contradiction = sum(m < 0 for m in margins) / len(margins)
    entropy = math.fsum(_bits(m) for m in margins) / len(margins)
    accuracies = [sum(m > 0 for m in values) / len(values) for values in domains.values()]
    consistency = 1.0 - (max(accuracies) - min(accuracies))
    score = 1.0 - (contradiction + entropy + (1.0 - consistency)) / 3.0
    return CrossDomain(contradiction, entropy, consistency, _clamp(score))


def lrps(local: Sequence[float], trajectory: Sequence[float]) -> float:
    """Local Reward Predictiveness: max(0, pearson) of local rewards and trajectory
    outcomes; a reward that anticorrelates predicts nothing useful, so it scores 0."""
    return max(0.0, pearson(local, trajectory))


@dataclass(frozen=True)
class RhiWeights:
    dcs: float = 0.25
    gvs: float = 0.15
    mss: float = 0.25
    cdrs: float = 0.20
    lrps: float = 0.15

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        _finite("RHI weights", values)
        if any(v < 0 for v in values) or abs(math.fsum(values) - 1.0) > 1e-9:
            raise ValueError(f"RHI weights are not negative and sum to 1, not {values}")


DEFAULT_WEIGHTS = RhiWeights()


@dataclass(frozen=True)
class RhiComponents:
    dcs: float
    gvs: float
    mss: float
    cdrs: float
    lrps: float

    def __post_init__(self) -> None:
        for f in fields(self):
            _unit(getattr(self, f.name), f"RHI component {f.name}")

    def rhi(self, weights: RhiWeights = DEFAULT_WEIGHTS) -> float:
        """The full index: the weighted sum of the components."""
        total = math.fsum(getattr(self, f.name) * getattr(weights, f.name) for f in fields(self))
        return _clamp(total)  # weights may sum to 1 +- 1e-9


def partial_rhi(dcs: float, gvs: float, weights: RhiWeights = DEFAULT_WEIGHTS) -> float:
    """The cheap index the fast gate reads on every update: (w_dcs*DCS + w_gvs*GVS) /
    (w_dcs + w_gvs). The seed writes "partial RHI = DCS + GVS", a sum on [0, 2] against
    thresholds 0.5/0.3/0.2 made for [0, 1]; the weighted mean keeps the seed's weights and
    puts the partial index on the full one's scale."""
    _unit(dcs, "DCS")
    _unit(gvs, "GVS")
    both = weights.dcs + weights.gvs
    if both == 0:
        raise ValueError("the partial RHI needs a positive weight on DCS or GVS")
    return _clamp((weights.dcs * dcs + weights.gvs * gvs) / both)


@dataclass(frozen=True)
class GateThresholds:
    skip: float = 0.50
    rollback: float = 0.30
    freeze: float = 0.20
    consolidate: float = 0.70
    falls: int = 3
    """Consecutive falls of the full RHI after which the slow loop lowers the rate."""
    rate_factor: float = 0.5
    """What the learning rate is multiplied by when it is lowered."""

    def __post_init__(self) -> None:
        # comparisons with NaN are false, so NaN thresholds are refused here too
        if not 0.0 <= self.freeze < self.rollback < self.skip <= 1.0:
            raise ValueError("thresholds are ordered 0 <= freeze < rollback < skip <= 1")
        if not 0.0 < self.consolidate <= 1.0:
            raise ValueError("the consolidation threshold lies in (0, 1]")
        if self.falls < 1 or not 0.0 < self.rate_factor < 1.0:
            raise ValueError("falls >= 1 and 0 < rate_factor < 1")


DEFAULT_THRESHOLDS = GateThresholds()


class FastDecision(StrEnum):
    APPLY = "apply"
    SKIP = "skip"
    ROLLBACK = "rollback"
    """Undo the previous applied update and skip this one."""
    FREEZE = "freeze"
    """Roll back the previous update, skip this one, and stop applying until recovery."""
    HELD = "held"
    """Frozen: nothing applied, nothing more rolled back."""


def fast_gate(partial: float, thresholds: GateThresholds = DEFAULT_THRESHOLDS,
              frozen: bool = False) -> FastDecision:
    """The fast gate on one update's partial RHI. While frozen, anything below ``skip`` is
    HELD: the freeze already undid the last good update, and rolling back again would undo
    one applied before the trouble; at ``skip`` or above it recovers (unfreezes, applies)."""
    _unit(partial, "the partial RHI")
    if partial >= thresholds.skip:
        return FastDecision.APPLY
    if frozen:
        return FastDecision.HELD
    if partial < thresholds.freeze:
        return FastDecision.FREEZE
    if partial < thresholds.rollback:
        return FastDecision.ROLLBACK
    return FastDecision.SKIP


def replay_fast(partials: Sequence[float],
                thresholds: GateThresholds = DEFAULT_THRESHOLDS) -> list[FastDecision]:
    """The decisions a recorded run of partial RHIs gets, carrying the frozen state."""
    decisions, frozen = [], False
    for partial in partials:
        decision = fast_gate(partial, thresholds, frozen)
        # HELD only happens while frozen; APPLY (the recovery) is what unfreezes
        frozen = decision in (FastDecision.FREEZE, FastDecision.HELD)
        decisions.append(decision)
    return decisions


class SlowDecision(StrEnum):
    CONTINUE = "continue"
    LOWER_RATE = "lower_rate"


def slow_trend(history: Sequence[float],
               thresholds: GateThresholds = DEFAULT_THRESHOLDS) -> SlowDecision:
    """LOWER_RATE when each of the last ``falls`` full RHIs fell below the one before."""
    _finite("RHI history", history)
    recent = list(history)[-(thresholds.falls + 1):]
    if len(recent) <= thresholds.falls:
        return SlowDecision.CONTINUE  # too short a history to show a trend
    falling = all(later < earlier for earlier, later in zip(recent, recent[1:]))
    return SlowDecision.LOWER_RATE if falling else SlowDecision.CONTINUE


def may_consolidate(rhi: float, thresholds: GateThresholds = DEFAULT_THRESHOLDS) -> bool:
    """Only a clearly healthy reward model is worth consolidating into the base."""
    _unit(rhi, "the RHI")
    return rhi > thresholds.consolidate


class ConsolidationCheck(StrEnum):
    KEEP = "keep"
    REVERT = "revert"


def after_consolidation(before: float, after: float,
                        thresholds: GateThresholds = DEFAULT_THRESHOLDS) -> ConsolidationCheck:
    """A consolidation that lowered the RHI, or left it at or below the bar, is undone."""
    _unit(before, "the RHI before")
    _unit(after, "the RHI after")
    if after < before or after <= thresholds.consolidate:
        return ConsolidationCheck.REVERT
    return ConsolidationCheck.KEEP
