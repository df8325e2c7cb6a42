"""How a task is put to the host: a few solved examples of the family's format, then the
question. Gemma 3 270M is a base model: it answers in a format it has just been shown.

The demonstrations are fixed per family, drawn from its own seed and never from the held-out
set; the frozen host and every organelle see the same ones, so a difference in their scores
is a difference in what they learned, not in what they were shown.
"""

from __future__ import annotations

import random

from ecology.families import Family, Problem, training_stream


def demonstrations(family: Family, count: int, held_out: set[str]) -> list[Problem]:
    stream = training_stream(family, random.Random(f"demonstrations/{family.name}"),
                             family.difficulties[0], held_out)
    return [next(stream) for _ in range(count)]


def prompt(question: str, demos: list[Problem]) -> str:
    shown = "".join(f"Q: {demo.question}\nA: {demo.answer}\n" for demo in demos)
    return f"{shown}Q: {question}\nA:"
