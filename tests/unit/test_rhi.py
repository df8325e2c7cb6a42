"""The Reward Health Index (seed 003, phase 10): each component against values worked out by
hand, the gates at their exact boundaries, and the bounds every component keeps on any
input."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.rhi import (
    DEFAULT_THRESHOLDS,
    ConsolidationCheck,
    FastDecision,
    GateThresholds,
    RhiComponents,
    RhiWeights,
    SlowDecision,
    after_consolidation,
    cdrs,
    curvature_variance,
    dcs,
    dcs_from_gram,
    fast_gate,
    gradient_agreement,
    gradient_variance_index,
    gvs,
    lrps,
    may_consolidate,
    mss,
    partial_rhi,
    pearson,
    rdm,
    rdm_drift,
    replay_fast,
    slow_trend,
)

SQRT2 = math.sqrt(2)
APPLY, SKIP, ROLLBACK, FREEZE, HELD = (FastDecision.APPLY, FastDecision.SKIP,
                                       FastDecision.ROLLBACK, FastDecision.FREEZE,
                                       FastDecision.HELD)


def gram_of(gradients):
    return [[math.fsum(x * y for x, y in zip(a, b)) for b in gradients] for a in gradients]


# gradients, coherence


def test_gradient_agreement_is_the_cosine():
    assert gradient_agreement([1, 0], [0, 1]) == 0.0
    # [1,0].[1,1] = 1, norms 1 and sqrt2
    assert gradient_agreement([1, 0], [1, 1]) == pytest.approx(1 / SQRT2)
    assert gradient_agreement([1, 2], [-2, -4]) == pytest.approx(-1.0)
    assert gradient_agreement([0, 0], [1, 1]) == 0.0  # a zero gradient points nowhere


def test_dcs_is_the_mean_positive_cosine_over_pairs():
    # cos(g0,g1) = 0, cos(g0,g2) = cos(g1,g2) = 1/sqrt2: (0 + 2/sqrt2) / 3 = sqrt2/3 = 0.4714
    assert dcs([[1, 0], [0, 1], [1, 1]]) == pytest.approx(SQRT2 / 3)
    assert dcs([[1, 0], [0, 1], [1, 1]]) == pytest.approx(0.4714, abs=1e-4)


def test_dcs_of_anti_parallel_gradients_is_zero_and_of_parallel_ones_one():
    assert dcs([[1, 2], [-1, -2]]) == 0.0  # cos -1, clipped at 0
    assert dcs([[1, 2], [2, 4], [3, 6]]) == pytest.approx(1.0)


def test_dcs_of_fewer_than_two_gradients_is_one():
    assert dcs([]) == 1.0
    assert dcs([[3, -1]]) == 1.0


def test_dcs_from_gram_matches_the_worked_example():
    # K = G G^T for G = [[1,0],[0,1],[1,1]]: cos02 = 1/sqrt(1*2), cos12 = 1/sqrt(1*2)
    assert dcs_from_gram([[1, 0, 1], [0, 1, 1], [1, 1, 2]]) == pytest.approx(SQRT2 / 3)
    assert dcs_from_gram([[0, 0], [0, 4]]) == 0.0  # a zero diagonal: cosine 0


def test_dcs_refuses_impossible_inputs():
    with pytest.raises(ValueError):
        dcs([[1, 0], [1, 0, 0]])
    with pytest.raises(ValueError):
        dcs([[math.nan, 1], [1, 1]])
    with pytest.raises(ValueError):
        dcs_from_gram([[1, 0], [0]])
    with pytest.raises(ValueError):
        dcs_from_gram([[-1, 0], [0, 1]])


# gradient variance


def test_gvi_is_the_squared_coefficient_of_variation():
    # mean 2, population variance ((1-2)^2 + (3-2)^2) / 2 = 1: 1 / 2^2 = 0.25
    assert gradient_variance_index([1, 3]) == pytest.approx(0.25)
    # scale-free: the same spread at ten times the size
    assert gradient_variance_index([10, 30]) == pytest.approx(0.25)
    assert gradient_variance_index([2, 2, 2]) == 0.0
    assert gradient_variance_index([5]) == 0.0
    assert gradient_variance_index([0, 0]) == 0.0


def test_gvs():
    assert gvs(0.25, 1.0) == pytest.approx(0.75)  # 1 - 0.25/1
    assert gvs(0.25, 0.5) == pytest.approx(0.5)  # 1 - 0.25/0.5
    assert gvs(3.0, 1.0) == 0.0  # capped at gvi_max
    for gvi, gvi_max in ((0.1, 0.0), (0.1, -1.0), (-0.1, 1.0), (math.nan, 1.0)):
        with pytest.raises(ValueError):
            gvs(gvi, gvi_max)
    with pytest.raises(ValueError):
        gradient_variance_index([1, -1])


# manifold stability


def test_rdm_is_the_upper_triangle_of_distances():
    # (0,0)-(3,4) = 5, (0,0)-(0,4) = 4, (3,4)-(0,4) = 3
    assert rdm([[0, 0], [3, 4], [0, 4]]) == [5.0, 4.0, 3.0]
    with pytest.raises(ValueError):
        rdm([[0, 0], [1]])


def test_rdm_drift():
    assert rdm_drift([5, 4, 3], [5, 4, 3]) == 0.0
    assert rdm_drift([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0)  # same shape, scaled
    assert rdm_drift([1, 2, 3], [3, 2, 1]) == 1.0  # r = -1, clipped at 0
    # deviations [-1,0,1] and [-1,1,0]: r = 1 / sqrt(2*2) = 0.5, drift 0.5
    assert rdm_drift([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert rdm_drift([1, 1, 1], [1, 1, 1]) == 0.0  # constant and unchanged
    assert rdm_drift([1, 1, 1], [1, 2, 3]) == 1.0  # constant, then not
    with pytest.raises(ValueError):
        rdm_drift([1, 2, 3], [1, 2])


def test_curvature_variance():
    assert curvature_variance([0, 1, 2, 3]) == 0.0  # second differences all 0
    # second differences (0 - 2*1 + 0, 1 - 2*0 + 1) = (-2, 2), variance 4;
    # var([0, 1, 0, 1]) = 0.25 around the mean 0.5: 4 / (4 + 0.25)
    assert curvature_variance([0, 1, 0, 1]) == pytest.approx(4 / 4.25)
    assert curvature_variance([0, 10, 0, 10]) == pytest.approx(4 / 4.25)  # scale-free
    assert curvature_variance([2, 2, 2]) == 0.0
    assert curvature_variance([0, 5]) == 0.0


def test_mss():
    assert mss(0.0, 0.0) == 1.0
    # 0.5*(1-0.5) + 0.5*(1-4/4.25) = 0.25 + 0.5*(0.25/4.25) = 0.25 + 1/34
    assert mss(0.5, 4 / 4.25) == pytest.approx(0.25 + 1 / 34)
    with pytest.raises(ValueError):
        mss(1.5, 0.0)


# cross-domain robustness and local predictiveness

LN3 = math.log(3)  # sigmoid(ln 3) = 3/4


def test_cdrs_over_two_domains():
    result = cdrs({"code": [LN3, -LN3], "math": [LN3, LN3], "law": []})
    # 1 margin of 4 is negative; the empty domain is ignored
    assert result.contradiction == 0.25
    # every |margin| is ln3, p = 3/4 or 1/4: H = -(3/4)log2(3/4) - (1/4)log2(1/4)
    # = 2 - (3/4)log2(3) = 0.811278
    assert result.entropy == pytest.approx(2 - 0.75 * math.log2(3))
    # accuracy: code 1/2, math 2/2: 1 - (1 - 0.5) = 0.5
    assert result.consistency == 0.5
    # 1 - (0.25 + 0.811278 + 0.5) / 3 = 0.479574
    assert result.score == pytest.approx(1 - (0.25 + 2 - 0.75 * math.log2(3) + 0.5) / 3)
    assert result.score == pytest.approx(0.479574, abs=1e-6)


def test_cdrs_of_a_coin_toss():
    # margin 0: p = 1/2, one full bit; not a contradiction, not a correct answer either
    result = cdrs({"only": [0.0]})
    assert (result.contradiction, result.entropy, result.consistency) == (0.0, 1.0, 1.0)
    assert result.score == pytest.approx(2 / 3)


def test_cdrs_refuses_no_margins_and_nan():
    for margins in ({}, {"code": []}, {"code": [1.0, math.nan]}):
        with pytest.raises(ValueError):
            cdrs(margins)


def test_lrps_and_pearson():
    assert lrps([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert lrps([1, 2, 3], [3, 2, 1]) == 0.0  # r = -1, clipped
    assert lrps([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)  # as in the drift example
    assert lrps([1], [1]) == 0.0
    assert lrps([1, 1, 1], [1, 2, 3]) == 0.0
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        lrps([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        pearson([1, math.nan], [1, 2])


# the index


def test_rhi_is_the_weighted_sum():
    assert RhiComponents(1, 1, 1, 1, 1).rhi() == pytest.approx(1.0)
    assert RhiComponents(0, 0, 0, 0, 0).rhi() == 0.0
    # 0.25*0.8 + 0.15*0.6 + 0.25*1 + 0.20*0.5 + 0.15*0 = 0.2 + 0.09 + 0.25 + 0.1 = 0.64
    assert RhiComponents(0.8, 0.6, 1.0, 0.5, 0.0).rhi() == pytest.approx(0.64)
    equal = RhiWeights(0.2, 0.2, 0.2, 0.2, 0.2)
    assert RhiComponents(1, 0, 1, 0, 1).rhi(equal) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        RhiComponents(1.2, 1, 1, 1, 1)
    with pytest.raises(ValueError):
        RhiComponents(math.nan, 1, 1, 1, 1)


def test_partial_rhi_is_the_weighted_mean_of_dcs_and_gvs():
    assert partial_rhi(1.0, 0.0) == pytest.approx(0.625)  # 0.25 / (0.25 + 0.15)
    assert partial_rhi(0.0, 1.0) == pytest.approx(0.375)  # 0.15 / 0.40
    assert partial_rhi(1.0, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        partial_rhi(1.0, 0.0, RhiWeights(0, 0, 0.5, 0.25, 0.25))


@pytest.mark.parametrize("weights", [
    dict(dcs=0.35),  # sums to 1.1
    dict(dcs=-0.05, gvs=0.45),  # sums to 1, one negative
    dict(lrps=math.nan),
])
def test_invalid_weights_are_refused(weights):
    with pytest.raises(ValueError):
        RhiWeights(**weights)


def test_weights_may_miss_one_by_rounding():
    assert RhiWeights(lrps=0.15 + 5e-10).lrps == 0.15 + 5e-10


# gates


@pytest.mark.parametrize(("partial", "decision"), [
    (0.5, APPLY), (0.49, SKIP), (0.3, SKIP), (0.29, ROLLBACK), (0.2, ROLLBACK),
    (0.19, FREEZE), (0.0, FREEZE), (1.0, APPLY),
])
def test_fast_gate_boundaries(partial, decision):
    assert fast_gate(partial, DEFAULT_THRESHOLDS, frozen=False) is decision


def test_while_frozen_only_a_recovery_applies():
    assert fast_gate(0.5, DEFAULT_THRESHOLDS, frozen=True) is APPLY
    for partial in (0.49, 0.25, 0.1):
        assert fast_gate(partial, DEFAULT_THRESHOLDS, frozen=True) is HELD


def test_replay_carries_the_frozen_state():
    partials = [0.6, 0.4, 0.25, 0.1, 0.45, 0.15, 0.55, 0.45, 0.1]
    assert replay_fast(partials) == [APPLY, SKIP, ROLLBACK, FREEZE, HELD, HELD, APPLY, SKIP,
                                     FREEZE]


def test_fast_gate_refuses_nan():
    with pytest.raises(ValueError):
        fast_gate(math.nan, DEFAULT_THRESHOLDS, frozen=False)


def test_slow_trend():
    assert slow_trend([0.9, 0.8, 0.7, 0.6]) is SlowDecision.LOWER_RATE
    assert slow_trend([0.9, 0.8, 0.85, 0.7]) is SlowDecision.CONTINUE
    assert slow_trend([0.1, 0.9, 0.8, 0.7, 0.6]) is SlowDecision.LOWER_RATE  # last 3 falls
    assert slow_trend([0.9, 0.8, 0.8, 0.7]) is SlowDecision.CONTINUE  # a flat step
    assert slow_trend([0.8, 0.7, 0.6]) is SlowDecision.CONTINUE  # 2 falls on record
    assert slow_trend([0.5, 0.4], GateThresholds(falls=1)) is SlowDecision.LOWER_RATE


def test_consolidation():
    assert not may_consolidate(0.7)  # strictly above the bar
    assert may_consolidate(0.71)
    assert after_consolidation(0.8, 0.75) is ConsolidationCheck.REVERT  # fell
    assert after_consolidation(0.6, 0.7) is ConsolidationCheck.REVERT  # at the bar
    assert after_consolidation(0.72, 0.75) is ConsolidationCheck.KEEP
    assert after_consolidation(0.8, 0.8) is ConsolidationCheck.KEEP


@pytest.mark.parametrize("thresholds", [
    dict(freeze=0.3),  # freeze == rollback
    dict(rollback=0.6),  # rollback above skip
    dict(skip=1.1),
    dict(freeze=-0.1),
    dict(skip=math.nan),
    dict(consolidate=0.0),
    dict(consolidate=1.5),
    dict(falls=0),
    dict(rate_factor=1.0),
    dict(rate_factor=0.0),
])
def test_invalid_thresholds_are_refused(thresholds):
    with pytest.raises(ValueError):
        GateThresholds(**thresholds)


def test_skip_may_be_one():
    assert GateThresholds(skip=1.0).skip == 1.0


# bounds on any input

finite = st.floats(allow_nan=False, allow_infinity=False)
moderate = st.floats(-1e3, 1e3, allow_nan=False)
unit = st.floats(0.0, 1.0)


@given(st.integers(1, 4).flatmap(lambda d: st.lists(st.lists(finite, min_size=d,
                                                               max_size=d), max_size=5)))
def test_dcs_lies_in_the_unit_interval(gradients):
    assert 0.0 <= dcs(gradients) <= 1.0


@given(st.integers(1, 4).flatmap(lambda d: st.lists(
    st.lists(st.integers(-50, 50).map(float), min_size=d, max_size=d), max_size=5)))
def test_dcs_from_gram_agrees_with_dcs(gradients):
    from_gram = dcs_from_gram(gram_of(gradients))
    assert 0.0 <= from_gram <= 1.0
    assert from_gram == pytest.approx(dcs(gradients), abs=1e-9)


@given(st.lists(st.floats(0.0, 1e300), max_size=8), st.floats(1e-6, 10.0))
def test_gvs_lies_in_the_unit_interval(norms, gvi_max):
    gvi = gradient_variance_index(norms)
    assert gvi >= 0.0
    assert 0.0 <= gvs(gvi, gvi_max) <= 1.0


@given(st.integers(1, 3).flatmap(lambda d: st.lists(
    st.lists(moderate, min_size=d, max_size=d), min_size=4, max_size=4)), st.lists(finite))
def test_manifold_stability_lies_in_the_unit_interval(vectors, trajectory):
    before, after = rdm(vectors), rdm(list(reversed(vectors)))
    drift, curvature = rdm_drift(before, after), curvature_variance(trajectory)
    assert 0.0 <= drift <= 1.0 and 0.0 <= curvature <= 1.0
    assert 0.0 <= mss(drift, curvature) <= 1.0


@given(st.dictionaries(st.sampled_from(["code", "math", "law"]), st.lists(finite),
                       min_size=1).filter(lambda d: any(d.values())))
def test_cdrs_parts_lie_in_the_unit_interval(margins_by_domain):
    result = cdrs(margins_by_domain)
    for part in (result.contradiction, result.entropy, result.consistency, result.score):
        assert 0.0 <= part <= 1.0


@given(st.integers(0, 6).flatmap(lambda n: st.tuples(
    st.lists(finite, min_size=n, max_size=n), st.lists(finite, min_size=n, max_size=n))))
def test_lrps_lies_in_the_unit_interval(pair):
    assert 0.0 <= lrps(*pair) <= 1.0


@given(st.lists(unit, min_size=5, max_size=5),
       st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5).filter(lambda w: sum(w) > 0))
def test_rhi_lies_in_the_unit_interval(components, raw_weights):
    weights = RhiWeights(*(w / math.fsum(raw_weights) for w in raw_weights))
    assert 0.0 <= RhiComponents(*components).rhi(weights) <= 1.0
    partial = partial_rhi(components[0], components[1])
    assert min(components[:2]) - 1e-12 <= partial <= max(components[:2]) + 1e-12


@given(st.lists(unit))
def test_held_only_follows_a_freeze_with_no_recovery_since(partials):
    frozen = False
    for decision in replay_fast(partials):
        assert decision is not HELD or frozen
        frozen = decision in (FREEZE, HELD)
