"""A ledger event as a CloudEvents 1.0 message (structured JSON mode) with NATS headers.

Consumers need nothing of our code: the body is a CloudEvent whose ``data`` is the event's
payload at its current schema version; the headers repeat the ledger position and ids so a
consumer can route or filter without parsing the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic

from adapters.event_store import upcast
from domain.base import ENVELOPE_FIELDS, DomainEvent

SOURCE = "urn:karma-ledger:ledger"
CONTENT_TYPE = "application/cloudevents+json"
POSITION_HEADER = "Karma-Position"


def message_id(position: int) -> str:
    """Nats-Msg-Id: the same ledger position always dedupes to the same message."""
    return f"ledger:{position}"


@dataclass(frozen=True)
class Outgoing:
    position: int
    event_class: type[DomainEvent]
    body: bytes
    headers: dict[str, str]
    data: dict[str, Any]


def cloud_event(position: int, event_class: type[DomainEvent], originator_id: str,
                originator_version: int, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` is the event as JSON (its stored form, upcast): no validation round trip."""
    provenance = state["provenance"]
    return {
        "specversion": "1.0",
        "id": f"{originator_id}@{originator_version}",
        "source": SOURCE,
        "type": f"karma.{event_class.context()}.{event_class.__name__}",
        "subject": originator_id,
        "time": state["timestamp"],
        "datacontenttype": "application/json",
        "dataschemaversion": getattr(event_class, "class_version", 1),
        "position": position,
        "runid": provenance.get("run_id"),
        "correlationid": provenance["correlation_id"],
        "causationid": provenance["causation_id"],
        "data": {key: value for key, value in state.items() if key not in ENVELOPE_FIELDS},
    }


def encode_stored(position: int, stored: StoredEvent) -> Outgoing:
    event_class = resolve_topic(stored.topic)
    state = upcast(event_class, orjson.loads(stored.state))
    body = cloud_event(position, event_class, str(stored.originator_id),
                       stored.originator_version, state)
    # Few headers: nats-py spends more time encoding headers than bodies. The type is the
    # subject's last token; the id and everything else are in the body.
    headers = {
        "Nats-Msg-Id": message_id(position),
        POSITION_HEADER: str(position),
        "Content-Type": CONTENT_TYPE,
    }
    return Outgoing(position, event_class, orjson.dumps(body), headers, body["data"])

