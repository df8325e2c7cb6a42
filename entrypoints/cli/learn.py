"""Dual-channel learning from the command line (seed 003): harvest the ledger's reviewed model
calls, train the reward model and the dual-channel adapter, deploy, roll back, re-decide."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from entrypoints.cli.common import JsonFlag, app, console, container, errors, print_json

learn_app = typer.Typer(help="Dual-channel learning (seed 003).", no_args_is_help=True)
app.add_typer(learn_app, name="learn")

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="A YAML file like configs/learning/dual.yaml (default: that one).")]
ManifoldOption = Annotated[Path | None, typer.Option(
    "--manifold", help="A reward manifold YAML (default: configs/learning/manifold.yaml).")]


def _config(path: Path | None, **overrides: object):  # noqa: ANN202 - DualConfig, lazily
    from learning.config import ConfigError, load_config

    try:
        return load_config(path, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


@learn_app.command("harvest")
def harvest(
    config: ConfigOption = None,
    manifold: ManifoldOption = None,
    run: Annotated[str | None, typer.Option(help="Only this run's model calls.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Turn the ledger's reviewed model calls into labelled samples, preference pairs (same
    prompt, better vs worse review) and SFT examples; harvesting twice adds nothing."""
    from learning.config import ConfigError, load_manifold
    from learning.harvest import HarvestPolicy
    from learning.harvest import harvest as harvest_calls
    from learning.loop import ensure_learner

    settings = _config(config)
    try:
        shape = load_manifold(manifold)
    except ConfigError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    with container() as built:
        ensure_learner(built, settings, shape, host_model="gemma-3-270m")
        report = harvest_calls(built, settings.training_set, HarvestPolicy(), run_id=run)
    if as_json:
        print_json(vars(report))
        return
    table = Table("harvested", "count", title=f"training set {settings.training_set}")
    for name, value in vars(report).items():
        table.add_row(name.replace("_", " "), str(value))
    console.print(table)


@learn_app.command("train-reward")
def train_reward(
    config: ConfigOption = None,
    epochs: Annotated[int, typer.Option(min=1, max=5000)] = 200,
    seed: int = 0,
    as_json: JsonFlag = False,
) -> None:
    """Fit the reward model (MiniLM embeddings and a small head) on the training set's
    labelled samples; unknown dimensions are left out of the loss, never guessed."""
    from learning.loop import train_reward as fit

    settings = _config(config)
    with container() as built:
        result = fit(built, settings, epochs=epochs, seed=seed)
    if as_json:
        print_json(vars(result))
        return
    table = Table("dimension", "validation loss", title=f"reward model {result.digest[:19]} "
                  f"({result.samples} samples, {result.validation} held out)")
    for name, loss in result.losses.items():
        table.add_row(name, "unknown" if loss is None else f"{loss:.4f}")
    console.print(table)
    console.print(f"saved in {result.path}")


@learn_app.command("train")
def train(
    config: ConfigOption = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Instead of the config's.")] = None,
    run: Annotated[str | None, typer.Option(help="The run's name (default: new).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train the dual-channel adapter on the training set (SFT examples and pairs, weighted
    by intensity, gated by safety), each update gated by the partial RHI in the ledger; then
    measure its full RHI."""
    from handlers.service import new_id
    from learning.loop import train as run_training

    settings = _config(config, steps=steps)
    with container() as built:
        summary = run_training(built, settings, run=run or f"run-{new_id()[:8]}")
    if as_json:
        print_json(vars(summary))
        return
    console.print(f"run {summary.run}: adapter {summary.digest} (parent "
                  f"{summary.parent or 'the frozen host'}), saved in {summary.path}")
    console.print(f"trained on {summary.examples} SFT examples and {summary.pairs} pairs; "
                  f"{summary.held_out} pairs held out")
    console.print("gate: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.decisions.items())))
    console.print(f"RHI {summary.rhi:.3f} (" + ", ".join(
        f"{k.upper()} {v:.3f}" for k, v in summary.components.items()) +
        f"); slow loop: {summary.slow_decision}")


@learn_app.command("deploy")
def deploy(
    digest: Annotated[str, typer.Argument(help="A trained adapter's digest (sha256:...).")],
    config: ConfigOption = None,
) -> None:
    """Serve a trained adapter if its recorded RHI allows consolidation (> 0.70 by default);
    a refusal is recorded and exits 1."""
    from learning.loop import deploy as serve

    settings = _config(config)
    with container() as built:
        deployed = serve(built, settings.learner, digest)
    if not deployed:
        errors.print(f"refused: the RHI of {digest} does not allow consolidation (recorded)")
        raise typer.Exit(1)
    console.print(f"{digest} serves learner {settings.learner}")


@learn_app.command("rollback")
def rollback(
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")],
    config: ConfigOption = None,
) -> None:
    """Withdraw the served adapter; the one served before it (its file checked against its
    digest) or the frozen host serves again."""
    from learning.loop import roll_back

    settings = _config(config)
    with container() as built:
        restored = roll_back(built, settings.learner, reason)
    console.print(f"learner {settings.learner} now serves {restored or 'the frozen host'}")


@learn_app.command("replay")
def replay(
    run: Annotated[str, typer.Argument(help="A recorded training run.")],
    config: ConfigOption = None,
    skip: Annotated[float | None, typer.Option(min=0, max=1)] = None,
    rollback_below: Annotated[float | None, typer.Option("--rollback", min=0, max=1)] = None,
    freeze: Annotated[float | None, typer.Option(min=0, max=1)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-decide a run's recorded update gates under other thresholds, without training."""
    from domain.rhi import GateThresholds
    from learning.loop import replay as redecide

    settings = _config(config)
    base = settings.thresholds.model_dump()
    changed = {"skip": skip, "rollback": rollback_below, "freeze": freeze}
    try:
        thresholds = GateThresholds(**{**base, **{k: v for k, v in changed.items()
                                                 if v is not None}})
    except ValueError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    with container() as built:
        rows = redecide(built, settings.learner, run, thresholds)
    if as_json:
        print_json([vars(row) for row in rows])
        return
    table = Table("step", "partial RHI", "recorded", "re-decided", title=f"run {run}")
    for row in rows:
        flip = "" if row.recorded == row.redecided else " [bold]*[/bold]"
        table.add_row(str(row.step), f"{row.partial_rhi:.3f}", row.recorded,
                      row.redecided + flip)
    console.print(table)
    flips = sum(row.recorded != row.redecided for row in rows)
    console.print(f"{flips} of {len(rows)} decisions change")
