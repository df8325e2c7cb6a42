"""The karma economy through the service and its read models, on a real PostgreSQL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.economy import reward
from domain.errors import (
    DuplicateVoteError,
    FutureInstantError,
    IllegalTransitionError,
    InsufficientKarmaError,
    SelfVoteError,
    UnknownTagError,
)
from domain.tasks import TextPart
from handlers import commands as c
from handlers.service import LedgerService
from readside.queries import Queries
from tests.builders import register
from tests.conftest import ledger_size


def deliver(service, task_id: str, agent_id: str, duration_ms: int = 1000) -> None:
    service.execute_batch([
        c.StartTask(task_id=task_id, agent_id=agent_id),
        c.RecordArtifact(task_id=task_id, parts=[TextPart(text="work")]),
        c.CompleteTask(task_id=task_id, duration_ms=duration_ms, tokens=500, cpu_ms=800),
    ])


def review(service, task_id: str, quality: str) -> None:
    service.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer",
                                  quality=Decimal(quality), rationale="r"))


def account(container, agent_id: str):
    return container.ledger.repository.get(f"karma/{agent_id}")


@pytest.fixture
def swarm(service):
    register(service, "reader-1", "reader-2", "reviewer")
    return service


def test_a_review_pays_by_the_formula_and_records_its_inputs(container, swarm):
    task_id = swarm.execute(c.IssueTask(task_type="Summarise_Paper", tags=["peft"])).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=task_id, agent_id="reader-1"))
    deliver(swarm, task_id, "reader-1", duration_ms=4000)
    review(swarm, task_id, "1.2")
    expected = reward(container.policy, Decimal(3), Decimal("1.2"), 4000, 500, 800, 350.0)
    reader = account(container, "reader-1")
    assert reader.balance == expected.delta == reader.scoped["peft"]
    assert reader.ratings["global"][3] == 1 and reader.ratings["peft"][0] > 1500
    container.projections.catch_up()
    history = Queries(container.datastore).history("reader-1")
    assert history[0]["formula"]["quality"] == "1.2" and history[0]["kind"] == "minted"
    assert history[0]["caused_by"].startswith(f"task/{task_id}@")
    board = Queries(container.datastore).leaderboard(tag="peft")
    assert board[0]["agent_id"] == "reader-1"


def test_a_second_review_is_recorded_but_pays_nothing_more(container, swarm):
    register(swarm, "reviewer-2")
    task_id = swarm.execute(c.IssueTask(task_type="Summarise_Paper")).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=task_id, agent_id="reader-1"))
    deliver(swarm, task_id, "reader-1")
    review(swarm, task_id, "1.0")
    paid = account(container, "reader-1").balance
    swarm.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer-2",
                                quality=Decimal("0.1"), rationale="harsh"))
    assert account(container, "reader-1").balance == paid


def seed(service, agent_id: str, amount: str) -> None:
    service.execute(c.MintKarma(agent_id=agent_id, amount=Decimal(amount), reason="seed"))


def test_a_high_value_task_escrows_a_stake_and_returns_it_on_success(container, swarm):
    seed(swarm, "reader-1", "10")
    task_id = swarm.execute(c.IssueTask(task_type="Synthesise_Report")).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=task_id, agent_id="reader-1"))
    staked = account(container, "reader-1")
    assert (staked.balance, staked.escrow) == (Decimal(6), Decimal(4))
    deliver(swarm, task_id, "reader-1")
    review(swarm, task_id, "1.0")
    settled = account(container, "reader-1")
    assert settled.escrow == 0 and settled.balance > Decimal(10)
    container.projections.catch_up()
    assert Queries(container.datastore).stakes()[0]["state"] == "returned"


def test_a_poor_review_slashes_the_stake(container, swarm):
    seed(swarm, "reader-1", "10")
    task_id = swarm.execute(c.IssueTask(task_type="Synthesise_Report")).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=task_id, agent_id="reader-1"))
    deliver(swarm, task_id, "reader-1")
    review(swarm, task_id, "0.2")
    slashed = account(container, "reader-1")
    assert slashed.slashed == Decimal(4) and slashed.escrow == 0


def test_a_failed_task_slashes_and_a_canceled_one_returns(container, swarm):
    seed(swarm, "reader-1", "20")
    failing = swarm.execute(c.IssueTask(task_type="Synthesise_Report")).ids["task_id"]
    canceled = swarm.execute(c.IssueTask(task_type="Synthesise_Report")).ids["task_id"]
    for task_id in (failing, canceled):
        swarm.execute(c.AssignTask(task_id=task_id, agent_id="reader-1"))
    swarm.execute_batch([c.StartTask(task_id=failing, agent_id="reader-1"),
                         c.FailTask(task_id=failing, reason="model timed out")])
    swarm.execute(c.CancelTask(task_id=canceled, reason="not needed"))
    after = account(container, "reader-1")
    assert (after.balance, after.escrow, after.slashed) == (Decimal(16), 0, Decimal(4))


def test_a_stake_above_the_available_balance_refuses_the_assignment(container, swarm):
    seed(swarm, "reader-1", "3")
    task_id = swarm.execute(c.IssueTask(task_type="Synthesise_Report")).ids["task_id"]
    before = ledger_size(container)
    with pytest.raises(InsufficientKarmaError, match="needs a stake of 4"):
        swarm.execute(c.AssignTask(task_id=task_id, agent_id="reader-1"))
    assert ledger_size(container) == before


def test_reassigning_moves_the_stake_to_the_new_assignee(container, swarm):
    seed(swarm, "reader-1", "10")
    seed(swarm, "reader-2", "10")
    task_id = swarm.execute(c.IssueTask(task_type="Synthesise_Report")).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=task_id, agent_id="reader-1"))
    swarm.execute(c.AssignTask(task_id=task_id, agent_id="reader-2"))
    assert account(container, "reader-1").escrow == 0
    assert account(container, "reader-2").escrow == Decimal(4)


def test_peer_votes_move_the_previous_agent_once_and_never_oneself(container, swarm):
    seed(swarm, "reader-1", "1")
    fetch = swarm.execute(c.IssueTask(task_type="Fetch_Paper")).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=fetch, agent_id="reader-1"))
    deliver(swarm, fetch, "reader-1")
    summary = swarm.execute(c.IssueTask(task_type="Summarise_Paper",
                                        parent_id=fetch)).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=summary, agent_id="reader-2"))
    swarm.execute(c.StartTask(task_id=summary, agent_id="reader-2"))
    swarm.execute(c.CastPeerVote(task_id=summary, voter_id="reader-2", up=False))
    assert account(container, "reader-1").balance == Decimal("0.9")
    before = ledger_size(container)
    with pytest.raises(DuplicateVoteError):
        swarm.execute(c.CastPeerVote(task_id=summary, voter_id="reader-2", up=True))
    own = swarm.execute(c.IssueTask(task_type="Summarise_Paper", parent_id=fetch)).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=own, agent_id="reader-1"))
    swarm.execute(c.StartTask(task_id=own, agent_id="reader-1"))
    before = ledger_size(container)
    with pytest.raises(SelfVoteError):
        swarm.execute(c.CastPeerVote(task_id=own, voter_id="reader-1", up=True))
    with pytest.raises(IllegalTransitionError):  # only the task's assignee votes from it
        swarm.execute(c.CastPeerVote(task_id=own, voter_id="reader-2", up=True))
    assert ledger_size(container) == before


def test_decay_halves_karma_per_half_life_and_a_second_run_changes_nothing(container, swarm):
    seed(swarm, "reader-1", "64")
    opened = account(container, "reader-1").decayed_until
    as_of = opened + timedelta(days=60)
    later = LedgerService(container.ledger, container.policy, clock=lambda: as_of)
    command = c.DecayKarma(as_of=as_of, agent_ids=["reader-1", "reader-2"])
    later.execute(command)
    assert account(container, "reader-1").balance == Decimal(16)
    before = ledger_size(container)
    later.execute(command)
    assert ledger_size(container) == before and account(container, "reader-1").balance == 16
    container.projections.catch_up()
    [entry] = [e for e in Queries(container.datastore).history("reader-1")
               if e["kind"] == "decayed"]
    assert entry["amount"] == Decimal(48) and entry["formula"]["half_life_days"] == 30
    assert (entry["formula"]["since"], entry["formula"]["as_of"]) == (
        opened.isoformat(), as_of.isoformat())


def test_the_scheduler_assigns_by_scoped_karma_and_records_why(container, swarm):
    swarm.execute(c.MintKarma(agent_id="reader-1", amount=Decimal(5), reason="seed",
                              scope=["peft"]))
    for agent in ("reader-1", "reader-2"):  # both have a track record: exploitation wins
        task_id = swarm.execute(c.IssueTask(task_type="Fetch_Paper")).ids["task_id"]
        swarm.execute(c.AssignTask(task_id=task_id, agent_id=agent))
        deliver(swarm, task_id, agent)
        review(swarm, task_id, "0.5")
    task_id = swarm.execute(c.IssueTask(task_type="Summarise_Paper", tags=["peft"])).ids["task_id"]
    result = swarm.execute(c.ScheduleTask(task_id=task_id, candidates=["reader-1", "reader-2"]))
    assert result.ids["agent_id"] == "reader-1"
    assigned = list(container.ledger.events.get(f"task/{task_id}"))[-1]
    assert set(assigned.scores) == {"reader-1", "reader-2"} and "#peft" in assigned.reason


def test_unknown_tags_are_refused_and_the_run_records_the_policy_digest(container, swarm):
    before = ledger_size(container)
    with pytest.raises(UnknownTagError, match="nonsense"):
        swarm.execute(c.IssueTask(task_type="Fetch_Paper", tags=["nonsense"]))
    assert ledger_size(container) == before
    run_id = swarm.execute(c.StartRun(workflow="research")).ids["run_id"]
    started = list(container.ledger.events.get(f"run/{run_id}"))[0]
    assert started.config_digest == container.policy.digest()


def test_work_in_a_replay_moves_no_real_karma_stake_or_rating(container, swarm):
    source = swarm.execute(c.StartRun(workflow="research")).ids["run_id"]
    replay = swarm.execute(c.StartRun(workflow="research", replay_of=source)).ids["run_id"]
    swarm.execute(c.MintKarma(agent_id="reader-1", amount=Decimal(10), reason="earlier work"))
    before = account(container, "reader-1").version
    fetch = swarm.execute(c.IssueTask(task_type="Fetch_Paper", run_id=replay, tags=["peft"],
                                      stake_required=Decimal(2))).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=fetch, agent_id="reader-1"))
    deliver(swarm, fetch, "reader-1")
    review(swarm, fetch, "1.5")
    summary = swarm.execute(c.IssueTask(task_type="Summarise_Paper", run_id=replay,
                                        parent_id=fetch)).ids["task_id"]
    swarm.execute(c.AssignTask(task_id=summary, agent_id="reader-2"))
    swarm.execute(c.StartTask(task_id=summary, agent_id="reader-2"))
    swarm.execute(c.CastPeerVote(task_id=summary, voter_id="reader-2", up=True))

    reader = account(container, "reader-1")
    assert reader.version == before  # no stake, no payment, no rating, no vote credited
    assert (reader.balance, reader.escrow, reader.stakes, reader.ratings) == (
        Decimal(10), Decimal(0), {}, {})
    task = container.ledger.repository.get(f"task/{fetch}")
    assert task.reviewers == ["reviewer"]  # the review itself is a fact of the replay
    container.projections.catch_up()
    queries = Queries(container.datastore)
    assert queries.run(replay)["replay_of"] == source
    assert queries.run_karma_entries(replay) == []


# -- issue 17: no instant beyond the server's clock --------------------------------------------

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
INSTANT_COMMANDS = {
    c.DecayKarma: lambda at: [c.DecayKarma(as_of=at, agent_ids=["reader-1"])],
}
"""Every command that carries an instant, built around one (the last command of a batch)."""


def test_every_command_that_carries_an_instant_is_tested_here():
    carried = {command for command in _command_classes()
               for info in command.model_fields.values()
               if "datetime" in str(info.annotation).lower()}  # AwareDatetime, Optional[...]
    assert carried == set(INSTANT_COMMANDS)


@pytest.mark.parametrize("build", INSTANT_COMMANDS.values(), ids=lambda b: b.__name__)
@pytest.mark.parametrize("beyond", [timedelta(seconds=5, microseconds=1), timedelta(days=1),
                                    datetime(2100, 1, 1, tzinfo=UTC) - NOW])
def test_an_instant_beyond_the_clock_is_refused_and_writes_nothing(container, build, beyond):
    clocked = LedgerService(container.ledger, container.policy, clock=lambda: NOW)
    register(clocked, "reader-1")
    clocked.execute(c.MintKarma(agent_id="reader-1", amount="1000000", reason="seed"))
    clocked.execute(c.MintKarma(agent_id="reader-1", amount="5014.1", reason="seed"))
    before = ledger_size(container)
    for batch in (build(NOW + beyond),
                  [c.MintKarma(agent_id="reader-1", amount="1", reason="r"),
                   *build(NOW + beyond)]):
        with pytest.raises(FutureInstantError, match="later than the server's clock") as error:
            clocked.execute_batch(batch)
        assert error.value.code == "future_instant"
        assert ledger_size(container) == before
    assert account(container, "reader-1").balance == Decimal("1005014.1")


def test_decay_up_to_the_clock_and_its_skew_is_done_and_later_decays_still_work(container):
    clock = {"now": NOW}
    clocked = LedgerService(container.ledger, container.policy, clock=lambda: clock["now"])
    register(clocked, "reader-1")
    clocked.execute(c.MintKarma(agent_id="reader-1", amount="64", reason="seed"))
    with pytest.raises(FutureInstantError):
        clocked.execute(c.DecayKarma(as_of=datetime(2100, 1, 1, tzinfo=UTC),
                                     agent_ids=["reader-1"]))
    within_skew = NOW + timedelta(seconds=5)
    assert clocked.execute(c.DecayKarma(as_of=within_skew, agent_ids=["reader-1"])
                           ).ids["decayed_accounts"] == "1"
    clock["now"] = NOW + timedelta(days=30)
    clocked.execute(c.DecayKarma(as_of=clock["now"], agent_ids=["reader-1"]))
    assert Decimal(31) < account(container, "reader-1").balance < Decimal(33)  # a half-life


def test_the_skew_is_a_setting(container):
    assert container.service.clock_skew == timedelta(seconds=container.settings.clock_skew_s)
    strict = LedgerService(container.ledger, container.policy, clock=lambda: NOW,
                           clock_skew=timedelta(0))
    register(strict, "reader-1")
    before = ledger_size(container)
    with pytest.raises(FutureInstantError, match="0 s of skew"):
        strict.execute(c.DecayKarma(as_of=NOW + timedelta(microseconds=1),
                                    agent_ids=["reader-1"]))
    assert ledger_size(container) == before


def _command_classes() -> list[type[c.Command]]:
    found, pending = [], list(c.Command.__subclasses__())
    while pending:
        found.append(pending.pop())
        pending.extend(found[-1].__subclasses__())
    return found
