"""Chaos: every process of the system killed with SIGKILL at random instants while clients
write, then a count of what the ledger, JetStream and the read models hold.

    python -m bench.chaos                                  # 60 s, up to 5,000 events, seed 1
    python -m bench.chaos --seconds 120 --events 20000 --seed 7 --keep /tmp/chaos

On embedded PostgreSQL and NATS in a temporary folder (``karma up``, as a user starts them),
these run as processes of their own, each started again after it is killed:

- ``karma serve --no-relay``: the HTTP API and A2A (and a projection follower in a thread);
- ``karma relay``: the outbox relay to JetStream (the only one: with it down, nothing is
  published until it is back and resumes from the stream's tail);
- ``karma projections run``: the projection runner;
- ``karma worker``: task workers (by default every one acting as the same agent, as one
  scales a worker out), working Fetch_Paper tasks that take a fraction of a second
  (``bench.chaos_clients.HANDLERS``);
- writers (``python -m bench.chaos_clients``): HTTP clients that mint karma, issue staked
  tasks and review them, and A2A clients (the a2a-sdk) that issue tasks, each keeping a
  journal of what the server acknowledged.

A seeded RNG picks when to kill (every kind in turn, in a shuffled order), which process of the
kind, and for how long it stays down; a victim is taken once it is at work (it said so in its
log), but for a fifth of the kills, which take it while it starts. When the time or the event
budget is spent, the chaos stops, every process is running again, the writers finish, and the
system is left to settle (the relay and every projection at the ledger's head, the work queue
empty). Then it checks that every ledger event is on the LEDGER stream once, in order; that
every view is at the head and equals its replay from event 1 (``app.verify``, as ``karma
verify``); that every acknowledged write exists (and no write twice); that every task ended
exactly once; and the economy's invariants (``bench.chaos_checks``). It prints a table and
exits 1 if anything is lost, doubled, stuck or different. ``tests/integration/test_chaos.py``
runs a small one on the suite's servers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import nats.js.errors
from rich.console import Console
from rich.table import Table

from adapters import embedded_nats, embedded_postgres
from adapters.nats_servers import servers
from app.bootstrap import Container, Endpoints
from app.settings import Settings
from bench.chaos_checks import Outcome, check
from bench.chaos_clients import (
    ACCOUNTS,
    MINIMAL_PDF,
    PAPER,
    REVIEWER,
    RUNS,
    TOKEN_VARIABLE,
    WRITING,
)
from streams.relay import read_cursor
from tests.support.installed import CHECKOUT, container_env

KARMA = str(Path(sysconfig.get_path("scripts")) / "karma")
KINDS = ("serve", "relay", "projections", "worker", "http-writer", "a2a-writer")
WRITER_KINDS = ("http-writer", "a2a-writer")
PROCESS_ENV = {
    # The chaos kills a task's worker far more often than a deployment loses one, and each
    # kill, like each hand-over between agents' processes, is a delivery: the consumer must
    # not give up on a task after the production default of five. (A task whose worker died
    # is offered again on the consumer's backoff: 1 s, then 5, 15, 30 s. With workers of
    # several agents, a task whose agent's process died waits for that agent's next process
    # on a subject of its own.)
    "KARMA_TASK_MAX_DELIVER": "1000",
}


@dataclass(frozen=True)
class ChaosConfig:
    seconds: float = 60.0
    """How long the chaos lasts at most (writers write meanwhile)."""
    events: int = 5000
    """The chaos stops once the ledger holds this many events."""
    seed: int = 1
    http_writers: int = 2
    a2a_writers: int = 1
    workers: int = 2
    worker_agents: int = 1
    """The agents the worker processes act as, in turn. With more than one, a task whose
    worker died is passed on by the processes of other agents to its own agent's (see
    ``workers.work_queue._pass_on``)."""
    kill_gap_s: tuple[float, float] = (0.5, 2.5)
    """Time from one kill to the next, drawn uniformly."""
    downtime_s: tuple[float, float] = (0.0, 1.0)
    """How long a killed process stays down, drawn uniformly."""
    settle_timeout_s: float = 180.0


READY_LINES = {
    "serve": ("Application startup complete",),  # uvicorn, once the app's lifespan has begun
    "relay": ("relay resuming", "standing by"),  # it holds the relay lock, or waits for it
    "projections": ("following the ledger",),
    "worker": ("working",),
    "http-writer": (WRITING,),
    "a2a-writer": (WRITING,),
}
"""What each kind of process says, once started, when it is at work."""
READY_AFTER_S = 30.0
"""A process that has not said so is taken to be at work after this long: a reworded message
must not stop the chaos."""
WHILE_STARTING = 0.2
"""The share of kills that do not wait for their victim to be at work: on a busy machine a
process takes seconds to start, and a chaos that kills every process again before it is up
tests nothing but starting."""


class Supervised:
    """One process of the system, started again after each kill; its output goes to
    ``logs/NAME.log``, appended start after start."""

    def __init__(self, kind: str, name: str, command: list[str], env: dict[str, str],
                 cwd: Path, logs: Path) -> None:
        self.kind, self.name, self.command, self.env, self.cwd = kind, name, command, env, cwd
        self.log_path = logs / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = self.kills_while_starting = self.restarts = self.exits = 0
        self._started_at = 0.0
        self._log_from = 0
        self._at_work = False

    def start(self) -> None:
        self._log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._started_at, self._at_work = time.monotonic(), False
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, env=self.env, cwd=self.cwd,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def at_work(self) -> bool:
        """Running, and it has said (in its log, since it was started) that it is at work."""
        if self.alive and not self._at_work:
            with self.log_path.open("rb") as log:
                log.seek(self._log_from)
                said = log.read().decode(errors="replace")
            self._at_work = (any(line in said for line in READY_LINES[self.kind])
                             or time.monotonic() - self._started_at > READY_AFTER_S)
        return self._at_work and self.alive

    def kill(self) -> None:
        if self.alive:
            self.kills_while_starting += not self.at_work
            self.process.send_signal(signal.SIGKILL)
            self.kills += 1
        self.process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, as an operator stops it; SIGKILL if it does not go in ``timeout``."""
        if not self.alive:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_chaos(config: ChaosConfig, container: Container, folder: Path,
              say: Callable[[str], None] = lambda _: None) -> Outcome:
    """Run the system on ``container``'s servers as processes (their files in ``folder``),
    kill them as ``config`` says, let it settle, and count."""
    started = time.monotonic()
    outcome = Outcome()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    (folder / RUNS).mkdir(exist_ok=True)
    (folder / PAPER).write_bytes(MINIMAL_PDF)
    (folder / "stop").unlink(missing_ok=True)
    port = free_port()
    env = container_env(container, KARMA_API_PORT=str(port), **PROCESS_ENV)
    base = f"http://127.0.0.1:{port}"
    token = subprocess.run([KARMA, "tokens", "create", "--role", "admin", "--label", "chaos"],
                           env=env, cwd=folder, check=True, capture_output=True,
                           text=True).stdout.strip()
    processes = system(config, env, folder, base, token)
    try:
        serve = next(p for p in processes if p.kind == "serve")
        serve.start()
        prepare(base, token, config)
        for process in processes:
            if process is not serve:
                process.start()
        until_at_work(processes)
        say(f"chaos for up to {config.seconds:.0f} s or {config.events:,} events, "
            f"seed {config.seed}")
        chaos(processes, config, container)
        say("chaos over; the writers finish their writes in hand")
        finish_writers(processes, folder)
        say("settling: relay and projections to the head, every task done")
        outcome.settled = settle(processes, container, config.settle_timeout_s, say)
    finally:
        for process in processes:
            process.stop()
    for kind in KINDS:
        of_kind = [p for p in processes if p.kind == kind]
        outcome.kills[kind] = sum(p.kills for p in of_kind)
        outcome.restarts[kind] = sum(p.restarts for p in of_kind)
        outcome.exits[kind] = sum(p.exits for p in of_kind)
        outcome.kills_while_starting[kind] = sum(p.kills_while_starting for p in of_kind)
    if not outcome.settled:
        outcome.problems.append(f"did not settle within {config.settle_timeout_s:.0f} s")
    say("counting")
    check(outcome, container, folder)
    outcome.wall_s = time.monotonic() - started
    return outcome


def system(config: ChaosConfig, env: dict[str, str], folder: Path, base: str,
           token: str) -> list[Supervised]:
    logs = folder / "logs"
    # The workers import their handler from this checkout's bench package.
    worker_env = {**env, "PYTHONPATH": str(CHECKOUT)}
    processes = [
        Supervised("serve", "serve", [KARMA, "serve", "--no-relay"], env, folder, logs),
        Supervised("relay", "relay", [KARMA, "relay"], env, folder, logs),
        Supervised("projections", "projections", [KARMA, "projections", "run"], env, folder,
                   logs),
    ]
    processes += [Supervised("worker", f"worker-{i}", [
        KARMA, "worker", "--types", "Fetch_Paper", "--agent", worker_agent(config, i),
        "--concurrency", "2", "--handlers", "bench.chaos_clients"], worker_env, folder, logs)
        for i in range(1, config.workers + 1)]
    for kind, protocol, count in (("http-writer", "http", config.http_writers),
                                  ("a2a-writer", "a2a", config.a2a_writers)):
        processes += [Supervised(kind, f"{protocol}-{i}", [
            sys.executable, "-m", "bench.chaos_clients", protocol, "--name", f"{protocol}-{i}",
            "--base", base, "--folder", str(folder), "--seed", str(config.seed)],
            {**env, TOKEN_VARIABLE: token}, CHECKOUT, logs)
            for i in range(1, count + 1)]
    return processes


def worker_agent(config: ChaosConfig, process: int) -> str:
    return f"chaos-worker-{(process - 1) % config.worker_agents + 1}"


def prepare(base: str, token: str, config: ChaosConfig, timeout: float = 60.0) -> None:
    """Once the server answers: the agents the writers and workers act on, and karma for the
    workers to stake on the tasks they take."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as client:
        while True:
            try:
                client.get("/v1/status").raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise TimeoutError("karma serve did not come up") from None
                time.sleep(0.2)
        workers = sorted({worker_agent(config, i) for i in range(1, config.workers + 1)})
        for agent, role in ([(a, "reader") for a in ACCOUNTS] + [(REVIEWER, "reviewer")]
                            + [(w, "fetcher") for w in workers]):
            client.post("/v1/agents", json={"agent_id": agent, "role": role}
                        ).raise_for_status()
        for agent in workers:
            client.post("/v1/karma/mint", json={"agent_id": agent, "amount": "1000",
                                                "reason": "stakes for the chaos"}
                        ).raise_for_status()


def until_at_work(processes: list[Supervised], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(process.at_work for process in processes):
        idle = [p.name for p in processes if not p.at_work]
        if time.monotonic() > deadline:
            raise TimeoutError(f"not at work after {timeout:.0f} s: {', '.join(idle)}")
        for process in processes:
            if not process.alive:
                process.exits += 1
                process.start()
        time.sleep(0.1)


def chaos(processes: list[Supervised], config: ChaosConfig, container: Container) -> None:
    """Kill a process of each kind in turn (a shuffled order, round after round) at random
    instants, and start it again after a random downtime, until the time or the event budget
    is spent. A victim is killed once it is at work, but for a share of kills that take it
    while it starts. A process that ends by itself is counted and started again too."""
    rng = random.Random(config.seed)
    deadline = time.monotonic() + config.seconds
    order: list[str] = []
    down: dict[Supervised, float] = {}
    victim, while_starting = None, False
    next_kill = time.monotonic() + rng.uniform(*config.kill_gap_s)
    next_count = 0.0
    while (now := time.monotonic()) < deadline:
        if now >= next_count:
            if container.projections.head() >= config.events:
                break
            next_count = now + 0.5
        for process in processes:
            if process not in down and not process.alive:
                process.exits += 1
                process.start()
        for process, back_at in list(down.items()):
            if now >= back_at:
                process.start()
                process.restarts += 1
                del down[process]
        if now >= next_kill:
            if victim is None:
                if not order:
                    order = list(KINDS)
                    rng.shuffle(order)
                kind = order.pop()
                victim = rng.choice([p for p in processes if p.kind == kind])
                while_starting = rng.random() < WHILE_STARTING
            if victim not in down and (victim.at_work or while_starting):
                victim.kill()
                down[victim] = now + rng.uniform(*config.downtime_s)
                victim = None
            # else: not yet at work (or still down from the kill before): a while later
            next_kill = now + rng.uniform(*config.kill_gap_s)
        time.sleep(0.05)
    for process in down:
        process.start()
        process.restarts += 1


def finish_writers(processes: list[Supervised], folder: Path, timeout: float = 90.0) -> None:
    """Ask the writers to stop after the write in hand (a restarted writer first resends the
    idempotent writes its journal left unanswered), and wait for them."""
    (folder / "stop").touch()
    deadline = time.monotonic() + timeout
    for writer in (p for p in processes if p.kind in WRITER_KINDS):
        try:
            writer.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            writer.kill()


def settle(processes: list[Supervised], container: Container, timeout: float,
           say: Callable[[str], None]) -> bool:
    """Until the relay has published the ledger's head, every projection is there, and the
    work queue is empty (every task message acked: its task ended), twice in a row."""
    deadline = time.monotonic() + timeout
    previous = None
    next_say = time.monotonic() + 10
    while time.monotonic() < deadline:
        for process in processes:
            if process.kind not in WRITER_KINDS and not process.alive:
                process.exits += 1
                process.start()
        head = container.projections.head()
        relayed, queued = asyncio.run(jetstream_state(container))
        positions = container.projections.positions()
        now = (head, relayed, queued, min(positions.values()))
        if time.monotonic() > next_say:
            say(f"head {head}, relayed {relayed}, slowest view {now[3]}, {queued} tasks queued")
            next_say += 10
        if relayed == head and queued == 0 and all(p == head for p in positions.values()):
            if now == previous:
                return True
            previous = now
        time.sleep(1.0)
    return False


async def jetstream_state(container: Container) -> tuple[int, int]:
    """The ledger position the relay has published up to, and the messages in TASKS."""
    client = await nats.connect(servers(container.endpoints.nats_url))
    try:
        js = client.jetstream()
        topology = container.topology
        try:
            relayed = (await read_cursor(js, topology)).position
            queued = (await js.stream_info(topology.tasks_stream)).state.messages
        except nats.js.errors.NotFoundError:
            return 0, 0
        return relayed, queued
    finally:
        await client.close()


def report(outcome: Outcome, config: ChaosConfig) -> Table:
    table = Table(title=f"Chaos: kill -9 at random instants, seed {config.seed}, "
                        f"{outcome.cores} cores")
    table.add_column("measure")
    table.add_column("value", justify="right")
    acked = sum(n for key, n in outcome.writes.items() if key.endswith(" acked"))
    uncertain = sum(n for key, n in outcome.writes.items()
                    if key.endswith((" uncertain", " sent")))
    rows = [
        ("events written (ledger)", f"{outcome.events:,}"),
        ("events on JetStream", f"{outcome.on_stream:,}"),
        ("writes acknowledged (http + a2a)", f"{acked:,}"),
        ("writes uncertain (may exist) / of them landed",
         f"{uncertain:,} / {outcome.uncertain_landed:,}"),
        ("tasks issued / completed", f"{outcome.tasks:,} / {outcome.tasks_completed:,}"),
        ("tasks run more than once (redelivered)", f"{outcome.tasks_rerun:,}"),
    ]
    rows += [(f"kills (while starting) / restarts: {kind}",
              f"{outcome.kills[kind]} ({outcome.kills_while_starting[kind]}) / "
              f"{outcome.restarts[kind]}"
              + (f" (+{outcome.exits[kind]} exited)" if outcome.exits[kind] else ""))
             for kind in KINDS]
    rows += [
        ("lost (ledger events not on the stream)", str(outcome.lost)),
        ("duplicated on the stream", str(outcome.duplicated)),
        ("out of order / wrong event on the stream",
         f"{outcome.out_of_order} / {outcome.wrong_event}"),
        ("acknowledged writes missing", str(outcome.missing_writes)),
        ("writes in the ledger twice", str(outcome.doubled_writes)),
        ("writes refused", str(outcome.writes_refused)),
        ("tasks not ended / ended twice",
         f"{outcome.tasks_unended} / {outcome.tasks_ended_twice}"),
        ("views behind the head", str(outcome.views_behind)),
        ("digest mismatches (view vs replay)", str(outcome.digest_mismatches)),
        ("invariant violations", str(outcome.invariant_violations)),
        ("settled", "yes" if outcome.settled else "NO"),
        ("wall time", f"{outcome.wall_s:.1f} s"),
        ("cores (os.cpu_count)", str(outcome.cores)),
    ]
    for measure, value in rows:
        table.add_row(measure, value)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="chaos lasts at most this")
    parser.add_argument("--events", type=int, default=5000, help="...or until this many events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--http-writers", type=int, default=2)
    parser.add_argument("--a2a-writers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--worker-agents", type=int, default=1,
                        help="agents they act as, in turn (default: all the same one)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (logs, "
                        "journals, the servers' data) instead of a temporary one")
    args = parser.parse_args()
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"{args.keep} is not empty: a run counts every journal in its folder")
    config = ChaosConfig(seconds=args.seconds, events=args.events, seed=args.seed,
                         http_writers=args.http_writers, a2a_writers=args.a2a_writers,
                         workers=args.workers, worker_agents=args.worker_agents)
    console = Console(width=110)
    if args.keep:
        outcome = on_embedded_servers(config, args.keep, console)
    else:
        with tempfile.TemporaryDirectory() as folder:
            outcome = on_embedded_servers(config, Path(folder), console)
    console.print(report(outcome, config))
    for problem in outcome.problems[:20]:
        console.print(f"[red]problem:[/red] {problem}")
    if not outcome.ok:
        raise SystemExit(1)


def on_embedded_servers(config: ChaosConfig, folder: Path, console: Console) -> Outcome:
    """``run_chaos`` on embedded servers that ``karma up`` starts in ``folder``."""
    home = folder / "karma"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KARMA_")}
    subprocess.run([KARMA, "up"], env={**env, "KARMA_HOME": str(home)}, check=True,
                   capture_output=True)
    try:
        database = embedded_postgres.running(home / "postgres")
        nats_server = embedded_nats.running(home / "nats")
        settings = Settings(home=home, database_url=database.url, nats_url=nats_server.url)
        container = Container(settings, Endpoints(database.url, nats_server.url, False, False))
        try:
            return run_chaos(config, container, folder / "chaos",
                             say=lambda line: console.log(line))
        finally:
            container.close()
    finally:
        subprocess.run([KARMA, "down"], env={**env, "KARMA_HOME": str(home)},
                       capture_output=True, check=False)


if __name__ == "__main__":
    main()
