"""Karma-aware scheduling: who gets a task. Pure and deterministic.

Each candidate scores its karma in the task's tags (its global balance for an untagged
task), normalised by the best candidate's, plus a UCB1 exploration bonus that is large for
agents with few reviewed tasks, so newcomers get work and can earn standing. The sum is
divided by one plus the tasks the agent already holds, so work spreads over equals instead
of queueing behind the first of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Standing:
    agent_id: str
    karma: Decimal
    """Karma in the task's scope."""
    reviewed: int
    """Tasks of this agent that were reviewed (its experience)."""
    open_tasks: int = 0
    """Tasks it holds and has not finished (its load)."""


@dataclass(frozen=True)
class Choice:
    agent_id: str
    scores: dict[str, float]
    reason: str


def choose(standings: list[Standing], exploration: float, scope: str) -> Choice:
    if not standings:
        raise ValueError("no candidate agents to choose from")
    best_karma = max((max(s.karma, Decimal(0)) for s in standings), default=Decimal(0))
    total = sum(s.reviewed for s in standings)
    scores: dict[str, float] = {}
    parts: dict[str, tuple[float, float, int]] = {}
    for standing in standings:
        merit = float(max(standing.karma, Decimal(0)) / best_karma) if best_karma > 0 else 0.0
        bonus = exploration * math.sqrt(math.log(total + 1) / (standing.reviewed + 1))
        scores[standing.agent_id] = round((merit + bonus) / (1 + standing.open_tasks), 6)
        parts[standing.agent_id] = (merit, bonus, standing.open_tasks)
    # Ties (newcomers all score 0: no karma, no exploration bonus before any review) go to
    # the candidate holding the fewest tasks, then by name.
    winner = min(scores, key=lambda agent: (-scores[agent], parts[agent][2], agent))
    merit, bonus, load = parts[winner]
    return Choice(winner, scores,
                  f"highest score {scores[winner]:.3f}: (karma in {scope} {merit:.3f} "
                  f"(of the best candidate's) + exploration {bonus:.3f}) / (1 + {load} open "
                  f"tasks)")
