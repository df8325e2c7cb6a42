"""The ecology's task families: seeded generators, exact checkers that refuse near misses,
and held-out sets that training never draws."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecology.families import FAMILIES, check, held_out, training_stream
from ecology.families.base import TooFewProblemsError, first_line

NAMES = sorted(FAMILIES)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_canonical_answer_scores_one_and_every_canary_zero(name, seed):
    family = FAMILIES[name]
    rng = random.Random(seed)
    for difficulty in family.difficulties:
        problem = family.generate(rng, difficulty)
        verdict = check(family, problem, problem.answer)
        assert verdict.score == 1.0 and verdict.checker == f"{name}/1"
        for canary in family.canaries(problem):
            assert check(family, problem, canary).score == 0.0, (problem, canary)


def test_an_ellipsis_between_digits_is_not_a_number():
    family = FAMILIES["word_count"]
    problem = next(p for p in held_out(family, 0, 20) if p.answer == "12")
    assert check(family, problem, "1…2").score == 0.0
    assert check(family, problem, "12").score == 1.0
    assert check(family, problem, "12.").score == 1.0
    assert check(family, problem, " 12\nHow many words are in ...").score == 1.0


def test_the_checker_reads_only_the_first_line_of_the_answer():
    assert first_line("\n\n  42  \nQ: what is 1 + 1?\nA: 2") == "42"
    family = FAMILIES["arithmetic"]
    problem = family.generate(random.Random(3), 1)
    assert check(family, problem, f"\n{problem.answer}\nWhat is 5 + 5? 10").score == 1.0
    assert check(family, problem, f"The answer is {problem.answer}").score == 0.0


def test_answers_that_mean_the_same_are_accepted():
    sorting, logic, repair = (FAMILIES[n] for n in ("sorting", "boolean_logic", "json_repair"))
    numbers = sorting.generate(random.Random(1), 2)
    assert check(sorting, numbers, numbers.answer.replace(" ", ", ")).score == 1.0
    truth = logic.generate(random.Random(1), 1)
    assert check(logic, truth, truth.answer.lower() + ".").score == 1.0
    broken = repair.generate(random.Random(1), 2)
    spaced = broken.answer.replace(": ", ":").replace(", ", ",")
    assert check(repair, broken, spaced).score == 1.0


def test_a_problem_of_another_family_never_passes():
    arithmetic, count = FAMILIES["arithmetic"], FAMILIES["word_count"]
    problem = count.generate(random.Random(5), 1)
    assert check(arithmetic, problem, problem.answer).score == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_generation_is_a_function_of_the_seed(name):
    family = FAMILIES[name]
    first = [family.generate(random.Random(9), d) for d in family.difficulties]
    again = [family.generate(random.Random(9), d) for d in family.difficulties]
    assert first == again
    assert len({p.question for p in held_out(family, 0, 30)}) == 30 * len(family.difficulties)


@pytest.mark.parametrize("name", NAMES)
def test_training_never_draws_a_held_out_question(name):
    family = FAMILIES[name]
    holdout = {p.question for p in held_out(family, 0, 30)}
    stream = training_stream(family, random.Random(0), family.difficulties[0], holdout)
    drawn = [next(stream) for _ in range(300)]
    assert not {p.question for p in drawn} & holdout
    assert held_out(family, 0, 30) == held_out(family, 0, 30)
    assert held_out(family, 1, 30) != held_out(family, 0, 30)


def test_a_held_out_set_larger_than_the_family_is_refused():
    with pytest.raises(TooFewProblemsError, match="arithmetic at difficulty 1"):
        held_out(FAMILIES["arithmetic"], 0, 500)
