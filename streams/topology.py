"""Every stream and consumer this system declares, in one place.

LEDGER keeps every ledger event (limits retention, file storage), one subject per context
and event type. TASKS is a work queue: each task message is removed once a worker acks it.
A namespace prefixes names and subjects so that several deployments (or tests) can share a
NATS server without their subjects overlapping.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from adapters.nats_servers import servers


@dataclass(frozen=True)
class Topology:
    namespace: str = ""
    replicas: int = 1
    """1 for the embedded server; 3 on a NATS cluster (docker-compose docs)."""
    duplicate_window_s: float = 120.0
    """How long JetStream remembers a Nats-Msg-Id to drop a re-publish."""
    ledger_max_age_s: float = 0.0
    """0 keeps ledger messages for ever (the ledger in PostgreSQL is the source of truth)."""
    task_max_deliver: int = 5
    task_ack_wait_s: float = 30.0
    task_backoff_s: tuple[float, ...] = (1.0, 5.0, 15.0, 30.0)
    """When a task is offered again after each delivery, whether its worker gave it back
    (failed, or passed it on to its agent's process) or went silent; the last step repeats."""

    @property
    def _prefix(self) -> str:
        return f"{self.namespace}." if self.namespace else ""

    @property
    def ledger_stream(self) -> str:
        return f"{self.namespace.upper()}_LEDGER" if self.namespace else "LEDGER"

    @property
    def tasks_stream(self) -> str:
        return f"{self.namespace.upper()}_TASKS" if self.namespace else "TASKS"

    @property
    def dead_tasks_stream(self) -> str:
        return f"{self.namespace.upper()}_TASKS_DEAD" if self.namespace else "TASKS_DEAD"

    @property
    def dead_task_subjects(self) -> str:
        """JetStream's advisory that a task message has had its last delivery: kept in a
        stream of its own, so that it waits for a worker even when none was up to hear it."""
        return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self.tasks_stream}.*"

    @property
    def ledger_subjects(self) -> str:
        return f"{self._prefix}ledger.>"

    def ledger_subject(self, context: str, event_type: str) -> str:
        return f"{self._prefix}ledger.{context}.{event_type}"

    @property
    def task_subjects(self) -> str:
        return f"{self._prefix}tasks.>"

    def task_subject(self, task_type: str) -> str:
        return f"{self._prefix}tasks.{task_type}"

    def ledger_stream_config(self) -> StreamConfig:
        return StreamConfig(
            name=self.ledger_stream,
            subjects=[self.ledger_subjects],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=self.duplicate_window_s,
            max_age=self.ledger_max_age_s,
            allow_direct=True,
        )

    def tasks_stream_config(self) -> StreamConfig:
        return StreamConfig(
            name=self.tasks_stream,
            subjects=[self.task_subjects],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=self.duplicate_window_s,
        )

    def dead_tasks_stream_config(self) -> StreamConfig:
        return StreamConfig(
            name=self.dead_tasks_stream,
            subjects=[self.dead_task_subjects],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=self.replicas,
        )

    @property
    def dead_tasks_durable(self) -> str:
        return "dead-tasks"

    def dead_tasks_consumer_config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.dead_tasks_durable,
            filter_subject=self.dead_task_subjects,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.task_ack_wait_s,
        )

    @property
    def ecology_work(self) -> str:
        """The task type of an organelle's generation of work (``karma ecology worker``)."""
        return "ecology-work"

    @property
    def adapters_bucket(self) -> str:
        """The object store where an ecology run's processes share adapters by digest."""
        return f"{self.namespace.upper()}_ADAPTERS" if self.namespace else "ADAPTERS"

    def held_task_subject(self, task_type: str, task_id: str, agent_id: str) -> str:
        """Where a task that ``agent_id`` holds waits for a process of that agent, when its
        redelivery landed on the process of another: one subject per task (a digest of its id,
        so that no dot in it adds a token), the agent last, so that each agent's filter
        (``held_task_filter``) matches its own tasks and no other agent's."""
        digest = hashlib.sha256(task_id.encode()).hexdigest()[:16]
        return f"{self._prefix}tasks.{task_type}.held.{digest}.{agent_id}"

    def held_task_filter(self, task_type: str, agent_id: str) -> str:
        return f"{self._prefix}tasks.{task_type}.held.*.{agent_id}"

    def held_durable(self, task_type: str, agent_id: str) -> str:
        """The consumer of an agent's held tasks of a type. A consumer's name may not hold a
        dot, and an agent's id may: the digest keeps ``a.b`` and ``a_b`` apart."""
        digest = hashlib.sha256(agent_id.encode()).hexdigest()[:8]
        return f"held-{task_type}-{agent_id.replace('.', '_')}-{digest}"

    def held_consumer_config(self, task_type: str, agent_id: str) -> ConsumerConfig:
        return dataclasses.replace(self.worker_consumer_config(task_type),
                                   durable_name=self.held_durable(task_type, agent_id),
                                   filter_subject=self.held_task_filter(task_type, agent_id))

    def worker_durable(self, task_type: str) -> str:
        """The one durable consumer that every worker of a task type shares."""
        return f"workers-{task_type}"

    def worker_consumer_config(self, task_type: str) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.worker_durable(task_type),
            filter_subject=self.task_subject(task_type),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.task_ack_wait_s,
            max_deliver=self.task_max_deliver,
            backoff=self._task_backoff(),
        )

    def _task_backoff(self) -> list[float]:
        # A message is redelivered at most max_deliver - 1 times; NATS servers before 2.10
        # refuse a backoff list longer than that.
        return list(self.task_backoff_s[:self.task_max_deliver - 1])

    @property
    def task_redelivery_s(self) -> float:
        """How long a work queue waits for a worker's ack (or ``in_progress``) before it
        offers the task to another worker. Given a backoff list, JetStream makes its first
        step the consumer's ack wait, whatever ``task_ack_wait_s`` says: a worker's heartbeat
        must beat faster than this, or a task still running is worked twice."""
        backoff = self._task_backoff()
        return backoff[0] if backoff else self.task_ack_wait_s


async def declare_at(nats_url: str, topology: Topology) -> None:
    """``declare`` on a connection of its own, for a process that has none open yet."""
    client = await nats.connect(servers(nats_url))
    try:
        await declare(client.jetstream(), topology)
    finally:
        await client.close()


async def declare(js: JetStreamContext, topology: Topology) -> None:
    """Create the streams, or bring their configuration up to date."""
    for config in (topology.ledger_stream_config(), topology.tasks_stream_config(),
                   topology.dead_tasks_stream_config()):
        try:
            await js.stream_info(config.name)
        except nats.js.errors.NotFoundError:
            await js.add_stream(config=config)
        else:
            await js.update_stream(config=config)
