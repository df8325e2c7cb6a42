from pathlib import Path
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

import domain.catalogue  # noqa: F401 - imports every module that defines events
from adapters.event_store import PydanticMapper
from domain.agents import AgentRegistered
from domain.base import event_classes


def test_a_version_1_agent_registration_is_read_as_version_2_with_no_skills():
    v1_state = {  # as written before skills existed: no class_version, no skills
        "timestamp": "2025-06-01T12:00:00+00:00",
        "provenance": {"run_id": None, "correlation_id": "c", "causation_id": "command:x"},
        "originator_topic": "domain.agents:Agent",
        "agent_id": "fetcher-1",
        "role": "fetcher",
        "persona": "",
    }
    stored = StoredEvent(originator_id="agent/fetcher-1", originator_version=1,
                         topic=get_topic(AgentRegistered), state=orjson.dumps(v1_state))
    event = PydanticMapper().to_domain_event(stored)
    assert isinstance(event, AgentRegistered)
    assert event.skills == ()
    assert event.agent_id == "fetcher-1"


def test_events_are_stored_with_their_schema_version():
    mapper = PydanticMapper()
    from domain.agents import Agent
    from tests.builders import PROVENANCE, T0

    agent = Agent.register("a", role="reader", persona="", skills=("peft",), at=T0,
                           provenance=PROVENANCE)
    stored = mapper.to_stored_event(agent.collect_events()[0])
    assert orjson.loads(stored.state)["class_version"] == 2
    assert mapper.to_domain_event(stored).skills == ("peft",)


def test_an_event_recorded_with_a_clients_cause_reads_as_recorded_with_no_reference():
    """Before issue 17 a client's causation id was stored as the cause: such events stay
    readable as they were (the field the client reference now has did not exist)."""
    from domain.karma import KarmaMinted

    old_state = {
        "timestamp": "2026-06-01T12:00:00+00:00",
        "provenance": {"run_id": None, "correlation_id": "c", "causation_id": "task/sum-lora@6"},
        "amount": "1E+6", "reason": "bonus", "task_id": None, "scope": [], "formula": {},
    }
    stored = StoredEvent(originator_id="karma/reader-1", originator_version=2,
                         topic=get_topic(KarmaMinted), state=orjson.dumps(old_state))
    event = PydanticMapper().to_domain_event(stored)
    assert event.provenance.causation_id == "task/sum-lora@6"
    assert event.provenance.client_reference is None


def test_a_client_reference_is_stored_only_when_there_is_one():
    from domain.agents import Agent
    from tests.builders import PROVENANCE, T0

    mapper = PydanticMapper()
    for reference in (None, "my-request-7"):
        provenance = PROVENANCE.model_copy(update={"client_reference": reference})
        agent = Agent.register("a", role="reader", persona="", skills=(), at=T0,
                               provenance=provenance)
        stored = mapper.to_stored_event(agent.collect_events()[0])
        state = orjson.loads(stored.state)
        assert ("client_reference" in state["provenance"]) == (reference is not None)
        assert mapper.to_domain_event(stored).provenance == provenance


SCHEMAS = Path(__file__).with_name("event_schemas.json")


def current_schemas() -> dict[str, dict[str, Any]]:
    """Every event class's schema version and fields (name: type), by stored topic."""
    schemas = {
        get_topic(klass): {
            "version": klass.class_version,
            "fields": {name: str(field.annotation)
                       for name, field in sorted(klass.model_fields.items())}}
        for klass in event_classes() if klass.__module__.startswith("domain.")}
    return dict(sorted(schemas.items()))


def test_an_event_schema_changes_only_with_a_new_class_version():
    """SQL views read stored JSON as is when its class_version is the class's own: that
    holds only if a version names one shape. Change an event's fields, bump its
    class_version and add the upcaster, then record the schemas again with
    ``python -m tests.unit.test_event_schema``."""
    recorded = orjson.loads(SCHEMAS.read_bytes())
    for topic, schema in current_schemas().items():
        if topic not in recorded:
            raise AssertionError(f"{topic} is new: record the schemas again")
        if recorded[topic]["version"] == schema["version"]:
            assert recorded[topic]["fields"] == schema["fields"], (
                f"{topic} changed its fields but not its class_version")


if __name__ == "__main__":
    SCHEMAS.write_bytes(orjson.dumps(current_schemas(), option=orjson.OPT_INDENT_2) + b"\n")
