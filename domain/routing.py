"""Routing in the ecology: which task cell to draw next (UCB1 over cells) and which organelle
answers it (UCB1 or Thompson sampling over organelles). Pure: the randomness is passed in."""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Arm:
    pulls: int = 0
    reward: float = 0.0
    """The sum of the rewards, each in [0, 1]."""

    def pulled(self, reward: float) -> Arm:
        if not 0.0 <= reward <= 1.0:
            raise ValueError(f"a reward is in [0, 1], not {reward}")
        return Arm(self.pulls + 1, self.reward + reward)

    @property
    def mean(self) -> float:
        return self.reward / self.pulls if self.pulls else 0.0


def ucb(arms: Mapping[K, Arm], exploration: float) -> K:
    """UCB1: the arm with the best mean plus exploration bonus; an arm never pulled first.
    Ties go to the arm listed first, so the choice is a function of its inputs."""
    if not arms:
        raise ValueError("no arm to choose from")
    fresh = [key for key, arm in arms.items() if arm.pulls == 0]
    if fresh:
        return fresh[0]
    total = sum(arm.pulls for arm in arms.values())
    return max(arms, key=lambda key: arms[key].mean +
               exploration * math.sqrt(math.log(total) / arms[key].pulls))


def ucb_batch(arms: Mapping[K, Arm], count: int, exploration: float) -> list[K]:
    """UCB1 for a batch chosen before any of its rewards arrive (a generation's tasks): each
    choice counts as a pull at the arm's mean so far, so the bonus of a chosen arm shrinks
    and the batch spreads as UCB1 would over ``count`` rounds; without that, every choice of
    the batch would go to the same arm."""
    planned, chosen = dict(arms), []
    for _ in range(count):
        key = ucb(planned, exploration)
        arm = planned[key]
        planned[key] = Arm(arm.pulls + 1, arm.reward + arm.mean)
        chosen.append(key)
    return chosen


def thompson(arms: Mapping[K, Arm], rng: random.Random) -> K:
    """Thompson sampling with a Beta(1 + reward, 1 + pulls - reward) belief per arm."""
    if not arms:
        raise ValueError("no arm to choose from")
    return max(arms, key=lambda key: rng.betavariate(
        1.0 + arms[key].reward, 1.0 + arms[key].pulls - arms[key].reward))
