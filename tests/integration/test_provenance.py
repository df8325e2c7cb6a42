"""karma why and run timelines over a recorded run."""

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.errors import NotFoundError
from handlers import commands as c
from readside.provenance import timeline, why
from readside.queries import Queries
from tests.integration.test_counterfactual import record_a_run


@pytest.fixture
def recorded(container):
    run_id = record_a_run(container.service)
    opened = container.ledger.repository.get("karma/reader-1").decayed_until
    container.service.execute(c.DecayKarma(as_of=opened + timedelta(days=3),
                                           agent_ids=["reader-1", "analyst-1"]))
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
