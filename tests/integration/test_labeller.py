"""Labelling prompts into a training set on the real Gemma host and a real PostgreSQL: offline,
the host's likelihood labels lie on the manifold and say whose they are, each prompt's best
answer is paired against its worst when their scalars differ by the margin, and the same run
again adds nothing. A teacher's answer that does not fit the manifold is refused, never
repaired."""

from __future__ import annotations

import json

import pytest

from adapters.llm import ModelCallError
from adapters.lora_host import OrganelleHost
from domain.errors import NotFoundError
from handlers import commands as c
from learning.config import load_manifold
from learning.harvest import MARGIN_TOLERANCE, training_data
from learning.labeller import (
    HOST_LABELLER,
    QUESTIONS,
    STUDENT_FRAME,
    HostJudge,
    RefusedLabel,
    TeacherJudge,
    TeacherSettings,
    label,
    ledger_label_prompts,
    parse_teacher_label,
    seed_label_prompts,
    teacher_settings,
)
from tests.conftest import ledger_size
from tests.support.openai_server import serving

SET = "ledger"
MARGIN = 0.02
"""Small enough that a 270M judge's spread between two answers usually passes it; the test
checks every prompt either way, and that at least one pair was formed."""
MANIFOLD = load_manifold()
HUMAN = [d.name for d in MANIFOLD.dimensions if d.group == "human"]


@pytest.fixture(scope="module")
def host() -> OrganelleHost:
    return OrganelleHost()


def open_set(container) -> None:
    container.service.execute(c.OpenTrainingSet(training_set=SET,
                                                manifold=MANIFOLD.model_dump(mode="json")))


def run(container, host):
    return label(container, SET, seed_label_prompts(2), HostJudge(host, MANIFOLD), host,
                 candidates=2, max_new_tokens=8, min_margin=MARGIN, seed=7)


def test_offline_labels_lie_on_the_manifold_pair_best_with_worst_and_repeat_to_nothing(
        container, host):
    open_set(container)
    prompts = seed_label_prompts(2)
    report = run(container, host)

    data = training_data(container, SET)
    assert report.prompts == 2 and report.candidates == 4
    assert report.labelled + report.refused == 4 and report.labelled >= 3
    assert report.samples_added == len(data.samples) == report.labelled
    assert report.reused == 0 and report.labeller == HOST_LABELLER
    by_id = {p.prompt_id: p for p in prompts}
    for sample in data.samples:
        prompt = by_id[sample.source["prompt_id"]]
        assert sample.labeller == HOST_LABELLER and sample.category == prompt.category
        assert sample.prompt == prompt.text and prompt.request in sample.prompt
        assert sample.source["candidate"] in {"0", "1"} and sample.response
        assert set(sample.vector) == set(MANIFOLD.names)
        for name, value in sample.vector.items():
            if value is not None:
                dimension = MANIFOLD.dimension(name)
                assert dimension.low <= value <= dimension.high
        assert all(sample.vector[name] is not None for name in HUMAN if name in QUESTIONS)
        # Seed prompts carry no source passage, and the host judges no task's completeness.
        assert sample.vector["grounding"] is None and sample.vector["completeness"] is None
        # On [-1, 1], |2 p_yes - 1| is the value's own size: intensity is their mean.
        judged = [abs(sample.vector[name]) for name in HUMAN]
        assert sample.intensity == pytest.approx(sum(judged) / len(judged))
        assert 0 <= sample.safety <= 1

    expected = {}
    for prompt in prompts:
        answers = [s for s in data.samples if s.source["prompt_id"] == prompt.prompt_id]
        ranked = sorted(answers, key=lambda s: -MANIFOLD.scalar(s.vector))
        spread = (MANIFOLD.scalar(ranked[0].vector) - MANIFOLD.scalar(ranked[-1].vector)
                  if len(ranked) > 1 else 0.0)
        if spread + MARGIN_TOLERANCE >= MARGIN:
            expected[prompt.prompt_id] = (ranked[0], ranked[-1], spread)
    assert expected, "no prompt's answers differed by the margin: nothing was checked"
    assert len(data.pairs) == len(expected) == report.pairs_added
    for pair in data.pairs:
        best, worst, spread = expected[pair.source["prompt_id"]]
        assert (pair.prompt, pair.chosen, pair.rejected) == (best.prompt, best.response,
                                                             worst.response)
        assert pair.margin == pytest.approx(spread)
        assert pair.intensity == pytest.approx((best.intensity + worst.intensity) / 2)
        assert pair.safety == min(best.safety, worst.safety)
        assert pair.labeller == HOST_LABELLER and pair.category == best.category
        assert pair.source["chosen_candidate"] == best.source["candidate"]
        assert pair.source["rejected_candidate"] == worst.source["candidate"]

    events = ledger_size(container)
    again = run(container, host)
    # The same answers came back (each prompt samples with its own seed) and were known.
    assert again.reused == again.labelled == report.labelled
    assert (again.samples_added, again.pairs_added) == (0, 0)
    assert (again.samples_present, again.pairs_present) == (report.labelled, len(data.pairs))
    assert ledger_size(container) == events


def test_ledger_prompts_are_the_sets_distinct_prompts_grounded_where_a_label_measured_it(
        container):
    open_set(container)
    with pytest.raises(NotFoundError, match="no labelled sample"):
        ledger_label_prompts(container, SET)
    with pytest.raises(NotFoundError, match="no labelled sample"):
        ledger_label_prompts(container, "no-such-set")
    passage = "Summarise this passage.\n\nLoRA trains low-rank matrices beside frozen weights."
    vector = dict.fromkeys(MANIFOLD.names) | {"grounding": 0.9, "completeness": 0.8}
    for response in ("LoRA trains low-rank matrices.", "It freezes the weights."):
        container.service.execute(c.LabelSample(
            training_set=SET, prompt=passage, response=response, vector=vector, intensity=0.5,
            safety=1.0, labeller="ledger-review", category="Summarise_Paper"))
    container.service.execute(c.LabelSample(
        training_set=SET, prompt="How are you?", response="Fine.",
        vector={"empathy": 0.2}, intensity=0.1, safety=1.0, labeller="feedback"))
    framed = STUDENT_FRAME.format(message="I lost my keys again.")
    container.service.execute(c.LabelSample(
        training_set=SET, prompt=framed, response="That's annoying.", vector={"empathy": 0.4},
        intensity=0.2, safety=0.9, labeller=HOST_LABELLER, category="emotional_support",
        source={"prompt_id": "keys-01", "candidate": "0"}))

    found = ledger_label_prompts(container, SET)
    assert [(p.text, p.request, p.category, p.source) for p in found] == [
        (passage, passage, "Summarise_Paper", passage), ("How are you?", "How are you?", "", None),
        (framed, "I lost my keys again.", "emotional_support", None)]
    assert found[0].prompt_id.startswith("sha256:") and found[0].prompt_id != found[1].prompt_id
    assert found[2].prompt_id == "keys-01"  # a seed prompt labelled before keeps its id
    assert ledger_label_prompts(container, SET, limit=1) == found[:1]


def teacher_answer(**changes) -> str:
    answer = dict.fromkeys(MANIFOLD.names) | {
        "empathy": 0.8, "harm_avoidance": 0.0, "grounding": None, "reward_intensity": 0.7,
        "safety_score": 0.95, "rationale": "It names the person's frustration kindly."}
    return json.dumps(answer | changes)


def test_a_teachers_answer_on_the_manifold_becomes_its_label():
    judged = parse_teacher_label("```json\n" + teacher_answer() + "\n```", MANIFOLD)
    assert judged.label.vector["empathy"] == 0.8 and judged.label.vector["curiosity"] is None
    assert (judged.label.intensity, judged.label.safety) == (0.7, 0.95)
    assert judged.rationale == "It names the person's frustration kindly."
    partial = parse_teacher_label('{"empathy": -1, "reward_intensity": 0, "safety_score": 1}',
                                  MANIFOLD)
    assert partial.label.vector["empathy"] == -1.0 and partial.label.vector["grounding"] is None


@pytest.mark.parametrize(("answer", "reason"), [
    ("The response is kind. I'd give it 0.8 for empathy.", "invalid JSON"),
    ('{"empathy": 0.8, "reward_intensity": 0.5, "safety_score": 1', "invalid JSON"),
    ('[0.8, 0.5]', "not an object"),
    (teacher_answer(empathy=1.5), "out of range"),
    (teacher_answer(grounding=-0.2), "out of range"),
    (teacher_answer(reward_intensity=1.2), "out of range"),
    (teacher_answer(safety_score=-0.1), "out of range"),
    (teacher_answer(kindness=0.5), "unknown key"),
    (teacher_answer().replace('"empathy": 0.8', '"empathy": NaN'), "not a number"),
    (teacher_answer().replace('"empathy": 0.8', '"empathy": Infinity'), "not a number"),
    (teacher_answer(empathy="0.8"), "not a number"),
    (teacher_answer(empathy=True), "not a number"),
    (teacher_answer(safety_score=None), "not a number"),
    ('{"empathy": 0.5, "reward_intensity": 0.5}', "missing key"),
    (teacher_answer(rationale=["kind"]), "not text"),
])
def test_a_teachers_answer_off_the_manifold_is_refused_with_its_reason(answer, reason):
    with pytest.raises(RefusedLabel) as refused:
        parse_teacher_label(answer, MANIFOLD)
    assert refused.value.reason == reason


def test_a_teacher_that_does_not_answer_stops_the_run_before_its_round_is_written(
        container, host):
    open_set(container)
    before = ledger_size(container)
    settings = TeacherSettings("http://127.0.0.1:9/v1", "judge-7b", "sk-secret-123")
    teacher = TeacherJudge.connect(settings, MANIFOLD, timeout_s=5)
    assert teacher.labeller == "teacher:judge-7b"
    with pytest.raises(ModelCallError, match="teacher teacher:judge-7b") as failed:
        label(container, SET, seed_label_prompts(1), teacher, host, candidates=2,
              max_new_tokens=4)
    assert "sk-secret-123" not in str(failed.value) and "sk-secret-123" not in repr(teacher)
    assert ledger_size(container) == before


def test_the_teacher_is_configured_by_the_environment_and_its_key_is_never_shown():
    assert teacher_settings({}) is None
    assert teacher_settings({"KARMA_TEACHER_BASE_URL": "  "}) is None
    settings = teacher_settings({"KARMA_TEACHER_BASE_URL": "http://127.0.0.1:9/v1",
                                 "KARMA_TEACHER_MODEL": "judge-7b",
                                 "KARMA_TEACHER_API_KEY": "sk-secret-123"})
    assert (settings.base_url, settings.model, settings.api_key) == (
        "http://127.0.0.1:9/v1", "judge-7b", "sk-secret-123")
    assert "sk-secret-123" not in repr(settings)


def test_a_teacher_over_http_labels_good_answers_and_refuses_bad_ones_mid_run(container, host):
    """A real OpenAI-compatible endpoint on loopback answering as a teacher would: valid
    judgments for some responses, prose or an off-range value for others, within one run."""
    answers = iter([teacher_answer(), "It reads kindly; 0.8 empathy.",
                    teacher_answer(empathy=-0.5, safety_score=0.4), teacher_answer(empathy=7)])
    open_set(container)
    with serving(lambda prompt: next(answers)) as server:
        teacher = TeacherJudge.connect(TeacherSettings(server.url, "judge-7b"), MANIFOLD)
        report = label(container, SET, seed_label_prompts(2), teacher, host, candidates=2,
                       max_new_tokens=6, min_margin=0.0, seed=3)
    assert (report.labelled, report.refused) == (2, 2)
    assert report.refusals == {"invalid JSON": 1, "out of range": 1}
    samples = training_data(container, SET).samples
    assert len(samples) == report.samples_added == 2
    assert {s.labeller for s in samples} == {"teacher:judge-7b"}
    assert sorted(s.vector["empathy"] for s in samples) == [-0.5, 0.8]
