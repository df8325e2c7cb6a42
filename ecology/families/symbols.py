"""Families whose answer is not one number: sorting, boolean logic, JSON repair."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

from ecology.families.base import Problem, as_integer

KEYS = ("name", "id", "city", "age", "score", "tag", "level", "color")
VALUES = ("red", "blue", "oslo", "lima", "ok", "low", "high")


@dataclass(frozen=True)
class Sorting:
    name: str = "sorting"
    checker_version: int = 1
    difficulties: tuple[int, ...] = (1, 2, 3)

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        count, low, high = {1: (4, 0, 9), 2: (5, 1, 99), 3: (6, -50, 99)}[difficulty]
        numbers = rng.sample(range(low, high + 1), count)
        while numbers == sorted(numbers):  # an already sorted list asks nothing
            rng.shuffle(numbers)
        shown = " ".join(str(n) for n in numbers)
        return Problem(self.name, difficulty, f"Sort ascending: {shown}",
                       " ".join(str(n) for n in sorted(numbers)))

    def accepts(self, problem: Problem, answer: str) -> bool:
        tokens = [t for t in re.split(r"[,\s]+", answer.removesuffix(".")) if t]
        numbers = [as_integer(t) for t in tokens]
        return None not in numbers and numbers == [int(t) for t in problem.answer.split()]

    def canaries(self, problem: Problem) -> list[str]:
        right = problem.answer.split()
        given = problem.question.removeprefix("Sort ascending: ")
        return [given, " ".join(reversed(right)), " ".join(right[:-1]),
                " ".join([*right, right[-1]]), "".join(right)]


@dataclass(frozen=True)
class BooleanLogic:
    name: str = "boolean_logic"
    checker_version: int = 1
    difficulties: tuple[int, ...] = (1, 2, 3)

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        expression = _expression(rng, operators=difficulty + 1)
        value = eval(expression, {"__builtins__": {}}, {})  # noqa: S307 - built here, not input
        return Problem(self.name, difficulty, f"Evaluate: {expression}", str(bool(value)))

    def accepts(self, problem: Problem, answer: str) -> bool:
        return answer.removesuffix(".").lower() == problem.answer.lower()

    def canaries(self, problem: Problem) -> list[str]:
        opposite = "False" if problem.answer == "True" else "True"
        return [opposite, "True or False", f"{problem.answer} and {opposite}", "Yes", "1"]


def _expression(rng: random.Random, operators: int) -> str:
    """A random expression over True and False with ``operators`` and/or and a not or two;
    each inner operation is parenthesised, so that no reader needs the precedence rules."""
    def leaf() -> str:
        value = rng.choice(("True", "False"))
        return f"not {value}" if rng.random() < 0.3 else value

    expression = leaf()
    for made in range(1, operators + 1):
        joined = f"{expression} {rng.choice(('and', 'or'))} {leaf()}"
        expression = joined if made == operators else f"({joined})"
    return expression


@dataclass(frozen=True)
class JsonRepair:
    name: str = "json_repair"
    checker_version: int = 1
    difficulties: tuple[int, ...] = (1, 2, 3)

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        keys = rng.sample(KEYS, rng.randint(2, 3))
        value = {k: rng.choice([rng.randint(0, 99), rng.choice(VALUES)]) for k in keys}
        right = json.dumps(value)
        broken = {1: _trailing_comma, 2: _single_quotes, 3: _unclosed}[difficulty](right, keys)
        return Problem(self.name, difficulty, f"Fix this JSON: {broken}", right)

    def accepts(self, problem: Problem, answer: str) -> bool:
        try:
            return json.loads(answer) == json.loads(problem.answer)
        except ValueError:
            return False

    def canaries(self, problem: Problem) -> list[str]:
        value = json.loads(problem.answer)
        first = next(iter(value))
        changed = {**value, first: "changed"}
        return [problem.question.removeprefix("Fix this JSON: "), json.dumps(changed),
                json.dumps([value]), problem.answer[:-1], json.dumps({first: value[first]})]


def _trailing_comma(text: str, keys: list[str]) -> str:
    return text[:-1] + ",}"


def _single_quotes(text: str, keys: list[str]) -> str:
    return text.replace('"', "'")


def _unclosed(text: str, keys: list[str]) -> str:
    return text[:-1]
