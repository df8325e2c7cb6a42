"""The organelle ecology from the command line: run a colony from a config file, and report
what a recorded run did."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from entrypoints.cli.common import JsonFlag, app, console, container, errors, print_json
from entrypoints.cli.tables import attempts_table, generations_table, holdout_table

ecology_app = typer.Typer(help="The organelle ecology (seed 002).", no_args_is_help=True)
app.add_typer(ecology_app, name="ecology")


@ecology_app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", help="A YAML file (configs/ecology/).")],
    generations: Annotated[int | None, typer.Option(
        min=1, help="Run this many generations instead of the config's.")] = None,
) -> None:
    """Run a colony of LoRA organelles on the frozen Gemma host: checked tasks, energy,
    culls, learning from checked answers, assimilation; then print its report."""
    from adapters.lora_host import LoraSettings, OrganelleHost
    from ecology.colony import EcologyRun
    from ecology.config import ConfigError, load_config
    from handlers.service import new_id

    try:
        settings = load_config(config)  # before any server starts: a bad config writes nothing
    except ConfigError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    learning = settings.learning
    host = OrganelleHost(LoraSettings(rank=learning.rank, alpha=learning.alpha,
                                      learning_rate=learning.learning_rate))
    with container() as built:
        host.gemma.prepare(lambda message: errors.print(f"[dim]{message}[/dim]"))
        run_id = f"eco-{settings.name}-{new_id()[:6]}"
        total = generations or settings.generations
        console.print(f"colony [bold]{run_id}[/bold]: {settings.population} organelles, "
                      f"{', '.join(settings.families)}, {total} generations")
        with Progress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as bars:
            bar = bars.add_task("starting", total=total)

            def show(message: str) -> None:
                if message.startswith("generation "):
                    bars.update(bar, completed=int(message.split()[1].rstrip(":")) - 1)
                bars.update(bar, description=message[:40])

            EcologyRun(built, host, settings, run_id, progress=show).run(total)
            bars.update(bar, completed=total, description="done")
        _print(_report(built, run_id))


@ecology_app.command("report")
def report(run_id: Annotated[str, typer.Argument(help="An ecology run.")],
           as_json: JsonFlag = False) -> None:
    """Held-out accuracy per family (frozen host and each organelle, with 95% intervals),
    the generations, culls and the assimilation attempts of a recorded run."""
    with container() as built:
        shown = _report(built, run_id)
        if as_json:
            print_json(shown.as_json())
            return
        _print(shown)


def _report(built, run_id: str):
    from domain.errors import NotFoundError
    from ecology.report import report_of
    from swarm.replay import run_events

    shown = report_of(run_id, (event for _, event in run_events(built, run_id)))
    if not shown.generations and not shown.holdout:
        raise NotFoundError(f"no ecology run {run_id!r} in the ledger")
    return shown


def _print(shown) -> None:
    console.print(holdout_table(shown))
    console.print(generations_table(shown))
    if shown.attempts:
        console.print(attempts_table(shown))
    for organelle, reason in shown.culls:
        console.print(f"culled {organelle}: {reason}")
