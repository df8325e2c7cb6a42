"""karma why and run timelines over a recorded run."""

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.errors import NotFoundError
from domain.tasks import ReviewScored
from handlers import commands as c
from handlers.service import Cause, LedgerService
from readside.provenance import timeline, why
from readside.queries import Queries
from tests.builders import completed_task_via, register
from tests.integration.test_counterfactual import record_a_run


@pytest.fixture
def recorded(container):
    run_id = record_a_run(container.service)
    opened = container.ledger.repository.get("karma/reader-1").decayed_until
    later = opened + timedelta(days=3)  # decay may not run ahead of the clock: move it on
    LedgerService(container.ledger, container.policy, clock=lambda: later).execute(
        c.DecayKarma(as_of=later, agent_ids=["reader-1", "analyst-1"]))
    container.projections.catch_up()
    return run_id


@pytest.mark.parametrize("agent", ["reader-1", "analyst-1", "fetcher-1"])
def test_why_explains_every_entry_and_they_add_up_to_the_balance(container, recorded, agent):
    queries = Queries(container.datastore)
    explanation = why(queries, agent)
    assert explanation.total == explanation.balance == queries.karma(agent)["balance"]
    scoped = why(queries, agent, scope="peft")
    assert scoped.total == scoped.balance


def test_a_reward_is_traced_to_its_review_task_and_artifact(container, recorded):
    explanation = why(Queries(container.datastore), "reader-1")
    reward = next(e for e in explanation.entries if e["reason"].startswith("review of task"))
    kinds = [step["event_type"] for step in reward["chain"]]
    assert kinds == ["ReviewScored", "TaskCompleted", "ArtifactProduced", "TaskIssued"]
    assert "reviewer scored 1.3" in reward["chain"][0]["summary"]
    assert Decimal(reward["formula"]["quality"]) == Decimal("1.3")
    vote = next(e for e in why(Queries(container.datastore), "fetcher-1").entries
                if e["reason"].startswith("peer vote"))
    assert vote["chain"][0]["event_type"] == "PeerVoteCast"
    decay = next(e for e in explanation.entries if e["kind"] == "decayed")
    assert decay["chain"][0]["summary"] == "decay"


def test_a_timeline_lists_a_runs_events_and_task_durations(container, recorded):
    shown = timeline(Queries(container.datastore), recorded)
    assert shown["counts"]["TaskCompleted"] == 3 and shown["counts"]["TaskFailed"] == 1
    assert len(shown["task_seconds"]) == 4
    positions = [event["position"] for event in shown["events"]]
    assert positions == sorted(positions)
    with pytest.raises(NotFoundError):
        timeline(Queries(container.datastore), "no-such-run")


# -- issue 17: a client cannot name a cause ----------------------------------------------------

FORGED = "task/sum-lora@6"


def reviewed_task(service) -> tuple[str, str]:
    """A task of reader-1 reviewed by the reviewer: its id and its review's event id, the
    real cause a forger would point at."""
    register(service, "reader-1", "reviewer")
    task_id = completed_task_via(service)
    service.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer",
                                  quality=Decimal(1), rationale="fine"))
    [review] = [e for e in service.ledger.events.get(f"task/{task_id}")
                if isinstance(e, ReviewScored)]
    return task_id, review.event_id


def test_a_cause_an_agent_sends_is_kept_only_as_its_reference(container, service):
    task_id, _ = reviewed_task(service)
    reader = c.Principal(role="agent", agent_id="reader-1")
    issued = service.execute(c.IssueTask(task_type="Fetch_Paper", parent_id=task_id)).ids
    service.execute(c.AssignTask(task_id=issued["task_id"], agent_id="reader-1"))
    service.execute(c.StartTask(task_id=issued["task_id"], agent_id="reader-1"), reader)
    for forged in ({"causation_id": FORGED}, {"correlation_id": FORGED},
                   {"client_reference": FORGED}):
        result = service.execute(c.RecordArtifact.model_validate(
            {"task_id": issued["task_id"], "parts": [{"kind": "text", "text": "x"}],
             **forged}), reader)
        [event] = [e for e in container.ledger.events.get(f"task/{issued['task_id']}")
                   if e.event_id == result.event_ids[-1]]
        assert event.provenance.causation_id.startswith("command:RecordArtifact:")
        assert FORGED not in (event.provenance.causation_id, event.provenance.correlation_id)
        assert event.provenance.client_reference == FORGED


def test_a_hand_entry_naming_a_review_as_its_cause_is_still_a_hand_entry(container, service):
    _, review = reviewed_task(service)
    before = len(list(container.ledger.events.get("karma/reader-1")))
    service.execute(c.MintKarma.model_validate(
        {"agent_id": "reader-1", "amount": "2.5", "reason": "bonus", "causation_id": review}))
    minted = list(container.ledger.events.get("karma/reader-1"))[before:]
    assert [type(e).__name__ for e in minted] == ["KarmaMinted"]
    provenance = minted[0].provenance
    assert provenance.causation_id.startswith("command:MintKarma:")
    assert provenance.client_reference == review and provenance.correlation_id != review
    container.projections.catch_up()
    explanation = why(Queries(container.datastore), "reader-1")
    bonus = next(e for e in explanation.entries if e["reason"] == "bonus")
    assert bonus["caused_by"] == provenance.causation_id
    assert bonus["chain"] == [{"event_id": provenance.causation_id, "event_type": "command",
                               "summary": "entered by hand (MintKarma)"}]
    # The review is shown only behind the reward it really caused, and the client's text
    # under no entry: not as a cause, not as a step.
    reward = next(e for e in explanation.entries if e["reason"].startswith("review of task"))
    assert reward["chain"][0]["event_id"] == review
    assert [e for e in explanation.entries if e["caused_by"] == review] == [reward]


def test_the_servers_own_follow_ups_keep_their_real_causes(container, service):
    task_id, review = reviewed_task(service)
    [reward] = [e for e in container.ledger.events.get("karma/reader-1")
                if type(e).__name__ == "KarmaMinted"]
    assert reward.provenance.causation_id == review  # settlement: caused by the review
    scored = next(e for e in container.ledger.events.get(f"task/{task_id}")
                  if e.event_id == review)
    assert reward.provenance.correlation_id == scored.provenance.correlation_id
    assert reward.provenance.client_reference is None


def test_a_batch_shares_one_correlation_and_each_command_has_its_own_cause(container, service):
    register(service, "reader-1")
    result = service.execute_batch([
        c.MintKarma(agent_id="reader-1", amount="1", reason="a"),
        c.MintKarma(agent_id="reader-1", amount="2", reason="b", client_reference="mine")])
    events = [e for e in container.ledger.events.get("karma/reader-1")
              if e.event_id in result.event_ids]
    assert len({e.provenance.correlation_id for e in events}) == 1
    assert len({e.provenance.causation_id for e in events}) == 2
    assert [e.provenance.client_reference for e in events] == [None, "mine"]
    assert [str(e.amount) for e in events] == ["1.000000", "2.000000"]


def test_a_cause_given_by_the_servers_own_code_is_recorded(container, service):
    register(service, "reader-1")
    cause = Cause(causation_id="agent/reader-1@1", correlation_id="enrichment-7")
    result = service.execute(c.MintKarma(agent_id="reader-1", amount="1", reason="r",
                                         client_reference="theirs"), cause=cause)
    [event] = [e for e in container.ledger.events.get("karma/reader-1")
               if e.event_id == result.event_ids[-1]]
    assert (event.provenance.causation_id, event.provenance.correlation_id,
            event.provenance.client_reference) == ("agent/reader-1@1", "enrichment-7", "theirs")
