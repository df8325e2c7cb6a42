"""Many clients on the HTTP API at once: throughput, p50/p99 latency, and no lost update.

    python -m bench.load                     # 32 clients, 1,000 mints per phase (about a minute)
    python -m bench.load --clients 64 --requests 4000

`karma serve` runs as its own process on embedded servers in a temporary data folder (as a
user runs it); the clients are asyncio httpx connections from this process. Phases:

1. baseline: one client minting on one account, one request at a time;
2. hot account: every client minting on the same account, where optimistic concurrency makes
   writers retry (``handlers.service``);
3. spread: every client minting on one of twelve accounts.

After each phase the account's balance is read back: it must be exactly the sum minted (a lost
update would show as less). Ratios are against the baseline's throughput, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from bench.percentiles import percentile

KARMA = str(Path(sysconfig.get_path("scripts")) / "karma")
AMOUNT = Decimal("0.5")


@dataclass(frozen=True)
class Phase:
    name: str
    clients: int
    seconds: float
    latencies: list[float]
    refused: int
    expected: Decimal
    found: Decimal

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def mint(client: httpx.AsyncClient, agent: str, count: int, latencies: list[float],
               refused: list[int]) -> None:
    for _ in range(count):
        started = time.perf_counter()
        answer = await client.post("/v1/karma/mint", json={
            "agent_id": agent, "amount": str(AMOUNT), "reason": "load"})
        latencies.append(time.perf_counter() - started)
        if answer.status_code != 200:
            refused.append(answer.status_code)


async def phase(base: str, token: str, name: str, clients: int, requests: int,
                agents: list[str]) -> Phase:
    headers = {"Authorization": f"Bearer {token}"}
    before = await balances(base, headers, agents)
    latencies: list[float] = []
    refused: list[int] = []
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits,
                                 timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(mint(client, agents[i % len(agents)], requests // clients,
                                    latencies, refused) for i in range(clients)))
        seconds = time.perf_counter() - started
    after = await balances(base, headers, agents)
    done = (requests // clients) * clients - len(refused)
    return Phase(name, clients, seconds, latencies, len(refused), AMOUNT * done,
                 sum(after.values()) - sum(before.values()))


async def balances(base: str, headers: dict[str, str], agents: list[str]) -> dict[str, Decimal]:
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        status = (await client.get("/v1/status")).json()
        found = {}
        for agent in agents:
            answer = await client.get(f"/v1/karma/{agent}",
                                      params={"min_position": status["head"]})
            found[agent] = Decimal(answer.json()["balance"]) if answer.status_code == 200 \
                else Decimal(0)
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    console = Console(width=140)
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KARMA_")}
        env["KARMA_HOME"] = str(Path(folder) / "karma")
        subprocess.run([KARMA, "up"], env=env, check=True, capture_output=True)
        token = subprocess.run([KARMA, "tokens", "create", "--role", "admin"], env=env,
                               check=True, capture_output=True, text=True).stdout.strip()
        port = free_port()
        server = subprocess.Popen([KARMA, "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/ui", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("karma serve did not come up") from None
                    time.sleep(0.2)
            agents = [f"load-{i:02d}" for i in range(12)]
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
                for agent in agents:
                    c.post("/v1/agents", json={"agent_id": agent, "role": "reader"})
            baseline_requests = max(args.clients, args.requests // 4)
            phases = [
                asyncio.run(phase(base, token, "baseline: 1 client, one account", 1,
                                  baseline_requests, agents[:1])),
                asyncio.run(phase(base, token, f"hot: {args.clients} clients, one account",
                                  args.clients, args.requests, agents[:1])),
                asyncio.run(phase(base, token, f"spread: {args.clients} clients, 12 accounts",
                                  args.clients, args.requests, agents)),
            ]
        finally:
            server.terminate()
            server.wait(timeout=30)
            subprocess.run([KARMA, "down"], env=env, capture_output=True)

    base_rate = phases[0].throughput
    table = Table(title=f"MintKarma over HTTP, karma serve on embedded servers, "
                        f"{os.cpu_count()} cores")
    for column in ("phase", "requests", "refused", "req/s", "vs baseline", "p50 ms", "p99 ms",
                   "minted = balance change"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for found in phases:
        table.add_row(found.name, str(len(found.latencies)), str(found.refused),
                      f"{found.throughput:,.0f}", f"{found.throughput / base_rate:.2f}x",
                      f"{statistics.median(found.latencies) * 1000:,.1f}",
                      f"{percentile(found.latencies, 0.99) * 1000:,.1f}",
                      "yes" if found.expected == found.found
                      else f"NO: {found.found} of {found.expected}")
    console.print(table)


if __name__ == "__main__":
    main()
