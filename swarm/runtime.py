"""One research run in one process: the relay feeds the work queues, a crew of the thirteen
agents works them, and the conductor moves the chain along until the report is reviewed."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from adapters.embeddings import MiniLMEmbedder
from adapters.llm import LanguageModel
from adapters.vector_store import PassageStore
from app.bootstrap import Container
from app.settings import Settings
from domain.tasks import TaskState
from handlers.service import new_id
from streams.topology import declare_at
from swarm.conductor import Conductor
from swarm.roster import ROLES, all_agents, handlers
from swarm.toolkit import Toolkit
from workers.task_worker import TaskWorker
from workers.work_queue import Crew, working

log = structlog.get_logger(__name__)

CODE_VERSION = "research-1"
Progress = Callable[[Conductor], None]


class RunTimedOutError(TimeoutError):
    pass


def build_toolkit(settings: Settings, model: LanguageModel) -> Toolkit:
    home = settings.home_path
    store = (PassageStore(url=settings.qdrant_url) if settings.qdrant_url
             else PassageStore(path=home / "qdrant"))
    return Toolkit(model=model, embedder=MiniLMEmbedder(), passages=store,
                   papers_dir=home / "papers")


def new_run_id() -> str:
    return "rs-" + new_id()[:10]


def crew(container: Container, kit: Toolkit, roles: Iterable[str]) -> Crew:
    """The swarm's agents of ``roles``, each able to work its role's task type only."""
    wanted = set(roles)
    unknown = wanted - {role.name for role in ROLES}
    if unknown:
        raise ValueError(f"unknown roles {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(role.name for role in ROLES)}")
    made = handlers(kit)
    return Crew([TaskWorker(container.service, agent_id, {role.task_type: made[role.task_type]})
                 for agent_id, role in all_agents() if role.name in wanted])


async def serve_crew(container: Container, kit: Toolkit, roles: Iterable[str],
                     stop: asyncio.Event) -> None:
    """Work the queues of ``roles`` as those agents until ``stop``: the scale-out worker."""
    team = crew(container, kit, roles)
    await asyncio.to_thread(kit.warm_up)
    await declare_at(container.endpoints.nats_url, container.topology)
    async with working(container.endpoints.nats_url, container.topology, team,
                       _task_types(team)):
        await stop.wait()


def _task_types(team: Crew) -> list[str]:
    return sorted({t for worker in team.workers.values() for t in worker.handlers})


@dataclass
class ResearchRun:
    """``local_roles``: the roles whose agents work in this process; the others are left to
    `karma research worker` processes (here or on other machines). ``replay_of``: the
    recorded run this one replays (its work then moves no real karma)."""

    container: Container
    kit: Toolkit
    topic: str
    run_id: str
    local_roles: tuple[str, ...] = tuple(role.name for role in ROLES)
    replay_of: str | None = None

    async def run(self, papers: dict[str, str] | None, progress: Progress | None = None,
                  timeout_s: float = 3600.0) -> Conductor:
        """Run the swarm over ``papers`` (slug -> path or URL) as a new run; with None, resume
        the run ``run_id`` where its ledger stands (after a crash or an interrupt): the
        conductor re-derives every fact from the run's events and issues only what is
        missing, and unfinished tasks come back from their queues."""
        built = self.container
        team = crew(built, self.kit, self.local_roles)
        if team.workers:
            await asyncio.to_thread(self.kit.warm_up)
        await declare_at(built.endpoints.nats_url, built.topology)
        stop = asyncio.Event()
        relay = asyncio.create_task(built.relay().run(stop))
        conductor = Conductor(built.service, self.run_id, self.topic)
        try:
            async with working(built.endpoints.nats_url, built.topology, team,
                               _task_types(team)):
                if papers is not None:
                    await asyncio.to_thread(conductor.begin, papers,
                                            _digest(papers, self.topic), CODE_VERSION,
                                            self.replay_of)
                await self._follow(conductor, progress, time.monotonic() + timeout_s)
        finally:
            stop.set()
            await relay
        return conductor

    async def _follow(self, conductor: Conductor, progress: Progress | None,
                      deadline: float) -> None:
        ledger = self.container.ledger
        datastore = self.container.datastore

        def read() -> None:
            with datastore.get_connection() as conn:
                head = ledger.recorder.max_notification_id() or 0
                while conductor.position < head:
                    conductor.observe(ledger.read_after(conn, conductor.position, head, 1000))
            conductor.advance()

        while not conductor.finished:
            if time.monotonic() > deadline:
                raise RunTimedOutError(f"run {self.run_id} did not finish in time")
            await asyncio.to_thread(read)
            if progress is not None:
                progress(conductor)
            await asyncio.sleep(0.2)
        await asyncio.to_thread(read)
        if progress is not None:
            progress(conductor)


def _digest(papers: dict[str, str], topic: str) -> str:
    listed = "\n".join(f"{slug}={where}" for slug, where in sorted(papers.items()))
    return "sha256:" + hashlib.sha256(f"{topic}\n{listed}".encode()).hexdigest()


def report_of(conductor: Conductor) -> str | None:
    report = conductor.tasks.get(f"{conductor.run_id}.synthesise")
    return report.text if report is not None and report.state is TaskState.COMPLETED else None


def write_report(conductor: Conductor, folder: Path) -> Path | None:
    text = report_of(conductor)
    if text is None:
        return None
    target = folder / conductor.run_id / "report.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target
