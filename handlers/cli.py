"""The command-line door: ``karma up``, ``status``, ``events list``, ``serve`` and friends.

Each command parses its options, asks the container for what it needs and prints; refused
input exits with status 2 and a message, and writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import nats
import nats.js.errors
import typer
from rich.console import Console
from rich.table import Table

from adapters import embedded_nats, embedded_postgres, nats_probe
from domain.errors import DomainError
from handlers import logs
from handlers.bootstrap import Container, redact
from handlers.commands import RegisterAgent
from handlers.jobs import decay_all
from handlers.policies import load_policy
from handlers.provenance import timeline as timeline_of
from handlers.queries import EventFilter, Queries
from handlers.settings import Settings
from streams import consumers
from streams.topology import declare

app = typer.Typer(help="Karma Ledger: an event-sourced ledger of multi-agent AI work.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema of the read models.", no_args_is_help=True)
events_app = typer.Typer(help="Read the ledger.", no_args_is_help=True)
tokens_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)
projections_app = typer.Typer(help="Read models built from the ledger.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(events_app, name="events")
app.add_typer(tokens_app, name="tokens")
stream_app = typer.Typer(help="The LEDGER stream on NATS JetStream.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")
app.add_typer(stream_app, name="stream")
runs_app = typer.Typer(help="Runs and what happened in them.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
economy_app = typer.Typer(help="The karma economy's policy and counterfactuals.",
                          no_args_is_help=True)
app.add_typer(economy_app, name="economy")

@app.callback()
def main() -> None:
    logs.configure()


console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def container() -> Iterator[Container]:
    """A container for one command; refused input becomes exit status 2 with its reason."""
    built = Container(Settings())
    try:
        yield built
    except (DomainError, ValueError, LookupError) as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    finally:
        built.close()


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_json_default, indent=2) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


@app.command()
def up() -> None:
    """Start the embedded PostgreSQL and NATS (JetStream) unless URLs are configured, apply
    migrations, and print where the servers are."""
    with container() as built:
        endpoints = built.endpoints
        built.migrate()
        console.print(f"PostgreSQL  {redact(endpoints.database_url)}"
                      f"  ({'embedded' if endpoints.embedded_database else 'external'})")
        console.print(f"NATS        {endpoints.nats_url}"
                      f"  ({'embedded' if endpoints.embedded_nats else 'external'})")
        console.print(f"data folder {built.settings.home_path}")
        console.print(f"schema      {built.schema_version():04d} (read models migrated)")


@app.command()
def down() -> None:
    """Stop the embedded servers of the data folder (external servers are left alone)."""
    home = Settings().home_path
    stopped_pg = embedded_postgres.stop(home / "postgres")
    stopped_nats = embedded_nats.stop(home / "nats")
    console.print(f"PostgreSQL  {'stopped' if stopped_pg else 'was not running'}")
    console.print(f"NATS        {'stopped' if stopped_nats else 'was not running'}")


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Servers, ledger head and the position of every projection. Starts nothing."""
    settings = Settings()
    home = settings.home_path
    report: dict[str, Any] = {"data_folder": str(home)}
    database_url = settings.database_url
    if database_url is None:
        server = embedded_postgres.running(home / "postgres")
        database_url = server.url if server else None
    nats_url = settings.nats_url
    if nats_url is None:
        nats_server = embedded_nats.running(home / "nats")
        nats_url = nats_server.url if nats_server else None
    report["postgres"] = {"url": redact(database_url) if database_url else None,
                          "embedded": settings.database_url is None}
    report["nats"] = {"url": nats_url, "embedded": settings.nats_url is None}
    if nats_url:
        health = nats_probe.probe(nats_url)
        report["nats"].update(reachable=health.reachable, jetstream=health.jetstream,
                              detail=health.detail)
    if database_url:
        settings_with_url = settings.model_copy(update={"database_url": database_url,
                                                        "nats_url": nats_url or "unused"})
        built = Container(settings_with_url)
        try:
            runner = built.projections
            head = runner.head()
            report["ledger"] = {"head": head}
            report["projections"] = {name: {"position": position, "lag": head - position}
                                     for name, position in runner.positions().items()}
        except Exception as error:  # noqa: BLE001 - status reports what it cannot reach
            report["postgres"]["error"] = f"unreachable: {error}"
        finally:
            built.close()
    if report["nats"].get("jetstream"):
        relayed = asyncio.run(_relayed_position(nats_url, Container(settings).topology))
        if relayed is not None:
            head = report.get("ledger", {}).get("head", relayed)
            report["relay"] = {"position": relayed, "lag": head - relayed}
    if as_json:
        print_json(report)
        return
    console.print(f"data folder  {home}")
    console.print(f"PostgreSQL   {report['postgres']['url'] or 'not running'}"
                  + (f"  ({report['postgres']['error']})" if "error" in report["postgres"] else ""))
    nats_line = report["nats"]["url"] or "not running"
    if "detail" in report["nats"]:
        nats_line += f"  ({report['nats']['detail']})"
    console.print(f"NATS         {nats_line}")
    if "ledger" in report:
        console.print(f"ledger head  {report['ledger']['head']}")
        if "relay" in report:
            console.print(f"on JetStream {report['relay']['position']} "
                          f"(relay lag {report['relay']['lag']})")
        table = Table("projection", "position", "lag")
        for name, row in report["projections"].items():
            table.add_row(name, str(row["position"]), str(row["lag"]))
        console.print(table)


async def _relayed_position(nats_url: str, topology: Any) -> int | None:
    """The ledger position of the last event on LEDGER (None: no stream yet)."""
    from streams.relay import read_cursor

    client = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        return (await read_cursor(client.jetstream(), topology)).position
    except nats.js.errors.NotFoundError:
        return None
    finally:
        await client.close()


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations from migrations/ (idempotent)."""
    with container() as built:
        applied = built.migrate()
        for migration in applied:
            console.print(f"applied {migration.version:04d}_{migration.name}")
        if not applied:
            console.print("up to date")


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
        table = Table("pos", "time", "event", "aggregate", "run", "caused by")
        for row in rows:
            table.add_row(str(row["position"]), row["occurred_at"].isoformat(timespec="seconds"),
                          row["event_type"], row["originator_id"], row["run_id"] or "",
                          row["causation_id"])
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
            if f"agent/{agent}" not in built.ledger.repository:
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
        table = Table("id", "role", "agent", "label", "created", "revoked")
        for row in rows:
            table.add_row(row["token_id"], row["role"], row["agent_id"] or "", row["label"],
                          row["created_at"].isoformat(timespec="seconds"),
                          row["revoked_at"].isoformat(timespec="seconds")
                          if row["revoked_at"] else "")
        console.print(table)


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
    """Drop and replay projections from event 1; print whether each digest equals the live one."""
    with container() as built:
        runner = built.projections
        names = [runner.get(name).name] if name else list(runner.projections)
        table = Table("projection", "position", "live digest", "rebuilt digest", "equal")
        mismatched = False
        for projection_name in names:
            report = runner.rebuild(projection_name)
            mismatched |= not report.identical
            table.add_row(report.name, str(report.position), report.live_digest[:16],
                          report.rebuilt_digest[:16], "yes" if report.identical else "NO")
        console.print(table)
        if verify and mismatched:
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


@app.command()
def leaderboard(
    tag: Annotated[str | None, typer.Option(help="Karma in this scope tag only.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Agents by karma: global (available, escrow) or in one tag."""
    with container() as built:
        built.projections.catch_up(["karma_balances", "reputation"])
        rows = Queries(built.datastore).leaderboard(limit, tag)
        if as_json:
            print_json(rows)
            return
        columns = ("rank", "agent_id", "balance") + (() if tag else ("escrow", "minted",
                                                                     "burned", "decayed",
                                                                     "slashed"))
        table = Table(*columns, title=f"karma in #{tag}" if tag else "karma")
        for row in rows:
            table.add_row(*(str(row[column]) for column in columns))
        console.print(table)


@app.command()
def history(agent: str, as_json: JsonFlag = False) -> None:
    """Every karma entry of an agent: what moved, why, with the formula and its cause."""
    with container() as built:
        built.projections.catch_up(["karma_balances", "reputation"])
        rows = Queries(built.datastore).history(agent)
        if as_json:
            print_json(rows)
            return
        table = Table("pos", "kind", "amount", "task", "reason", "caused by")
        for row in rows:
            table.add_row(str(row["position"]), row["kind"], str(row["amount"]),
                          row["task_id"] or "", row["reason"], row["caused_by"])
        console.print(table)


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


def _time_machine(built: Container):
    from handlers.time_travel import TimeMachine

    built.projections.catch_up()
    return TimeMachine(Queries(built.datastore), built.ledger)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


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


@app.command()
def stakes(
    state: Annotated[str | None, typer.Option(help="escrowed, returned or slashed.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Stakes on tasks: what is in escrow now, and how earlier stakes ended."""
    with container() as built:
        built.projections.catch_up(["reputation"])
        rows = Queries(built.datastore).stakes(state, limit=1000)
        if as_json:
            print_json(rows)
            return
        table = Table("task", "agent", "amount", "state", "reason")
        for row in rows:
            table.add_row(row["task_id"], row["agent_id"], str(row["amount"]), row["state"],
                          row["reason"] or "")
        console.print(table)


@app.command()
def decay(
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", help="Decay up to this time (ISO 8601; default: now).")] = None,
) -> None:
    """Apply exponential decay (the policy's half-life) to every account up to a time.
    Decaying a period already decayed changes nothing."""
    with container() as built:
        moment = as_of or datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        decayed = decay_all(built, moment)
        console.print(f"decayed {decayed} {'account' if decayed == 1 else 'accounts'} up to "
                      f"{moment.isoformat()} "
                      f"(half-life {built.policy.decay.half_life_days} days)")


@app.command("verify")
def verify_command() -> None:
    """Check the ledger's invariants and that every view equals its replay; exit 1 if not."""
    from handlers.verify import verify

    with container() as built:
        result = verify(built)
        for name, identical in result.digests.items():
            console.print(f"view {name:<15} {'= replay' if identical else 'DIFFERS'}")
        console.print(f"accounts checked: {result.checked_accounts}")
        for problem in result.problems:
            errors.print(f"[red]problem:[/red] {problem}")
        if not result.ok:
            raise typer.Exit(1)
        console.print("ledger verified")


@economy_app.command("policy")
def economy_policy(
    policy: Annotated[Path | None, typer.Option(help="A policy file (default: the current).")]
    = None,
) -> None:
    """Print a policy and its digest (the value recorded in RunStarted)."""
    with container() as built:
        chosen = load_policy(policy) if policy else built.policy
        print_json({"digest": chosen.digest(), **chosen.model_dump(mode="json")})


@economy_app.command("replay")
def economy_replay(
    run: str,
    policy: Annotated[Path, typer.Option(help="The other policy (TOML).")],
    as_json: JsonFlag = False,
) -> None:
    """Re-evaluate a run's karma under another policy, from its recorded facts (no model is
    called, nothing is written), and print both leaderboards side by side."""
    from handlers.counterfactual import replay

    with container() as built:
        built.projections.catch_up()
        comparison = replay(Queries(built.datastore), run, load_policy(policy))
        if as_json:
            print_json({"run_id": comparison.run_id, "policy_digest": comparison.policy_digest,
                        "refused": comparison.refused,
                        "recorded": [vars(s) for s in comparison.recorded],
                        "counterfactual": [vars(s) for s in comparison.counterfactual]})
            return
        table = Table("rank", "recorded", "karma", "counterfactual", "karma",
                      title=f"run {run}: recorded vs {policy.name} ({comparison.policy_digest[:19]})")
        for rank in range(max(len(comparison.recorded), len(comparison.counterfactual))):
            left = comparison.recorded[rank] if rank < len(comparison.recorded) else None
            right = (comparison.counterfactual[rank]
                     if rank < len(comparison.counterfactual) else None)
            table.add_row(str(rank + 1), left.agent_id if left else "",
                          str(left.earned) if left else "", right.agent_id if right else "",
                          str(right.earned) if right else "")
        console.print(table)
        if comparison.refused:
            console.print(f"{comparison.refused} recorded commands were refused under this policy")


@app.command()
def relay() -> None:
    """Publish every ledger event on JetStream (LEDGER), once and in order, until stopped.
    A second relay waits as a standby until the first one stops."""
    with container() as built:
        console.print(f"relaying the ledger to {built.endpoints.nats_url} "
                      f"(stream {built.topology.ledger_stream})")
        asyncio.run(_run_until_signal(built.relay().run))


async def _run_until_signal(run: Any) -> Any:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return await run(stop)


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
    client = await nats.connect(built.endpoints.nats_url)
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

    text = asyncapi.render()
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
    from handlers.task_handlers import builtin_handlers, load_handlers
    from handlers.task_worker import TaskWorker

    with container() as built:
        handlers = builtin_handlers(built.settings.home_path)
        if handlers_module:
            handlers.update(load_handlers(handlers_module))
        task_types = [t.strip() for t in types.split(",") if t.strip()]
        unknown = sorted(set(task_types) - set(handlers))
        if unknown:
            raise ValueError(f"no handler for {', '.join(unknown)}; known: {', '.join(sorted(handlers))}")
        if f"agent/{agent}" not in built.ledger.repository:
            if role is None:
                raise ValueError(f"unknown agent {agent!r}: register it first, or pass --role")
            built.service.execute(RegisterAgent(
                agent_id=agent, role=role, skills=[t.lower() for t in task_types]))
        task_worker = TaskWorker(built.service, agent, handlers)
        console.print(f"agent {agent} working {', '.join(task_types)} (concurrency {concurrency})")
        asyncio.run(_run_until_signal(
            lambda stop: _work(built, task_worker, task_types, concurrency, stop)))


async def _work(built: Container, task_worker: Any, task_types: list[str], concurrency: int,
                stop: asyncio.Event) -> None:
    from streams.work_queue import build_broker

    client = await nats.connect(built.endpoints.nats_url)
    try:
        await declare(client.jetstream(), built.topology)
    finally:
        await client.close()
    broker = build_broker(built.endpoints.nats_url, built.topology, task_worker, task_types,
                          concurrency)
    await broker.start()
    try:
        await stop.wait()
    finally:
        await broker.stop()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    relay: Annotated[bool, typer.Option(help="Also relay the ledger to JetStream.")] = True,
) -> None:
    """Run the HTTP API (OpenAPI at /docs, AsyncAPI at /asyncapi) with projections following
    the ledger and, unless --no-relay, the outbox relay publishing it to JetStream."""
    import uvicorn

    from handlers.http_api import create_app

    with container() as built:
        settings = built.settings
        api = create_app(built, run_relay=relay, decay_every_s=settings.decay_interval_s)
        uvicorn.run(api, host=host or settings.api_host, port=port or settings.api_port,
                    log_level="info")


if __name__ == "__main__":
    app()
