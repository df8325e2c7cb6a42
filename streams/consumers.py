"""Reading LEDGER from a point: a ledger position, a stream sequence or a time.

What ``karma stream tail`` uses, and what an outside consumer does with plain nats-py (see
``examples/ledger_consumer.py``): nothing here is needed to read the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from streams import cloudevents
from streams.topology import Topology


class PositionNotPublishedError(LookupError):
    pass


@dataclass(frozen=True)
class StartAt:
    """Exactly one of these, or none (from the beginning)."""

    position: int | None = None
    sequence: int | None = None
    time: datetime | None = None


async def position_of(js: JetStreamContext, topology: Topology, sequence: int) -> int:
    message = await js.get_msg(topology.ledger_stream, sequence)
    return int((message.headers or {})[cloudevents.POSITION_HEADER])


async def sequence_for_position(js: JetStreamContext, topology: Topology, position: int) -> int:
    """The stream sequence of the first message at or after ledger ``position``: stream order
    is ledger order, so a binary search over the stream finds it in ~log2(n) reads."""
    state = (await js.stream_info(topology.ledger_stream)).state
    low, high = state.first_seq, state.last_seq
    if not state.messages or await position_of(js, topology, high) < position:
        raise PositionNotPublishedError(f"ledger position {position} is not on the stream yet")
    while low < high:
        middle = (low + high) // 2
        if await position_of(js, topology, middle) < position:
            low = middle + 1
        else:
            high = middle
    return low


async def consumer_config(js: JetStreamContext, topology: Topology, start: StartAt,
                          subject: str | None) -> ConsumerConfig:
    config = ConsumerConfig(ack_policy=AckPolicy.NONE,
                            filter_subject=subject or topology.ledger_subjects)
    if start.position is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = await sequence_for_position(js, topology, start.position)
    elif start.sequence is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = start.sequence
    elif start.time is not None:
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = start.time.isoformat()
    else:
        config.deliver_policy = DeliverPolicy.ALL
    return config


async def tail(js: JetStreamContext, topology: Topology, start: StartAt,
               subject: str | None = None, limit: int | None = None,
               follow: bool = False, idle_timeout: float = 1.0
               ) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """Yield (stream sequence, CloudEvent) from ``start``; stop at the end of the stream
    unless ``follow``."""
    config = await consumer_config(js, topology, start, subject)
    subscription = await js.pull_subscribe(config.filter_subject, stream=topology.ledger_stream,
                                           config=config)
    delivered = 0
    try:
        while limit is None or delivered < limit:
            want = 256 if limit is None else min(256, limit - delivered)
            try:
                messages = await subscription.fetch(want, timeout=idle_timeout)
            except (TimeoutError, NatsTimeoutError):
                # A quiet fetch is the end only when nothing is left for this consumer: on a
                # busy machine a fetch can time out with messages still to come.
                if follow or (await subscription.consumer_info()).num_pending:
                    continue
                return
            for message in messages:
                delivered += 1
                yield message.metadata.sequence.stream, orjson.loads(message.data)
    finally:
        await subscription.unsubscribe()
