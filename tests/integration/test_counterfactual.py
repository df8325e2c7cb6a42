"""Counterfactual replay and `karma verify` over a recorded run, on a real PostgreSQL."""

from decimal import Decimal

import pytest

from app.counterfactual import replay
from app.verify import verify
from domain.errors import NotFoundError
from domain.tasks import TextPart
from handlers import commands as c
from readside.queries import Queries
from tests.builders import register
from tests.conftest import ledger_size


def record_a_run(service) -> str:
    """Three agents, a chain of tasks, reviews, a stake, a failure and a peer vote."""
    register(service, "fetcher-1", "reader-1", "analyst-1", "reviewer")
    service.execute(c.MintKarma(agent_id="analyst-1", amount=Decimal(10), reason="grant"))
    run_id = service.execute(c.StartRun(workflow="research")).ids["run_id"]

    def work(task_type, agent, quality, parent=None, duration_ms=2000, tags=("peft",)):
        task_id = service.execute(c.IssueTask(run_id=run_id, task_type=task_type,
                                              tags=list(tags), parent_id=parent)).ids["task_id"]
        service.execute(c.AssignTask(task_id=task_id, agent_id=agent))
        service.execute_batch([
            c.StartTask(task_id=task_id, agent_id=agent),
            c.RecordArtifact(task_id=task_id, parts=[TextPart(text=task_type)]),
            c.CompleteTask(task_id=task_id, duration_ms=duration_ms, tokens=900, cpu_ms=700)])
        service.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer",
                                      quality=Decimal(quality), rationale="r"))
        return task_id

    fetched = work("Fetch_Paper", "fetcher-1", "1.0", tags=())
    summary = work("Summarise_Paper", "reader-1", "1.3", parent=fetched)
    service.execute(c.CastPeerVote(task_id=summary, voter_id="reader-1", up=True))
    work("Synthesise_Report", "analyst-1", "0.3", parent=summary, duration_ms=30_000)
    failing = service.execute(c.IssueTask(run_id=run_id, task_type="Compare_Methods")).ids["task_id"]
    service.execute(c.AssignTask(task_id=failing, agent_id="reader-1"))
    service.execute_batch([c.StartTask(task_id=failing, agent_id="reader-1"),
                           c.FailTask(task_id=failing, reason="model endpoint down")])
    return run_id


def test_replaying_a_run_with_its_own_policy_reproduces_what_the_ledger_paid(container):
    run_id = record_a_run(container.service)
    container.projections.catch_up()
    before = ledger_size(container)
    comparison = replay(Queries(container.datastore), run_id, container.policy)
    assert comparison.counterfactual == comparison.recorded
    assert comparison.refused == 0
    earned = {s.agent_id: s.earned for s in comparison.recorded}
    assert set(earned) == {"fetcher-1", "reader-1", "analyst-1", "reviewer"}
    assert earned["reviewer"] == 0 and earned["reader-1"] > earned["fetcher-1"] > 0
    assert earned["analyst-1"] < 0  # a poor review slashed its stake
    assert ledger_size(container) == before  # a replay writes nothing


def test_another_policy_changes_the_leaderboard(container, tmp_path):
    run_id = record_a_run(container.service)
    container.projections.catch_up()
    policy = container.policy
    fetch_first = policy.model_copy(update={
        "reward": policy.reward.model_copy(update={
            "base_rewards": {"Fetch_Paper": Decimal(20)}, "default_base": Decimal("0.1")}),
        "staking": policy.staking.model_copy(update={"required_from_base": Decimal(100)})})
    comparison = replay(Queries(container.datastore), run_id, fetch_first)
    assert comparison.refused == 0
    assert comparison.counterfactual[0].agent_id == "fetcher-1"
    assert comparison.recorded[0].agent_id == "reader-1"
    assert comparison.policy_digest == fetch_first.digest() != policy.digest()


def test_a_policy_that_asks_stakes_nobody_can_afford_refuses_that_work(container):
    run_id = record_a_run(container.service)
    container.projections.catch_up()
    policy = container.policy
    greedy = policy.model_copy(update={"staking": policy.staking.model_copy(
        update={"required_from_base": Decimal("0.5"), "fraction_of_base": Decimal(5)})})
    comparison = replay(Queries(container.datastore), run_id, greedy)
    assert comparison.refused > 0


def test_replaying_an_unknown_run_is_a_clear_error(container):
    with pytest.raises(NotFoundError, match="unknown run"):
        replay(Queries(container.datastore), "no-such-run", container.policy)


def test_verify_passes_on_a_real_run_and_catches_a_tampered_view(container):
    record_a_run(container.service)
    result = verify(container)
    assert result.ok, result.problems
    assert result.checked_accounts == 4 and all(result.digests.values())
    with container.datastore.get_connection() as conn:
        conn.execute("UPDATE karma_balances SET escrow = escrow + 1 WHERE agent_id = 'reader-1'")
    tampered = verify(container)
    assert not tampered.ok
    assert any("karma_balances" in problem for problem in tampered.problems)
    assert any("reader-1: the view's escrow" in problem for problem in tampered.problems)
    # The first differing event is named: the last event of reader-1's account.
    last = container.ledger.repository.get("karma/reader-1").version
    view_problem = next(p for p in tampered.problems if p.startswith("view karma_balances"))
    assert f"first differing event: karma/reader-1@{last} (" in view_problem



def test_verify_names_the_first_event_whose_entry_differs_from_its_replay(container):
    record_a_run(container.service)
    container.projections.catch_up()
    with container.datastore.get_connection() as conn:
        first, second = [r["position"] for r in conn.execute(
            "SELECT position FROM karma_entries ORDER BY position LIMIT 2").fetchall()]
        conn.execute("UPDATE karma_entries SET reason = 'edited by hand' WHERE position IN"
                     " (%s, %s)", (first, second))
    report = container.projections.rebuild("reputation", keep=False, locate=True)
    assert not report.identical
    difference = report.first_difference
    assert difference is not None and difference.position == first
    assert difference.table == "karma_entries" and "edited by hand" in difference.live
    assert "edited by hand" not in difference.replayed
    assert difference.event.startswith("karma/") and "(KarmaMinted)" in difference.event
    problems = verify(container).problems
    assert any(f"at position {first}" in p and "first differing event" in p for p in problems)
