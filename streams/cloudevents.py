"""A ledger event as a CloudEvents 1.0 message (structured JSON mode) with NATS headers.

Consumers need nothing of our code: the body is a CloudEvent whose ``data`` is the event's
payload; the headers repeat the ledger position and ids so a consumer can route or filter
without parsing the body.
"""

from __future__ import annotations

from typing import Any

import orjson

from domain.base import DomainEvent

SOURCE = "urn:karma-ledger:ledger"
CONTENT_TYPE = "application/cloudevents+json"
ENVELOPE_FIELDS = {"originator_id", "originator_version", "timestamp", "provenance",
                   "originator_topic"}
POSITION_HEADER = "Karma-Position"


def message_id(position: int) -> str:
    """Nats-Msg-Id: the same ledger position always dedupes to the same message."""
    return f"ledger:{position}"


def cloud_event(position: int, event: DomainEvent) -> dict[str, Any]:
    event_class = type(event)
    provenance = event.provenance
    return {
        "specversion": "1.0",
        "id": event.event_id,
        "source": SOURCE,
        "type": f"karma.{event_class.context()}.{event_class.__name__}",
        "subject": event.originator_id,
        "time": event.timestamp.isoformat(),
        "datacontenttype": "application/json",
        "dataschemaversion": getattr(event_class, "class_version", 1),
        "position": position,
        "runid": provenance.run_id,
        "correlationid": provenance.correlation_id,
        "causationid": provenance.causation_id,
        "data": event.model_dump(mode="json", exclude=ENVELOPE_FIELDS),
    }


def encode(position: int, event: DomainEvent) -> tuple[bytes, dict[str, str]]:
    body = cloud_event(position, event)
    headers = {
        "Nats-Msg-Id": message_id(position),
        POSITION_HEADER: str(position),
        "Content-Type": CONTENT_TYPE,
        "ce-type": body["type"],
        "ce-id": body["id"],
    }
    return orjson.dumps(body), headers
