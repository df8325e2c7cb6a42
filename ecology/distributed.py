"""An ecology run spread over processes and machines through JetStream, as the swarm's
agents are: the colony publishes each organelle's work of a generation on the TASKS work queue
(``tasks.ecology-work``) and its adapter in the ADAPTERS object store; ``karma ecology worker``
processes share one durable consumer, so each assignment goes to one of them; a worker loads
the adapter by digest, does the work (``ecology.work.perform``), puts the trained adapter back
and records the work in the ledger in one transaction; the colony waits for the ledger to hold
every assignment's work and takes the trained adapters in.

Nothing is lost or doubled: a message is acked only once the ledger holds the work; a worker
killed mid-work leaves its message unacked, and JetStream redelivers it after the ack wait; the
ledger accepts an organelle's work of a generation once, so a redelivered assignment whose work
is already recorded is acked without being done again. A worker's optimiser moments stay with
it: an organelle whose next generation lands on another worker starts them afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from dataclasses import dataclass, field

import nats
import nats.errors
import structlog
from nats.aio.msg import Msg
from pydantic import ValidationError

from adapters.adapter_store import AdapterStore
from adapters.lora_host import LoraSettings, OrganelleHost
from adapters.nats_servers import servers
from app.bootstrap import Container
from domain.ecology import Organelle
from domain.errors import DomainError
from ecology.work import Assignment, Worked, perform, recorded_work
from streams.topology import declare

log = structlog.get_logger(__name__)


class WorkTimeoutError(RuntimeError):
    """Assigned work was not recorded in time: no worker is running, or all keep failing."""


def _store(container: Container) -> AdapterStore:
    topology = container.topology
    return AdapterStore(container.endpoints.nats_url, topology.adapters_bucket,
                        topology.replicas)


@dataclass
class QueuePerformer:
    """Has a generation's assignments done by ``karma ecology worker`` processes."""

    container: Container
    host: OrganelleHost
    timeout_s: float = 1800.0
    poll_s: float = 0.5

    def __call__(self, jobs: list[Assignment]) -> list[Worked]:
        asyncio.run(self._publish(jobs))
        done: dict[str, Worked] = {}
        deadline = time.monotonic() + self.timeout_s
        while len(done) < len(jobs):
            for job in jobs:
                if job.organelle_id not in done:
                    recorded = recorded_work(self.container.ledger, job)
                    if recorded is not None:
                        self._take_in(recorded)
                        done[job.organelle_id] = recorded
            if len(done) < len(jobs):
                if time.monotonic() > deadline:
                    missing = sorted({j.organelle_id for j in jobs} - set(done))
                    raise WorkTimeoutError(
                        f"no worker recorded the work of {missing} in generation "
                        f"{jobs[0].generation} within {self.timeout_s:.0f} s: is `karma ecology "
                        "worker` running against this ledger?")
                time.sleep(self.poll_s)
        return [done[job.organelle_id] for job in jobs]

    async def _publish(self, jobs: list[Assignment]) -> None:
        store, topology = _store(self.container), self.container.topology
        client = await nats.connect(servers(self.container.endpoints.nats_url))
        try:
            js = client.jetstream()
            await declare(js, topology)
            for job in jobs:
                await store.put(job.adapter_digest, self.host.export(job.organelle_id))
                # The id makes a re-published assignment (a colony restarted) a duplicate.
                await js.publish(topology.task_subject(topology.ecology_work),
                                 job.model_dump_json().encode(), stream=topology.tasks_stream,
                                 headers={"Nats-Msg-Id": f"{job.run_id}/{job.organelle_id}/"
                                                         f"{job.generation}"})
        finally:
            await client.close()

    def _take_in(self, work: Worked) -> None:
        """The trained adapter from the store, unless this host already holds it."""
        if self.host.digest(work.organelle_id) != work.adapter_digest:
            data = asyncio.run(_store(self.container).get(work.adapter_digest))
            self.host.load(work.organelle_id, data, work.adapter_digest)


@dataclass
class EcologyWorker:
    """One worker process: pulls assignments, one at a time, until stopped. It keeps a host
    per LoRA shape it has been asked for (a host's adapters share their shape), loaded on the
    first assignment that needs it."""

    container: Container
    name: str
    hosts: dict[LoraSettings, OrganelleHost] = field(default_factory=dict)
    done: int = field(default=0, init=False)

    async def serve(self, stop: asyncio.Event, limit: int | None = None) -> None:
        topology = self.container.topology
        client = await nats.connect(servers(self.container.endpoints.nats_url),
                                    max_reconnect_attempts=-1)
        try:
            js = client.jetstream()
            await declare(js, topology)
            work = topology.ecology_work
            subscription = await js.pull_subscribe(
                topology.task_subject(work), durable=topology.worker_durable(work),
                stream=topology.tasks_stream, config=topology.worker_consumer_config(work))
            while not stop.is_set() and (limit is None or self.done < limit):
                try:
                    messages = await subscription.fetch(1, timeout=1.0)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                for message in messages:
                    await self.handle(message)
        finally:
            await client.close()

    async def handle(self, message: Msg) -> None:
        try:
            job = Assignment.model_validate_json(message.data)
        except ValidationError as error:
            log.error("unreadable ecology assignment; dropped", error=str(error))
            await message.term()
            return
        topology = self.container.topology
        if await asyncio.to_thread(self._already_done, job):
            log.info("assignment already recorded; acked", organelle=job.organelle_id,
                     generation=job.generation)
            await message.ack()
            return
        heartbeat = asyncio.create_task(_keep_alive(message, topology.task_redelivery_s / 3))
        try:
            await self._work(job)
        except DomainError as error:
            # Refused by the ledger: recorded meanwhile by another worker, or culled.
            log.info("assignment refused by the ledger; acked", organelle=job.organelle_id,
                     error=str(error))
        except Exception as error:  # noqa: BLE001 - redelivered, never dropped
            delivered = message.metadata.num_delivered
            delay = topology.task_backoff_s[min(delivered, len(topology.task_backoff_s)) - 1]
            log.warning("ecology assignment failed; will be redelivered",
                        organelle=job.organelle_id, delivery=delivered, error=str(error))
            await message.nak(delay=delay)
            return
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await message.ack()
        self.done += 1

    def _already_done(self, job: Assignment) -> bool:
        organelle = self.container.ledger.repository.get(Organelle.id_for(job.organelle_id))
        return organelle.culled or organelle.worked_generation >= job.generation

    async def _work(self, job: Assignment) -> None:
        store = _store(self.container)
        host = self.host_for(job)
        holds = (job.organelle_id in host.adapters()
                 and host.digest(job.organelle_id) == job.adapter_digest)
        if not holds:
            data = await store.get(job.adapter_digest)
            await asyncio.to_thread(host.load, job.organelle_id, data, job.adapter_digest)
        commands = await asyncio.to_thread(perform, host, job, self.name)
        after = commands[-1].adapter_digest
        await store.put(after, await asyncio.to_thread(host.export, job.organelle_id))
        await asyncio.to_thread(self.container.service.execute_batch, commands)
        log.info("ecology assignment done", organelle=job.organelle_id,
                 generation=job.generation, episodes=len(commands) - 1)

    def host_for(self, job: Assignment) -> OrganelleHost:
        settings = LoraSettings(rank=job.rank, alpha=job.alpha, learning_rate=job.learning_rate)
        if settings not in self.hosts:
            self.hosts[settings] = OrganelleHost(settings)
        return self.hosts[settings]


async def _keep_alive(message: Msg, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await message.in_progress()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
