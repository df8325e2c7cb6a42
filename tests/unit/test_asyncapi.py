import json

import pytest

from domain.catalogue import event_classes
from streams import asyncapi
from streams.cloudevents import cloud_event
from swarm.roster import ROLES
from workers.task_handlers import builtin_task_types
from workers.task_types import (
    UnknownTaskTypeError,
    issuable_task_types,
    queued_task_types,
    require_task_type,
)


def test_the_committed_asyncapi_document_matches_the_code():
    committed = json.loads(asyncapi.DOCUMENT.read_text())
    assert committed == asyncapi.document(builtin_task_types()), (
        "docs/asyncapi.json is stale: run `karma stream asyncapi --write`")


def test_every_domain_event_has_a_channel_with_its_payload():
    channels = asyncapi.document(builtin_task_types())["channels"]
    for event_class in event_classes():
        assert f"ledger.{event_class.context()}.{event_class.__name__}" in channels
    assert "tasks.Fetch_Paper" in channels
    assert len(event_classes()) >= 17


def test_the_document_lists_a_channel_per_queue_of_the_task_type_registry():
    document = asyncapi.document(builtin_task_types())
    channels, schemas = document["channels"], document["components"]["schemas"]
    queued = [task_type.name for task_type in queued_task_types()]
    assert sorted(c for c in channels if c.startswith("tasks.")) == [f"tasks.{t}" for t in queued]
    assert set(issuable_task_types()) < set(queued)
    for task_type in queued_task_types():
        message = document["components"]["messages"][f"tasks.{task_type.name}:SubscribeMessage"]
        is_cloud_event = message["payload"]["$ref"].endswith("TasksTaskIssuedCloudEvent")
        # Issued types carry the relay's TaskIssued; the ecology's queue its own JSON.
        assert is_cloud_event == task_type.issued, task_type
        assert ("correlationId" in message) == task_type.issued, task_type
    assert "properties" not in schemas["tasks.ecology-work:Message:Payload"]


def test_correlation_ids_point_at_what_the_messages_carry():
    """The relay publishes no correlation header (streams/cloudevents.py): the id is the
    CloudEvent's ``correlationid`` attribute, in the body."""
    event = next(e for e in event_classes() if e.__name__ == "TaskIssued")
    outgoing = cloud_event(7, event, "task/x", 1, {
        "timestamp": "2026-01-01T00:00:00+00:00", "task_type": "Fetch_Paper",
        "provenance": {"run_id": None, "correlation_id": "req-1", "causation_id": "req-1"}})
    document = asyncapi.document(builtin_task_types())
    schemas = document["components"]["schemas"]
    messages = document["components"]["messages"].values()
    assert messages
    for message in messages:
        if "correlationId" not in message:
            continue
        location = message["correlationId"]["location"]
        assert location.startswith("$message.payload#/"), location
        pointer = location.removeprefix("$message.payload#/")
        payload = schemas[message["payload"]["$ref"].rsplit("/", 1)[1]]
        assert pointer in payload["properties"], (message["title"], pointer)
        assert pointer in outgoing
    assert outgoing["correlationid"] == "req-1"


def test_the_registry_is_what_the_swarm_issues_and_a2a_accepts():
    """A2A still checks task types against the swarm's roster (entrypoints/a2a.py): the two
    doors agree as long as the roster and the registry do."""
    roster = {role.task_type: role.tags for role in ROLES}
    assert sorted(roster) == issuable_task_types()
    for name, tags in roster.items():
        assert require_task_type(name).tags == tags


def test_unknown_and_queue_only_task_types_are_refused_by_the_registry():
    for name in ("A", "ecology-work", ""):
        with pytest.raises(UnknownTaskTypeError, match="known: Compare_Methods"):
            require_task_type(name)
