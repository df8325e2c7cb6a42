import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.agents import AgentRegistered
from handlers.ledger import PydanticMapper


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
