"""Task families with seeded generators and exact checkers; see ``base`` for what a checker
accepts, and why strictly."""

from ecology.families.base import Family, Problem, Verdict, check, held_out, training_stream
from ecology.families.numbers import Arithmetic, Sequences, WordCount
from ecology.families.symbols import BooleanLogic, JsonRepair, Sorting

FAMILIES: dict[str, Family] = {family.name: family for family in (
    Arithmetic(), Sequences(), Sorting(), BooleanLogic(), JsonRepair(), WordCount())}

__all__ = ["FAMILIES", "Family", "Problem", "Verdict", "check", "held_out", "training_stream"]
