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
from typing import Any

import structlog
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from pydantic import ValidationError

from domain.errors import DomainError
from handlers.errors import NotFoundError
from handlers.task_worker import Claim, PermanentTaskError, TaskMessage, TaskWorker
from streams.topology import Topology

log = structlog.get_logger(__name__)


def build_broker(nats_url: str, topology: Topology, worker: TaskWorker,
                 task_types: list[str], concurrency: int = 1) -> NatsBroker:
    broker = NatsBroker(nats_url, max_reconnect_attempts=-1)
    stream = JStream(topology.tasks_stream, declare=False)
    for task_type in task_types:
        handle = _handler(worker, topology)
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
    return broker


def _handler(worker: TaskWorker, topology: Topology) -> Any:
    async def handle(body: dict[str, Any], msg: NatsMessage) -> None:
        await process(worker, topology, body, msg)

    return handle


async def process(worker: TaskWorker, topology: Topology, body: dict[str, Any],
                  msg: NatsMessage) -> None:
    deliveries = msg.raw_message.metadata.num_delivered
    try:
        task = TaskMessage.from_cloud_event(body)
    except (KeyError, TypeError, ValidationError) as error:
        log.error("unreadable task message; dropped", error=str(error))
        await msg.reject()
        return
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
        await msg.nack(delay=topology.task_ack_wait_s)
        return
    if claim is not Claim.WORK:
        log.info("task not for this worker", task_id=task.task_id, claim=claim.value)
        await (msg.ack() if claim is Claim.DONE else msg.nack(delay=topology.task_ack_wait_s))
        return
    heartbeat = asyncio.create_task(_keep_alive(msg, topology.task_ack_wait_s / 3))
    try:
        await asyncio.to_thread(worker.perform, task)
    except PermanentTaskError as error:
        await asyncio.to_thread(worker.fail, task, str(error))
        await msg.ack()
    except Exception as error:  # noqa: BLE001 - a failed task is retried, never dropped
        if deliveries >= topology.task_max_deliver:
            reason = f"gave up after {deliveries} deliveries: {error}"
            await asyncio.to_thread(worker.fail, task, reason)
            await msg.ack()
        else:
            delay = topology.task_backoff_s[min(deliveries, len(topology.task_backoff_s)) - 1]
            log.warning("task failed; will be redelivered", task_id=task.task_id,
                        delivery=deliveries, delay_s=delay, error=str(error))
            await msg.nack(delay=delay)
    else:
        await msg.ack()
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


async def _keep_alive(msg: NatsMessage, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await msg.in_progress()
