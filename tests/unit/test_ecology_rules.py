"""The ecology's pure rules: energy that is conserved and never negative, culls that are
final, bandits that route deterministically, and an assimilation gate decided by statistics."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from domain.assimilation import AssimilationGate, accuracy, uplift
from domain.energy import EnergyPolicy, OrganelleCulledError, Purse
from domain.routing import Arm, thompson, ucb, ucb_batch

POLICY = EnergyPolicy()
amounts = st.decimals(min_value=0, max_value=30, places=6, allow_nan=False,
                      allow_infinity=False)


@given(st.lists(st.tuples(st.booleans(), amounts), max_size=60))
def test_energy_is_conserved_never_negative_and_a_cull_is_final(moves):
    purse = Purse.spawned(POLICY)
    for is_credit, amount in moves:
        if purse.culled:
            with pytest.raises(OrganelleCulledError):
                purse.charge(amount, POLICY) if not is_credit else purse.credit(amount, POLICY)
            continue
        purse = purse.credit(amount, POLICY) if is_credit else purse.charge(amount, POLICY)
        assert purse.balance == POLICY.initial + purse.earned - purse.spent
        assert min(purse.balance, purse.earned, purse.spent, purse.overflow, purse.unpaid) >= 0
        assert purse.balance <= POLICY.cap


def test_three_charges_in_a_row_it_cannot_pay_cull_it_and_paying_clears_strikes():
    purse = Purse.spawned(POLICY).charge(Decimal(12), POLICY)
    assert (purse.balance, purse.unpaid, purse.strikes, purse.culled) == (0, 2, 1, False)
    purse = purse.credit(Decimal(1), POLICY).charge(Decimal("0.5"), POLICY)
    assert purse.strikes == 0  # paid in full
    for _ in range(3):
        purse = purse.charge(Decimal(5), POLICY)
    assert purse.culled and purse.strikes == 3


def test_the_cap_turns_income_away_as_overflow():
    purse = Purse.spawned(POLICY).credit(Decimal(45), POLICY)
    assert (purse.balance, purse.earned, purse.overflow) == (50, 40, 5)


def test_a_cell_that_fails_more_pays_more_per_reward():
    assert POLICY.price(0.5) == 1 and POLICY.price(0.0) == Decimal("1.5")
    assert POLICY.price(1.0) == Decimal("0.5")
    assert POLICY.income(0.8, 0.0) == Decimal("1.2")
    assert POLICY.compute_cost(100, 2.0) == Decimal("0.3")


@pytest.mark.parametrize("bad", [{"ticket": Decimal(-1)}, {"initial": Decimal(60)},
                                 {"strikes_to_cull": 0}, {"target_success": Decimal(2)},
                                 {"cap": Decimal("NaN")}])
def test_an_impossible_energy_policy_is_refused(bad):
    with pytest.raises(ValueError):
        EnergyPolicy(**bad)


def test_ucb_tries_every_arm_then_weighs_mean_against_exploration():
    arms = {"a": Arm(), "b": Arm()}
    assert ucb(arms, 1.0) == "a"
    arms = {"a": Arm(10, 9.0), "b": Arm(1, 0.0)}
    assert ucb(arms, 0.1) == "a"  # little exploration: the better mean
    assert ucb(arms, 3.0) == "b"  # much: the arm barely tried
    with pytest.raises(ValueError):
        Arm().pulled(1.5)


def test_thompson_sampling_is_a_function_of_its_random_source_and_favours_the_better_arm():
    arms = {"good": Arm(40, 36.0), "bad": Arm(40, 8.0)}
    picks = [thompson(arms, random.Random(seed)) for seed in range(200)]
    assert picks == [thompson(arms, random.Random(seed)) for seed in range(200)]
    assert picks.count("good") > 190


def test_the_uplift_is_welchs_test_computed_by_hand():
    control, treatment = [0, 0, 1, 1], [1, 1, 1, 0]
    test = uplift(control, treatment)
    # se^2 = (1/3)/4 + (1/4)/4 = 0.145833; t = 0.25 / 0.381881 = 0.654654; df = 5.880
    assert test.uplift == pytest.approx(0.25)
    reference = stats.ttest_ind(treatment, control, equal_var=False, alternative="greater")
    assert test.p_value == pytest.approx(reference.pvalue)
    assert reference.statistic == pytest.approx(0.654654, abs=1e-6)
    assert test.low < 0.25 < test.high


def test_equal_scores_on_each_side_give_an_exact_difference():
    assert uplift([0, 0, 0], [1, 1, 1]).p_value == 0.0
    assert uplift([1, 1, 1], [1, 1, 1]).p_value == 1.0


def test_held_out_accuracy_carries_its_wilson_interval():
    result = accuracy(8, 10)
    assert (round(result.low, 4), round(result.high, 4)) == (0.4902, 0.9433)
    with pytest.raises(ValueError):
        accuracy(11, 10)


def test_the_gate_says_why_it_refuses_and_scores_the_merged_adapter():
    gate = AssimilationGate(threshold=0.2, alpha=0.05, min_samples=30)
    weak = uplift([0, 1] * 10, [1, 0, 1] * 7)
    refused = gate.candidate(weak)
    assert not refused.passed and len(refused.reasons) == 3
    strong = uplift([0, 0, 1] * 12, [1, 1, 1, 0] * 10)
    assert gate.candidate(strong).passed
    assert not gate.merged(accuracy(10, 40), accuracy(10, 40)).passed
    assert gate.merged(accuracy(10, 40), accuracy(18, 40)).passed
    assert "fewer than 30" in gate.merged(accuracy(1, 4), accuracy(3, 4)).reasons[0]
    with pytest.raises(ValueError):
        AssimilationGate(min_holdout=4)


@given(balance=amounts, roi=st.one_of(st.none(), st.floats(0, 10)),
       bar=st.decimals(min_value=0, max_value=5, places=2),
       most=st.decimals(min_value=0, max_value=20, places=2))
def test_a_top_up_never_exceeds_its_limit_nor_lifts_a_purse_past_its_initial_energy(
        balance, roi, bar, most):
    policy = EnergyPolicy(topup_roi=bar, topup_max=most)
    purse = Purse(balance=min(balance, policy.cap))
    granted = policy.top_up(purse, roi)
    assert 0 <= granted <= most
    assert granted == 0 or purse.balance + granted <= policy.initial
    if not bar or roi is None or Decimal(str(roi)) < bar:
        assert granted == 0
    assert policy.top_up(Purse(balance=Decimal(0), culled=True), roi) == 0


def test_a_batch_chosen_before_its_rewards_spreads_as_ucb1_would_not_onto_one_arm():
    fresh = {cell: Arm() for cell in "abcd"}
    assert sorted(ucb_batch(fresh, 8, 1.0)) == list("aabbccdd")
    known = {"easy": Arm(40, 22.0), "hard": Arm(4, 0.4), "new": Arm()}
    chosen = ucb_batch(known, 16, 1.0)
    assert chosen[0] == "new" and set(chosen) == {"easy", "hard", "new"}
    assert chosen.count("easy") > chosen.count("hard")  # still the better mean, not all of it
    assert [ucb(known, 1.0)] * 16 != chosen  # what choosing without pending pulls did


@given(st.dictionaries(st.integers(0, 9), st.tuples(st.integers(1, 50), st.floats(0, 1)),
                       min_size=1, max_size=6), st.integers(1, 40))
def test_a_ucb_batch_is_as_long_as_asked_and_a_function_of_its_inputs(beliefs, count):
    arms = {key: Arm(pulls, pulls * mean) for key, (pulls, mean) in beliefs.items()}
    chosen = ucb_batch(arms, count, 1.0)
    assert len(chosen) == count and set(chosen) <= set(arms)
    assert chosen == ucb_batch(arms, count, 1.0)
