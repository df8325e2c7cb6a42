"""Families whose answer is one integer: arithmetic, next term of a sequence, word counting."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ecology.families.base import Problem, as_integer

WORDS = ("the cat sat on a mat near old red door while six birds sang over green hills and "
         "two dogs ran past quiet stone walls under bright morning light").split()


def integer_canaries(value: int) -> list[str]:
    """Near misses a lenient parser would take: off by one, hedged, digits run together with
    an ellipsis between them ("2…5" is not 25), a leading zero, a unit after the number."""
    text = str(value)
    spread = "…".join(text) if len(text.lstrip("-")) > 1 else f"{text}…{text}"
    return [str(value + 1), f"{value} or {value + 1}", spread, f"about {value}",
            f"{value} words", "0" + text.lstrip("-") if value > 0 else f"{value}0"]


class _IntegerFamily:
    checker_version = 1
    difficulties = (1, 2, 3)

    def accepts(self, problem: Problem, answer: str) -> bool:
        return as_integer(answer) == int(problem.answer)

    def canaries(self, problem: Problem) -> list[str]:
        return integer_canaries(int(problem.answer))


@dataclass(frozen=True)
class Arithmetic(_IntegerFamily):
    name: str = "arithmetic"

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        if difficulty == 1:
            a, b, op = rng.randint(1, 9), rng.randint(1, 9), rng.choice("+-")
        elif difficulty == 2:
            a, b, op = rng.randint(10, 99), rng.randint(10, 99), rng.choice("+-")
        else:
            a, b, op = rng.randint(10, 99), rng.randint(2, 9), "*"
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        return Problem(self.name, difficulty, f"What is {a} {op} {b}?", str(value))


@dataclass(frozen=True)
class Sequences(_IntegerFamily):
    name: str = "sequences"

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        start = rng.randint(1, 20)
        if difficulty == 1:
            step = rng.randint(1, 5)
            terms = [start + step * i for i in range(5)]
        elif difficulty == 2:
            step = rng.choice([-1, 1]) * rng.randint(3, 12)
            terms = [start * 5 + step * i for i in range(5)]
        else:  # differences that grow by a constant: 3, 5, 9, 15, 23
            step, growth = rng.randint(1, 6), rng.randint(1, 4)
            terms = [start + step * i + growth * i * (i - 1) // 2 for i in range(5)]
        shown = ", ".join(str(t) for t in terms[:4])
        return Problem(self.name, difficulty, f"What comes next: {shown}, ?", str(terms[4]))


@dataclass(frozen=True)
class WordCount(_IntegerFamily):
    name: str = "word_count"

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        low, high = {1: (3, 6), 2: (7, 12), 3: (13, 20)}[difficulty]
        words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
        return Problem(self.name, difficulty,
                       f'How many words are in "{" ".join(words)}"?', str(len(words)))
