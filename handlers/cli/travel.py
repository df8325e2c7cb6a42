"""Provenance and time travel: why, runs, at, diff, step, aggregate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from handlers.cli.common import (
    JsonFlag,
    _aware,
    _time_machine,
    app,
    console,
    container,
    print_json,
    runs_app,
)
from handlers.provenance import timeline as timeline_of
from handlers.queries import Queries


@app.command()
def why(
    agent: str,
    scope: Annotated[str | None, typer.Option(help="Only karma in this tag.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every karma entry of an agent with the chain that caused it; they add up to its
    balance."""
    from handlers.provenance import why as explain

    with container() as built:
        built.projections.catch_up()
        explanation = explain(Queries(built.datastore), agent, scope)
        if as_json:
            print_json(vars(explanation))
            return
        for entry in explanation.entries:
            console.print(f"[bold]{entry['contribution']:+}[/bold] {entry['kind']} "
                          f"@{entry['position']} {entry['reason']}")
            formula = entry["formula"]
            if "delta" in formula:
                console.print(f"    = {formula['base']} x {formula['quality']} - "
                              f"({formula['time_penalty']} + {formula['resource_penalty']})"
                              f" x {formula['scale']}")
            for step in entry["chain"]:
                console.print(f"    <- {step['event_type']} {step['event_id']}: {step['summary']}")
        where = f" in #{scope}" if scope else ""
        console.print(f"total{where} {explanation.total} = balance{where} {explanation.balance}")


@runs_app.command("list")
def runs_list(as_json: JsonFlag = False) -> None:
    """Runs, newest first."""
    with container() as built:
        built.projections.catch_up(["task_board"])
        rows = Queries(built.datastore).runs(limit=1000)
        if as_json:
            print_json(rows)
            return
        table = Table("run", "workflow", "started", "outcome", "policy")
        for row in rows:
            table.add_row(row["run_id"], row["workflow"],
                          row["started_at"].isoformat(timespec="seconds"),
                          row["outcome"] or "running", row["config_digest"][:19])
        console.print(table)


@runs_app.command("show")
def runs_show(run: str, as_json: JsonFlag = False) -> None:
    """A run's timeline: every event in order, and how long each task took."""
    with container() as built:
        built.projections.catch_up()
        shown = timeline_of(Queries(built.datastore), run)
        if as_json:
            print_json(shown)
            return
        info = shown["run"]
        console.print(f"run {info['run_id']} ({info['workflow']}) "
                      f"{info['outcome'] or 'running'}; " + ", ".join(
                          f"{count} {kind}" for kind, count in sorted(shown["counts"].items())))
        started = shown["events"][0]["occurred_at"] if shown["events"] else None
        for event in shown["events"]:
            offset = (event["occurred_at"] - started).total_seconds()
            seconds = shown["task_seconds"].get(event["originator_id"])
            took = (f"  ({seconds:.3f} s)" if seconds is not None
                    and event["event_type"] in ("TaskCompleted", "TaskFailed") else "")
            console.print(f"{offset:>9.3f}s  {event['event_type']:<18} "
                          f"{event['originator_id']}{took}")


@app.command()
def at(
    run: str,
    position: Annotated[int | None, typer.Option(min=0, help="A ledger position.")] = None,
    time: Annotated[datetime | None, typer.Option(help="An instant (ISO 8601).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The run's read models (balances, scoped karma, task board) as they were at a ledger
    position or an instant."""
    if (position is None) == (time is None):
        raise typer.BadParameter("give exactly one of --position and --time")
    with container() as built:
        machine = _time_machine(built)
        point = position if position is not None else machine.position_at(_aware(time))
        state = machine.state(run, point)
        if as_json:
            print_json(vars(state))
            return
        console.print(f"run {run} at position {state.position}"
                      + (f" ({state.at.isoformat()})" if state.at else ""))
        table = Table("agent", "available", "escrow", "minted", "burned", "scoped")
        for agent, row in state.balances.items():
            scoped = ", ".join(f"#{tag} {amount}" for tag, amount in
                               state.scoped.get(agent, {}).items())
            table.add_row(agent, str(row["balance"]), str(row["escrow"]), str(row["minted"]),
                          str(row["burned"]), scoped)
        console.print(table)
        tasks = Table("task", "type", "state", "assignee", "artifacts", "reviews")
        for task_id, task in state.tasks.items():
            tasks.add_row(task_id, task["task_type"] or "", task["state"] or "",
                          task["assignee"] or "", str(task["artifacts"]), str(task["reviews"]))
        console.print(tasks)


@app.command()
def diff(
    run: str,
    start: Annotated[int, typer.Option("--from", min=0, help="From this position.")],
    end: Annotated[int, typer.Option("--to", min=0, help="To this position.")],
) -> None:
    """What changed in the run's read models between two ledger positions."""
    with container() as built:
        print_json(_time_machine(built).diff(run, start, end))


@app.command()
def step(
    run: str,
    interactive: Annotated[bool, typer.Option(help="Wait for Enter after each event.")] = False,
) -> None:
    """Walk the run forward event by event, showing what each one changed."""
    with container() as built:
        machine = _time_machine(built)
        shown = timeline_of(Queries(built.datastore), run)
        previous = shown["events"][0]["position"] - 1 if shown["events"] else 0
        for event in shown["events"]:
            changes = machine.diff(run, previous, event["position"])
            console.print(f"[bold]@{event['position']} {event['event_type']}[/bold] "
                          f"{event['originator_id']}")
            for section in ("tasks", "balances", "scoped"):
                for key, change in changes[section].items():
                    console.print(f"    {section} {key}: {change['from']} -> {change['to']}")
            previous = event["position"]
            if interactive:
                input()


@app.command()
def aggregate(
    aggregate_id: str,
    version: Annotated[int | None, typer.Option(min=1, help="At this version.")] = None,
    time: Annotated[datetime | None, typer.Option(help="As it was at this instant.")] = None,
) -> None:
    """Any aggregate (agent/ID, task/ID, karma/ID, run/ID) at a version or an instant."""
    if version is not None and time is not None:
        raise typer.BadParameter("give at most one of --version and --time")
    with container() as built:
        print_json(_time_machine(built).aggregate(aggregate_id, version, _aware(time)))
