"""Time travel at scale: generate a ledger of N events, then time `karma at` at random
positions and a full rebuild of every view.

    python -m bench.time_travel                    # 1,000,000 events (several minutes)
    python -m bench.time_travel --events 100000    # a smaller ledger

The ledger is a research swarm's history: runs of 200 tasks taken by 12 agents; each task is
issued, assigned, started, completed and reviewed, which mints karma and updates ratings.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from decimal import Decimal

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters import migrator
from adapters.event_store import Ledger
from app.bootstrap import ledger_env
from bench.ledger import fresh_database, server
from domain.base import Provenance
from domain.karma import KarmaAccount
from domain.runs import Run
from domain.tasks import Task
from handlers import commands as c
from handlers.economy import settle
from handlers.service import LedgerService
from handlers.unit_of_work import UnitOfWork
from projections.registry import all_projections
from projections.runner import ProjectionRunner
from readside.queries import Queries
from readside.time_travel import TimeMachine

AGENTS = [f"agent-{i:02d}" for i in range(12)]
TASK_TYPES = ["Fetch_Paper", "Summarise_Paper", "Extract_Metrics", "Compare_Methods"]
TAGS = ["peft", "lora", "qlora", "metrics"]
TASKS_PER_RUN = 200
TASKS_PER_SAVE = 50


def generate(service: LedgerService, events: int, rng: random.Random, progress: Progress
             ) -> list[str]:
    """Runs of TASKS_PER_RUN tasks each, until the ledger holds ``events`` events.

    The history is made by the domain's own methods and the service's settlement (reward,
    ratings), on aggregates kept in memory between saves, and saved TASKS_PER_SAVE tasks at
    a time: what the command path would write, at bulk-import speed."""
    clock = service.clock
    accounts = {}
    for agent in [*AGENTS, "reviewer"]:
        register = c.RegisterAgent(agent_id=agent, role="reviewer" if agent == "reviewer"
                                   else "worker")
        service.execute(register)
        accounts[agent] = service.ledger.repository.get(KarmaAccount.id_for(agent))
    bar = progress.add_task("generating the ledger", total=events)
    runs: list[str] = []
    head = service.ledger.recorder.max_notification_id()
    while head < events:
        run_id = service.make_id()
        run = Run.start(run_id, workflow="bench", config_digest=service.policy.digest(),
                        seed=len(runs), code_version="bench", at=clock(),
                        provenance=Provenance(run_id=run_id, correlation_id=run_id,
                                              causation_id="command:StartRun"))
        runs.append(run_id)
        pending: list = [run]
        for number in range(TASKS_PER_RUN):
            pending.append(_work_one_task(service, accounts, run, rng))
            if len(pending) >= TASKS_PER_SAVE or number == TASKS_PER_RUN - 1:
                unit = UnitOfWork(service.ledger)
                unit.add(*pending, *accounts.values())
                head = unit.commit().position
                pending = []
        progress.update(bar, completed=min(head, events))
    return runs


def _work_one_task(service: LedgerService, accounts: dict, run: Run,
                   rng: random.Random) -> Task:
    run_id = run.run_id
    clock, task_id, agent = service.clock, service.make_id(), rng.choice(AGENTS)
    base = service.policy.base_reward(task_type := rng.choice(TASK_TYPES))
    provenance = Provenance(run_id=run_id, correlation_id=run_id,
                            causation_id=f"command:bench:{task_id}")
    task = Task.issue(task_id, task_type=task_type, payload={}, tags=tuple(rng.sample(TAGS, 2)),
                      base_reward=base, stake_required=Decimal(0), parent_id=None, at=clock(),
                      provenance=provenance)
    task.assign(agent, scores={}, reason="bench", at=clock(), provenance=provenance)
    task.start(agent, at=clock(), provenance=provenance)
    task.complete(duration_ms=rng.randint(200, 9000), tokens=rng.randint(100, 3000),
                  cpu_ms=rng.randint(50, 5000), at=clock(), provenance=provenance)
    quality = Decimal(rng.randint(0, 150)) / 100
    task.score_review("reviewer", quality=quality, rationale="bench", at=clock(),
                      provenance=provenance)
    unit = UnitOfWork(service.ledger)
    unit.add(task, run, *accounts.values())  # settlement asks the run whether it pays
    settle(service, unit, task, quality, clock(), provenance)
    return task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    console = Console(width=110)
    rng = random.Random(7)
    with server() as url, fresh_database(url) as database, Progress(console=console) as progress:
        ledger = Ledger(env=ledger_env(database, pool_size=2))
        with ledger.recorder.datastore.get_connection() as conn:
            migrator.migrate(conn)
        started = time.perf_counter()
        runs = generate(LedgerService(ledger), args.events, rng, progress)
        generated_s = time.perf_counter() - started
        head = ledger.recorder.max_notification_id()
        runner = ProjectionRunner(ledger, all_projections(), batch_size=5000)
        started = time.perf_counter()
        runner.catch_up()
        live_s = time.perf_counter() - started
        machine = TimeMachine(Queries(ledger.recorder.datastore), ledger)
        at_s = []
        machine.state(runs[-1], head)  # builds the checkpoints once, as a first look would
        for position in sorted(rng.randint(1, head) for _ in range(args.samples)):
            run_id = rng.choice(runs)
            t0 = time.perf_counter()
            machine.state(run_id, position)
            at_s.append(time.perf_counter() - t0)
        started = time.perf_counter()
        with ledger.recorder.datastore.get_connection() as conn:
            after = 0
            while after < head:
                after = ledger.read_stored_after(conn, after, head, 20_000)[-1][0]
        read_s = time.perf_counter() - started
        rebuild = {}
        for name in runner.projections:
            t0 = time.perf_counter()
            report = runner.rebuild(name, keep=False)
            rebuild[name] = (time.perf_counter() - t0, report.identical)
        together = {}
        for keep in (False, True):
            t0 = time.perf_counter()
            reports = runner.rebuild_all(keep=keep)
            together[keep] = (time.perf_counter() - t0, all(r.identical for r in reports))
        ledger.close()

    table = Table(title=f"Time travel over {head:,} events on {os.cpu_count()} cores")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("generate (domain methods + settlement, bulk saves)",
                  f"{head / generated_s:,.0f} events/s")
    table.add_row("catch up all views from zero", f"{head / live_s:,.0f} events/s")
    table.add_row(f"karma at a random position (n={len(at_s)}) p50",
                  f"{statistics.median(at_s) * 1000:,.0f} ms")
    table.add_row("karma at, slowest", f"{max(at_s) * 1000:,.0f} ms")
    table.add_row("baseline: read every stored event into Python, no decoding",
                  f"{head / read_s:,.0f} events/s")
    for name, (seconds, identical) in rebuild.items():
        table.add_row(f"rebuild {name} alone from event 1 (digest {_equal(identical)} live)",
                      f"{head / seconds:,.0f} events/s")
    for keep, label in ((False, "karma verify: replay all views, compare, roll back"),
                        (True, "karma projections rebuild: replay all views, keep")):
        seconds, identical = together[keep]
        table.add_row(f"{label} (digests {_equal(identical)} live)",
                      f"{head / seconds:,.0f} events/s "
                      f"({head / seconds / (head / read_s):.2f}x baseline)")
    console.print(table)


def _equal(identical: bool) -> str:
    return "=" if identical else "≠"


if __name__ == "__main__":
    main()
