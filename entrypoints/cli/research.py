"""The research swarm: write a bundled corpus, run the swarm on a folder of PDFs, replay a
recorded run without calling a model."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from entrypoints.cli.common import app, console, container, ready_model, run_until_signal
from entrypoints.cli.tables import earnings_table, leaderboard_table
from readside.queries import Queries

research_app = typer.Typer(help="The research swarm (seed 000).", no_args_is_help=True)
app.add_typer(research_app, name="research")

STAGES = ("Fetch_Paper", "Summarise_Paper", "Extract_Metrics", "Compare_Methods",
          "Critique_Claim", "Synthesise_Report", "Review_Artifact")
Topic = Annotated[str, typer.Option(help="What the report is about.")]
Out = Annotated[Path, typer.Option(help="Reports go to OUT/<run>/report.md.")]
Timeout = Annotated[float, typer.Option(help="Give up after this many seconds.")]


@research_app.command("corpus")
def corpus(
    folder: Annotated[Path, typer.Argument(help="Where to write the PDFs.")],
    name: Annotated[str, typer.Option(
        "--corpus", help="pilot: six one-page PEFT papers (LoRA, QLoRA, AdaLoRA, prefix "
                         "tuning, (IA)3, DoRA); vision: five papers on efficient image "
                         "classification (ResNet, MobileNetV2, EfficientNet, ViT, DeiT) of "
                         "one or two pages, with tables and two-column pages.")] = "pilot",
) -> None:
    """Write a bundled corpus as PDFs: digests of published papers with their figures, which
    the project writes itself (no network)."""
    from swarm.corpora import UnknownCorpusError
    from swarm.corpora import corpus as bundled

    try:
        chosen = bundled(name)
    except UnknownCorpusError as error:
        raise typer.BadParameter(str(error), param_hint="--corpus") from None
    for path in chosen.write(folder):
        console.print(f"wrote {path}")
    console.print(f"{len(chosen.papers)} papers on {chosen.field}: "
                  f"karma research run {folder} --topic \"{chosen.field}\"")


@research_app.command("run")
def run(
    folder: Annotated[Path, typer.Argument(help="A folder of PDFs.")],
    topic: Topic = "parameter-efficient fine-tuning (PEFT)",
    out: Out = Path("runs"),
    timeout: Timeout = 3600.0,
    local_roles: Annotated[str, typer.Option(
        help="Roles whose agents work in this process (comma-separated, 'all' or 'none'); "
             "start `karma research worker` processes for the others.")] = "all",
    learner: Annotated[str | None, typer.Option(
        help="Answer with this learner's serving adapter on the local host (seed 003: the "
             "swarm's reviewed work trains it; this run's reviews measure it).")] = None,
) -> None:
    """Run the swarm over the PDFs of FOLDER: fetch, summarise, extract figures, compare,
    debate, synthesise; every step reviewed and paid in karma. Writes the report and prints
    the karma leaderboard."""
    from swarm.conductor import paper_slugs
    from swarm.runtime import ResearchRun, build_toolkit, new_run_id

    pdfs = sorted(folder.glob("*.pdf")) if folder.is_dir() else []
    if not pdfs:
        raise typer.BadParameter(f"{folder} holds no .pdf files", param_hint="FOLDER")
    papers = {slug: str(path.resolve()) for slug, path in paper_slugs(pdfs).items()}
    with container() as built:
        lora = None
        if learner is not None:
            from learning.loop import serving_adapter

            lora = serving_adapter(built, learner)
            if lora is None:
                raise ValueError(f"learner {learner!r} serves no adapter: deploy one "
                                 "(karma learn deploy)")
        kit = build_toolkit(built.settings, ready_model(built, lora))
        try:
            research = ResearchRun(built, kit, topic, new_run_id(), _roles(local_roles))
            console.print(f"run [bold]{research.run_id}[/bold]: {len(papers)} papers, "
                          f"model {kit.model.adapter}:{kit.model.model}")
            conductor = _with_progress(research, papers, timeout)
        finally:
            kit.passages.close()
        _conclude(built, conductor, out)


@research_app.command("resume")
def resume(
    run_id: Annotated[str, typer.Argument(help="A run that was interrupted.")],
    out: Out = Path("runs"),
    timeout: Timeout = 3600.0,
) -> None:
    """Finish an interrupted run: the conductor re-reads the run from the ledger and issues
    only what is missing; tasks that were in flight come back from their queues."""
    from swarm.replay import load_recording
    from swarm.runtime import ResearchRun, build_toolkit

    with container() as built:
        recording = load_recording(built, run_id)
        if recording.facts.finished:
            raise ValueError(f"run {run_id} has already finished")
        kit = build_toolkit(built.settings, ready_model(built))
        try:
            conductor = _with_progress(ResearchRun(built, kit, "", run_id), None, timeout)
        finally:
            kit.passages.close()
        _conclude(built, conductor, out)


@research_app.command("worker")
def worker(roles: Annotated[str, typer.Option(
        help="Roles to host (comma-separated, or 'all').")] = "all") -> None:
    """Host the swarm's agents of ROLES and work their task queues until stopped: the
    scale-out half of `karma research run --local-roles none`. Needs a shared Qdrant
    (KARMA_QDRANT_URL) and the same papers folder as the other processes."""
    from swarm.runtime import build_toolkit, serve_crew

    with container() as built:
        kit = build_toolkit(built.settings, ready_model(built))
        chosen = _roles(roles)
        console.print(f"hosting {', '.join(chosen)} on {built.endpoints.nats_url}")
        try:
            asyncio.run(run_until_signal(lambda stop: serve_crew(built, kit, chosen, stop)))
        finally:
            kit.passages.close()


def _roles(spec: str) -> tuple[str, ...]:
    from swarm.roster import ROLES

    if spec == "all":
        return tuple(role.name for role in ROLES)
    if spec == "none":
        return ()
    return tuple(name.strip() for name in spec.split(",") if name.strip())


@research_app.command("replay")
def replay(
    run_id: Annotated[str, typer.Argument(help="The recorded run.")],
    out: Out = Path("runs"),
    timeout: Timeout = 3600.0,
) -> None:
    """Re-run a recorded run against the code as it is now, answering every model call from
    the run's ModelCalled events (no model is loaded), and name the first divergence.
    Exit status 1 when the runs differ."""
    from adapters.llm_replay import RecordedModel
    from swarm.replay import first_divergence, load_recording
    from swarm.runtime import ResearchRun, build_toolkit, new_run_id, write_report

    with container() as built:
        recording = load_recording(built, run_id)
        kit = build_toolkit(built.settings, RecordedModel(recording.calls))
        try:
            research = ResearchRun(built, kit, recording.topic, new_run_id(), replay_of=run_id)
            console.print(f"replaying {run_id} as {research.run_id}: "
                          f"{len(recording.calls)} recorded model calls")
            conductor = _with_progress(research, recording.papers, timeout)
        finally:
            kit.passages.close()
        report = write_report(conductor, out)
        if report is not None:
            console.print(f"report: [bold]{report}[/bold]")
        _print_replay_earnings(built, research.run_id)
        divergence = first_divergence(recording.facts, conductor)
        if divergence is None:
            console.print(f"[green]identical[/green]: every task of {research.run_id} ended as "
                          f"in {run_id}, with the same artifacts (the agents doing them may "
                          "differ: the scheduler weighs the karma they hold now)")
            return
        console.print(f"[red]first divergence[/red] at task [bold]{divergence.task}[/bold]\n"
                      f"  recorded: {divergence.recorded}\n  replayed: {divergence.replayed}")
        raise typer.Exit(1)


def _print_replay_earnings(built, run_id: str) -> None:
    """What the replay's work earns under the policy, computed by the counterfactual replay:
    a replay pays no real karma, so these figures are the only place its karma shows."""
    from app.counterfactual import replay as counterfactual

    built.projections.catch_up()
    earned = counterfactual(Queries(built.datastore), run_id, built.service.policy)
    rows = [{"rank": rank, "agent_id": s.agent_id, "earned": s.earned}
            for rank, s in enumerate(earned.counterfactual, start=1)]
    console.print("what the replay's work earns under the policy, computed and not paid: a "
                  "replay leaves the real balances alone")
    console.print(earnings_table(rows, f"karma earned in replay {run_id}"))


def _with_progress(research, papers: dict[str, str] | None, timeout: float):
    from app import logs
    from domain.tasks import ACTIVE_STATES
    from workers.work_queue import QUEUE_LOG

    # The bars tell what the agents do; only warnings and errors are worth a log line here.
    logs.configure(logging.WARNING)
    QUEUE_LOG.setLevel(logging.WARNING)
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bars:
        shown = {stage: bars.add_task(stage, total=0) for stage in STAGES}

        def show(conductor) -> None:
            for stage, bar in shown.items():
                tasks = [t for t in conductor.tasks.values() if t.task_type == stage]
                ended = sum(t.state not in ACTIVE_STATES for t in tasks)
                bars.update(bar, total=len(tasks), completed=ended)

        return asyncio.run(research.run(papers, show, timeout))


def _conclude(built, conductor, out: Path) -> None:
    """Write the report, print it and the leaderboard; exit 1 when the run made no report."""
    from swarm.runtime import write_report

    report = write_report(conductor, out)
    built.projections.catch_up()
    console.print(f"report: [bold]{report}[/bold]" if report else
                  "[red]the run ended without a report[/red]")
    _print_leaderboard(Queries(built.datastore))
    if report is None:
        raise typer.Exit(1)


def _print_leaderboard(queries: Queries) -> None:
    console.print(leaderboard_table(queries.leaderboard(limit=20), title="karma leaderboard"))
