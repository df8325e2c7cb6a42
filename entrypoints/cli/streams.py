"""JetStream: relay, stream tail, stream asyncapi, worker."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import nats
import nats.js.errors
import typer

from adapters.nats_servers import servers
from app.bootstrap import Container
from domain.agents import Agent
from entrypoints.cli.common import (
    JsonFlag,
    app,
    console,
    container,
    errors,
    run_until_signal,
    stream_app,
)
from handlers.commands import EnsureAgent
from streams import consumers
from streams.topology import declare, declare_at


@app.command()
def relay() -> None:
    """Publish every ledger event on JetStream (LEDGER), once and in order, until stopped.
    A second relay waits as a standby until the first one stops."""
    with container() as built:
        console.print(f"relaying the ledger to {built.endpoints.nats_url} "
                      f"(stream {built.topology.ledger_stream})")
        asyncio.run(run_until_signal(built.relay().run))


@stream_app.command("tail")
def stream_tail(
    subject: Annotated[str | None, typer.Option(help="Only this subject (wildcards allowed).")] = None,
    from_position: Annotated[int | None, typer.Option(min=1, help="Start at this ledger position.")] = None,
    from_sequence: Annotated[int | None, typer.Option(min=1, help="Start at this stream sequence.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Start at this time (ISO 8601).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many messages.")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Wait for new messages.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Print LEDGER messages from a ledger position, a stream sequence or a time."""
    if sum(option is not None for option in (from_position, from_sequence, since)) > 1:
        errors.print("[red]error:[/red] give at most one of --from-position, --from-sequence, --since")
        raise typer.Exit(2)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    start = consumers.StartAt(position=from_position, sequence=from_sequence, time=since)
    with container() as built:
        asyncio.run(_tail(built, start, subject, limit, follow, as_json))


async def _tail(built: Container, start: consumers.StartAt, subject: str | None,
                limit: int | None, follow: bool, as_json: bool) -> None:
    client = await nats.connect(servers(built.endpoints.nats_url))
    try:
        js = client.jetstream()
        await declare(js, built.topology)
        async for sequence, event in consumers.tail(js, built.topology, start, subject,
                                                    limit, follow):
            if as_json:
                sys.stdout.write(json.dumps({"sequence": sequence, **event}) + "\n")
            else:
                console.print(f"{sequence:>8} pos {event['position']:>8} {event['time']} "
                              f"{event['type']} {event['subject']}")
    except consumers.PositionNotPublishedError as error:
        raise ValueError(str(error)) from None
    finally:
        await client.close()


@stream_app.command("asyncapi")
def stream_asyncapi(
    write: Annotated[bool, typer.Option("--write", help="Update docs/asyncapi.json.")] = False,
) -> None:
    """Print (or write) the AsyncAPI document of every subject and payload."""
    from streams import asyncapi
    from workers.task_handlers import builtin_task_types

    text = asyncapi.render(builtin_task_types())
    if write:
        asyncapi.DOCUMENT.write_text(text)
        console.print(f"wrote {asyncapi.DOCUMENT}")
    else:
        sys.stdout.write(text)


@app.command()
def worker(
    types: Annotated[str, typer.Option(help="Task types to work, comma-separated.")],
    agent: Annotated[str, typer.Option(help="The registered agent this worker acts as.")],
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 1,
    handlers_module: Annotated[str | None, typer.Option(
        "--handlers", help="A module whose HANDLERS dict adds task types.")] = None,
    role: Annotated[str | None, typer.Option(
        help="Register the agent with this role if it is not registered yet.")] = None,
) -> None:
    """Work tasks from the queues of the given types, as one agent, until stopped. Run more
    processes (here or on other machines) to scale: they share one consumer per type."""
    from workers.task_handlers import builtin_handlers, load_handlers
    from workers.task_worker import TaskWorker

    with container() as built:
        handlers = builtin_handlers(built.settings.home_path)
        if handlers_module:
            handlers.update(load_handlers(handlers_module))
        task_types = [t.strip() for t in types.split(",") if t.strip()]
        unknown = sorted(set(task_types) - set(handlers))
        if unknown:
            raise ValueError(f"no handler for {', '.join(unknown)}; known: {', '.join(sorted(handlers))}")
        if role is not None:
            built.service.execute(EnsureAgent(
                agent_id=agent, role=role, skills=[t.lower() for t in task_types]))
        elif Agent.id_for(agent) not in built.ledger.repository:
            raise ValueError(f"unknown agent {agent!r}: register it first, or pass --role")
        task_worker = TaskWorker(built.service, agent, handlers)
        console.print(f"agent {agent} working {', '.join(task_types)} (concurrency {concurrency})")
        asyncio.run(run_until_signal(
            lambda stop: _work(built, task_worker, task_types, concurrency, stop)))


async def _work(built: Container, task_worker: Any, task_types: list[str], concurrency: int,
                stop: asyncio.Event) -> None:
    from workers.work_queue import working

    await declare_at(built.endpoints.nats_url, built.topology)
    async with working(built.endpoints.nats_url, built.topology, task_worker, task_types,
                       concurrency):
        await stop.wait()
