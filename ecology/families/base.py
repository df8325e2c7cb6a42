"""What every task family shares: a problem, the strict parsing of an answer, the checker's
verdict, and a held-out set that training never sees.

A checker is exact and strict: an answer is the first line of the response, and it must be
the answer and nothing else. A lenient checker is how a colony learns to game its reward
(Evolora's word counter read "2…5" as 25), so every family ships canaries: known-wrong
answers that must score 0, run by the tests.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

INTEGER = re.compile(r"-?(0|[1-9]\d*)")
"""An integer written canonically: no sign but minus, no leading zeros, no separators."""


@dataclass(frozen=True)
class Problem:
    family: str
    difficulty: int
    question: str
    answer: str
    """The canonical answer; the checker may accept other spellings of the same value."""


@dataclass(frozen=True)
class Verdict:
    score: float
    checker: str
    """The checker and its version, recorded with every score: a changed checker is a new
    version, so that old and new scores are never compared as equals."""


class Family(Protocol):
    name: str
    checker_version: int
    difficulties: tuple[int, ...]

    def generate(self, rng: random.Random, difficulty: int) -> Problem: ...

    def accepts(self, problem: Problem, answer: str) -> bool:
        """Whether ``answer`` (the response's first line, stripped) is right."""
        ...

    def canaries(self, problem: Problem) -> list[str]:
        """Answers that look close to right and are wrong: each must score 0."""
        ...


def first_line(response: str) -> str:
    """What a checker reads of a response: its first non-empty line, stripped. A base model
    goes on to invent the next question; that is not part of its answer."""
    for line in response.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def as_integer(text: str) -> int | None:
    """The integer ``text`` is, written canonically with at most a final full stop."""
    text = text.removesuffix(".")
    return int(text) if INTEGER.fullmatch(text) else None


def check(family: Family, problem: Problem, response: str) -> Verdict:
    right = problem.family == family.name and family.accepts(problem, first_line(response))
    return Verdict(1.0 if right else 0.0, f"{family.name}/{family.checker_version}")


DRAWS_PER_PROBLEM = 200
"""Draws allowed per distinct problem wanted before a family is judged too small for it."""


class TooFewProblemsError(ValueError):
    """A family cannot give as many distinct problems as asked (held-out set or training)."""


def held_out(family: Family, seed: int, per_difficulty: int,
             difficulties: Sequence[int] | None = None) -> list[Problem]:
    """The family's held-out set at ``difficulties`` (all of the family's by default): drawn
    from its own seed, the same on every machine."""
    rng = random.Random(f"held-out/{family.name}/{seed}")
    problems: dict[str, Problem] = {}
    for difficulty in difficulties or family.difficulties:
        wanted = len(problems) + per_difficulty
        for _ in range(per_difficulty * DRAWS_PER_PROBLEM):
            problem = family.generate(rng, difficulty)
            problems.setdefault(problem.question, problem)
            if len(problems) == wanted:
                break
        else:
            raise TooFewProblemsError(f"{family.name} at difficulty {difficulty} has fewer "
                                      f"than {per_difficulty} distinct problems")
    return list(problems.values())


def training_stream(family: Family, rng: random.Random, difficulty: int,
                    excluded: set[str]) -> Iterator[Problem]:
    """Problems for training, never one of ``excluded`` (the held-out questions)."""
    while True:
        for _ in range(DRAWS_PER_PROBLEM):
            problem = family.generate(rng, difficulty)
            if problem.question not in excluded:
                yield problem
                break
        else:
            raise TooFewProblemsError(f"{family.name} at difficulty {difficulty} has no "
                                      "problem left outside the held-out set")
