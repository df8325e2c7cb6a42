"""Task work queues: FastStream pull subscribers on ``tasks.<task_type>``.

Every worker of a task type, in any process or machine, pulls from the same durable
consumer, so each task message goes to one of them. A message is acked only after the
ledger holds the result; a failure is redelivered with the consumer's backoff; a long task
sends ``in_progress`` so it is not redelivered while it runs; and the last allowed delivery
of a failing task ends it as TaskFailed with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import nats.errors
import nats.js.errors
import orjson
import structlog
from eventsourcing.application import AggregateNotFoundError
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from pydantic import ValidationError

from adapters.nats_servers import servers
from domain.errors import DomainError, NotFoundError
from streams.topology import Topology
from workers.task_worker import Claim, PermanentTaskError, TaskMessage, TaskWorker

log = structlog.get_logger(__name__)
QUEUE_LOG = logging.getLogger("karma.work_queue")
"""FastStream's own messages (received, processed); quietened where a progress bar shows."""
WRONG_LAST_SEQUENCE = 10071
"""JetStream's error code for a publish whose expected last sequence does not hold."""


class _FetchDeadlineRestart(logging.Filter):
    """Drops FastStream's restart notice for one known, harmless case: nats-py 2.16 ends a
    pull fetch whose deadline ran out with a plain asyncio TimeoutError, which FastStream
    0.7 does not suppress (it expects nats.errors.TimeoutError), so its supervisor restarts
    the fetch loop and prints a traceback on every quiet moment. The loop is restarted either
    way; every other error still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, TimeoutError)
                    and not isinstance(error, nats.errors.TimeoutError)
                    and "raised an exception, retrying" in record.getMessage())


QUEUE_LOG.addFilter(_FetchDeadlineRestart())


class Crew:
    """The agents one process hosts. A task goes to the agent it is assigned to, or, when
    the scheduler left it open, to the first of them that is free; each agent works one
    task at a time (a lone agent of `karma worker --concurrency N`, N at a time)."""

    def __init__(self, workers: Sequence[TaskWorker], tasks_per_agent: int = 1) -> None:
        self.workers = {worker.agent_id: worker for worker in workers}
        self._busy = {agent_id: asyncio.Semaphore(tasks_per_agent) for agent_id in self.workers}
        self.in_hand: dict[str, int] = {}
        """The tasks this process is working or about to, each with the stream sequence of
        the message it came in: a task can arrive twice at once, its message and the copy
        left for its agent (``_pass_on``)."""

    def able(self, task_type: str) -> list[TaskWorker]:
        return [w for w in self.workers.values() if task_type in w.handlers]

    def choose(self, task: TaskMessage) -> TaskWorker | None:
        able = self.able(task.task_type)
        if not able:
            return None
        # Every worker reads the same ledger, so the first can say who holds the task. The
        # message of a task that has ended (its worker died before the ack) is anyone's to
        # ack: bounced towards its assignee's process, it might never reach it.
        holder = able[0].holder_of(task.task_id)
        if holder is not None:
            return self.workers.get(holder)
        return next((w for w in able if not self._busy[w.agent_id].locked()), able[0])

    def busy(self, worker: TaskWorker) -> asyncio.Semaphore:
        return self._busy[worker.agent_id]


def build_broker(nats_url: str, topology: Topology, worker: TaskWorker | Crew,
                 task_types: list[str], concurrency: int = 1) -> NatsBroker:
    """Subscribe ``worker`` (one agent, or a crew of them) to the queues of ``task_types``.
    A crew works as many tasks of a type at once as it has agents able to."""
    crew = worker if isinstance(worker, Crew) else Crew([worker], tasks_per_agent=concurrency)
    broker = NatsBroker(servers(nats_url), max_reconnect_attempts=-1, logger=QUEUE_LOG)
    stream = JStream(topology.tasks_stream, declare=False)
    handle = _handler(crew, topology, broker)
    for task_type in task_types:
        if isinstance(worker, Crew):
            concurrency = max(1, len(crew.able(task_type)))
        broker.subscriber(
            topology.task_subject(task_type),
            stream=stream,
            durable=topology.worker_durable(task_type),
            config=topology.worker_consumer_config(task_type),
            pull_sub=PullSub(batch_size=concurrency, timeout=1.0),
            max_workers=concurrency,
            ack_policy=AckPolicy.MANUAL,
            title=f"work {task_type}",
            description=f"Workers of {task_type} share one durable consumer.",
        )(handle)
        for agent in crew.able(task_type):
            broker.subscriber(
                topology.held_task_filter(task_type, agent.agent_id),
                stream=stream,
                durable=topology.held_durable(task_type, agent.agent_id),
                config=topology.held_consumer_config(task_type, agent.agent_id),
                pull_sub=PullSub(batch_size=1, timeout=1.0),
                ack_policy=AckPolicy.MANUAL,
                title=f"resume {task_type} held by {agent.agent_id}",
                description=(f"{task_type} tasks that {agent.agent_id} holds, passed on by "
                             "processes of other agents: its own processes take them back."),
            )(handle)
    broker.subscriber(
        topology.dead_task_subjects,
        stream=JStream(topology.dead_tasks_stream, declare=False),
        durable=topology.dead_tasks_durable,
        config=topology.dead_tasks_consumer_config(),
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
        title="end dead tasks",
        description="Tasks whose queue gave up (its last delivery went unacked) end failed.",
    )(_bury_handler(crew, topology, broker))
    return broker


@contextlib.asynccontextmanager
async def working(nats_url: str, topology: Topology, worker: TaskWorker | Crew,
                  task_types: list[str], concurrency: int = 1) -> AsyncIterator[NatsBroker]:
    """The queues of ``task_types`` worked by ``worker`` while the block runs (the streams
    must be declared already)."""
    broker = build_broker(nats_url, topology, worker, task_types, concurrency)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


def _handler(crew: Crew, topology: Topology, broker: NatsBroker) -> Any:
    async def handle(body: dict[str, Any], msg: NatsMessage) -> None:
        await process(crew, topology, body, msg, broker.connection.jetstream())

    return handle


async def process(crew: Crew, topology: Topology, body: dict[str, Any],
                  msg: NatsMessage, js: Any) -> None:
    try:
        task = TaskMessage.from_cloud_event(body)
    except (KeyError, TypeError, ValidationError) as error:
        log.error("unreadable task message; dropped", error=str(error))
        await msg.reject()
        return
    try:
        worker = await asyncio.to_thread(crew.choose, task)
    except AggregateNotFoundError:
        log.error("task message for a task the ledger does not hold; dropped",
                  task_id=task.task_id)
        await msg.reject()
        return
    if worker is None:
        await _pass_on(crew, topology, task, msg, js)
        return
    sequence = msg.raw_message.metadata.sequence.stream
    if crew.in_hand.setdefault(task.task_id, sequence) != sequence:
        # The other copy, being worked here, carries the task: acked or offered again by
        # itself, it alone decides its end. (A redelivery of that same message is not
        # acked: were this process to die, the task would have no message left.)
        await msg.ack()
        return
    heartbeat = asyncio.create_task(_keep_alive(msg, topology.task_redelivery_s / 3))
    try:
        async with crew.busy(worker):
            await _work(worker, topology, task, msg, js)
    finally:
        if crew.in_hand.get(task.task_id) == sequence:
            del crew.in_hand[task.task_id]
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


async def _work(worker: TaskWorker, topology: Topology, task: TaskMessage,
                msg: NatsMessage, js: Any) -> None:
    deliveries = msg.raw_message.metadata.num_delivered
    try:
        claim = await asyncio.to_thread(worker.claim, task)
    except NotFoundError as error:
        log.error("task message for a task the ledger does not hold; dropped", error=str(error))
        await msg.reject()
        return
    except DomainError as error:
        # e.g. the task's stake is more than this agent can put up: leave it to another.
        log.info("cannot claim the task; leaving it to another worker", task_id=task.task_id,
                 error=str(error))
        await _offer_again(msg, topology)
        return
    if claim is Claim.DONE:
        await msg.ack()
        return
    if claim is not Claim.WORK:
        await _pass_on(worker, topology, task, msg, js)
        return
    try:
        await asyncio.to_thread(worker.perform, task)
    except PermanentTaskError as error:
        await asyncio.to_thread(worker.fail, task, str(error), error.record)
        await msg.ack()
    except Exception as error:  # noqa: BLE001 - a failed task is retried, never dropped
        if deliveries >= topology.task_max_deliver:
            reason = f"gave up after {deliveries} deliveries: {error}"
            await asyncio.to_thread(worker.fail, task, reason)
            await msg.ack()
        else:
            log.warning("task failed; will be redelivered", task_id=task.task_id,
                        delivery=deliveries, error=str(error))
            await _offer_again(msg, topology)
    else:
        await msg.ack()


def _bury_handler(crew: Crew, topology: Topology, broker: NatsBroker) -> Any:
    async def handle(body: dict[str, Any], msg: NatsMessage) -> None:
        await bury(crew, topology, broker.connection.jetstream(), body, msg)

    return handle


async def bury(crew: Crew, topology: Topology, js: Any, advisory: dict[str, Any],
               msg: NatsMessage) -> None:
    """End the task of a message its queue gave up on, and take the message off the queue.

    JetStream stops offering a message after its last delivery; if that delivery's worker
    was killed (or passed it on), nothing else would ever end the task. The server's
    advisory is kept in a stream of its own, so whichever worker is up reads it, fails the
    task (unless it ended meanwhile, or a process of its agent has taken the copy left for
    it) and deletes the message."""
    sequence = advisory.get("stream_seq")
    try:
        stored = await js.get_msg(topology.tasks_stream, sequence)
    except nats.js.errors.NotFoundError:  # acked after all, or buried already
        await msg.ack()
        return
    try:
        task = TaskMessage.from_cloud_event(orjson.loads(stored.data))
    except (KeyError, TypeError, ValueError, ValidationError) as error:
        log.error("unreadable dead task message; deleted", error=str(error))
    else:
        worker = next(iter(crew.workers.values()))
        holder = await asyncio.to_thread(worker.holder_of, task.task_id)
        held = holder and topology.held_task_subject(task.task_type, task.task_id, holder)
        if (held and stored.subject != held
                and await _taken_back(js, topology, task.task_type, holder, held)):
            # The copy left for its agent carries the task now (see _pass_on).
            log.info("dead message of a task its agent took back; deleted",
                     task_id=task.task_id, agent_id=holder)
        else:
            reason = (f"its work queue gave up after {advisory.get('deliveries')} deliveries: "
                      f"the last went unacknowledged")
            log.warning("task its queue gave up on; failed", task_id=task.task_id)
            await asyncio.to_thread(worker.fail, task, reason)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_msg(topology.tasks_stream, sequence)
    await msg.ack()


async def _pass_on(crew: Crew | TaskWorker, topology: Topology, task: TaskMessage,
                   msg: NatsMessage, js: Any) -> None:
    """Leave a task another agent holds to that agent's processes.

    Its agent's process died mid-task, and this redelivery landed on the process of another
    agent: the task is copied, once, to a subject only its agent's processes read
    (``Topology.held_task_subject``), which one of them takes as soon as it is up. The
    message itself goes on being offered on the backoff, since the agent may not come back.
    On its last delivery, if a process of the agent has taken the copy, the copy carries the
    task from then on and the message is retired; if none has, the task ends failed and the
    copy is removed: left alone, the queue would drop the message and the task stay open for
    good, where failing it ends it once, its stake forfeit as for any failure."""
    deliveries = msg.raw_message.metadata.num_delivered
    worker = crew if isinstance(crew, TaskWorker) else (
        crew.able(task.task_type) or list(crew.workers.values()))[0]
    holder = await asyncio.to_thread(worker.holder_of, task.task_id)
    if holder is None:  # it ended, or nobody holds it after all: the next delivery settles it
        await _offer_again(msg, topology)
        return
    held = topology.held_task_subject(task.task_type, task.task_id, holder)
    if deliveries < topology.task_max_deliver:
        await _copy_for_holder(js, held, msg)
        log.info("task for an agent another process hosts; left to its processes",
                 task_id=task.task_id, agent_id=holder, delivery=deliveries)
        await _offer_again(msg, topology)
        return
    if await _taken_back(js, topology, task.task_type, holder, held):
        log.info("task taken back by its agent's process; its message retired",
                 task_id=task.task_id, agent_id=holder)
        await msg.ack()
        return
    reason = (f"its agent's process did not take it back: {deliveries} deliveries went to "
              f"processes hosting other agents")
    log.warning("task its agent never took back; failed", task_id=task.task_id,
                deliveries=deliveries)
    await asyncio.to_thread(worker.fail, task, reason)
    await js.purge_stream(topology.tasks_stream, subject=held)
    await msg.ack()


async def _taken_back(js: Any, topology: Topology, task_type: str, holder: str,
                      held: str) -> bool:
    """Whether the holder's consumer has delivered the copy on ``held`` (in order, so: its
    last delivered stream sequence has reached the copy's)."""
    try:
        copy = await js.get_msg(topology.tasks_stream, subject=held)
        consumer = await js.consumer_info(topology.tasks_stream,
                                          topology.held_durable(task_type, holder))
    except nats.js.errors.NotFoundError:  # no copy, or no process of the agent ever started
        return False
    return consumer.delivered is not None and consumer.delivered.stream_seq >= copy.seq


async def _copy_for_holder(js: Any, held: str, msg: NatsMessage) -> None:
    """Publish the task message on its held subject unless a copy waits there already
    (JetStream refuses a publish whose subject's last sequence is not the expected 0)."""
    raw = msg.raw_message
    headers = {key: value for key, value in (raw.headers or {}).items()
               if not key.startswith("Nats-")}
    headers["Nats-Expected-Last-Subject-Sequence"] = "0"
    try:
        await js.publish(held, raw.data, headers=headers)
    except nats.js.errors.APIError as error:
        if error.err_code != WRONG_LAST_SEQUENCE:
            raise


async def _offer_again(msg: NatsMessage, topology: Topology) -> None:
    """Give the message back for its next delivery on the consumer's backoff
    (``Topology.task_backoff_s``: 1 s, then 5, 15, 30 s).

    Under a backoff, JetStream counts a NAK's delay from the list's first step: it offers
    the message again ``delay + backoff[n - 1] - backoff[0]`` after the n-th delivery, and at
    once when the NAK asks for no delay (measured on nats-server 2.15: 3 s asked gave 3, 7
    and 17 s; none gave four deliveries in the same millisecond). Asking for the first step
    is what follows the list exactly."""
    await msg.nack(delay=topology.task_redelivery_s)


async def _keep_alive(msg: NatsMessage, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await msg.in_progress()
