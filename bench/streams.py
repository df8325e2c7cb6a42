"""Relay benchmark: the outbox relay against raw nats-py ``publish_async`` in the same run,
and end-to-end lag from an event's creation to an outside consumer at a steady write rate,
stage by stage.

    python -m bench.streams            # embedded PostgreSQL and NATS in temporary folders
    python -m bench.streams --quick    # smaller counts, for a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import nats
import orjson
from rich.console import Console
from rich.table import Table

from adapters import embedded_nats
from adapters.event_store import Ledger
from app.bootstrap import conninfo_to_url, ledger_env
from bench.ledger import fresh_database, server
from bench.percentiles import percentile
from bench.processes import CpuAccount
from handlers import commands as c
from handlers.service import MAX_BATCH, LedgerService
from streams import cloudevents
from streams.relay import OutboxRelay
from streams.topology import Topology, declare


@contextlib.contextmanager
def nats_server() -> Iterator[str]:
    external = os.environ.get("KARMA_BENCH_NATS_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory() as folder:
        started = embedded_nats.start(Path(folder))
        try:
            yield started.url
        finally:
            embedded_nats.stop(Path(folder))


def fill(service: LedgerService, total: int, agents: int = 100) -> None:
    service.execute_batch([c.RegisterAgent(agent_id=f"a{i}", role="reader")
                           for i in range(agents)])
    for start in range(0, total, 500):
        service.execute_batch([c.MintKarma(agent_id=f"a{(start + i) % agents}",
                                           amount=Decimal("0.5"), reason="bench")
                               for i in range(500)])


async def raw_publish(url: str, messages: list[tuple[bytes, dict[str, str]]],
                      namespace: str) -> float:
    """The baseline: the relay's own messages (bodies and headers), published back to back
    with publish_async: no ledger read, no encoding, no fencing."""
    topology = Topology(namespace=namespace)
    client = await nats.connect(url)
    js = client.jetstream(publish_async_max_pending=2000)
    await declare(js, topology)
    subject = topology.ledger_subject("karma", "KarmaMinted")
    started = time.perf_counter()
    for start in range(0, len(messages), 1000):
        pending = [await js.publish_async(subject, body, headers=headers)
                   for body, headers in messages[start:start + 1000]]
        await asyncio.gather(*pending)
    elapsed = time.perf_counter() - started
    await client.close()
    return len(messages) / elapsed


def relay_throughput(ledger: Ledger, url: str, namespace: str, head: int) -> float:
    relay = OutboxRelay(ledger, url, Topology(namespace=namespace))
    started = time.perf_counter()
    asyncio.run(relay.run(asyncio.Event(), until=head))
    return relay.published / (time.perf_counter() - started)


def write_steadily(database: str, rate: int, seconds: float, commits) -> None:
    """In its own process: ``rate`` events/s. Every hundredth of a second it saves, in one
    batch, the events the clock says are due, so a slow save makes the next batch larger
    rather than the rate lower. Puts on ``commits`` each batch's last ledger position and
    the wall time its save returned."""
    ledger = Ledger(env=ledger_env(database))
    service = LedgerService(ledger)
    saved: list[tuple[int, float]] = []
    written = 0
    started = time.perf_counter()
    tick = started
    while (elapsed := time.perf_counter() - started) < seconds:
        due = min(int(rate * elapsed) - written, MAX_BATCH)
        if due > 0:
            # StartRun (with a generated id) reads nothing before it writes: the writer's own
            # share of the lag stays small.
            result = service.execute_batch([c.StartRun(workflow="lag-probe", seed=written + i)
                                            for i in range(due)])
            saved.append((result.position, time.time()))
            written += due
        tick = max(tick + 0.01, time.perf_counter())
        time.sleep(max(0.0, tick - time.perf_counter()))
    commits.put(saved)
    ledger.close()


@dataclass(frozen=True)
class Arrival:
    """One event's way from its command to the outside consumer, as wall times (one
    machine, so PostgreSQL's writer, NATS and the consumer read the same clock)."""

    created: float
    """The event's own time, set while its command ran."""
    committed: float
    """When the save holding it returned to the writer."""
    stored: float
    """When JetStream stored it (the message's metadata)."""
    arrived: float

    @property
    def lag(self) -> float:
        return self.arrived - self.created

    def stages(self) -> dict[str, float]:
        return {"command and save (writer)": self.committed - self.created,
                "saved -> on JetStream (relay)": self.stored - self.committed,
                "on JetStream -> consumer": self.arrived - self.stored}


@dataclass(frozen=True)
class LagRun:
    rate: int
    achieved: float
    arrivals: list[Arrival]
    """Those written after the warm-up."""
    warmup_worst: float
    cores: dict[str, float]
    """Cores each process group kept busy while it was measured."""


def steady_lag(database: str, url: str, namespace: str, rate: int, seconds: float,
               warmup: float) -> LagRun:
    """Write ``rate`` events/s for ``warmup`` + ``seconds`` (one process) while ``karma relay``
    runs (another); an outside consumer here times each event from its creation to its arrival.
    The writer starts once the relay has published the ledger's head; the first ``warmup``
    seconds are measured apart (cold caches, prepared statements, the consumer's first
    messages)."""
    topology = Topology(namespace=namespace)
    ledger = Ledger(env=ledger_env(database))
    start_position = ledger.recorder.max_notification_id() or 0
    ledger.close()
    env = {**os.environ, "KARMA_DATABASE_URL": database, "KARMA_NATS_URL": url,
           "KARMA_NATS_NAMESPACE": namespace}
    relay = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "relay"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    commits: multiprocessing.Queue = multiprocessing.Queue()
    seen: list[tuple[int, float, float, float]] = []
    cores: dict[str, float] = {}

    async def consume() -> tuple[float, list[tuple[int, float]]]:
        client = await nats.connect(url)
        js = client.jetstream()
        await declare(js, topology)

        async def on_message(message) -> None:
            arrived = time.time()
            event = orjson.loads(message.data)
            if event["position"] > start_position:
                seen.append((event["position"], datetime.fromisoformat(event["time"]).timestamp(),
                             message.metadata.timestamp.timestamp(), arrived))

        await js.subscribe(topology.ledger_subjects, stream=topology.ledger_stream,
                           cb=on_message, ordered_consumer=True,
                           deliver_policy=nats.js.api.DeliverPolicy.NEW)
        deadline = time.monotonic() + 120
        while (await js.stream_info(topology.ledger_stream)).state.messages < start_position:
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not catch up within 120 s")
            await asyncio.sleep(0.1)
        writer = multiprocessing.Process(target=write_steadily,
                                         args=(database, rate, warmup + seconds, commits))
        started = time.perf_counter()
        writer.start()
        account = CpuAccount({"writer": writer.pid, "relay": relay.pid,
                              "consumer (this process)": os.getpid()})
        await asyncio.sleep(warmup)
        first = account.sample()
        await asyncio.sleep(seconds * 0.95)  # ends while the writer still writes
        cores.update(account.cores_busy(first, account.sample()))
        saved = await asyncio.to_thread(commits.get)
        await asyncio.to_thread(writer.join)
        written = saved[-1][0] - start_position
        achieved = written / (time.perf_counter() - started)
        deadline = time.monotonic() + 60
        while len(seen) < written and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await client.close()
        return achieved, saved

    try:
        achieved, saved = asyncio.run(consume())
    finally:
        relay.terminate()
        relay.wait(timeout=30)
    last_positions = [position for position, _ in saved]
    arrivals = [Arrival(created, saved[bisect.bisect_left(last_positions, position)][1],
                        stored, arrived)
                for position, created, stored, arrived in seen]
    measured_from = min(a.created for a in arrivals) + warmup
    return LagRun(rate, achieved, [a for a in arrivals if a.created >= measured_from],
                  max(a.lag for a in arrivals if a.created < measured_from), cores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total = 10_000 if args.quick else 50_000
    seconds = 3.0 if args.quick else 10.0
    warmup = 1.0
    console = Console(width=110)
    with server() as pg_url, nats_server() as nats_url, console.status("measuring…"):
        with fresh_database(pg_url) as database:
            ledger = Ledger(env=ledger_env(database))
            fill(LedgerService(ledger), total)
            head = ledger.recorder.max_notification_id()
            with ledger.recorder.datastore.get_connection() as conn:
                outgoing = [cloudevents.encode_stored(p, e)
                            for p, e in ledger.read_stored_after(conn, 0, head, head)]
            messages = [(o.body, o.headers) for o in outgoing]
            raw = asyncio.run(raw_publish(nats_url, messages, "rawbench"))
            relayed = relay_throughput(ledger, nats_url, "relaybench", head)
            ledger.close()
        with fresh_database(pg_url) as database:
            ledger = Ledger(env=ledger_env(database))
            fill(LedgerService(ledger), 500)
            ledger.close()
            lag_runs = [steady_lag(conninfo_to_url(database), nats_url, f"lag{rate}", rate,
                                   seconds, warmup)
                        for rate in (1000, 5000)]

    table = Table(title=f"Relay on {os.cpu_count()} cores (embedded PostgreSQL and NATS)")
    for column in ("case", "messages", "msgs/s", "vs raw publish_async"):
        table.add_column(column, justify="left" if column == "case" else "right")
    table.add_row("raw nats-py publish_async (same messages)", f"{len(messages):,}",
                  f"{raw:,.0f}", "")
    table.add_row("outbox relay (read + decode + publish)", f"{head:,}", f"{relayed:,.0f}",
                  f"{relayed / raw:.2f}×")
    console.print(table)
    lag_table = Table(title="End-to-end lag: an event's creation -> outside consumer")
    for column in ("target events/s", "achieved events/s", "events", "p50 ms", "p99 ms",
                   "max ms", "warm-up max ms"):
        lag_table.add_column(column, justify="right")
    for run in lag_runs:
        lags = [a.lag for a in run.arrivals]
        lag_table.add_row(f"{run.rate:,}", f"{run.achieved:,.0f}", f"{len(lags):,}",
                          f"{percentile(lags, 0.5) * 1000:.1f}",
                          f"{percentile(lags, 0.99) * 1000:.1f}", f"{max(lags) * 1000:.1f}",
                          f"{run.warmup_worst * 1000:.1f}")
    console.print(lag_table)
    stages = Table(title="Where the lag goes: each stage's p50 and p99 (ms), and its share of "
                         "the slowest 1% of events' lag")
    for column in ("events/s", "stage", "p50", "p99", "share of the slowest 1%"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for run in lag_runs:
        cut = percentile([a.lag for a in run.arrivals], 0.99)
        slowest = [a for a in run.arrivals if a.lag >= cut]
        for stage in run.arrivals[0].stages():
            spent = [a.stages()[stage] for a in run.arrivals]
            share = sum(a.stages()[stage] for a in slowest) / sum(a.lag for a in slowest)
            stages.add_row(f"{run.rate:,}", stage, f"{percentile(spent, 0.5) * 1000:.1f}",
                           f"{percentile(spent, 0.99) * 1000:.1f}", f"{share:.0%}")
    console.print(stages)
    busy = Table(title=f"Who kept the {os.cpu_count()} cores busy while the lag was measured "
                       f"(cores, and CPU µs per event)")
    groups = sorted({group for run in lag_runs for group in run.cores})
    busy.add_column("events/s", justify="right")
    for group in [*groups, "all"]:
        busy.add_column(group, justify="right")
    for run in lag_runs:
        spent = [*(run.cores.get(group, 0.0) for group in groups), sum(run.cores.values())]
        busy.add_row(f"{run.achieved:,.0f}", *(f"{cores:.2f} ({cores / run.achieved * 1e6:.0f})"
                                               for cores in spent))
    console.print(busy)
    console.print(f"writer, relay and consumer each in its own process; {warmup:.0f} s of "
                  f"warm-up, then {seconds:.0f} s measured per rate")


if __name__ == "__main__":
    main()
