"""What a chaos run (``bench.chaos``) found, counted from the ledger, the LEDGER stream, the
views and the writers' journals once the system has settled: what was lost, doubled, missing
or different.

The ledger in PostgreSQL is the truth every other count is held against: the stream must carry
each of its events once, in its order, as itself; each writer's acknowledged write must be in
it once; each task in it must have ended once; each view must be at its head and equal to its
replay from event 1.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import nats

from adapters.nats_servers import servers
from app.bootstrap import Container
from app.verify import verify
from bench.chaos_clients import REVIEWER, RUN_SEPARATOR, RUNS, Journal, Write
from domain.base import DomainEvent
from domain.karma import KarmaMinted
from domain.tasks import (
    ArtifactProduced,
    ReviewScored,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskIssued,
    TaskRejected,
)
from streams import consumers

ENDINGS = (TaskCompleted, TaskFailed, TaskCanceled, TaskRejected)
History = list[tuple[int, DomainEvent]]
"""The ledger as (position, event), oldest first."""


@dataclass
class Outcome:
    """What a chaos run did and found."""

    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    wall_s: float = 0.0
    events: int = 0
    kills: dict[str, int] = field(default_factory=dict)
    kills_while_starting: dict[str, int] = field(default_factory=dict)
    """Of the kills, those that took a process before it was at work."""
    restarts: dict[str, int] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)
    """Processes that ended by themselves during the chaos (then started again)."""
    settled: bool = False
    writes: Counter[str] = field(default_factory=Counter)
    """Writes by operation and fate, e.g. ``mint acked``."""
    on_stream: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    wrong_event: int = 0
    """Stream messages whose event id is not the ledger's at their position."""
    uncertain_landed: int = 0
    """Writes whose answer was lost that the ledger holds (once): they had landed."""
    missing_writes: int = 0
    doubled_writes: int = 0
    tasks: int = 0
    tasks_completed: int = 0
    tasks_rerun: int = 0
    """Tasks a worker started more than once: redelivered, after a worker was killed mid-task
    (their ending must still be one)."""
    tasks_unended: int = 0
    tasks_ended_twice: int = 0
    views_behind: int = 0
    digest_mismatches: int = 0
    invariant_violations: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Settled, and nothing lost, doubled, missing, stuck, refused or different."""
        return self.settled and not (
            self.lost or self.duplicated or self.out_of_order or self.wrong_event
            or self.missing_writes or self.doubled_writes or self.writes_refused
            or self.tasks_unended or self.tasks_ended_twice
            or self.views_behind or self.digest_mismatches or self.invariant_violations)

    @property
    def writes_refused(self) -> int:
        return sum(n for key, n in self.writes.items() if key.endswith(" refused"))


def check(outcome: Outcome, container: Container, folder: Path) -> None:
    """Count into ``outcome``, with the system stopped (``folder``: the writers' journals)."""
    ledger = list(container.ledger.history())
    outcome.events = len(ledger)
    check_stream(outcome, ledger, asyncio.run(stream_events(container)))
    check_writes(outcome, ledger, folder)
    check_tasks(outcome, ledger)
    runs = Counter(path.name.split(RUN_SEPARATOR)[0] for path in (folder / RUNS).iterdir())
    outcome.tasks_rerun = sum(1 for count in runs.values() if count > 1)
    head = container.projections.head()
    behind = {name: position for name, position in container.projections.positions().items()
              if position != head}
    outcome.views_behind = len(behind)
    if behind:
        outcome.problems.append(f"views behind the head {head}: {behind}")
    verified = verify(container)  # every view replayed from event 1, and the invariants
    outcome.digest_mismatches = sum(not same for same in verified.digests.values())
    invariants = [p for p in verified.problems if not p.startswith("view ")]
    outcome.invariant_violations = len(invariants)
    outcome.problems += verified.problems


async def stream_events(container: Container) -> list[tuple[int, str]]:
    """(ledger position, event id) of every message on LEDGER, as an outside consumer
    reads them from the first."""
    client = await nats.connect(servers(container.endpoints.nats_url))
    try:
        return [(event["position"], event["id"]) async for _, event in consumers.tail(
            client.jetstream(), container.topology, consumers.StartAt())]
    finally:
        await client.close()


def check_stream(outcome: Outcome, ledger: History, stream: list[tuple[int, str]]) -> None:
    """Every ledger event on the stream once, in the ledger's order, as itself."""
    outcome.on_stream = len(stream)
    event_ids = {position: event.event_id for position, event in ledger}
    positions = [position for position, _ in stream]
    seen = Counter(positions)
    outcome.lost = len(event_ids.keys() - seen.keys())
    outcome.duplicated = sum(n - 1 for n in seen.values())
    outcome.out_of_order = sum(1 for a, b in pairwise(positions) if b <= a)
    outcome.wrong_event = sum(1 for position, event_id in stream
                              if event_ids.get(position) != event_id)
    if outcome.lost:
        missing = sorted(event_ids.keys() - seen.keys())
        outcome.problems.append(f"{outcome.lost} ledger events not on the stream, "
                                f"the first at positions {missing[:10]}")
    if outcome.duplicated or outcome.out_of_order or outcome.wrong_event:
        outcome.problems.append(
            f"stream: {outcome.duplicated} duplicated, {outcome.out_of_order} out of order, "
            f"{outcome.wrong_event} not the ledger's event at their position")


def check_writes(outcome: Outcome, ledger: History, folder: Path) -> None:
    """Acknowledged writes exist once; uncertain ones at most once; none twice."""
    minted = Counter(event.reason for _, event in ledger if isinstance(event, KarmaMinted))
    issued = Counter(event.task_id for _, event in ledger if isinstance(event, TaskIssued))
    reviews = Counter((event.originator_id, event.reviewer_id) for _, event in ledger
                      if isinstance(event, ReviewScored))
    task_ids = {event.task_id: event.originator_id for _, event in ledger
                if isinstance(event, TaskIssued)}
    for journal in sorted((folder / "journals").glob("*.jsonl")):
        for write in Journal.read(journal).values():
            outcome.writes[f"{write.op} {write.state}"] += 1
            found = found_times(write, minted, issued, reviews, task_ids)
            if write.state in ("uncertain", "sent") and found == 1:
                outcome.uncertain_landed += 1
            if write.state == "acked" and found == 0:
                outcome.missing_writes += 1
                outcome.problems.append(f"acknowledged {write.op} {write.ref} is not in the "
                                        f"ledger")
            if found > 1:
                outcome.doubled_writes += 1
                outcome.problems.append(f"{write.op} {write.ref} is in the ledger {found} times")
            if write.state == "refused":
                outcome.problems.append(f"{write.op} {write.ref} refused: {write.detail}")


def found_times(write: Write, minted: Counter, issued: Counter, reviews: Counter,
                task_ids: dict[str, str]) -> int:
    """How often the ledger holds ``write`` (an A2A message whose answer never came names no
    task: 0, though it may have landed)."""
    if write.op == "mint":
        return minted[write.ref]
    if write.op == "review":
        return reviews[(task_ids.get(write.task_id), REVIEWER)]
    return issued[write.task_id] if write.task_id else 0


def check_tasks(outcome: Outcome, ledger: History) -> None:
    """Every task issued ended exactly once, with at most one artifact."""
    issued = {event.originator_id for _, event in ledger if isinstance(event, TaskIssued)}
    ends = Counter(event.originator_id for _, event in ledger if isinstance(event, ENDINGS))
    artifacts = Counter(event.originator_id for _, event in ledger
                        if isinstance(event, ArtifactProduced))
    outcome.tasks = len(issued)
    outcome.tasks_completed = sum(1 for _, event in ledger if isinstance(event, TaskCompleted))
    unended = sorted(task for task in issued if ends[task] == 0)
    twice = sorted(task for task in issued if ends[task] > 1 or artifacts[task] > 1)
    outcome.tasks_unended, outcome.tasks_ended_twice = len(unended), len(twice)
    if unended:
        outcome.problems.append(f"{len(unended)} tasks never ended: {unended[:5]}")
    if twice:
        outcome.problems.append(f"{len(twice)} tasks ended or produced twice: {twice[:5]}")
