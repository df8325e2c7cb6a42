"""Looking inside dual-channel learning from the command line (seed 003, phase 6): ``karma learn
probe`` (the reward model's reading of candidate responses), ``compare`` (the frozen host
against the learner's adapter) and ``plot`` (an evaluation set's reward vectors on two
principal axes). They read the ledger and write nothing to it; the work is in
``learning/probe.py``, these only parse and print."""

from __future__ import annotations

import re
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from entrypoints.cli.common import JsonFlag, console, container, errors, print_json
from entrypoints.cli.learn import ConfigOption, _config, learn_app
from entrypoints.cli.tables import key_column, new_table, number_column

if TYPE_CHECKING:  # the commands import learning lazily: `karma --help` stays quick
    from collections.abc import Sequence

    from rich.table import Table

    from domain.reward import RewardManifold
    from learning.probe import Comparison, DiffPart

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@learn_app.command("probe")
def probe(
    prompt: Annotated[str, typer.Option(help="The prompt the responses answer.")],
    response: Annotated[list[str], typer.Option(
        help="A candidate response; repeat it to compare several against the first.")],
    config: ConfigOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Score candidate responses with the learner's latest reward model: every dimension, the
    scalar, reward_intensity, safety_score and the safety gate's weight; with several, the
    dimensions that moved most from the first are marked with *."""
    from learning.loop import latest_reward_model, manifold_of
    from learning.probe import describe, probe_rows

    settings = _config(config)
    with container() as built:
        reward = latest_reward_model(built, settings.learner,
                                     manifold_of(built, settings.training_set))
        table = probe_rows(reward, settings.safety, prompt, response)
    if as_json:
        print_json({"learner": settings.learner, "reward_model": reward.digest,
                    **asdict(table),
                    "described": [describe(shift) for shift in table.shifts]})
        return
    for number, text in enumerate(table.responses, start=1):
        console.print(f"[bold]response {number}[/bold]: {escape(text)}")
    shown = new_table(f"reward model {reward.digest[:19]} (learner {settings.learner})",
                      "* : among the 3 dimensions that moved most from response 1"
                      if len(table.responses) > 1 else None)
    key_column(shown, "dimension")
    key_column(shown, "range")
    for number in range(1, len(table.responses) + 1):
        number_column(shown, f"response {number}")
    for row in table.rows:
        shown.add_row(row.name, f"{row.low:g}..{row.high:g}", *(
            f"[bold]{value:+.3f}*[/bold]" if marked else f"{value:+.3f} "
            for value, marked in zip(row.values, row.marked, strict=True)))
    console.print(shown)
    for shift in table.shifts:
        console.print(describe(shift))


@learn_app.command("compare")
def compare(
    prompt: Annotated[list[str], typer.Option(help="A prompt; repeat it for several.")],
    digest: Annotated[str | None, typer.Option(
        help="A trained adapter of the learner not yet deployed (sha256:...); default: the "
             "one it serves.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(
        min=1, max=512, help="Instead of the config's.")] = None,
    config: ConfigOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Answer each prompt greedily with the frozen host and with the learner's adapter: both
    answers, a word-level diff, and the reward vector, intensity and safety of each. Exits 1
    when nothing serves and no --digest is given: there is nothing to compare."""
    from learning.loop import latest_reward_model, load_learner, manifold_of
    from learning.probe import compare as answer_both
    from learning.probe import load_adapter

    settings = _config(config, max_new_tokens=max_new_tokens)
    if digest is not None and not DIGEST.match(digest):
        errors.print(f"[red]error:[/red] {digest!r} is not a digest (sha256: and 64 hex digits)")
        raise typer.Exit(2)
    with container() as built:
        manifold = manifold_of(built, settings.training_set)
        adapter = digest or load_learner(built, settings.learner).serving
        if adapter is None:
            errors.print(f"nothing to compare: learner {settings.learner} serves the frozen "
                         "host; deploy an adapter or name a trained one with --digest")
            raise typer.Exit(1)
        reward = latest_reward_model(built, settings.learner, manifold)
        host = load_adapter(built, settings.learner, adapter)
        comparisons = answer_both(host, reward, prompt, max_new_tokens=settings.max_new_tokens,
                                  seed=settings.seed)
    if as_json:
        print_json({"learner": settings.learner, "adapter": adapter,
                    "serving": digest is None, "reward_model": reward.digest,
                    "comparisons": [{**asdict(c), "identical": c.identical}
                                    for c in comparisons]})
        return
    for number, comparison in enumerate(comparisons, start=1):
        console.rule(f"prompt {number}")
        console.print(escape(comparison.prompt))
        console.print(f"[bold]host[/bold]:    {escape(comparison.host.text)}")
        console.print(f"[bold]adapter[/bold]: {escape(comparison.adapter.text)}")
        console.print("[bold]diff[/bold]:    " + ("(the same words)" if comparison.identical
                                                  else _coloured(comparison.diff)))
        console.print(_rewards(comparison, manifold))
    standing = "served" if digest is None else "trained, named by --digest"
    console.print(f"adapter {adapter} of learner {settings.learner} ({standing}); greedy "
                  f"decoding, at most {settings.max_new_tokens} new tokens")


def _coloured(parts: Sequence[DiffPart]) -> str:
    words = []
    for part in parts:
        if part.operation == "equal":
            words.append(escape(part.host))
            continue
        # The markers stay when colour is off (a pipe, a file): git diff --word-diff's.
        if part.host:
            words.append(f"[red]{escape(f'[-{part.host}-]')}[/red]")
        if part.adapter:
            words.append(f"[green]{escape(f'{{+{part.adapter}+}}')}[/green]")
    return " ".join(words)


def _rewards(comparison: Comparison, manifold: RewardManifold) -> Table:
    shown = new_table()
    key_column(shown, "reward")
    key_column(shown, "range")
    for header in ("host", "adapter", "change"):
        number_column(shown, header)
    before, after = comparison.host.reward, comparison.adapter.reward
    rows = [(d.name, f"{d.low:g}..{d.high:g}", before.vector[d.name], after.vector[d.name])
            for d in manifold.dimensions]
    rows += [("scalar", "0..1", before.scalar, after.scalar),
             ("reward_intensity", "0..1", before.intensity, after.intensity),
             ("safety_score", "0..1", before.safety, after.safety)]
    for name, span, old, new in rows:
        shown.add_row(name, span, f"{old:+.3f}", f"{new:+.3f}", f"{new - old:+.3f}")
    return shown


class PromptSource(StrEnum):
    LEDGER = "ledger"
    SEED = "seed"


@learn_app.command("plot")
def plot(
    out: Annotated[Path, typer.Option(help="The PNG to write (e.g. docs/plots/manifold.png).")],
    prompts: Annotated[PromptSource, typer.Option(
        help="ledger: the training set's recorded (prompt, response) samples; seed: the seed "
             "prompts answered by the frozen host.")] = PromptSource.LEDGER,
    limit: Annotated[int, typer.Option(min=2, max=1000, help="Most items, spread over the "
                                       "categories.")] = 40,
    config: ConfigOption = None,
) -> None:
    """Draw an evaluation set's reward vectors on their two principal axes (PCA), coloured by
    category; beside it the serving adapter's answers to the same prompts on the same axes."""
    from adapters.lora_host import OrganelleHost
    from learning.config import seed_prompts
    from learning.loop import latest_reward_model, load_learner, manifold_of
    from learning.probe import (
        SERVING,
        EvalItem,
        answered,
        ledger_items,
        load_adapter,
        manifold_panels,
        plot_manifold,
        spread,
        variance_note,
    )

    settings = _config(config)
    if out.suffix.lower() != ".png":
        errors.print(f"[red]error:[/red] {out} must end in .png")
        raise typer.Exit(2)
    with container() as built:
        reward = latest_reward_model(built, settings.learner,
                                     manifold_of(built, settings.training_set))
        serving = load_learner(built, settings.learner).serving
        host = (load_adapter(built, settings.learner, serving) if serving
                else OrganelleHost() if prompts is PromptSource.SEED else None)
        answering = {"max_new_tokens": settings.max_new_tokens,
                     "max_prompt_chars": settings.max_prompt_chars, "seed": settings.seed}
        if prompts is PromptSource.LEDGER:
            items = ledger_items(built, settings.training_set, limit)
            title = f"training set {settings.training_set}: recorded responses ({len(items)})"
        else:
            asked = spread([EvalItem(p["prompt"], "", p["category"]) for p in seed_prompts()],
                           limit)
            items = answered(host, None, asked, **answering)
            title = f"seed prompts answered by the frozen host ({len(items)})"
        if not items:
            raise LookupError(f"training set {settings.training_set!r} has no labelled sample "
                              "to plot: harvest or label some, or use --prompts seed")
        adapter_items = answered(host, SERVING, items, **answering) if serving else []
        panels = manifold_panels(reward, items, title, adapter_items,
                                 f"serving adapter {(serving or '')[:19]}: its answers")
    written = plot_manifold(panels, out, f"reward manifold of learner {settings.learner} "
                            f"(reward model {reward.digest[:19]})")
    console.print(f"wrote {written}")
    for panel in panels:
        console.print(f"{panel.title}: {variance_note(panel)}")

