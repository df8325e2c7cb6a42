"""Provenance and time travel: why, runs, at, diff, step, aggregate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from entrypoints.cli.common import (
    JsonFlag,
    _aware,
    _time_machine,
    app,
    console,
    container,
    print_json,
    runs_app,
)
from entrypoints.cli.tables import (
    balances_table,
    changed_fields,
    changes_table,
    formula_line,
    in_run,
    local,
    runs_table,
    task_board_table,
    timeline_table,
)
from readside.provenance import timeline as timeline_of
from readside.queries import Queries


@app.command()
def why(
    agent: str,
    scope: Annotated[str | None, typer.Option(help="Only karma in this tag.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every karma entry of an agent with the chain that caused it; they add up to its
    balance."""
    from readside.provenance import why as explain

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
                console.print(f"    = {formula_line(formula)}")
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
        console.print(runs_table(rows))


@runs_app.command("show")
def runs_show(run: str, as_json: JsonFlag = False) -> None:
    """A run's timeline: every event in ledger order with the time its writer recorded, and
    how long each task took."""
    with container() as built:
        built.projections.catch_up()
        shown = timeline_of(Queries(built.datastore), run)
        if as_json:
            print_json(shown)
            return
        info = shown["run"]
        console.print(f"run {info['run_id']} ({info['workflow']}) "
                      f"{info['outcome'] or 'running'}; " + ", ".join(
                          f"{count} {kind}" for kind, count in sorted(shown["counts"].items())),
                      soft_wrap=False)
        console.print(timeline_table(shown))


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
        if state.balances:
            console.print(balances_table(state.balances, state.scoped))
        else:
            console.print("no karma has moved in the ledger yet at this position")
        console.print(task_board_table(run, state.tasks))


@app.command()
def diff(
    run: str,
    start: Annotated[int, typer.Option("--from", min=0, help="From this position.")],
    end: Annotated[int, typer.Option("--to", min=0, help="To this position.")],
    as_json: JsonFlag = False,
) -> None:
    """What changed in the run's read models between two ledger positions: one row per
    field whose value differs (--json: the changed rows whole)."""
    with container() as built:
        changes = _time_machine(built).diff(run, start, end)
        if as_json:
            print_json(changes)
            return
        if not changed_fields(changes):
            console.print(f"nothing changed in run {run} from position {start} to {end}")
            return
        title = in_run(f"changes from position {start} to {end}", run)
        console.print(changes_table(changes, run, title))


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
        console.print(f"run {run}, event by event (ids relative to it)")
        for event in shown["events"]:
            changes = machine.diff(run, previous, event["position"])
            console.print(f"[bold]@{event['position']} {event['event_type']}[/bold] "
                          f"{local(event['originator_id'], run)}")
            if changed_fields(changes):
                console.print(changes_table(changes, run))
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
