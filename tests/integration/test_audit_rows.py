"""The audit log is built in SQL from the stored JSON; its rows must be the very rows the
decoded events give, for every kind of event the ledger holds, old schema versions included
(those are decoded, upcast and staged again)."""

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.agents import AgentRegistered
from domain.base import ENVELOPE_FIELDS, DomainEvent
from tests.integration.test_counterfactual import record_a_run

COLUMNS = ("position, event_id, originator_id, originator_version, context, event_type,"
           " occurred_at, run_id, correlation_id, causation_id, payload")


def audit_row(position: int, event: DomainEvent) -> tuple:
    """The audit row of a decoded event, its payload as the JSON the view holds."""
    provenance = event.provenance
    return (position, event.event_id, event.originator_id, event.originator_version,
            type(event).context(), type(event).__name__, event.timestamp, provenance.run_id,
            provenance.correlation_id, provenance.causation_id,
            event.model_dump(mode="json", exclude=ENVELOPE_FIELDS))


def audit_rows(container) -> list[tuple]:
    container.projections.catch_up(["audit_log"])
    with container.datastore.get_connection() as conn:
        rows = conn.execute(f"SELECT {COLUMNS} FROM audit_log ORDER BY position").fetchall()
    return [tuple(row.values()) for row in rows]


def decoded_rows(container) -> list[tuple]:
    ledger = container.ledger
    head = ledger.recorder.max_notification_id()
    with container.datastore.get_connection() as conn:
        events = ledger.read_after(conn, 0, head, head)
    return [audit_row(position, event) for position, event in events]


def test_sql_rows_equal_decoded_rows_for_every_event_of_a_run(container):
    record_a_run(container.service)
    rows = audit_rows(container)
    assert rows == decoded_rows(container)
    assert len({row[5] for row in rows}) >= 12  # runs, agents, tasks, reviews, karma, ratings


def test_an_old_schema_version_is_upcast_before_it_is_staged(container):
    v1 = {"timestamp": "2025-06-01T12:00:00+00:00",
          "provenance": {"run_id": None, "correlation_id": "c", "causation_id": "command:x"},
          "originator_topic": "domain.agents:Agent", "agent_id": "fetcher-1",
          "role": "fetcher", "persona": ""}
    container.ledger.recorder.insert_events([StoredEvent(
        originator_id="agent/fetcher-1", originator_version=1,
        topic=get_topic(AgentRegistered), state=orjson.dumps(v1))])
    [row] = audit_rows(container)
    assert row[5] == "AgentRegistered" and row[-1]["skills"] == []
    assert [row] == decoded_rows(container)
