"""The ledger and its views: events list, tokens, projections."""

from __future__ import annotations

import sys
import threading
from enum import StrEnum
from typing import Annotated

import typer

from domain.agents import Agent
from entrypoints.cli.common import (
    JsonFlag,
    console,
    container,
    errors,
    events_app,
    print_json,
    projections_app,
    tokens_app,
)
from entrypoints.cli.tables import events_tables, rebuild_table, tokens_table
from readside.queries import EventFilter, Queries


@events_app.command("list")
def events_list(
    run: Annotated[str | None, typer.Option("--run", help="Only this run's events.")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    after: Annotated[int, typer.Option(min=0, help="Start after this position.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Show the ledger, oldest first, with each event's provenance."""
    with container() as built:
        built.projections.catch_up(["audit_log"])
        rows = Queries(built.datastore).events(EventFilter(run, event_type, after, limit))
        if as_json:
            print_json(rows)
            return
        for table in events_tables(rows):
            console.print(table)


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


@tokens_app.command("create")
def tokens_create(
    role: Annotated[Role, typer.Option(help="admin: everything; agent: act as one agent.")],
    agent: Annotated[str | None, typer.Option(help="The agent an agent token acts as.")] = None,
    label: Annotated[str, typer.Option(help="A note to recognise the token by.")] = "",
) -> None:
    """Create a bearer token; it is printed once and stored only as a hash."""
    with container() as built:
        if role is Role.AGENT:
            if agent is None:
                raise ValueError("an agent token needs --agent")
            if Agent.id_for(agent) not in built.ledger.repository:
                raise ValueError(f"unknown agent {agent!r}: register it first")
        elif agent is not None:
            raise ValueError("an admin token takes no --agent")
        issued = built.tokens.create(role.value, agent, label)
        errors.print(f"token {issued.token_id} created; it is shown only now:")
        sys.stdout.write(issued.token + "\n")


@tokens_app.command("list")
def tokens_list(as_json: JsonFlag = False) -> None:
    """Tokens by id, role and agent (never the secrets)."""
    with container() as built:
        rows = built.tokens.list()
        if as_json:
            print_json(rows)
            return
        console.print(tokens_table(rows))


@tokens_app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    with container() as built:
        built.tokens.revoke(token_id)
        console.print(f"token {token_id} revoked")


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(help="One projection (default: all).")] = None,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Exit 1 unless every rebuilt digest equals the live one.")] = False,
) -> None:
    """Drop and replay projections from event 1; print whether each digest equals the live one.
    Each view's check is recorded in the ledger (ReadModelChecked)."""
    from app.read_model_checks import check_views

    with container() as built:
        reports = check_views(built, [name] if name else None, replace=True)
        console.print(rebuild_table(reports))
        if verify and not all(report.identical for report in reports):
            raise typer.Exit(1)


@projections_app.command("run")
def projections_run() -> None:
    """Keep every projection at the ledger head until interrupted."""
    with container() as built:
        stop = threading.Event()
        console.print(f"following the ledger from {built.projections.positions()}")
        try:
            built.projections.follow(stop)
        except KeyboardInterrupt:
            stop.set()
