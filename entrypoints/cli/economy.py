"""The karma economy: leaderboard, history, stakes, decay, verify, economy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from app.jobs import decay_all
from app.policies import load_policy
from entrypoints.cli.common import (
    JsonFlag,
    app,
    console,
    container,
    economy_app,
    errors,
    print_json,
)
from entrypoints.cli.tables import (
    comparison_table,
    history_tables,
    leaderboard_table,
    stakes_tables,
)
from readside.queries import Queries


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
        console.print(leaderboard_table(rows, tag))


@app.command()
def history(agent: str, as_json: JsonFlag = False) -> None:
    """Every karma entry of an agent: what moved, why, with the formula and its cause."""
    with container() as built:
        built.projections.catch_up(["karma_balances", "reputation"])
        rows = Queries(built.datastore).history(agent)
        if as_json:
            print_json(rows)
            return
        for table in history_tables(agent, rows):
            console.print(table)


@app.command()
def stakes(
    state: Annotated[str | None, typer.Option(help="escrowed, returned or slashed.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Stakes on tasks: what is in escrow now, and how earlier stakes ended."""
    with container() as built:
        built.projections.catch_up(["reputation"])
        queries = Queries(built.datastore)
        rows = queries.stakes(state, limit=1000)
        if as_json:
            print_json(rows)
            return
        # The runs name the prefix of their tasks' ids, which the tables show without it.
        built.projections.catch_up(["task_board"])
        run_ids = [run["run_id"] for run in queries.runs(limit=1000)]
        for table in stakes_tables(rows, run_ids):
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
    from app.verify import verify

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
    from app.counterfactual import replay

    with container() as built:
        built.projections.catch_up()
        comparison = replay(Queries(built.datastore), run, load_policy(policy))
        if as_json:
            print_json({"run_id": comparison.run_id, "policy_digest": comparison.policy_digest,
                        "refused": comparison.refused,
                        "recorded": [vars(s) for s in comparison.recorded],
                        "counterfactual": [vars(s) for s in comparison.counterfactual]})
            return
        console.print(comparison_table(comparison, run, policy.name))
        if comparison.refused:
            console.print(f"{comparison.refused} recorded commands were refused under this policy")
