"""The karma economy: leaderboard, history, stakes, decay, verify, economy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from handlers.cli.common import (
    JsonFlag,
    app,
    console,
    container,
    economy_app,
    errors,
    print_json,
)
from handlers.jobs import decay_all
from handlers.policies import load_policy
from handlers.queries import Queries


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
