"""An outside consumer of the ledger, written with plain nats-py and nothing of Karma Ledger.

    python examples/ledger_consumer.py nats://127.0.0.1:4222 --durable audit-mirror
    python examples/ledger_consumer.py URL --durable d2 --from-position 1200
    python examples/ledger_consumer.py URL --durable d4 --from-sequence 3000
    python examples/ledger_consumer.py URL --durable d3 --since 2026-11-22T10:00:00+00:00

Each message on stream LEDGER (subjects ``ledger.<context>.<EventType>``) is a CloudEvent
(JSON); its ``Karma-Position`` header is the ledger position. A durable consumer remembers
what it acked, so the program resumes where it stopped; ``--from-position`` finds the stream
sequence of a ledger position by binary search (stream order is ledger order).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def sequence_of_position(js, stream: str, position: int) -> int:
    state = (await js.stream_info(stream)).state
    low, high = state.first_seq, state.last_seq

    async def position_at(sequence: int) -> int:
        return int((await js.get_msg(stream, sequence)).headers["Karma-Position"])

    while low < high:
        middle = (low + high) // 2
        if await position_at(middle) < position:
            low = middle + 1
        else:
            high = middle
    return low


async def consume(url: str, durable: str, stream: str = "LEDGER", subject: str = "ledger.>",
                  from_position: int | None = None, from_sequence: int | None = None,
                  since: datetime | None = None, limit: int | None = None,
                  idle_timeout: float = 2.0) -> list[dict]:
    """Fetch and ack messages until ``limit`` or the stream is idle; return their bodies."""
    client = await nats.connect(url)
    js = client.jetstream()
    config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT,
                            filter_subject=subject)
    if from_position is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = await sequence_of_position(js, stream, from_position)
    elif from_sequence is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = from_sequence
    elif since is not None:
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = since.isoformat()
    subscription = await js.pull_subscribe(subject, durable=durable, stream=stream, config=config)
    received: list[dict] = []
    try:
        while limit is None or len(received) < limit:
            try:
                batch = await subscription.fetch(100, timeout=idle_timeout)
            except (TimeoutError, nats.errors.TimeoutError):  # nats-py raises either
                break
            for message in batch:
                received.append(json.loads(message.data))
                await message.ack()
    finally:
        await client.close()
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--durable", required=True)
    parser.add_argument("--stream", default="LEDGER")
    parser.add_argument("--subject", default="ledger.>")
    parser.add_argument("--from-position", type=int)
    parser.add_argument("--from-sequence", type=int)
    parser.add_argument("--since", type=datetime.fromisoformat)
    args = parser.parse_args()
    events = asyncio.run(consume(args.url, args.durable, args.stream, args.subject,
                                 args.from_position, args.from_sequence, args.since))
    for event in events:
        print(event["position"], event["type"], event["subject"], json.dumps(event["data"]))


if __name__ == "__main__":
    main()
