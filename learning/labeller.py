"""Label prompts with a teacher into a training set (seed 003, phase 3): the student (the
frozen local host) answers each prompt a few times, a judge scores every answer on the reward
manifold, and the ledger records each scored answer as a reward sample and the best against
the worst answer of a prompt as a preference pair.

Two judges:

- A **teacher** behind any OpenAI-compatible endpoint (``KARMA_TEACHER_BASE_URL``, with
  ``KARMA_TEACHER_MODEL`` and ``KARMA_TEACHER_API_KEY``), asked for a JSON object with every
  dimension, the intensity, the safety and a one-sentence rationale. Its answer is checked
  against the manifold and refused, never clipped, when it does not fit: a repaired label
  would teach what nobody judged. Labeller ``teacher:<model>``.
- **Offline**, the local host itself, by likelihoods: for each human dimension a few-shot
  question ("Does the response show ...? Answer:") and the host's probability of " Yes"
  against " No". A 270M base model is a weak judge: its labels are marked as its own
  (``host-likelihood:gemma-3-270m``) so that a reward model, a report or a person can tell
  them apart, and a teacher replaces them when one is configured. Dimensions it has no
  question for stay unknown rather than guessed.

Labelling is idempotent: the student samples each prompt with a seed of its own (the run's
seed and the prompt's id), and the ledger names samples and pairs by their content, so the
same run again adds nothing, and a run cut short is finished by running it again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from adapters.llm import ModelCallError, OpenAICompatibleModel
from domain.errors import NotFoundError
from domain.reward import InvalidRewardError, RewardLabel, RewardManifold
from domain.rubric import grounding
from handlers import commands as c
from learning.config import seed_prompts
from learning.harvest import MARGIN_TOLERANCE, record_items, training_data
from learning.trainer import cut

if TYPE_CHECKING:
    from adapters.lora_host import OrganelleHost
    from app.bootstrap import Container

HOST_LABELLER = "host-likelihood:gemma-3-270m"
TEACHER_ENV = "KARMA_TEACHER_BASE_URL"
TEACHER_MODEL_ENV = "KARMA_TEACHER_MODEL"
TEACHER_KEY_ENV = "KARMA_TEACHER_API_KEY"
DEFAULT_TEACHER_MODEL = "gpt-4o-mini"
TEMPERATURE = 0.8
"""The student's sampling temperature: varied enough that a prompt's answers differ in
quality, which is what a preference pair needs."""
PROMPTS_PER_ROUND = 8
"""Prompts sampled, judged and saved together: a run cut short keeps what it saved."""
ROWS_PER_FORWARD = 16
"""(question, answer) rows scored in one forward pass: the host's output layer has 262k
entries per kept position, and a wide batch keeps many positions."""
JUDGED_CHARS = 1200
"""A prompt longer than this is shown to the host judge by its end (its instruction): the
few-shot question must stay short for a 270M model to follow it."""
TEACHER_CHARS = 12_000
TEACHER_MAX_TOKENS = 600
RATIONALE_CHARS = 256
"""A source value's limit in the ledger."""

STUDENT_FRAME = (
    "A conversation with a kind, honest assistant who answers in a few sentences.\n\n"
    "Person: I burned the dinner I made for my friends and now I feel like a failure.\n"
    "Assistant: That sounds frustrating, especially when you wanted it to be special. One "
    "burned dinner doesn't make you a failure; your friends will remember the evening more "
    "than the food. Could you order something in and laugh about it together?\n\n"
    "Person: {message}\nAssistant:")
"""How a seed prompt is put to the base model: a bare message would be continued as more of
the person's words, not answered. One worked answer shows the register."""


# -- prompts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelPrompt:
    """A prompt to label: what the student is given (and the ledger records), what a judge
    reads as the request, and the source passage a response can be grounded in, if any."""

    prompt_id: str
    category: str
    text: str
    """Given to the student and recorded: the prompt its answers continue."""
    request: str
    """The request as a judge reads it: the person's message, or the task."""
    source: str | None = None
    """A passage the response should draw on; None: grounding does not apply."""


def seed_label_prompts(limit: int | None = None) -> list[LabelPrompt]:
    """The shipped seed prompts, each framed as a conversation turn for the student."""
    return [LabelPrompt(prompt_id=item["id"], category=item["category"],
                        text=STUDENT_FRAME.format(message=item["prompt"].strip()),
                        request=item["prompt"].strip())
            for item in seed_prompts()[:limit]]


def ledger_label_prompts(container: Container, training_set: str,
                         limit: int | None = None) -> list[LabelPrompt]:
    """The distinct prompts of the training set's recorded samples, oldest first, as recorded
    (they are what a model was given). A prompt carries a source passage when a label of it
    measured grounding: the ledger's research prompts hold the passage they summarise.

    NotFoundError when the set is missing or holds no sample: there is nothing to answer."""
    try:
        samples = training_data(container, training_set).samples
    except NotFoundError:
        samples = ()
    if not samples:
        raise NotFoundError(
            f"training set {training_set!r} has no labelled sample to take prompts from: "
            "harvest the ledger first (karma learn harvest) or label the seed prompts "
            "(--prompts seed)")
    first: dict[str, Any] = {}
    grounded: set[str] = set()
    for sample in samples:
        first.setdefault(sample.prompt, sample)
        if sample.vector.get("grounding") is not None:
            grounded.add(sample.prompt)
    return [LabelPrompt(
        # A seed prompt labelled before keeps its id: its answers are traced to one prompt.
        prompt_id=sample.source.get("prompt_id") or _digest(prompt)[:23],
        category=sample.category, text=prompt, request=_request_of(prompt),
        source=prompt if prompt in grounded else None)
        for prompt, sample in list(first.items())[:limit]]


def _request_of(text: str) -> str:
    """The person's message inside a framed seed prompt; any other prompt is its own."""
    head, tail = STUDENT_FRAME.split("{message}")
    framed = text.startswith(head) and text.endswith(tail) and len(text) > len(head + tail)
    return text[len(head):len(text) - len(tail)] if framed else text


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# -- the student -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    prompt: LabelPrompt
    index: int
    response: str


def prompt_seed(seed: int, prompt_id: str) -> int:
    """A prompt's own sampling seed: its answers do not depend on which prompts share a run."""
    return int(hashlib.sha256(f"{seed}:{prompt_id}".encode()).hexdigest()[:8], 16)


def sample_candidates(host: OrganelleHost, prompts: Sequence[LabelPrompt], *, candidates: int,
                      max_new_tokens: int, seed: int,
                      max_prompt_chars: int = 1500) -> list[Candidate]:
    """``candidates`` answers of the frozen host to each prompt, one batch per prompt (its
    copies need no padding, so the answers are the same whatever else is sampled).

    The student reads a long prompt by its end, as the trainer does (``trainer.cut``)."""
    sampled = []
    for prompt in prompts:
        answers = host.sample(None, [cut(prompt.text, max_prompt_chars)] * candidates,
                              max_new_tokens=max_new_tokens, temperature=TEMPERATURE,
                              seed=prompt_seed(seed, prompt.prompt_id))
        sampled += [Candidate(prompt, index, answer.text) for index, answer in
                    enumerate(answers)]
    return sampled


# -- judges ------------------------------------------------------------------------------------

class RefusedLabel(ValueError):
    """A judgment that cannot be kept, with its reason: a short kind that a report counts, and
    the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Judgment:
    label: RewardLabel
    rationale: str = ""


class Judge(Protocol):
    labeller: str

    def judge(self, candidates: Sequence[Candidate]) -> list[Judgment | RefusedLabel]:
        """One judgment (or the reason there is none) per candidate, in order."""
        ...


@dataclass(frozen=True)
class Question:
    """A yes/no question the host answers about a response, shown two answered examples."""

    asks: str
    shown_yes: tuple[str, str]
    """(message, response) the answer to which is Yes."""
    shown_no: tuple[str, str]


QUESTIONS: dict[str, Question] = {
    "empathy": Question(
        "Does the response show empathy, recognising the person's feelings with warmth?",
        ("I didn't get the job I wanted.",
         "I'm sorry, that's disappointing after all your effort."),
        ("My cat is sick and I'm scared.", "Cats get sick all the time. Take it to a vet.")),
    "social_coherence": Question(
        "Does the response show social coherence, staying on point and keeping people on "
        "good terms?",
        ("My sister and I keep arguing about chores.",
         "Sit down together and agree on a split you both accept."),
        ("My coworker keeps interrupting me.",
         "Tell him he's an idiot. Anyway, have you seen the new phones?")),
    "agency_support": Question(
        "Does the response show support for the person's own choices and ability to act?",
        ("Should I take the job abroad?",
         "It depends on what matters to you; list the pros and cons first."),
        ("Should I quit my course?", "Yes, quit today. Don't think about it, do what I say.")),
    "epistemic_integrity": Question(
        "Does the response show honesty, with true claims and no false confidence?",
        ("Will this supplement cure my cold?",
         "There is little evidence that it does; most colds pass in a week."),
        ("How far away is the Moon?", "The Moon is exactly 12 miles away, everyone knows.")),
    "harm_avoidance": Question(
        "Does the response show care to avoid harm and handle risk responsibly?",
        ("I want to drive home after a few drinks.",
         "Please don't drive; a taxi or a friend can get you home safely."),
        ("I feel dizzy since starting my new pills.", "Just take a double dose, it'll pass.")),
    "narrative_alignment": Question(
        "Does the response show understanding of the person's own story and goals?",
        ("I want to get fit to keep up with my kids.",
         "Then active games with your kids could be your training."),
        ("I love painting and want to do more of it.",
         "Painting is a waste of time. Focus on earning money instead.")),
    "curiosity": Question(
        "Does the response show curiosity, with a good question or insight that moves things "
        "on?",
        ("I can't decide what to study.",
         "Which subjects make you lose track of time? That could be a clue."),
        ("I've been reading about black holes.", "OK.")),
}
"""The host's questions, one per human dimension of the shipped manifold. A dimension without
one stays unknown: the host is not asked what nobody phrased for it."""

SAFETY_QUESTION = Question(
    "Is the response safe and harmless?",
    ("How do I calm down before an exam?", "Slow breathing and a short walk can help."),
    ("My neighbour's dog keeps barking.", "Poison the dog, then it will be quiet."))


def few_shot(question: Question, message: str, response: str) -> str:
    """The question put to the host: two answered examples, then the response to judge."""
    shown = [(*question.shown_yes, "Yes"), (*question.shown_no, "No")]
    blocks = [f"Message: {m}\nResponse: {r}\n{question.asks} Answer: {a}" for m, r, a in shown]
    blocks.append(f"Message: {message}\nResponse: {response}\n{question.asks} Answer:")
    return "\n\n".join(blocks)


@dataclass
class HostJudge:
    """The local host as judge, by the likelihood of " Yes" against " No" (see the module's
    docstring for why its labels are marked as its own)."""

    host: OrganelleHost
    manifold: RewardManifold
    labeller: str = HOST_LABELLER

    def judge(self, candidates: Sequence[Candidate]) -> list[Judgment | RefusedLabel]:
        human = [d.name for d in self.manifold.dimensions
                 if d.group == "human" and d.name in QUESTIONS]
        asked = [*(QUESTIONS[name] for name in human), SAFETY_QUESTION]
        prompts = [few_shot(question, cut(item.prompt.request, JUDGED_CHARS), item.response)
                   for item in candidates for question in asked]
        yes = self.yes_probabilities(prompts)
        judged: list[Judgment | RefusedLabel] = []
        for index, item in enumerate(candidates):
            *dimensions, safety = yes[index * len(asked):(index + 1) * len(asked)]
            try:
                judged.append(Judgment(self._label(item, dict(zip(human, dimensions,
                                                                  strict=True)), safety)))
            except (InvalidRewardError, ValueError) as error:
                judged.append(RefusedLabel("off the manifold", str(error)))
        return judged

    def _label(self, item: Candidate, yes: Mapping[str, float], safety: float) -> RewardLabel:
        vector: dict[str, float | None] = dict.fromkeys(self.manifold.names)
        for name, p_yes in yes.items():
            dimension = self.manifold.dimension(name)
            vector[name] = dimension.low + p_yes * (dimension.high - dimension.low)
        if "grounding" in vector and item.prompt.source is not None:
            vector["grounding"] = grounding(item.response, item.prompt.source)
        # Decisive answers (p near 0 or 1) teach more than a coin toss.
        intensity = (sum(abs(2 * p - 1) for p in yes.values()) / len(yes)) if yes else 0.0
        return self.manifold.check(RewardLabel(vector=vector, intensity=min(1.0, intensity),
                                               safety=min(1.0, max(0.0, safety))))

    def yes_probabilities(self, prompts: Sequence[str]) -> list[float]:
        """For each prompt, softmax over the host's log-probabilities of " Yes" and " No"."""
        import torch

        # Rows of like length share a forward: less padding, fewer output positions kept.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        rows = [(prompts[i], answer) for i in order for answer in ("Yes", "No")]
        scores: list[float] = []
        with self.host.lock, torch.inference_mode():
            for start in range(0, len(rows), ROWS_PER_FORWARD):
                summed, _ = self.host.answer_logprobs(None, rows[start:start + ROWS_PER_FORWARD])
                scores += summed.tolist()
        yes = [0.0] * len(prompts)
        for rank, i in enumerate(order):
            yes[i] = _sigmoid(scores[2 * rank] - scores[2 * rank + 1])
        return yes


def _sigmoid(x: float) -> float:
    """1 / (1 + e^-x): softmax over two log-probabilities' difference, without overflow."""
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    return math.exp(x) / (1 + math.exp(x))


# -- the teacher -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TeacherSettings:
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    """Sent to the endpoint and nowhere else: never logged, printed nor recorded."""


def teacher_settings(environ: Mapping[str, str] | None = None) -> TeacherSettings | None:
    """The teacher the environment names, or None when ``KARMA_TEACHER_BASE_URL`` is unset."""
    env = os.environ if environ is None else environ
    base_url = env.get(TEACHER_ENV, "").strip()
    if not base_url:
        return None
    return TeacherSettings(base_url, env.get(TEACHER_MODEL_ENV, "").strip()
                           or DEFAULT_TEACHER_MODEL, env.get(TEACHER_KEY_ENV, ""))


def teacher_prompt(manifold: RewardManifold, request: str, response: str) -> str:
    """What the teacher is asked: the manifold's dimensions with their meanings, the exchange,
    and the one JSON object to answer with."""
    dimensions = "\n".join(f"- {d.name} ({d.group}, from {d.low:g} to {d.high:g}): {d.meaning}"
                           for d in manifold.dimensions)
    keys = ", ".join(f'"{name}"' for name in manifold.names)
    return (
        "You label an assistant's response for training a reward model. Judge the response "
        "on each dimension below, within its range; give null for a dimension that does not "
        "apply or that you cannot judge from what you see.\n\n"
        f"{dimensions}\n\n- reward_intensity: {manifold.intensity_meaning}\n"
        f"- safety_score: {manifold.safety_meaning}\n\n"
        f"The request:\n<<<\n{request}\n>>>\n\nThe response:\n<<<\n{response}\n>>>\n\n"
        f"Answer with one JSON object and nothing else, with exactly the keys {keys}, "
        '"reward_intensity", "safety_score" and "rationale" (one sentence).')


FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_teacher_label(answer: str, manifold: RewardManifold) -> Judgment:
    """The teacher's answer as a label on ``manifold``; RefusedLabel when it is not one.

    Refused, never repaired: text that is not one JSON object, a key the manifold does not
    have, a value that is not a number or null, NaN or infinity, a value outside its range,
    an intensity or safety missing or outside [0, 1]. A dimension left out is unknown, as a
    null is."""
    fenced = FENCE.match(answer)
    try:
        data = json.loads(fenced.group(1) if fenced else answer,
                          parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise RefusedLabel("invalid JSON", str(error)) from None
    except ValueError as error:
        raise RefusedLabel("not a number", str(error)) from None
    if not isinstance(data, dict):
        raise RefusedLabel("not an object", f"the answer is a JSON {type(data).__name__}")
    scalars = {"reward_intensity", "safety_score"}
    unknown = sorted(set(data) - set(manifold.names) - scalars - {"rationale"})
    if unknown:
        raise RefusedLabel("unknown key", f"the manifold has no {', '.join(unknown)}")
    missing = sorted(scalars - set(data))
    if missing:
        raise RefusedLabel("missing key", f"no {', '.join(missing)}")
    values = {key: _number(key, value, nullable=key not in scalars)
              for key, value in data.items() if key != "rationale"}
    rationale = data.get("rationale") or ""
    if not isinstance(rationale, str):
        raise RefusedLabel("not text", "the rationale is not a string")
    try:
        label = RewardLabel(
            vector={name: values.get(name) for name in manifold.names},
            intensity=values["reward_intensity"], safety=values["safety_score"])
        return Judgment(manifold.check(label), rationale.strip())
    except (InvalidRewardError, ValueError) as error:
        raise RefusedLabel("out of range", _first_line(error)) from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a reward")


def _number(key: str, value: Any, *, nullable: bool) -> float | None:
    if value is None and nullable:
        return None
    # JSON's true and false would pass as 1 and 0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RefusedLabel("not a number", f"{key} is {json.dumps(value)}")
    if not math.isfinite(value):
        raise RefusedLabel("not a number", f"{key} is {value}")
    return float(value)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:3])


@dataclass
class TeacherJudge:
    """A teacher model behind an OpenAI-compatible endpoint, one request per response."""

    model: OpenAICompatibleModel
    manifold: RewardManifold
    api_key: str = field(default="", repr=False)
    """Only to strike it from an error's message: a server may echo a key it refuses."""

    @classmethod
    def connect(cls, settings: TeacherSettings, manifold: RewardManifold,
                timeout_s: float = 60.0) -> TeacherJudge:
        return cls(OpenAICompatibleModel(settings.base_url, settings.model, settings.api_key,
                                         timeout_s=timeout_s), manifold, settings.api_key)

    @property
    def labeller(self) -> str:
        return f"teacher:{self.model.model}"[:128]

    def judge(self, candidates: Sequence[Candidate]) -> list[Judgment | RefusedLabel]:
        """Raises ModelCallError when the endpoint gives no answer: a teacher that is down
        would otherwise refuse every label of the run, one timeout at a time."""
        judged: list[Judgment | RefusedLabel] = []
        for item in candidates:
            try:
                answer = self.model.complete(
                    teacher_prompt(self.manifold, cut(item.prompt.request, TEACHER_CHARS),
                                   item.response), max_tokens=TEACHER_MAX_TOKENS)
            except ModelCallError as error:
                message = str(error)
                if self.api_key:
                    message = message.replace(self.api_key, "***")
                raise ModelCallError(f"teacher {self.labeller}: {message}") from None
            try:
                judged.append(parse_teacher_label(answer.text, self.manifold))
            except RefusedLabel as refused:
                judged.append(refused)
        return judged


# -- recording ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelReport:
    """What a labelling run sampled, refused and recorded. Every candidate is either
    labelled or refused; items ``present`` were in the set already (an earlier run)."""

    labeller: str
    prompts: int
    candidates: int
    labelled: int
    reused: int
    """Labelled candidates whose label this labeller had recorded already: not judged again,
    so finishing a run cut short does not pay a teacher twice."""
    refused: int
    refusals: dict[str, int]
    """Why candidates were refused, by reason."""
    samples_added: int
    samples_present: int
    pairs_added: int
    pairs_present: int

    @property
    def present(self) -> int:
        return self.samples_present + self.pairs_present


@dataclass(frozen=True)
class _Scored:
    candidate: Candidate
    judgment: Judgment
    scalar: float | None


def label(container: Container, training_set: str, prompts: Sequence[LabelPrompt],
          judge: Judge, host: OrganelleHost, *, candidates: int = 3, max_new_tokens: int = 48,
          min_margin: float = 0.1, seed: int = 0, max_prompt_chars: int = 1500,
          actor: c.Principal = c.ADMIN,
          progress: Callable[[str], None] | None = None) -> LabelReport:
    """Sample ``candidates`` answers to each prompt, judge them, and record a sample per
    labelled answer and a pair (best against worst) per prompt whose answers differ by at
    least ``min_margin`` on the manifold's scalar.

    The set must exist: its manifold is what labels are checked against (the judge's must be
    the same). Prompts go PROMPTS_PER_ROUND at a time, each round saved before the next."""
    if not 0 <= min_margin <= 1:
        raise ValueError(f"min_margin is {min_margin}; it must lie in [0, 1]")
    if candidates < 1:
        raise ValueError(f"candidates is {candidates}; at least one answer per prompt")
    data = training_data(container, training_set)
    recorded = {(s.prompt, s.response): Judgment(
        RewardLabel(vector=s.vector, intensity=s.intensity, safety=s.safety),
        s.source.get("rationale", "")) for s in data.samples if s.labeller == judge.labeller}
    sampled = labelled = reused = 0
    refusals: Counter[str] = Counter()
    added: Counter[str] = Counter()
    planned: Counter[str] = Counter()
    for done, round_ in _rounds(prompts):
        answers = sample_candidates(host, round_, candidates=candidates,
                                    max_new_tokens=max_new_tokens, seed=seed,
                                    max_prompt_chars=max_prompt_chars)
        sampled += len(answers)
        usable = _usable(answers, refusals)
        fresh = [item for item in usable if (item.prompt.text, item.response) not in recorded]
        judged = dict(zip((id(item) for item in fresh), judge.judge(fresh) if fresh else [],
                          strict=True))
        scored = []
        for item in usable:
            judgment = (judged[id(item)] if id(item) in judged
                        else recorded[(item.prompt.text, item.response)])
            if isinstance(judgment, RefusedLabel):
                refusals[judgment.reason] += 1
            else:
                scored.append(_Scored(item, judgment, data.manifold.scalar(
                    judgment.label.vector)))
        labelled += len(scored)
        reused += len(usable) - len(fresh)
        samples = [_sample(item, training_set, judge.labeller) for item in scored]
        pairs = _pairs(scored, training_set, judge.labeller, min_margin)
        planned.update(samples=len(samples), pairs=len(pairs))
        added.update(samples=record_items(container, samples, actor),
                     pairs=record_items(container, pairs, actor))
        if progress:
            progress(f"{done} of {len(prompts)} prompts: {labelled} labelled, "
                     f"{sum(refusals.values())} refused, {added['pairs']} pairs added")
    return LabelReport(
        labeller=judge.labeller, prompts=len(prompts), candidates=sampled, labelled=labelled,
        reused=reused, refused=sum(refusals.values()), refusals=dict(sorted(refusals.items())),
        samples_added=added["samples"], samples_present=planned["samples"] - added["samples"],
        pairs_added=added["pairs"], pairs_present=planned["pairs"] - added["pairs"])


def _rounds(prompts: Sequence[LabelPrompt]) -> Iterator[tuple[int, Sequence[LabelPrompt]]]:
    for start in range(0, len(prompts), PROMPTS_PER_ROUND):
        round_ = prompts[start:start + PROMPTS_PER_ROUND]
        yield start + len(round_), round_


def _usable(answers: Sequence[Candidate], refusals: Counter[str]) -> list[Candidate]:
    """The answers worth judging: an empty one is no response, and one a prompt already got
    would be the same ledger item twice (the ledger keeps one per content)."""
    seen: set[tuple[str, str]] = set()
    usable = []
    for item in answers:
        key = (item.prompt.prompt_id, item.response)
        if not item.response:
            refusals["empty response"] += 1
        elif key in seen:
            refusals["repeated response"] += 1
        else:
            seen.add(key)
            usable.append(item)
    return usable


def _sample(item: _Scored, training_set: str, labeller: str) -> c.LabelSample:
    source = {"prompt_id": item.candidate.prompt.prompt_id,
              "candidate": str(item.candidate.index)}
    if item.judgment.rationale:
        source["rationale"] = item.judgment.rationale[:RATIONALE_CHARS]
    label_ = item.judgment.label
    return c.LabelSample(
        training_set=training_set, prompt=item.candidate.prompt.text,
        response=item.candidate.response, vector=label_.vector, intensity=label_.intensity,
        safety=label_.safety, labeller=labeller, category=item.candidate.prompt.category,
        source=source)


def _pairs(scored: Sequence[_Scored], training_set: str, labeller: str,
           min_margin: float) -> list[c.FormPair]:
    """Per prompt, its best answer against its worst, when they differ by ``min_margin``:
    the clearest preference a prompt's answers hold. Ties go to the earlier answer."""
    by_prompt: dict[str, list[_Scored]] = {}
    for item in scored:
        if item.scalar is not None:
            by_prompt.setdefault(item.candidate.prompt.prompt_id, []).append(item)
    pairs = []
    for answers in by_prompt.values():
        ranked = sorted(answers, key=lambda item: -item.scalar)  # stable: ties keep order
        best, worst = ranked[0], ranked[-1]
        margin = best.scalar - worst.scalar
        # Two answers judged alike prefer nothing, even when no margin is asked.
        if margin <= MARGIN_TOLERANCE or margin + MARGIN_TOLERANCE < min_margin:
            continue
        chosen, rejected = best.judgment.label, worst.judgment.label
        pairs.append(c.FormPair(
            training_set=training_set, prompt=best.candidate.prompt.text,
            chosen=best.candidate.response, rejected=worst.candidate.response,
            margin=min(1.0, margin), intensity=(chosen.intensity + rejected.intensity) / 2,
            safety=min(chosen.safety, rejected.safety), labeller=labeller,
            category=best.candidate.prompt.category,
            source={"prompt_id": best.candidate.prompt.prompt_id,
                    "chosen_candidate": str(best.candidate.index),
                    "rejected_candidate": str(worst.candidate.index)}))
    return pairs
