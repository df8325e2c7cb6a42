"""The karma economy's rules on an account, without a database: settling a reviewed task
(reward, stake, mint or burn, ratings), karma per tag for scheduling, peer votes and decay."""

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.economy import (
    EconomyPolicy,
    decay_account,
    review_game,
    reward,
    settle_review,
)
from domain.karma import (
    GLOBAL_SCOPE,
    KarmaBurned,
    KarmaMinted,
    RatingUpdated,
    StakeReturned,
    StakeSlashed,
)
from domain.rating import update
from domain.tasks import Task, TextPart
from tests.builders import PROVENANCE, T0, account

POLICY = EconomyPolicy()
AT = {"at": T0, "provenance": PROVENANCE}


def reviewed_task(task_id: str = "t1", *, tags: tuple[str, ...] = ("peft",),
                  base: Decimal = Decimal(3), stake: Decimal = Decimal(0),
                  usage: tuple[int, int, int] = (1200, 300, 900),
                  agent_id: str = "reader-1") -> Task:
    """A task its assignee completed with ``usage`` (duration ms, tokens, cpu ms)."""
    task = Task.issue(task_id, task_type="Summarise_Paper", payload={}, tags=tags,
                      base_reward=base, stake_required=stake, parent_id=None, **AT)
    task.assign(agent_id, scores={}, reason="test", **AT)
    task.start(agent_id, **AT)
    task.produce_artifact("a1", name="summary", parts=(TextPart(text="s"),), **AT)
    duration_ms, tokens, cpu_ms = usage
    task.complete(duration_ms=duration_ms, tokens=tokens, cpu_ms=cpu_ms, **AT)
    task.collect_events()
    return task


def staked_account(task: Task, balance: Decimal = Decimal(10)):
    """An account holding the task's stake in escrow."""
    holder = account(balance=balance)
    holder.stake(task.stake_required, task_id=task.task_id, **AT)
    holder.collect_events()
    return holder


def kinds(events) -> list[str]:
    return [type(event).__name__ for event in events]


def test_settlement_mints_exactly_the_formulas_delta_with_its_inputs():
    holder, task = account(), reviewed_task()
    breakdown = settle_review(POLICY, holder, task, Decimal("1.2"), **AT)
    expected = reward(POLICY, Decimal(3), Decimal("1.2"), 1200, 300, 900,
                      POLICY.initial_rating().deviation)
    assert breakdown == expected and expected.delta > 0
    minted = [e for e in holder.collect_events() if isinstance(e, KarmaMinted)]
    assert len(minted) == 1
    assert minted[0].amount == expected.delta
    assert minted[0].formula == expected.model_dump()
    assert (minted[0].task_id, minted[0].scope) == ("t1", ("peft",))
    assert minted[0].reason == "review of task t1"
    assert holder.balance == expected.delta and holder.scoped == {"peft": expected.delta}


def test_the_reward_is_scaled_by_the_global_deviation_before_the_review_counts():
    holder = account()
    settle_review(POLICY, holder, reviewed_task("t1"), Decimal(1), **AT)
    settled_deviation = holder.rating(GLOBAL_SCOPE, POLICY.initial_rating())[0].deviation
    second = settle_review(POLICY, holder, reviewed_task("t2"), Decimal(1), **AT)
    assert second == reward(POLICY, Decimal(3), Decimal(1), 1200, 300, 900, settled_deviation)


@pytest.mark.parametrize(("quality", "event", "balance", "slashed"), [
    (Decimal("0.5"), StakeReturned, Decimal(6), Decimal(0)),
    (Decimal("1.5"), StakeReturned, Decimal(6), Decimal(0)),
    (Decimal("0.499999"), StakeSlashed, Decimal(2), Decimal(4)),
    (Decimal(0), StakeSlashed, Decimal(2), Decimal(4)),
])
def test_the_stake_comes_back_on_success_and_is_slashed_on_failure(quality, event, balance,
                                                                  slashed):
    task = reviewed_task(base=Decimal(8), stake=Decimal(4), usage=(0, 0, 0))
    holder = staked_account(task, balance=Decimal(6))
    breakdown = settle_review(POLICY, holder, task, quality, **AT)
    events = holder.collect_events()
    assert isinstance(events[0], event) and events[0].amount == Decimal(4)
    outcome = "succeeded" if event is StakeReturned else "failed review"
    assert events[0].reason == f"task t1 {outcome} (quality {quality})"
    assert holder.escrow == 0 and holder.stakes == {} and holder.slashed == slashed
    assert holder.balance == balance + max(breakdown.delta, Decimal(0))


def test_entries_follow_in_the_ledgers_order_stake_karma_then_ratings():
    task = reviewed_task(tags=("peft", "nlp"), base=Decimal(8), stake=Decimal(4))
    holder = staked_account(task)
    settle_review(POLICY, holder, task, Decimal(1), **AT)
    assert kinds(holder.collect_events()) == [
        "StakeReturned", "KarmaMinted", "RatingUpdated", "RatingUpdated", "RatingUpdated"]


def test_a_loss_burns_at_most_the_available_balance():
    costly = reviewed_task(base=Decimal(1), usage=(60_000, 20_000, 30_000))
    holder = account(balance=Decimal("0.5"))
    breakdown = settle_review(POLICY, holder, costly, Decimal("0.1"), **AT)
    assert -breakdown.delta > Decimal("0.5")
    burned = [e for e in holder.collect_events() if isinstance(e, KarmaBurned)]
    assert [e.amount for e in burned] == [Decimal("0.5")]
    assert burned[0].formula == breakdown.model_dump()
    assert holder.balance == 0 and holder.burned == Decimal("0.5")


def test_an_empty_account_loses_nothing_but_the_review_still_counts():
    costly = reviewed_task(base=Decimal(1), usage=(60_000, 20_000, 30_000))
    holder = account()
    settle_review(POLICY, holder, costly, Decimal("0.1"), **AT)
    assert kinds(holder.collect_events()) == ["RatingUpdated", "RatingUpdated"]
    assert holder.balance == 0 and holder.burned == 0


def test_a_zero_delta_records_no_karma_entry():
    holder = account(balance=Decimal(1))
    settle_review(POLICY, holder, reviewed_task(usage=(0, 0, 0)), Decimal(0), **AT)
    assert kinds(holder.collect_events()) == ["RatingUpdated", "RatingUpdated"]


def test_a_review_is_a_rated_game_globally_and_in_each_tag():
    holder, task = account(), reviewed_task(tags=("peft", "nlp"))
    settle_review(POLICY, holder, task, Decimal("1.2"), **AT)
    game = review_game(POLICY, Decimal("1.2"))
    expected = update(POLICY.initial_rating(), [game], POLICY.volatility.tau)
    updates = [e for e in holder.collect_events() if isinstance(e, RatingUpdated)]
    assert [e.scope for e in updates] == [GLOBAL_SCOPE, "peft", "nlp"]
    for scope in (GLOBAL_SCOPE, "peft", "nlp"):
        assert holder.rating(scope, POLICY.initial_rating()) == (expected, 1)
    settle_review(POLICY, holder, reviewed_task("t2", tags=("nlp",)), Decimal(1), **AT)
    assert [holder.games_in(scope) for scope in (GLOBAL_SCOPE, "peft", "nlp")] == [2, 1, 2]


def test_karma_in_sums_the_tags_or_takes_the_balance_for_untagged_work():
    holder = account(balance=Decimal(7))
    for tag, amount in (("peft", Decimal(2)), ("nlp", Decimal("0.5"))):
        holder.mint(amount, reason="r", task_id=None, scope=(tag,), **AT)
    assert holder.karma_in(("peft", "nlp")) == Decimal("2.5")
    assert holder.karma_in(["peft", "vision"]) == Decimal(2)
    assert holder.karma_in(()) == holder.balance == Decimal("9.5")


def test_releasing_a_stake_that_is_not_held_records_nothing():
    holder = account(balance=Decimal(3))
    holder.release_stake("t1", returned=False, reason="r", **AT)
    assert holder.collect_events() == []


def test_a_peer_vote_mints_up_and_burns_down_as_far_as_the_balance_goes():
    holder = account(balance=Decimal("0.05"))
    entry = {"reason": "vote", "task_id": "t1", "scope": ("peft",), **AT}
    holder.credit(POLICY.peer_vote(up=True), **entry)
    holder.credit(POLICY.peer_vote(up=False), **entry)
    holder.credit(POLICY.peer_vote(up=False), **entry)
    events = holder.collect_events()
    assert kinds(events) == ["KarmaMinted", "KarmaBurned", "KarmaBurned"]
    assert [e.amount for e in events] == [Decimal("0.1"), Decimal("0.1"), Decimal("0.05")]
    assert holder.balance == 0


def test_decay_follows_the_policys_half_life_from_the_last_decay():
    holder = account(balance=Decimal(100))
    as_of = T0 + timedelta(days=30)
    assert decay_account(POLICY, holder, as_of=as_of, at=as_of, provenance=PROVENANCE)
    assert holder.balance == Decimal(50) and holder.decayed_until == as_of
    assert not decay_account(POLICY, holder, as_of=as_of, at=as_of, provenance=PROVENANCE)


Review = st.tuples(
    st.decimals(min_value=0, max_value="1.5", places=2),  # quality
    st.sampled_from([Decimal(1), Decimal(3), Decimal(8)]),  # base reward
    st.integers(0, 120_000), st.integers(0, 40_000), st.integers(0, 60_000),  # usage
    st.sampled_from([(), ("peft",), ("peft", "nlp")]),  # tags
    st.integers(0, 60),  # days to decay before the review
)


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=20, places=6), st.lists(Review, max_size=12))
def test_any_settlements_conserve_karma_and_never_go_negative(seed, reviews):
    holder = account(balance=seed)
    day = 0
    for number, (quality, base, duration, tokens, cpu, tags, days) in enumerate(reviews):
        if days:
            day += days
            as_of = T0 + timedelta(days=day)
            decay_account(POLICY, holder, as_of=as_of, at=as_of, provenance=PROVENANCE)
        stake = POLICY.stake_for(base) if POLICY.stake_for(base) <= holder.balance else 0
        task = reviewed_task(f"t{number}", tags=tags, base=base, stake=Decimal(stake),
                             usage=(duration, tokens, cpu))
        if stake:
            holder.stake(task.stake_required, task_id=task.task_id, **AT)
        before, escrow = holder.balance, holder.escrow
        delta = settle_review(POLICY, holder, task, quality, **AT).delta
        released = escrow - holder.escrow
        assert released == stake and holder.stakes == {}
        returned = stake if POLICY.review_succeeded(quality) else 0
        assert holder.balance == max(before + returned + delta, Decimal(0))
        assert holder.balance >= 0 and holder.escrow >= 0
        assert holder.balance + holder.escrow == (
            holder.minted - holder.burned - holder.decayed - holder.slashed)
        assert holder.games_in() == number + 1
