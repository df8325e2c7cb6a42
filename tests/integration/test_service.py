"""Commands through the service against a real PostgreSQL."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from adapters.event_store import SNAPSHOT_INTERVAL
from domain.errors import (
    AgentRetiredError,
    AlreadyExistsError,
    DuplicateReviewError,
    ForbiddenError,
    IllegalTransitionError,
    InsufficientKarmaError,
    NotFoundError,
    SelfReviewError,
)
from domain.tasks import TextPart
from handlers import commands as c
from handlers.service import LedgerService
from tests.builders import completed_task_via, register
from tests.conftest import ledger_size


def test_a_task_lifecycle_is_recorded_with_its_run_and_provenance(container, service):
    run_id = service.execute(c.StartRun(workflow="research", seed=7)).ids["run_id"]
    register(service, "reader-1", "reviewer")
    task_id = completed_task_via(service, run_id=run_id)
    service.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer",
                                  quality=Decimal("1.25"), rationale="clear",
                                  client_reference="req-42"))
    task = container.ledger.repository.get(f"task/{task_id}")
    assert task.state == "completed" and task.reviewers == ["reviewer"]
    decoded = list(container.ledger.events.get(f"task/{task_id}"))
    assert {e.provenance.run_id for e in decoded} == {run_id}
    assert decoded[-1].provenance.client_reference == "req-42"  # the client's, labelled
    assert decoded[-1].provenance.correlation_id != "req-42"  # the server's
    assert all(e.provenance.causation_id.startswith("command:") for e in decoded)


REFUSED = [
    ("mint for an unknown agent", NotFoundError,
     [c.MintKarma(agent_id="ghost", amount=Decimal(1), reason="r")]),
    ("burn above the balance", InsufficientKarmaError,
     [c.BurnKarma(agent_id="reader-1", amount=Decimal(1), reason="r")]),
    ("register an agent twice", AlreadyExistsError,
     [c.RegisterAgent(agent_id="reader-1", role="reader")]),
    ("complete an unknown task", NotFoundError, [c.CompleteTask(task_id="nope")]),
    ("issue a task in an unknown run", NotFoundError,
     [c.IssueTask(task_type="Fetch_Paper", run_id="no-such-run")]),
    ("replay an unknown run", NotFoundError,
     [c.StartRun(workflow="research", replay_of="no-such-run")]),
    ("issue a task with an unknown parent", NotFoundError,
     [c.IssueTask(task_type="Fetch_Paper", parent_id="no-such-task")]),
    ("a batch whose last command is refused", InsufficientKarmaError,
     [c.MintKarma(agent_id="reader-1", amount=Decimal(1), reason="r"),
      c.BurnKarma(agent_id="reader-1", amount=Decimal(5), reason="r")]),
]


@pytest.mark.parametrize(("case", "error", "commands"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_command_writes_nothing(container, service, case, error, commands):
    register(service, "reader-1")
    before = ledger_size(container)
    with pytest.raises(error):
        service.execute_batch(commands)
    assert ledger_size(container) == before


def test_task_rules_refuse_and_write_nothing(container, service):
    register(service, "reader-1", "reviewer")
    task_id = completed_task_via(service)
    service.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer",
                                  quality=Decimal(1), rationale="ok"))
    before = ledger_size(container)
    for command, error in [
        (c.StartTask(task_id=task_id, agent_id="reader-1"), IllegalTransitionError),
        (c.ScoreReview(task_id=task_id, reviewer_id="reader-1", quality=Decimal(1),
                       rationale="self"), SelfReviewError),
        (c.ScoreReview(task_id=task_id, reviewer_id="reviewer", quality=Decimal(1),
                       rationale="again"), DuplicateReviewError),
    ]:
        with pytest.raises(error):
            service.execute(command)
    assert ledger_size(container) == before


def test_an_agent_acts_only_as_itself(container, service):
    register(service, "reader-1", "reader-2")
    task_id = service.execute(c.IssueTask(task_type="Fetch_Paper")).ids["task_id"]
    service.execute(c.AssignTask(task_id=task_id, agent_id="reader-1"))
    intruder = c.Principal(role="agent", agent_id="reader-2")
    owner = c.Principal(role="agent", agent_id="reader-1")
    before = ledger_size(container)
    for command in [
        c.StartTask(task_id=task_id, agent_id="reader-1"),
        c.RejectTask(task_id=task_id, agent_id="reader-1", reason="not mine"),
        c.MintKarma(agent_id="reader-2", amount=Decimal(5), reason="greed"),
        c.RegisterAgent(agent_id="sybil", role="reader"),
    ]:
        with pytest.raises(ForbiddenError):
            service.execute(command, intruder)
    assert ledger_size(container) == before
    service.execute(c.StartTask(task_id=task_id, agent_id="reader-1"), owner)
    with pytest.raises(ForbiddenError):
        service.execute(c.CompleteTask(task_id=task_id), intruder)
    service.execute(c.CompleteTask(task_id=task_id), owner)


def test_a_retired_agent_gets_no_new_work(service):
    register(service, "reader-1")
    service.execute(c.RetireAgent(agent_id="reader-1", reason="replaced"))
    task_id = service.execute(c.IssueTask(task_type="Fetch_Paper")).ids["task_id"]
    with pytest.raises(AgentRetiredError):
        service.execute(c.AssignTask(task_id=task_id, agent_id="reader-1"))


def test_parallel_writers_minting_for_one_agent_lose_no_update(container):
    register(container.service, "reader-1")
    writers, mints_each = 6, 15

    def mint_many(_: int) -> None:
        # Each writer is its own process-like client: its own ledger connection pool.
        own = LedgerService(type(container.ledger)(env=container.ledger.env))
        for _ in range(mints_each):
            own.execute(c.MintKarma(agent_id="reader-1", amount=Decimal("0.5"), reason="r"))
        own.ledger.close()

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(mint_many, range(writers)))
    account = container.ledger.repository.get("karma/reader-1")
    assert account.balance == Decimal("0.5") * writers * mints_each
    assert account.version == 1 + writers * mints_each


def test_a_long_lived_account_loads_from_a_snapshot(container, service):
    register(service, "reader-1")
    mints = SNAPSHOT_INTERVAL * 2 + 5
    for start in range(0, mints, 100):
        service.execute_batch([c.MintKarma(agent_id="reader-1", amount=Decimal(1), reason="r")
                               for _ in range(min(100, mints - start))])
    snapshots = list(container.ledger.snapshots.get("karma/reader-1"))
    assert snapshots, "no snapshot was taken"
    latest = snapshots[-1].originator_version
    replayed = list(container.ledger.events.get("karma/reader-1", gt=latest))
    assert len(replayed) < SNAPSHOT_INTERVAL
    fresh = type(container.ledger)(env={**container.ledger.env, "AGGREGATE_CACHE_MAXSIZE": ""})
    assert fresh.repository.get("karma/reader-1").balance == Decimal(mints)
    fresh.close()


def test_an_artifact_records_the_hash_of_its_content(container, service):
    register(service, "reader-1")
    task_id = service.execute(c.IssueTask(task_type="Fetch_Paper")).ids["task_id"]
    service.execute_batch([c.AssignTask(task_id=task_id, agent_id="reader-1"),
                           c.StartTask(task_id=task_id, agent_id="reader-1")])
    result = service.execute(c.RecordArtifact(task_id=task_id, name="pdf",
                                              parts=[TextPart(text="%PDF")]))
    assert result.ids["artifact_id"]
    events = list(container.ledger.events.get(f"task/{task_id}"))
    assert events[-1].content_hash.startswith("sha256:")


def test_ensuring_an_agent_registers_it_once_and_then_changes_nothing(container, service):
    ensure = c.EnsureAgent(agent_id="planner", role="planner", skills=["kg"])
    first = service.execute_batch([ensure, ensure])
    assert first.ids == {"agent_id": "planner"} and len(first.event_ids) == 2  # agent, account
    before = ledger_size(container)
    again = service.execute(ensure)
    assert again.event_ids == [] and ledger_size(container) == before
    with pytest.raises(AlreadyExistsError):
        service.execute(c.RegisterAgent(agent_id="planner", role="planner"))
    with pytest.raises(ForbiddenError):
        service.execute(c.EnsureAgent(agent_id="intruder", role="reader"),
                        c.Principal(role="agent", agent_id="planner"))
    assert ledger_size(container) == before
