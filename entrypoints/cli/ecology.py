"""The organelle ecology from the command line: run a colony from a config file, and report
what a recorded run did."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from entrypoints.cli.common import (
    JsonFlag,
    app,
    console,
    container,
    errors,
    print_json,
    run_until_signal,
)
from entrypoints.cli.tables import (
    attempts_table,
    compute_table,
    generations_table,
    holdout_table,
    organelles_table,
    redecided_table,
)

ecology_app = typer.Typer(help="The organelle ecology (seed 002).", no_args_is_help=True)
app.add_typer(ecology_app, name="ecology")


@ecology_app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", help="A YAML file (configs/ecology/).")],
    generations: Annotated[int | None, typer.Option(
        min=1, help="Run this many generations instead of the config's.")] = None,
    on_workers: Annotated[bool, typer.Option(
        "--on-workers", help="Leave the organelles' work to `karma ecology worker` processes "
        "(here or on other machines) through the JetStream work queue.")] = False,
    work_timeout: Annotated[float, typer.Option(
        min=1, help="With --on-workers: seconds to wait for a generation's work.")] = 1800.0,
) -> None:
    """Run a colony of LoRA organelles on the frozen Gemma host: checked tasks, energy,
    culls, learning from checked answers, assimilation; then print its report."""
    from adapters.lora_host import LoraSettings, OrganelleHost
    from ecology.colony import EcologyRun
    from ecology.config import ConfigError, load_config
    from ecology.distributed import QueuePerformer, WorkTimeoutError
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

            performer = QueuePerformer(built, host, work_timeout) if on_workers else None
            try:
                EcologyRun(built, host, settings, run_id, progress=show,
                           performer=performer).run(total)
            except WorkTimeoutError as error:
                errors.print(f"[red]error:[/red] {error}")
                raise typer.Exit(1) from None
            bars.update(bar, completed=total, description="done")
        _print(_report(built, run_id))


@ecology_app.command("worker")
def worker(limit: Annotated[int | None, typer.Option(
        min=1, help="Stop after this many assignments (default: until stopped).")] = None,
           ) -> None:
    """Do organelles' work for `karma ecology run --on-workers` colonies until stopped: run
    as many of these processes, here or on other machines, as there are cores to use."""
    from ecology.distributed import EcologyWorker, worker_name

    with container() as built:
        name = worker_name()
        console.print(f"ecology worker {name} on {built.endpoints.nats_url}")
        work = EcologyWorker(built, name)
        asyncio.run(run_until_signal(lambda stop: work.serve(stop, limit)))
        console.print(f"{work.done} assignments done")


@ecology_app.command("report")
def report(run_id: Annotated[str, typer.Argument(help="An ecology run.")],
           as_json: JsonFlag = False,
           plots: Annotated[Path | None, typer.Option(
               help="Write PNG plots (energy, scores, held-out accuracy, ROI) here.")] = None,
           ) -> None:
    """Held-out accuracy per family of the frozen host, the best organelle, the merged colony
    and the same-compute supervised baseline (95% intervals), the compute each spent, ROI,
    energy spread, species, culls and the assimilation attempts of a recorded run."""
    with container() as built:
        shown = _report(built, run_id)
    if plots:
        from ecology.plots import write_plots

        for path in write_plots(shown, plots):
            errors.print(f"[dim]wrote {path}[/dim]")
    if as_json:
        print_json(shown.as_json())
        return
    _print(shown)


@ecology_app.command("telemetry")
def telemetry(run_id: Annotated[str, typer.Argument(help="An ecology run.")],
              out: Annotated[Path, typer.Option(help="The folder to write into.")] = Path(
                  "runs")) -> None:
    """Write seed 002's telemetry of a run (episodes.jsonl, gen_summaries.jsonl,
    assimilation.jsonl) from the ecology's views, in ledger order, into OUT/RUN."""
    from readside.ecology_telemetry import export

    with container() as built:
        built.projections.catch_up(["ecology_telemetry"])
        written = export(built.datastore, run_id, out / run_id)
    for name, count in written.items():
        console.print(f"{out / run_id / name}: {count} lines")


@ecology_app.command("replay")
def replay(
    run_id: Annotated[str, typer.Argument(help="A recorded ecology run.")],
    strikes: Annotated[int | None, typer.Option(min=1, help="Strikes to cull.")] = None,
    cap: Annotated[float | None, typer.Option(min=0, help="Energy cap.")] = None,
    topup_roi: Annotated[float | None, typer.Option(min=0, help="ROI a top-up needs; 0 off.")
                         ] = None,
    topup_max: Annotated[float | None, typer.Option(min=0, help="Largest top-up.")] = None,
    threshold: Annotated[float | None, typer.Option(min=-1, max=1,
                                                    help="Least uplift to merge.")] = None,
    alpha: Annotated[float | None, typer.Option(min=0, max=1, help="Uplift test's alpha.")
                     ] = None,
    min_samples: Annotated[int | None, typer.Option(min=2, help="Scores on each side.")
                           ] = None,
    min_holdout: Annotated[int | None, typer.Option(min=30, help="Held-out tasks.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-decide a recorded run's culls and merges under other thresholds, from its events
    alone (no model is called), and say which decisions flip."""
    from decimal import Decimal

    from ecology.replay import Thresholds, redecide

    def exact(value: float | None) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    thresholds = Thresholds(strikes_to_cull=strikes, cap=exact(cap), topup_roi=exact(topup_roi),
                            topup_max=exact(topup_max), threshold=threshold, alpha=alpha,
                            min_samples=min_samples, min_holdout=min_holdout)
    with container() as built:  # thresholds the recorded policy cannot take: exit 2, why
        decisions = redecide(_events(built, run_id), thresholds)
    if as_json:
        print_json([vars(d) | {"flipped": d.flipped} for d in decisions])
        return
    console.print(redecided_table(decisions, run_id))
    flipped = sum(d.flipped for d in decisions)
    console.print(f"{flipped} of {len(decisions)} decisions flip", soft_wrap=False)


def _report(built, run_id: str):
    from ecology.report import report_of

    return report_of(run_id, _events(built, run_id))


def _events(built, run_id: str) -> list:
    """The run's events, read once; a clear error for a run that is no ecology run."""
    from domain.ecology import ColonyFounded
    from domain.errors import NotFoundError
    from swarm.replay import run_events

    events = [event for _, event in run_events(built, run_id)]
    if not any(isinstance(event, ColonyFounded) for event in events):
        raise NotFoundError(f"no ecology run {run_id!r} in the ledger")
    return events


def _print(shown) -> None:
    console.print(holdout_table(shown))
    console.print(compute_table(shown))
    console.print(organelles_table(shown))
    console.print(generations_table(shown))
    if shown.generations and shown.generations[-1].species:
        species = shown.generations[-1].species
        living = sum(species.values())
        console.print("species (niche of the living): " + ", ".join(
            f"{family} {count / living:.0%}" for family, count in sorted(species.items())),
                      soft_wrap=False)
    if shown.attempts:
        console.print(attempts_table(shown))
        reasons = shown.gating_reasons()
        if reasons:
            console.print("gating reasons: " + "; ".join(
                f"{reason} (x{count})" for reason, count in reasons.most_common()),
                          soft_wrap=False)
    for organelle, reason in shown.culls:
        console.print(f"culled {organelle}: {reason}", soft_wrap=False)
