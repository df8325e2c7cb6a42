"""The outbox relay against real PostgreSQL and NATS JetStream servers."""

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import nats
import orjson
import pytest

from app.bootstrap import conninfo_to_url
from examples.ledger_consumer import consume
from handlers import commands as c
from streams import consumers
from streams.relay import Cursor
from tests.builders import register
from tests.conftest import ledger_size


def mint_many(service, count: int) -> None:
    for start in range(0, count, 250):
        service.execute_batch([c.MintKarma(agent_id="reader-1", amount=Decimal("0.001"),
                                           reason="r") for _ in range(min(250, count - start))])


def relay_until_head(container) -> Cursor:
    head = ledger_size(container)
    return asyncio.run(container.relay().run(asyncio.Event(), until=head))


async def stream_positions(container) -> list[int]:
    client = await nats.connect(container.endpoints.nats_url)
    try:
        js = client.jetstream()
        return [event["position"] async for _, event in
                consumers.tail(js, container.topology, consumers.StartAt(), idle_timeout=0.5)]
    finally:
        await client.close()


def ledger_positions(container) -> list[int]:
    with container.datastore.get_connection() as conn:
        return [r["notification_id"] for r in conn.execute(
            "SELECT notification_id FROM ledger_events ORDER BY 1").fetchall()]


def test_every_event_is_published_once_in_ledger_order_as_a_cloud_event(container, service):
    register(service, "reader-1")
    run_id = service.execute(c.StartRun(workflow="research")).ids["run_id"]
    issued = service.execute(c.IssueTask(task_type="Fetch_Paper", run_id=run_id,
                                         client_reference="req-7"))
    [task_issued] = list(container.ledger.events.get(f"task/{issued.ids['task_id']}"))
    mint_many(service, 40)
    cursor = relay_until_head(container)
    assert cursor.position == ledger_size(container)
    assert relay_until_head(container) == cursor  # resumes after the tail: nothing re-sent
    assert asyncio.run(stream_positions(container)) == ledger_positions(container)

    async def first_task_message():
        client = await nats.connect(container.endpoints.nats_url)
        js = client.jetstream()
        subject = container.topology.ledger_subject("tasks", "TaskIssued")
        message = await js.get_last_msg(container.topology.ledger_stream, subject)
        await client.close()
        return message

    message = asyncio.run(first_task_message())
    event = orjson.loads(message.data)
    assert event["specversion"] == "1.0" and event["type"] == "karma.tasks.TaskIssued"
    # The server's correlation, not the client's reference (which is not a CloudEvent's).
    assert event["runid"] == run_id
    assert event["correlationid"] == task_issued.provenance.correlation_id != "req-7"
    assert event["causationid"].startswith("command:") and event["data"]["task_type"] == "Fetch_Paper"
    assert message.headers["Nats-Msg-Id"] == f"ledger:{event['position']}"


def test_a_relay_killed_mid_batch_resumes_and_publishes_each_event_exactly_once(
        container, database_url, tmp_path):
    register(container.service, "reader-1")
    mint_many(container.service, 6000)
    env = {**os.environ, "KARMA_DATABASE_URL": conninfo_to_url(database_url),
           "KARMA_NATS_URL": container.endpoints.nats_url, "KARMA_HOME": str(tmp_path),
           "KARMA_NATS_NAMESPACE": container.topology.namespace}

    async def published() -> int:
        client = await nats.connect(container.endpoints.nats_url)
        try:
            return (await client.jetstream().stream_info(container.topology.ledger_stream)
                    ).state.messages
        except nats.js.errors.NotFoundError:
            return 0
        finally:
            await client.close()

    relay = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "relay"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while asyncio.run(published()) < 1500:
        assert relay.poll() is None and time.monotonic() < deadline, relay.stderr.read().decode()
        time.sleep(0.01)
    relay.send_signal(signal.SIGKILL)
    relay.wait()
    killed_at = asyncio.run(published())
    assert 0 < killed_at < ledger_size(container)
    relay_until_head(container)
    assert asyncio.run(stream_positions(container)) == ledger_positions(container)


def test_a_second_relay_stands_by_and_nothing_interleaves(container, service):
    register(service, "reader-1")
    mint_many(service, 3000)
    head = ledger_size(container)

    async def two_relays():
        stop = asyncio.Event()
        first, second = container.relay(), container.relay()
        results = await asyncio.gather(first.run(stop, until=head), second.run(stop, until=head))
        return results, (first.published, second.published)

    results, published = asyncio.run(two_relays())
    assert sum(published) == head
    assert asyncio.run(stream_positions(container)) == ledger_positions(container)


@pytest.mark.parametrize("duplicate_window_s", [120.0, 0.2],
                         ids=["re-sends deduplicated", "re-sends fenced off after the window"])
def test_a_relay_working_from_a_stale_cursor_cannot_duplicate_or_leave_a_gap(
        container, service, duplicate_window_s):
    container.__dict__["topology"] = dataclasses.replace(
        container.topology, duplicate_window_s=duplicate_window_s)
    register(service, "reader-1")
    mint_many(service, 4)
    relay_until_head(container)  # positions 1..6 are on the stream
    mint_many(service, 3)
    time.sleep(duplicate_window_s if duplicate_window_s < 1 else 0)

    async def publish_from_stale_cursor():
        client = await nats.connect(container.endpoints.nats_url)
        relay = container.relay()
        relay.ack_timeout = 1.0
        stale = relay._read(3)  # from position 3: it missed positions 4..6 going out
        # Each message is refused unless the stream ends with the one before it, or dropped
        # as a duplicate inside the window; the batch's ack may then fail or not (a message
        # whose predecessor is the stream's tail is rightly taken), the stream stays whole.
        with contextlib.suppress(TimeoutError):
            await relay._publish(client, client.jetstream(), stale)
        await client.close()

    asyncio.run(publish_from_stale_cursor())
    positions = asyncio.run(stream_positions(container))
    assert positions == ledger_positions(container)[:len(positions)]
    assert len(positions) >= 6
    relay_until_head(container)
    assert asyncio.run(stream_positions(container)) == ledger_positions(container)


def test_an_outside_consumer_replays_from_a_position_a_sequence_a_time_or_the_start(container, service):
    register(service, "reader-1")
    mint_many(service, 20)
    relay_until_head(container)
    before_second_batch = datetime.now(UTC)  # replay by time uses the time of arrival
    time.sleep(0.05)
    mint_many(service, 10)
    relay_until_head(container)
    url, topology = container.endpoints.nats_url, container.topology
    everything = asyncio.run(consume(url, "mirror", topology.ledger_stream,
                                     topology.ledger_subjects, idle_timeout=0.5))
    assert [e["position"] for e in everything] == ledger_positions(container)
    from_ten = asyncio.run(consume(url, "from-ten", topology.ledger_stream,
                                   topology.ledger_subjects, from_position=10, idle_timeout=0.5))
    assert from_ten[0]["position"] == 10 and len(from_ten) == ledger_size(container) - 9
    from_seq = asyncio.run(consume(url, "from-seq", topology.ledger_stream,
                                   topology.ledger_subjects, from_sequence=20, idle_timeout=0.5))
    assert len(from_seq) == ledger_size(container) - 19
    recent = asyncio.run(consume(url, "recent", topology.ledger_stream, topology.ledger_subjects,
                                 since=before_second_batch, idle_timeout=0.5))
    assert len(recent) == 10
    # A durable consumer resumes after what it acked.
    mint_many(service, 2)
    relay_until_head(container)
    resumed = asyncio.run(consume(url, "mirror", topology.ledger_stream,
                                  topology.ledger_subjects, idle_timeout=0.5))
    assert [e["position"] for e in resumed] == ledger_positions(container)[-2:]


def test_an_issued_task_is_queued_on_its_task_type_subject(container, service):
    task_id = service.execute(c.IssueTask(task_type="Fetch_Paper",
                                          payload={"url": "file:///x.pdf"})).ids["task_id"]
    relay_until_head(container)

    async def queued():
        client = await nats.connect(container.endpoints.nats_url)
        js = client.jetstream()
        info = await js.stream_info(container.topology.tasks_stream)
        message = await js.get_last_msg(container.topology.tasks_stream,
                                        container.topology.task_subject("Fetch_Paper"))
        await client.close()
        return info.state.messages, message

    count, message = asyncio.run(queued())
    assert count == 1 and message.headers["Nats-Msg-Id"] == f"task:{task_id}"


def test_tail_refuses_a_position_not_yet_published(container, service):
    register(service, "reader-1")
    relay_until_head(container)

    async def find():
        client = await nats.connect(container.endpoints.nats_url)
        try:
            return await consumers.sequence_for_position(client.jetstream(), container.topology,
                                                         10_000)
        finally:
            await client.close()

    with pytest.raises(consumers.PositionNotPublishedError):
        asyncio.run(find())
