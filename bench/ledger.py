"""Ledger ingest benchmark: our command path against plain ``eventsourcing`` saves, measured
in the same run on the same PostgreSQL.

    python -m bench.ledger            # embedded PostgreSQL in a temporary folder
    python -m bench.ledger --quick    # smaller counts, for a smoke run

KARMA_BENCH_DATABASE_URL points it at another server (one where it may create databases).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql
from psycopg.conninfo import make_conninfo
from rich.console import Console
from rich.table import Table

from adapters import embedded_postgres, migrator
from adapters.event_store import Ledger
from app.bootstrap import ledger_env
from bench.percentiles import percentile
from bench.stopwatch import Stopwatch
from handlers import commands as c
from handlers.service import LedgerService
from projections.registry import all_projections
from projections.runner import ProjectionRunner


class Counter(Aggregate):
    """The baseline: the library's own dataclass events, one field each."""

    @event("Counted")
    def __init__(self, amount: int) -> None:
        self.amount = amount


class Plain(Application):
    name = "Plain"


@dataclass
class Row:
    case: str
    events: int
    seconds: float
    latencies: list[float] | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def percentile(self, q: float) -> str:
        if not self.latencies:
            return ""
        return f"{percentile(self.latencies, q) * 1000:.2f}"


@contextmanager
def server() -> Iterator[str]:
    external = os.environ.get("KARMA_BENCH_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "postgres"
        started = embedded_postgres.start(data_dir, database="postgres")
        try:
            yield started.url
        finally:
            embedded_postgres.stop(data_dir)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"karma_bench_{uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin_url, dbname=name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def timed(case: str, events: int, batches: list[Callable[[], object]],
          per_call_latency: bool = False) -> Row:
    latencies = []
    started = time.perf_counter()
    for batch in batches:
        t0 = time.perf_counter()
        batch()
        latencies.append(time.perf_counter() - t0)
    return Row(case, events, time.perf_counter() - started,
               latencies if per_call_latency else None)


def baseline(url: str, total: int, per_save: int) -> Row:
    with fresh_database(url) as database:
        app = Plain(env={**ledger_env(database), "CREATE_TABLE": "y"})
        app.save(Counter(0))  # warm the pool and prepared statements

        def save_batch() -> None:
            app.save(*[Counter(i) for i in range(per_save)])

        row = timed(f"eventsourcing save, {per_save}/save", total,
                    [save_batch] * (total // per_save), per_call_latency=per_save == 1)
        app.close()
        return row


def ours(url: str, total: int, per_save: int) -> Row:
    with fresh_database(url) as database:
        ledger = Ledger(env=ledger_env(database))
        service = LedgerService(ledger)
        service.execute(c.IssueTask(task_type="Warm_Up"))

        def issue_batch() -> None:
            service.execute_batch([c.IssueTask(task_type="Fetch_Paper", tags=["peft"],
                                               payload={"url": "file:///pilot/lora.pdf"})
                                   for _ in range(per_save)])

        row = timed(f"karma IssueTask, {per_save}/save", total,
                    [issue_batch] * (total // per_save), per_call_latency=per_save == 1)
        ledger.close()
        return row


def where_the_time_goes(url: str, total: int, per_save: int) -> dict[str, float]:
    """Microseconds per event of a batched IssueTask, by stage: building and validating the
    commands, running their handlers (aggregates, events), encoding the events, and the
    insert (the table lock, the columns, the commit)."""
    spent: dict[str, float] = dict.fromkeys(("commands", "handlers"), 0.0)
    watch = Stopwatch()
    with fresh_database(url) as database:
        ledger = Ledger(env=ledger_env(database))
        service = LedgerService(ledger)
        service.execute(c.IssueTask(task_type="Warm_Up"))
        watch.wrap(ledger.mapper, "to_stored_event", "encoding")
        watch.wrap(ledger.recorder, "insert_events", "insert")
        for _ in range(total // per_save):
            started = time.perf_counter()
            commands = [c.IssueTask(task_type="Fetch_Paper", tags=["peft"],
                                    payload={"url": "file:///pilot/lora.pdf"})
                        for _ in range(per_save)]
            built = time.perf_counter()
            service.execute_batch(commands)
            spent["commands"] += built - started
            spent["handlers"] += time.perf_counter() - built
        ledger.close()
    spent.update(encoding=watch.seconds["encoding"], insert=watch.seconds["insert"])
    spent["handlers"] -= spent["encoding"] + spent["insert"]
    return {stage: seconds / total * 1e6 for stage, seconds in spent.items()}


def mint_cost(url: str, veteran_history: int, samples: int, cached: bool) -> tuple[Row, Row]:
    """Latency of one MintKarma on an account with 10 prior events and on one with
    ``veteran_history``, alternating between the two so that the machine's noise falls on
    both alike."""
    with fresh_database(url) as database:
        env = ledger_env(database)
        if not cached:
            env["AGGREGATE_CACHE_MAXSIZE"] = ""
        ledger = Ledger(env=env)
        service = LedgerService(ledger)
        service.execute_batch([c.RegisterAgent(agent_id=a, role="reader")
                               for a in ("newcomer", "veteran")])
        for agent, history in (("newcomer", 10), ("veteran", veteran_history)):
            remaining = history - 1  # the account's opening is its first event
            while remaining > 0:
                step = min(250, remaining)
                service.execute_batch([c.MintKarma(agent_id=agent, amount=Decimal(1),
                                                   reason="history") for _ in range(step)])
                remaining -= step
        latencies: dict[str, list[float]] = {"newcomer": [], "veteran": []}
        started = time.perf_counter()
        for _ in range(samples):
            for agent in latencies:
                t0 = time.perf_counter()
                service.execute(c.MintKarma(agent_id=agent, amount=Decimal(1), reason="measured"))
                latencies[agent].append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        ledger.close()
    mode = "cached" if cached else "cold load"
    return (Row(f"MintKarma after 10 events ({mode})", samples, elapsed / 2,
                latencies["newcomer"]),
            Row(f"MintKarma after {veteran_history:,} events ({mode})", samples, elapsed / 2,
                latencies["veteran"]))


def projection_rate(url: str, total: int) -> Row:
    with fresh_database(url) as database:
        ledger = Ledger(env=ledger_env(database))
        service = LedgerService(ledger)
        service.execute_batch([c.RegisterAgent(agent_id=f"a{i}", role="reader")
                               for i in range(100)])
        for start in range(0, total, 500):
            service.execute_batch([c.MintKarma(agent_id=f"a{(start + i) % 100}",
                                               amount=Decimal("0.5"), reason="r")
                                   for i in range(500)])
        with ledger.recorder.datastore.get_connection() as conn:
            migrator.migrate(conn)
        runner = ProjectionRunner(ledger, all_projections())
        head = runner.head()
        row = timed(f"projections catch-up ({len(runner.projections)} views)", head,
                    [runner.catch_up])
        ledger.close()
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke run)")
    args = parser.parse_args()
    scale = 5 if args.quick else 1
    console = Console(width=110)
    rows: list[Row] = []
    with server() as url, console.status("measuring…"):
        base_single = baseline(url, 1000 // scale, 1)
        base_batched = baseline(url, 20000 // scale, 500)
        rows += [base_single, base_batched]
        our_single = ours(url, 1000 // scale, 1)
        our_batched = ours(url, 20000 // scale, 500)
        rows += [our_single, our_batched]
        for cached in (True, False):
            rows.extend(mint_cost(url, 10_000 // scale, 400 // scale, cached))
        rows.append(projection_rate(url, 20000 // scale))
        stages = where_the_time_goes(url, 20000 // scale, 500)
        baseline_us = 1e6 / base_batched.rate

    table = Table(title=f"Ledger ingest on {os.cpu_count()} cores "
                        f"(embedded PostgreSQL unless KARMA_BENCH_DATABASE_URL)")
    for column in ("case", "events", "events/s", "p50 ms", "p99 ms", "vs baseline"):
        table.add_column(column, justify="left" if column == "case" else "right")
    ratio_of = {our_single.case: base_single, our_batched.case: base_batched}
    for row in rows:
        base = ratio_of.get(row.case)
        table.add_row(row.case, f"{row.events:,}", f"{row.rate:,.0f}", row.percentile(0.5),
                      row.percentile(0.99), f"{row.rate / base.rate:.2f}×" if base else "")
    console.print(table)
    breakdown = Table(title="Where a batched IssueTask's time goes (500 per save)")
    for column in ("stage", "µs per event", "share"):
        breakdown.add_column(column, justify="left" if column == "stage" else "right")
    ours_us = sum(stages.values())
    for stage, micros in stages.items():
        breakdown.add_row(stage, f"{micros:.1f}", f"{micros / ours_us:.0%}")
    breakdown.add_row("total", f"{ours_us:.1f}", "")
    breakdown.add_row("plain eventsourcing save, whole (baseline)", f"{baseline_us:.1f}", "")
    console.print(breakdown)
    cost = [r for r in rows if r.case.startswith("MintKarma")]
    for mode in ("cached", "cold load"):
        small, large = [r for r in cost if mode in r.case]
        growth = statistics.median(large.latencies) / statistics.median(small.latencies)
        console.print(f"command cost growth 10 → {large.case.split()[2]} prior events "
                      f"({mode}): {growth:.2f}× median latency")


if __name__ == "__main__":
    main()
