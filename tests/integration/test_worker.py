"""Task workers on real JetStream work queues, against a real PostgreSQL."""

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats

from app.bootstrap import conninfo_to_url
from domain.tasks import TaskFailed, TaskStarted, TextPart
from handlers import commands as c
from streams.topology import declare
from tests.builders import register
from tests.integration.test_relay import relay_until_head
from tests.support import task_handlers as test_handlers
from workers.task_handlers import builtin_handlers
from workers.task_worker import TaskWorker
from workers.work_queue import build_broker

MINIMAL_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
               b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def fast_retries(container, **overrides) -> None:
    container.__dict__["topology"] = dataclasses.replace(
        container.topology, **{"task_backoff_s": (0.2, 0.2, 0.2), "task_ack_wait_s": 2.0,
                               **overrides})


def task_state(container, task_id: str):
    return container.ledger.repository.get(f"task/{task_id}")


def task_events(container, task_id: str) -> list[str]:
    return [type(e).__name__ for e in container.ledger.events.get(f"task/{task_id}")]


def failure_reason(container, task_id: str) -> str:
    """Why the task failed: its one TaskFailed's reason."""
    [failed] = [e for e in container.ledger.events.get(f"task/{task_id}")
                if isinstance(e, TaskFailed)]
    return failed.reason


def work_until(container, agent: str, handlers: dict, task_types: list[str], done,
               timeout: float = 30.0) -> None:
    """Run an in-process worker until ``done()`` holds."""
    run_workers_until(container, [TaskWorker(container.service, agent, handlers)], task_types,
                      done, timeout)


def run_workers_until(container, workers: list[TaskWorker], task_types: list[str], done,
                      timeout: float = 30.0) -> None:
    """Run each worker as a process of its own would (a broker each) until ``done()`` holds."""

    async def run():
        brokers = [build_broker(container.endpoints.nats_url, container.topology, worker,
                                task_types) for worker in workers]
        for broker in brokers:
            await broker.start()
        try:
            deadline = time.monotonic() + timeout
            while not await asyncio.to_thread(done):
                assert time.monotonic() < deadline, "the workers did not finish in time"
                await asyncio.sleep(0.05)
        finally:
            for broker in brokers:
                await broker.stop()

    asyncio.run(run())


def tasks_stream_state(container, subjects_filter: str | None = None):
    """TASKS as the server counts it (per subject, for those ``subjects_filter`` matches)."""
    async def read():
        client = await nats.connect(container.endpoints.nats_url)
        try:
            info = await client.jetstream().stream_info(container.topology.tasks_stream,
                                                        subjects_filter=subjects_filter)
            return info.state
        finally:
            await client.close()

    return asyncio.run(read())


def queued(container) -> int:
    return tasks_stream_state(container).messages


def held_copies(container) -> int:
    """Task messages waiting on held subjects (copies for a holder's processes)."""
    state = tasks_stream_state(container, container.topology.task_subject("*") + ".held.>")
    return sum((state.subjects or {}).values())


def test_a_fetch_task_is_claimed_worked_recorded_and_acked(container, service, tmp_path):
    register(service, "fetcher-1", role="fetcher")
    paper = tmp_path / "lora.pdf"
    paper.write_bytes(MINIMAL_PDF)
    task_id = service.execute(c.IssueTask(task_type="Fetch_Paper",
                                          payload={"url": paper.as_uri()})).ids["task_id"]
    relay_until_head(container)
    work_until(container, "fetcher-1", builtin_handlers(tmp_path), ["Fetch_Paper"],
               lambda: task_state(container, task_id).state == "completed")
    assert task_events(container, task_id) == [
        "TaskIssued", "TaskAssigned", "TaskStarted", "ArtifactProduced", "TaskCompleted"]
    artifact = list(container.ledger.events.get(f"task/{task_id}"))[3]
    assert artifact.parts[0].uri == paper.resolve().as_uri()
    assert artifact.parts[1].data["bytes"] == len(MINIMAL_PDF)
    assert queued(container) == 0


def test_a_corrupt_paper_fails_its_task_with_the_reason_at_once(container, service, tmp_path):
    register(service, "fetcher-1", role="fetcher")
    bogus = tmp_path / "notes.pdf"
    bogus.write_text("these are not the droids")
    task_id = service.execute(c.IssueTask(task_type="Fetch_Paper",
                                          payload={"url": str(bogus)})).ids["task_id"]
    relay_until_head(container)
    work_until(container, "fetcher-1", builtin_handlers(tmp_path), ["Fetch_Paper"],
               lambda: task_state(container, task_id).state == "failed")
    failed = list(container.ledger.events.get(f"task/{task_id}"))[-1]
    assert "not a PDF" in failed.reason
    assert queued(container) == 0


def test_a_task_that_keeps_failing_ends_as_task_failed_after_max_deliveries(
        container, service):
    fast_retries(container, task_max_deliver=3)
    register(service, "worker-1", role="analyst")
    task_id = service.execute(c.IssueTask(task_type="Always_Broken")).ids["task_id"]
    relay_until_head(container)
    work_until(container, "worker-1", test_handlers.HANDLERS, ["Always_Broken"],
               lambda: task_state(container, task_id).state == "failed")
    events = list(container.ledger.events.get(f"task/{task_id}"))
    assert events[-1].reason == "gave up after 3 deliveries: the model endpoint answered 503"
    assert queued(container) == 0
    # Offered again on the backoff (0.2 s, twice), never at once: a NAK that asks for no
    # delay is redelivered in the same millisecond.
    started = next(e for e in events if isinstance(e, TaskStarted)).timestamp
    assert (events[-1].timestamp - started).total_seconds() >= 0.4


def test_a_worker_killed_mid_task_is_redelivered_and_completes_once(
        container, service, database_url, tmp_path):
    fast_retries(container)
    register(service, "worker-1", role="analyst")
    traces = tmp_path / "traces"
    traces.mkdir()
    task_id = service.execute(c.IssueTask(task_type="Slow_Echo", payload={
        "seconds": 2, "text": "hello", "trace_dir": str(traces)})).ids["task_id"]
    relay_until_head(container)
    env = {**os.environ, "KARMA_DATABASE_URL": conninfo_to_url(database_url),
           "KARMA_NATS_URL": container.endpoints.nats_url, "KARMA_HOME": str(tmp_path),
           "KARMA_NATS_NAMESPACE": container.topology.namespace, "KARMA_TASK_ACK_WAIT_S": "2"}
    command = [sys.executable, "-m", "entrypoints.cli", "worker", "--types", "Slow_Echo",
               "--agent", "worker-1", "--handlers", "tests.support.task_handlers"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not list(traces.iterdir()):
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read().decode()
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # mid-task: started, nothing recorded yet
    first.wait()
    assert task_state(container, task_id).state == "working"
    second = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while task_state(container, task_id).state != "completed":
            assert second.poll() is None and time.monotonic() < deadline + 30
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert len(list(traces.iterdir())) == 2  # it really ran twice...
    assert task_events(container, task_id).count("TaskCompleted") == 1  # ...and completed once
    assert task_events(container, task_id).count("ArtifactProduced") == 1
    assert queued(container) == 0


def test_workers_of_one_type_share_the_queue_and_each_task_completes_once(
        container, service, tmp_path):
    register(service, "worker-1", "worker-2", role="analyst")
    traces = Path(tmp_path)
    ids = [service.execute(c.IssueTask(task_type="Slow_Echo", payload={
        "seconds": 0.05, "trace_dir": str(traces)})).ids["task_id"] for _ in range(8)]
    relay_until_head(container)
    run_workers_until(
        container, [TaskWorker(container.service, agent, test_handlers.HANDLERS)
                    for agent in ("worker-1", "worker-2")], ["Slow_Echo"],
        lambda: all(task_state(container, t).state == "completed" for t in ids))
    for task_id in ids:
        assert task_events(container, task_id).count("TaskCompleted") == 1
    assert len(list(traces.glob("*.*.*"))) == len(ids)


def test_a_task_longer_than_ack_wait_is_kept_alive_not_redelivered(container, service, tmp_path):
    fast_retries(container)  # ack_wait 2 s; the task takes 3 s
    register(service, "worker-1", role="analyst")
    task_id = service.execute(c.IssueTask(task_type="Slow_Echo", payload={
        "seconds": 3, "trace_dir": str(tmp_path)})).ids["task_id"]
    relay_until_head(container)
    work_until(container, "worker-1", test_handlers.HANDLERS, ["Slow_Echo"],
               lambda: task_state(container, task_id).state == "completed")
    assert len(list(tmp_path.glob(f"{task_id}.*"))) == 1  # in_progress held it: one run
    assert queued(container) == 0


def test_a_running_task_is_not_offered_to_another_process_of_its_agent(
        container, service, tmp_path):
    # JetStream takes a consumer's first backoff step (0.2 s here) as its ack wait, whatever
    # ack_wait says (2 s): a heartbeat paced on ack_wait let the task go to the other worker
    # of the same agent after 0.2 s, which ran it a second time.
    fast_retries(container)
    register(service, "worker-1", role="analyst")
    task_id = service.execute(c.IssueTask(task_type="Slow_Echo", payload={
        "seconds": 1.5, "trace_dir": str(tmp_path)})).ids["task_id"]
    relay_until_head(container)
    run_workers_until(
        container, [TaskWorker(container.service, "worker-1", test_handlers.HANDLERS)
                    for _ in range(2)], ["Slow_Echo"],
        lambda: task_state(container, task_id).state == "completed")
    assert len(list(tmp_path.glob(f"{task_id}.*"))) == 1
    assert queued(container) == 0


def test_the_message_of_a_task_that_ended_is_acked_by_a_worker_of_another_agent(
        container, service, tmp_path):
    # Its worker recorded the result and was killed before the ack: the message comes back,
    # maybe only ever to processes that host other agents (each pulls on its own rhythm).
    fast_retries(container)
    register(service, "worker-1", "worker-2", role="analyst")
    task_id = service.execute(c.IssueTask(task_type="Slow_Echo", payload={
        "trace_dir": str(tmp_path)})).ids["task_id"]
    service.execute_batch([
        c.AssignTask(task_id=task_id, agent_id="worker-1"),
        c.StartTask(task_id=task_id, agent_id="worker-1"),
        c.RecordArtifact(task_id=task_id, parts=[TextPart(text="done")]),
        c.CompleteTask(task_id=task_id)])
    relay_until_head(container)
    work_until(container, "worker-2", test_handlers.HANDLERS, ["Slow_Echo"],
               lambda: queued(container) == 0)
    assert not list(tmp_path.iterdir())  # acked, not worked again
    assert task_events(container, task_id).count("TaskCompleted") == 1


def held_by_a_dead_process_of_worker_1(container, service, trace_dir) -> str:
    """A task worker-1 claimed and started before its process died, on the queue."""
    register(service, "worker-1", "worker-2", role="analyst")
    task_id = service.execute(c.IssueTask(task_type="Slow_Echo", payload={
        "trace_dir": str(trace_dir)})).ids["task_id"]
    service.execute_batch([c.AssignTask(task_id=task_id, agent_id="worker-1"),
                           c.StartTask(task_id=task_id, agent_id="worker-1")])
    relay_until_head(container)
    return task_id


def test_a_task_whose_agent_never_takes_it_back_ends_failed_on_its_last_delivery(
        container, service, tmp_path):
    # worker-1 claimed it and its process died mid-task; every redelivery lands on the
    # process of worker-2, which passes it on until the queue's last delivery.
    fast_retries(container, task_max_deliver=3)
    task_id = held_by_a_dead_process_of_worker_1(container, service, tmp_path)
    work_until(container, "worker-2", test_handlers.HANDLERS, ["Slow_Echo"],
               lambda: queued(container) == 0)
    assert task_state(container, task_id).state == "failed"
    assert "did not take it back: 3 deliveries" in failure_reason(container, task_id)
    assert not list(tmp_path.iterdir())  # worker-2 never worked worker-1's task
    assert held_copies(container) == 0  # the copy left for worker-1 went with the message


def test_a_task_whose_agent_comes_back_is_taken_back_by_its_agent_at_once(
        container, service, tmp_path):
    # worker-1 claimed it and its process died mid-task; the redelivery lands on the process
    # of worker-2, which leaves a copy for worker-1's processes. worker-1's new process takes
    # it back at once, not when the queue's backoff (a minute here) next offers the message.
    fast_retries(container, task_backoff_s=(60.0,), task_ack_wait_s=60.0)
    task_id = held_by_a_dead_process_of_worker_1(container, service, tmp_path)
    work_until(container, "worker-2", test_handlers.HANDLERS, ["Slow_Echo"],
               lambda: held_copies(container) == 1)
    assert not list(tmp_path.iterdir())  # worker-2 never worked worker-1's task
    started = time.monotonic()
    work_until(container, "worker-1", test_handlers.HANDLERS, ["Slow_Echo"],
               lambda: task_state(container, task_id).state == "completed")
    assert time.monotonic() - started < 30  # well inside the backoff's minute
    assert held_copies(container) == 0
    assert len(list(tmp_path.iterdir())) == 1
    # The message itself waits for its next delivery on the backoff, which will find the task
    # ended and ack it.
    assert queued(container) == 1


def test_a_task_its_agent_took_back_is_not_failed_when_its_message_runs_out(
        container, service, tmp_path):
    # worker-1's new process has taken the copy left for it (and is working it) when the
    # message itself has its last delivery, on worker-2's process: the message is retired,
    # and the copy carries the task to its end.
    fast_retries(container, task_max_deliver=2, task_backoff_s=(2.0,))
    task_id = held_by_a_dead_process_of_worker_1(container, service, tmp_path)
    work_until(container, "worker-2", test_handlers.HANDLERS, ["Slow_Echo"],
               lambda: held_copies(container) == 1)
    topology = container.topology

    async def take_the_copy() -> None:  # as worker-1's process would, still working it
        client = await nats.connect(container.endpoints.nats_url)
        js = client.jetstream()
        config = topology.held_consumer_config("Slow_Echo", "worker-1")
        await js.add_consumer(topology.tasks_stream, config=config)
        pull = await js.pull_subscribe_bind(config.durable_name, stream=topology.tasks_stream)
        await pull.fetch(1, timeout=10)
        await client.close()

    asyncio.run(take_the_copy())
    work_until(container, "worker-2", test_handlers.HANDLERS, ["Slow_Echo"],
               lambda: queued(container) == 1)  # the message retired; the copy remains
    assert task_state(container, task_id).state == "working"
    assert held_copies(container) == 1


def test_a_task_whose_last_delivery_dies_unacknowledged_is_ended_by_any_worker_after(
        container, service, tmp_path):
    # Its last delivery went to a worker that was killed before it could ack or fail it:
    # JetStream offers the message no more, and the advisory it publishes when next asked
    # waits in TASKS_DEAD for whichever worker reads it.
    fast_retries(container, task_max_deliver=2)
    register(service, "worker-1", role="analyst")
    task_id = service.execute(c.IssueTask(task_type="Slow_Echo", payload={
        "trace_dir": str(tmp_path)})).ids["task_id"]
    relay_until_head(container)
    topology = container.topology

    async def take_and_die_twice() -> None:
        client = await nats.connect(container.endpoints.nats_url)
        js = client.jetstream()
        await declare(js, topology)
        await js.add_consumer(topology.tasks_stream,
                              config=topology.worker_consumer_config("Slow_Echo"))
        pull = await js.pull_subscribe_bind(topology.worker_durable("Slow_Echo"),
                                            stream=topology.tasks_stream)
        for _ in range(2):  # fetched, never acked: as a worker killed at once
            await pull.fetch(1, timeout=10)
        await client.close()

    asyncio.run(take_and_die_twice())
    time.sleep(0.5)  # the last delivery's ack wait runs out
    assert queued(container) == 1  # still on the queue, offered to nobody
    # The next worker's pull makes the server notice, and the worker reads the advisory.
    work_until(container, "worker-1", test_handlers.HANDLERS, ["Slow_Echo"],
               lambda: task_state(container, task_id).state == "failed")
    assert "gave up after 2 deliveries" in failure_reason(container, task_id)
    work_until(container, "worker-1", test_handlers.HANDLERS, ["Slow_Echo"],
               lambda: queued(container) == 0)
    assert not list(tmp_path.iterdir())
