"""What every command group shares: the Typer apps, the container, output helpers."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import Annotated, Any

import typer
from rich.console import Console

from app import logs
from app.bootstrap import Container
from app.settings import Settings
from domain.errors import DomainError
from readside.queries import Queries

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
    if isinstance(value, Decimal | PurePath):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


async def run_until_signal(run: Any) -> Any:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return await run(stop)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def _time_machine(built: Container):
    from readside.time_travel import TimeMachine

    built.projections.catch_up()
    return TimeMachine(Queries(built.datastore), built.ledger)


def ready_model(built: Container, lora=None):  # noqa: ANN001 - a LoraFile, imported lazily
    """The configured model, its weights converted and loaded as a visible step (on stderr,
    so that ``--json`` output stays clean) rather than behind progress bars sitting at 0/0.
    ``lora``: a learner's adapter on the local host."""
    from adapters.llm import LoadsWeights
    from app.bootstrap import build_model

    model = build_model(built.settings, lora)
    if isinstance(model, LoadsWeights):
        model.prepare(lambda message: errors.print(f"[dim]{message}[/dim]"))
    return model
