import json

from domain.catalogue import event_classes
from streams import asyncapi
from workers.task_handlers import builtin_task_types


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
