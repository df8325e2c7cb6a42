"""Relay benchmark: the outbox relay against raw nats-py ``publish_async`` in the same run,
and end-to-end lag from save to an outside consumer at a steady write rate.

    python -m bench.streams            # embedded PostgreSQL and NATS in temporary folders
    python -m bench.streams --quick    # smaller counts, for a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
from handlers import commands as c
from handlers.service import LedgerService
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


def write_steadily(database: str, rate: int, seconds: float, written) -> None:
    """In its own process: ``rate`` events/s, in batches of 1% of a second."""
    ledger = Ledger(env=ledger_env(database))
    service = LedgerService(ledger)
    batch = max(1, rate // 100)
    next_at = time.perf_counter()
    end = next_at + seconds
    while next_at < end:
        # StartRun (with a generated id) reads nothing before it writes, so the writer's own
        # cost stays small and the lag measured is the relay's.
        service.execute_batch([c.StartRun(workflow="lag-probe", seed=i) for i in range(batch)])
        with written.get_lock():
            written.value += batch
        next_at += batch / rate
        time.sleep(max(0.0, next_at - time.perf_counter()))
    ledger.close()


def steady_lag(database: str, url: str, namespace: str, rate: int, seconds: float
               ) -> tuple[list[float], float]:
    """Write ``rate`` events/s for ``seconds`` (one process) while ``karma relay`` runs (another);
    an outside consumer here takes each event's lag from its ledger time to its arrival."""
    topology = Topology(namespace=namespace)
    ledger = Ledger(env=ledger_env(database))
    start_position = ledger.recorder.max_notification_id() or 0
    ledger.close()
    env = {**os.environ, "KARMA_DATABASE_URL": database, "KARMA_NATS_URL": url,
           "KARMA_NATS_NAMESPACE": namespace}
    relay = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "relay"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    written = multiprocessing.Value("l", 0)
    lags: list[float] = []

    async def consume() -> float:
        client = await nats.connect(url)
        js = client.jetstream()
        await declare(js, topology)

        async def on_message(message) -> None:
            event = orjson.loads(message.data)
            if event["position"] > start_position:
                lags.append(time.time() - datetime.fromisoformat(event["time"]).timestamp())

        await js.subscribe(topology.ledger_subjects, stream=topology.ledger_stream,
                           cb=on_message, ordered_consumer=True,
                           deliver_policy=nats.js.api.DeliverPolicy.NEW)
        await asyncio.sleep(1.0)  # the relay is up and caught up before the clock starts
        writer = multiprocessing.Process(target=write_steadily,
                                         args=(database, rate, seconds, written))
        started = time.perf_counter()
        writer.start()
        await asyncio.to_thread(writer.join)
        achieved = written.value / (time.perf_counter() - started)
        deadline = time.monotonic() + 60
        while len(lags) < written.value and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await client.close()
        return achieved

    try:
        achieved = asyncio.run(consume())
    finally:
        relay.terminate()
        relay.wait(timeout=30)
    return lags, achieved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total = 10_000 if args.quick else 50_000
    seconds = 3.0 if args.quick else 10.0
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
            lag_runs = [(rate, *steady_lag(conninfo_to_url(database), nats_url,
                                            f"lag{rate}", rate, seconds))
                        for rate in (1000, 5000)]

    table = Table(title=f"Relay on {os.cpu_count()} cores (embedded PostgreSQL and NATS)")
    for column in ("case", "messages", "msgs/s", "vs raw publish_async"):
        table.add_column(column, justify="left" if column == "case" else "right")
    table.add_row("raw nats-py publish_async (same messages)", f"{len(messages):,}",
                  f"{raw:,.0f}", "")
    table.add_row("outbox relay (read + decode + publish)", f"{head:,}", f"{relayed:,.0f}",
                  f"{relayed / raw:.2f}×")
    console.print(table)
    lag_table = Table(title="End-to-end lag: ledger save -> relay -> outside consumer")
    for column in ("target events/s", "achieved events/s", "events", "p50 ms", "p99 ms"):
        lag_table.add_column(column, justify="right")
    for rate, lags, achieved in lag_runs:
        lags.sort()
        lag_table.add_row(f"{rate:,}", f"{achieved:,.0f}", f"{len(lags):,}",
                          f"{statistics.median(lags) * 1000:.1f}",
                          f"{lags[int(0.99 * (len(lags) - 1))] * 1000:.1f}")
    console.print(lag_table)
    console.print(f"writer, relay and consumer each in its own process; {seconds:.0f} s per rate")


if __name__ == "__main__":
    main()
