"""The ledger on a three-node JetStream cluster: three nats-server processes from the wheel,
routed to each other on loopback, LEDGER and TASKS declared with three replicas. Each node in
turn (the relay's and the worker's among them) is killed with SIGKILL while the ledger grows,
tasks are issued and a worker works them, and brought back: an outside consumer gets every
event exactly once, in ledger order, every task ends once, and every replica catches up."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from contextlib import suppress
from decimal import Decimal
from uuid import uuid4

import nats
import nats.errors
import nats.js.errors
import pytest

from adapters import embedded_nats
from app.bootstrap import Container, Endpoints
from app.settings import Settings
from handlers import commands as c
from streams import consumers
from streams.topology import declare_at
from tests.conftest import delete_streams
from tests.support.task_handlers import HANDLERS
from workers.task_worker import TaskWorker
from workers.work_queue import build_broker

BATCHES = 40
MINTS_PER_BATCH = 5
KILL_EVERY = 12
"""Node i is killed at batch 6 + 12 i and restarted six batches later: one node down at a
time, so the streams keep their quorum."""


async def jetstream_ready(url: str, timeout: float = 30.0) -> None:
    """Until the cluster has elected its JetStream meta leader (it answers account info)."""
    client = await nats.connect(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                await client.jetstream().account_info()
                return
            except (nats.js.errors.Error, nats.errors.Error, TimeoutError):
                assert time.monotonic() < deadline, "the cluster elected no JetStream leader"
                await asyncio.sleep(0.2)
    finally:
        await client.close()


@pytest.fixture
def cluster(tmp_path) -> Iterator[tuple[embedded_nats.Cluster, list[str]]]:
    made, nodes = embedded_nats.start_cluster(tmp_path / "cluster", size=3)
    try:
        asyncio.run(jetstream_ready(nodes[0].url))
        yield made, [node.url for node in nodes]
    finally:
        made.stop()


async def published(url: str, container: Container, head: int,
                    timeout: float = 60.0) -> list[int]:
    """Every ledger position on the stream, read from ``url`` once the last is ``head``."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        deadline = time.monotonic() + timeout
        positions: list[int] = []
        while not positions or positions[-1] < head:
            assert time.monotonic() < deadline, f"the stream reached {positions[-1:]}, not {head}"
            # A cluster that is electing leaders (a node just came back) may time out an API
            # request: a consumer asks again, as any client of a cluster would.
            with suppress(nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
                positions = [event["position"] async for _, event in consumers.tail(
                    js, container.topology, consumers.StartAt())]
            await asyncio.sleep(0.5)
        return positions
    finally:
        await client.close()


def test_a_node_killed_mid_stream_loses_and_doubles_nothing(database_url, cluster, tmp_path):
    made, urls = cluster
    # The relay is given every node (KARMA_NATS_URL takes a comma-separated list) and
    # connects to one of them: each is killed in turn below, so its node is among them.
    every_node = ",".join(urls)
    settings = Settings(home=tmp_path / "home", database_url=database_url, nats_url=every_node,
                        nats_namespace=f"c{uuid4().hex[:12]}", nats_replicas=3)
    container = Container(settings, Endpoints(database_url, every_node, False, False))
    # A task a worker lost with its node is offered again after two seconds, not thirty.
    container.__dict__["topology"] = dataclasses.replace(
        container.topology, task_ack_wait_s=2.0, task_backoff_s=(0.2, 0.2, 0.2))
    container.service.execute_batch([c.RegisterAgent(agent_id="reader-1", role="reader"),
                                     c.RegisterAgent(agent_id="echo-1", role="worker")])
    trace = tmp_path / "trace"
    trace.mkdir()
    tasks: list[str] = []

    async def grow_while_a_node_dies() -> tuple[int, list[int]]:
        await declare_at(every_node, container.topology)  # three replicas each
        stop = asyncio.Event()
        relay = asyncio.create_task(container.relay().run(stop))
        broker = build_broker(every_node, container.topology,
                              TaskWorker(container.service, "echo-1", HANDLERS), ["Slow_Echo"])
        await broker.start()
        try:
            for batch in range(BATCHES):
                issued = await asyncio.to_thread(container.service.execute_batch, [
                    c.MintKarma(agent_id="reader-1", amount=Decimal(1), reason=f"{batch}.{i}")
                    for i in range(MINTS_PER_BATCH)] + [c.IssueTask(
                        task_type="Slow_Echo", payload={"trace_dir": str(trace)})])
                tasks.append(issued.ids["task_id"])
                node, step = divmod(batch - KILL_EVERY // 2, KILL_EVERY)
                if 0 <= node < 3 and step == 0:
                    os.kill(made.nodes()[node].pid, signal.SIGKILL)
                elif 0 <= node < 3 and step == KILL_EVERY // 2:  # back before the next dies
                    await asyncio.to_thread(made.start, node)
                await asyncio.sleep(0.05)
            await until_done(container, tasks)
            head = container.ledger.recorder.max_notification_id()
            return head, await published(urls[1], container, head)
        finally:
            await broker.stop()
            stop.set()
            await relay

    try:
        head, positions = asyncio.run(grow_while_a_node_dies())
        assert positions == list(range(1, head + 1))
        for task_id in tasks:  # each task ended once, whatever its worker's node went through
            ended = [type(e).__name__ for e in container.ledger.events.get(f"task/{task_id}")]
            assert ended.count("TaskCompleted") == 1 and "TaskFailed" not in ended, ended
        assert all(made.nodes())  # the killed node is back, and its replica caught up
        stream = asyncio.run(settled(urls[2], container, head))
        assert stream.config.num_replicas == 3 and stream.state.messages == head
        peers = [stream.cluster.leader, *(replica.name for replica in stream.cluster.replicas)]
        assert sorted(peers) == ["karma-0", "karma-1", "karma-2"]
    finally:
        asyncio.run(delete_streams(urls[1], container.topology))
        container.close()


async def until_done(container: Container, tasks: list[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout

    def done() -> bool:
        return all(container.ledger.repository.get(f"task/{task_id}").state == "completed"
                   for task_id in tasks)

    while not await asyncio.to_thread(done):
        assert time.monotonic() < deadline, "the tasks were not all completed"
        await asyncio.sleep(0.2)


async def settled(url: str, container: Container, messages: int, timeout: float = 60.0):
    """LEDGER's info once it holds ``messages`` and every replica is current (a restarted
    node's replica catches up from the others)."""
    client = await nats.connect(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with suppress(nats.errors.Error, nats.js.errors.Error, TimeoutError):
                info = await client.jetstream().stream_info(container.topology.ledger_stream)
                replicas = info.cluster.replicas or []
                if (info.state.messages >= messages and len(replicas) == 2
                        and all(r.current and not r.lag for r in replicas)):
                    return info
            assert time.monotonic() < deadline, "LEDGER's replicas did not settle"
            await asyncio.sleep(0.2)
    finally:
        await client.close()
