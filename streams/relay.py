"""The outbox relay: tails the ledger and publishes every event once on JetStream, in order.

The ledger's events table is the outbox, and JetStream holds the cursor: the last message
on LEDGER carries the ledger position it came from, so after a crash the relay resumes
right after it, and nothing is published twice. Each message also carries
``Nats-Msg-Id`` (dropped by the server if re-published inside the duplicate window) and
``Nats-Expected-Last-Msg-Id`` naming the ledger event before it (refused unless the stream
ends exactly there), and only the relay holding a PostgreSQL advisory lock publishes at all:
a second relay waits as a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import nats
import psycopg
import structlog
from nats.js import JetStreamContext
from nats.js.errors import APIError

from adapters.event_store import Ledger
from adapters.nats_servers import servers
from domain.tasks import TaskIssued
from streams import cloudevents
from streams.cloudevents import Outgoing
from streams.topology import Topology, declare

log = structlog.get_logger(__name__)

RELAY_LOCK = 0x72656C6179  # "relay"


class StreamCursorError(RuntimeError):
    """The stream's last message does not say which ledger position it holds."""


@dataclass(frozen=True)
class Publication:
    outgoing: Outgoing
    subject: str
    headers: dict[str, str]
    """The event's headers and its fence."""


@dataclass(frozen=True)
class Cursor:
    position: int
    """Ledger position of the last event on the stream (0: none yet)."""
    stream_sequence: int


async def read_cursor(js: JetStreamContext, topology: Topology) -> Cursor:
    info = await js.stream_info(topology.ledger_stream)
    last = info.state.last_seq
    if not last:
        return Cursor(0, 0)
    if not info.state.messages:
        raise StreamCursorError(
            f"stream {topology.ledger_stream} is empty but has published up to sequence "
            f"{last}: its messages expired, so the relay cannot tell where it stopped"
        )
    message = await js.get_msg(topology.ledger_stream, last)
    try:
        return Cursor(int((message.headers or {})[cloudevents.POSITION_HEADER]), last)
    except (KeyError, ValueError):
        raise StreamCursorError(
            f"message {last} on {topology.ledger_stream} has no {cloudevents.POSITION_HEADER}"
        ) from None


class OutboxRelay:
    def __init__(self, ledger: Ledger, nats_url: str, topology: Topology,
                 batch_size: int = 1000, idle_wait: float = 1.0,
                 ack_timeout: float = 10.0) -> None:
        self.ledger = ledger
        self.ack_timeout = ack_timeout
        self.nats_url = nats_url
        self.topology = topology
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.published = 0
        self._datastore = ledger.recorder.datastore  # type: ignore[attr-defined]

    async def run(self, stop: asyncio.Event, until: int | None = None) -> Cursor:
        """Publish until ``stop`` is set, or (when given) until position ``until`` is on
        the stream. Returns the cursor it reached."""
        # One connection holds the relay lock and hears the ledger's NOTIFY.
        lock = await asyncio.to_thread(self.ledger.listen)
        try:
            if not await self._lead(lock, stop):
                return Cursor(0, 0)
            client = await nats.connect(servers(self.nats_url), max_reconnect_attempts=-1)
            try:
                await declare(self._jetstream(client), self.topology)
                return await self._relay(client, lock, stop, until)
            finally:
                await client.drain()
        finally:
            await asyncio.to_thread(lock.close)

    async def _lead(self, lock: psycopg.Connection[Any], stop: asyncio.Event) -> bool:
        """Wait until this relay holds the relay lock (False if stopped first)."""
        announced = False
        while not stop.is_set():
            row = await asyncio.to_thread(
                lambda: lock.execute("SELECT pg_try_advisory_lock(%s) AS ok",
                                     (RELAY_LOCK,)).fetchone())
            if row["ok"]:
                return True
            if not announced:
                log.info("another relay is publishing; standing by")
                announced = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        return False

    def _jetstream(self, client: nats.NATS) -> JetStreamContext:
        return client.jetstream(publish_async_max_pending=self.batch_size * 2)

    async def _relay(self, client: nats.NATS, lock: psycopg.Connection[Any],
                     stop: asyncio.Event, until: int | None) -> Cursor:
        js = self._jetstream(client)
        cursor: Cursor | None = None  # read from the stream's tail at start and after a failure
        reached = Cursor(0, 0)
        backoff = 0.2
        # While a full batch is being published, the next is read from PostgreSQL. A short
        # one means the relay reached the head: it waits for the next save's NOTIFY before
        # reading again (one sent since that read wakes it at once), sparing a read that
        # would come back empty on every save of a ledger that is not flooded.
        prefetch: asyncio.Future[list[Publication]] | None = None
        at_head = False
        while not stop.is_set():
            if until is not None and reached.position >= until:
                break
            try:
                if cursor is None:
                    # Inside the retry: a cluster electing a stream leader (a node was
                    # killed) can time this read out too, and the relay must outlive that.
                    cursor = reached = await read_cursor(js, self.topology)
                    at_head = False
                    log.info("relay resuming", position=cursor.position,
                             stream_sequence=cursor.stream_sequence)
                    continue
                if prefetch is None:
                    if at_head:
                        await asyncio.to_thread(self._wait_for_news, lock)
                    batch = await asyncio.to_thread(self._read, cursor.position)
                else:
                    batch, prefetch = await prefetch, None
                at_head = len(batch) < self.batch_size
                if not batch:
                    continue
                if not at_head:
                    prefetch = asyncio.ensure_future(
                        asyncio.to_thread(self._read, batch[-1].outgoing.position))
                cursor = reached = await self._publish(client, js, batch)
                backoff = 0.2
            except (APIError, nats.errors.Error, TimeoutError) as error:
                # The stream's tail, not our memory, says what was published. A fresh
                # context drops acks that will never come (see _publish).
                log.warning("publish failed; resuming from the stream's tail",
                            error=str(error) or type(error).__name__, backoff_s=backoff)
                if prefetch is not None:
                    await asyncio.gather(prefetch, return_exceptions=True)
                    prefetch = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                js = self._jetstream(client)
                cursor = None
        if prefetch is not None:
            await asyncio.gather(prefetch, return_exceptions=True)
        return reached

    def _read(self, after: int) -> list[Publication]:
        """The events after position ``after``, ready to send: encoded, each fenced on the
        ledger event before it (here, off the event loop, so that it only publishes)."""
        with self._datastore.get_connection() as conn:
            stored = self.ledger.read_stored_after(conn, after, 2**62, self.batch_size)
        batch = []
        previous = after
        for position, event in stored:
            outgoing = cloudevents.encode_stored(position, event)
            headers = dict(outgoing.headers)  # the task queue's copy goes unfenced
            # Accepted only right after the event that precedes it in the ledger: a relay
            # working from a stale cursor cannot duplicate, reorder or leave a gap.
            if previous:
                headers["Nats-Expected-Last-Msg-Id"] = cloudevents.message_id(previous)
            else:
                headers["Nats-Expected-Last-Sequence"] = "0"
            previous = position
            batch.append(Publication(
                outgoing, self.topology.ledger_subject(outgoing.event_class.context(),
                                                       outgoing.event_class.__name__),
                headers))
        return batch

    def _wait_for_news(self, lock: psycopg.Connection[Any]) -> None:
        for _ in lock.notifies(timeout=self.idle_wait, stop_after=1):
            pass

    async def _publish(self, client: nats.NATS, js: JetStreamContext,
                       batch: list[Publication]) -> Cursor:
        """Publish a batch, asking JetStream to acknowledge only its last message.

        The fence makes one ack enough: each message is stored only if the stream ends with
        the message before it, so the last one stored proves every one before it is there,
        in order. A message refused or lost on the way breaks the chain, every later one is
        refused, and the last ack fails: the relay then resumes from the stream's tail.
        Skipping the other acks saves nats-py a future, an inbox and a reply per message:
        most of what the relay spends."""
        # Work first, then the ledger: a crash between the two re-sends the task messages
        # (deduplicated) rather than losing them.
        await self._publish_tasks(js, batch)
        *unacknowledged, last = batch
        for publication in unacknowledged:
            await client.publish(publication.subject, publication.outgoing.body,
                                 headers=publication.headers)
        ack = await js.publish_async(last.subject, last.outgoing.body, headers=last.headers)
        # nats-py 2.16 never resolves the future of a publish the server refused (its reply
        # handler raises instead), so a refusal (e.g. a fenced sequence) shows as a timeout.
        stored = await asyncio.wait_for(ack, timeout=self.ack_timeout)
        self.published += len(batch)
        return Cursor(last.outgoing.position, stored.seq)

    async def _publish_tasks(self, js: JetStreamContext, batch: list[Publication]) -> None:
        pending = []
        for outgoing in (publication.outgoing for publication in batch):
            if outgoing.event_class is TaskIssued:
                headers = {**outgoing.headers, "Nats-Msg-Id": f"task:{outgoing.data['task_id']}"}
                subject = self.topology.task_subject(outgoing.data["task_type"])
                pending.append(await js.publish_async(subject, outgoing.body, headers=headers))
        if pending:
            await asyncio.wait_for(asyncio.gather(*pending), timeout=self.ack_timeout)
