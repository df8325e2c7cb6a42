"""Time travel against a real PostgreSQL: `karma at N` equals the views rebuilt up to N."""

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import readside.queries as queries_module
from app.bootstrap import Container, Endpoints
from app.settings import Settings
from domain.errors import NotFoundError
from handlers import commands as c
from handlers.service import LedgerService
from projections.karma_balances import KarmaBalancesProjection
from projections.reputation import ReputationProjection
from projections.staging import stage
from projections.task_board import TaskBoardProjection
from readside.queries import Queries
from readside.time_travel import TimeMachine, TimeTravelError
from tests.conftest import created_database
from tests.integration.test_counterfactual import record_a_run


@pytest.fixture(scope="module")
def recorded(postgres_admin_url, nats_url, tmp_path_factory):
    """One recorded run (with decay) shared by the module's read-only tests."""
    with created_database(postgres_admin_url) as url:
        built = Container(Settings(home=tmp_path_factory.mktemp("tt"), database_url=url,
                                   nats_url=nats_url), Endpoints(url, nats_url, False, False))
        run_id = record_a_run(built.service)
        opened = built.ledger.repository.get("karma/reader-1").decayed_until
        later = opened + timedelta(days=10)  # decay may not run ahead of the clock
        LedgerService(built.ledger, built.policy, clock=lambda: later).execute(
            c.DecayKarma(as_of=later, agent_ids=["reader-1", "fetcher-1", "analyst-1"]))
        built.projections.catch_up()
        # Checkpoints every 7 positions, so random positions land on, between and past them.
        every = queries_module.CHECKPOINT_EVERY
        queries_module.CHECKPOINT_EVERY = 7
        yield built, run_id
        queries_module.CHECKPOINT_EVERY = every
        built.close()


def rebuilt_views_at(container, position: int, run_id: str) -> dict:
    """The views replayed from event 1 to ``position`` in a transaction rolled back after."""
    views = [KarmaBalancesProjection(), ReputationProjection(), TaskBoardProjection()]
    with container.datastore.get_connection() as conn, conn.transaction(force_rollback=True):
        with conn.cursor() as curs:
            for view in views:
                view.clear(curs)
            stage(conn, container.ledger, 0, position)
            for view in views:
                view.apply_staged(curs, 0)
        balances = {r["agent_id"]: r for r in conn.execute("SELECT * FROM karma_balances")}
        scoped = conn.execute("SELECT agent_id, scope, balance FROM karma_scoped").fetchall()
        tasks = {r["task_id"]: r for r in conn.execute(
            "SELECT * FROM tasks WHERE run_id = %s", (run_id,))}
    return {"balances": balances, "scoped": scoped, "tasks": tasks}


def nonzero(mapping: dict) -> dict:
    return {k: v for k, v in mapping.items() if v != 0}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_karma_at_a_position_equals_the_views_rebuilt_up_to_it(recorded, data):
    container, run_id = recorded
    machine = TimeMachine(Queries(container.datastore), container.ledger)
    position = data.draw(st.integers(0, machine.head()))
    state = machine.state(run_id, position)
    views = rebuilt_views_at(container, position, run_id)
    for agent, row in views["balances"].items():
        travelled = state.balances.get(agent, {})
        for column in ("balance", "escrow", "minted", "burned", "decayed", "slashed"):
            assert travelled.get(column, Decimal(0)) == row[column], (position, agent, column)
    assert set(state.balances) <= set(views["balances"])
    expected_scoped = {(r["agent_id"], r["scope"]): r["balance"] for r in views["scoped"]}
    travelled_scoped = {(agent, tag): amount for agent, tags in state.scoped.items()
                        for tag, amount in tags.items()}
    assert nonzero(travelled_scoped) == nonzero(expected_scoped)
    assert set(state.tasks) == set(views["tasks"])
    for task_id, task in state.tasks.items():
        row = views["tasks"][task_id]
        assert (task["state"], task["assignee"], task["artifacts"], task["reviews"]) == (
            row["state"], row["assignee"], row["artifacts"], row["reviews"])


def test_a_diff_shows_what_changed_between_two_points(recorded):
    container, run_id = recorded
    machine = TimeMachine(Queries(container.datastore), container.ledger)
    changes = machine.diff(run_id, 0, machine.head())
    assert changes["balances"]["reader-1"]["from"] is None
    assert {t["to"]["state"] for t in changes["tasks"].values()} == {"completed", "failed"}
    assert machine.diff(run_id, 5, 5) == {"from": 5, "to": 5, "balances": {}, "scoped": {},
                                          "tasks": {}}


def test_an_aggregate_at_a_version_and_at_a_time(recorded):
    container, _ = recorded
    machine = TimeMachine(Queries(container.datastore), container.ledger)
    first = machine.aggregate("karma/reader-1", version=1)
    assert first["version"] == 1 and first["state"]["balance"] == 0
    latest = machine.aggregate("karma/reader-1")
    history = Queries(container.datastore).events_of("karma/reader-1")
    middle = history[len(history) // 2]
    at_time = machine.aggregate("karma/reader-1", moment=middle["occurred_at"])
    assert at_time["version"] >= middle["originator_version"]
    assert at_time["version"] <= latest["version"]


def test_time_travel_refuses_points_it_cannot_show(recorded):
    container, run_id = recorded
    machine = TimeMachine(Queries(container.datastore), container.ledger)
    with pytest.raises(TimeTravelError, match="past the ledger's head"):
        machine.state(run_id, machine.head() + 1)
    first = Queries(container.datastore).first_event_time()
    with pytest.raises(TimeTravelError, match="before the first event"):
        machine.position_at(first - timedelta(seconds=1))
    with pytest.raises(NotFoundError, match="unknown run"):
        machine.state("no-such-run", 1)
    with pytest.raises(TimeTravelError, match="has no version 999"):
        machine.aggregate("karma/reader-1", version=999)
    with pytest.raises(NotFoundError):
        machine.aggregate("karma/nobody")


def test_checkpoints_are_built_once_and_only_where_the_entries_reach(recorded):
    container, run_id = recorded
    queries = Queries(container.datastore)
    machine = TimeMachine(queries, container.ledger)
    machine.state(run_id, machine.head())
    with container.datastore.get_connection() as conn:
        built = [r["position"] for r in conn.execute(
            "SELECT position FROM checkpoint_positions ORDER BY 1")]
    assert built == list(range(7, machine.head() + 1, 7))
    machine.state(run_id, machine.head())  # a second look builds nothing more
    with container.datastore.get_connection() as conn:
        again = conn.execute("SELECT count(*) AS n FROM checkpoint_positions").fetchone()["n"]
    assert again == len(built)
