"""The audit log reads stored JSON directly (no decoding); its rows must be the very rows the
decoded events give, for every kind of event the ledger holds, old schema versions included."""

from datetime import datetime

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.agents import AgentRegistered
from projections.audit_log import audit_row, raw_audit_row
from tests.integration.test_counterfactual import record_a_run


def same_row(raw: tuple, decoded: tuple) -> bool:
    occurred = datetime.fromisoformat(raw[6].replace("Z", "+00:00"))
    return (*raw[:6], occurred, *raw[7:]) == decoded


def test_raw_rows_equal_decoded_rows_for_every_event_of_a_run(container):
    record_a_run(container.service)
    ledger = container.ledger
    head = ledger.recorder.max_notification_id()
    with container.datastore.get_connection() as conn:
        stored = ledger.read_stored_after(conn, 0, head, head)
    kinds = set()
    for position, event in stored:
        decoded = audit_row(position, ledger.mapper.to_domain_event(event))
        assert same_row(raw_audit_row(position, event), decoded), decoded
        kinds.add(decoded[5])
    assert len(kinds) >= 12  # runs, agents, tasks, reviews, karma movements, stakes, ratings


def test_an_old_schema_version_takes_the_long_way_and_is_upcast():
    v1 = {"timestamp": "2025-06-01T12:00:00+00:00",
          "provenance": {"run_id": None, "correlation_id": "c", "causation_id": "command:x"},
          "originator_topic": "domain.agents:Agent", "agent_id": "fetcher-1",
          "role": "fetcher", "persona": ""}
    stored = StoredEvent(originator_id="agent/fetcher-1", originator_version=1,
                         topic=get_topic(AgentRegistered), state=orjson.dumps(v1))
    row = raw_audit_row(7, stored)
    assert orjson.loads(row[-1])["skills"] == [] and row[5] == "AgentRegistered"
