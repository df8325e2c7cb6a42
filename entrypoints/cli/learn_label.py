"""`karma learn label`: the local host answers prompts, a teacher (or, offline, the host
itself by likelihoods) scores the answers on the reward manifold, and the training set gains
reward samples and preference pairs (seed 003, phase 3)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape

from entrypoints.cli.common import JsonFlag, console, container, errors, print_json
from entrypoints.cli.learn import ConfigOption, _config, learn_app
from entrypoints.cli.tables import key_column, new_table, number_column


class PromptSource(StrEnum):
    SEED = "seed"
    LEDGER = "ledger"


@learn_app.command("label")
def label(
    config: ConfigOption = None,
    prompts: Annotated[PromptSource, typer.Option(
        help="seed: the shipped seed prompts; ledger: the training set's recorded "
        "prompts.")] = PromptSource.SEED,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many prompts.")] = None,
    candidates: Annotated[int, typer.Option(min=1, max=16,
                                            help="Answers sampled per prompt.")] = 3,
    max_new_tokens: Annotated[int | None, typer.Option(
        min=4, max=512, help="Per answer (default: the config's max_new_tokens).")] = None,
    min_margin: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Scalar difference below which a prompt's best and worst "
        "answers make no pair.")] = 0.1,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: the config's).")
                    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Label prompts into the training set: sample answers from the local host, score each on
    the reward manifold, and record a sample per answer and a pair (best against worst) per
    prompt. With KARMA_TEACHER_BASE_URL set a teacher scores them (KARMA_TEACHER_MODEL,
    KARMA_TEACHER_API_KEY); without it the host does, a weaker judge whose labels say so.
    The same run again adds nothing."""
    from adapters.llm import ModelCallError
    from adapters.lora_host import OrganelleHost
    from learning.config import ConfigError, load_manifold
    from learning.labeller import (
        HostJudge,
        TeacherJudge,
        ledger_label_prompts,
        seed_label_prompts,
        teacher_settings,
    )
    from learning.labeller import label as label_prompts
    from learning.loop import ensure_learner, manifold_of

    settings = _config(config)
    try:
        shipped = load_manifold()
    except ConfigError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    teacher = teacher_settings()

    def say(message: str) -> None:
        # On stderr: ``--json`` output stays clean.
        errors.print(f"[dim]{escape(message)}[/dim]")

    with container() as built:
        # Prompts first: a run with nothing to answer leaves the ledger as it was.
        chosen = (seed_label_prompts(limit) if prompts is PromptSource.SEED
                  else ledger_label_prompts(built, settings.training_set, limit))
        ensure_learner(built, settings, shipped, host_model="gemma-3-270m")
        manifold = manifold_of(built, settings.training_set)
        host = OrganelleHost()
        host.gemma.prepare(say)
        judge = (TeacherJudge.connect(teacher, manifold) if teacher
                 else HostJudge(host, manifold))
        say(f"labelling {len(chosen)} prompts x {candidates} answers with {judge.labeller}")
        try:
            report = label_prompts(
                built, settings.training_set, chosen, judge, host, candidates=candidates,
                max_new_tokens=max_new_tokens or settings.max_new_tokens,
                min_margin=min_margin, seed=settings.seed if seed is None else seed,
                max_prompt_chars=settings.max_prompt_chars, progress=say)
        except ModelCallError as error:
            errors.print(f"[red]error:[/red] {escape(str(error))}; what was labelled before "
                         "is saved, and running the command again finishes the rest")
            raise typer.Exit(1) from None
    if as_json:
        print_json({**vars(report), "present": report.present})
        return
    console.print(f"training set {settings.training_set}, labelled by {report.labeller}")
    table = new_table()
    key_column(table, "")
    number_column(table, "count")
    for name, value in vars(report).items():
        if name not in ("labeller", "refusals"):
            table.add_row(name.replace("_", " "), str(value))
    for reason, count in report.refusals.items():
        table.add_row(f"  refused: {escape(reason)}", str(count))
    console.print(table)
