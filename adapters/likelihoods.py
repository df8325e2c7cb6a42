"""Likelihoods from whichever model has them (``adapters.llm.ScoresLikelihood``).

- The local host: log-probabilities of a continuation after a prompt, by the forward pass the
  labeller and the trainer use (``OrganelleHost.answer_logprobs`` with no adapter), so the
  host's likelihoods are computed one way only.
- A recording (``karma research replay``): the numbers the recorded run's own likelihood call
  returned, found by the same prompt digest as its completions; a run that never asked has
  none for this call.
- A model that only completes (an OpenAI-compatible chat endpoint, vLLM here): none.

A likelihood call is recorded like a completion (``describe`` is its prompt, ``encode`` its
answer), so that a replay scores an artifact exactly as the recorded run did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from adapters.gemma_host import GemmaHost
from adapters.llm import Likelihood, ModelCallError, ScoresLikelihood
from adapters.llm_replay import RecordedModel, ReplayDivergenceError
from adapters.lora_host import OrganelleHost

ROWS_PER_FORWARD = 4
"""Rows scored in one forward pass at most: the output layer (262k entries) is kept at every
continuation position of the batch, so a wide batch of long continuations costs gigabytes."""
PROMPT_SPREAD = 32
"""Rows share a forward only when their prompts differ by fewer tokens than this: a batch
keeps the output layer at the union of its rows' continuation positions, so a short prompt
beside a long one would double the work."""


class NoLikelihoodError(ModelCallError):
    """The model has no likelihood for this call: a recording that never asked for it."""


class HostLikelihoods:
    """The local Gemma host's likelihoods, computed while holding the host: likelihoods and
    generations take turns on the same cores."""

    def __init__(self, host: GemmaHost) -> None:
        self.host = host
        self.adapter = host.adapter
        self._organelles = OrganelleHost(gemma=host)

    @property
    def model(self) -> str:
        return self.host.model

    def loglikelihoods(self, rows: Sequence[tuple[str, str]]) -> list[Likelihood]:
        import torch

        tokenizer = self._organelles.tokenizer
        length = [len(tokenizer(prompt).input_ids) for prompt, _ in rows]
        # Rows with prompts of like length share a forward: their continuations sit at like
        # positions, so few output positions are kept.
        order = sorted(range(len(rows)), key=lambda i: (length[i], len(rows[i][1])))
        batches: list[list[int]] = []
        for i in order:
            if (batches and len(batches[-1]) < ROWS_PER_FORWARD
                    and length[i] - length[batches[-1][0]] < PROMPT_SPREAD):
                batches[-1].append(i)
            else:
                batches.append([i])
        found: list[Likelihood | None] = [None] * len(rows)
        with self.host.lock, torch.inference_mode():
            for batch in batches:
                summed, counts = self._organelles.answer_logprobs(
                    None, [rows[i] for i in batch])
                for i, logprob, tokens in zip(batch, summed.tolist(), counts.tolist(),
                                              strict=True):
                    found[i] = Likelihood(float(logprob), int(tokens))
        return [item for item in found if item is not None]


class RecordedLikelihoods:
    """The likelihoods a recorded run's calls returned, answered by its ``RecordedModel``."""

    adapter = RecordedModel.adapter

    def __init__(self, recording: RecordedModel) -> None:
        self.recording = recording
        self.model = recording.model

    def loglikelihoods(self, rows: Sequence[tuple[str, str]]) -> list[Likelihood]:
        try:
            answer = self.recording.complete(describe(rows), max_tokens=0)
        except ReplayDivergenceError:
            raise NoLikelihoodError("the recorded run has no likelihood for this call "
                                    "(its model gave none, or it scored another text)") from None
        return decode(answer.text)


def likelihoods_of(model: object) -> ScoresLikelihood | None:
    """What gives ``model``'s likelihoods, or None when it has none."""
    if isinstance(model, ScoresLikelihood):
        return model
    if isinstance(model, GemmaHost):
        return HostLikelihoods(model)
    if isinstance(model, RecordedModel):
        return RecordedLikelihoods(model)
    return None


def describe(rows: Sequence[tuple[str, str]]) -> str:
    """A likelihood call as the prompt of its recorded model call: every row's prompt and
    continuation, in order."""
    blocks = [f"[likelihood row {i}]\n[prompt]\n{prompt}\n[continuation]\n{continuation}"
              for i, (prompt, continuation) in enumerate(rows)]
    return "log-likelihood of each continuation after its prompt\n\n" + "\n\n".join(blocks)


def encode(found: Sequence[Likelihood]) -> str:
    """A likelihood call's answer as its recorded response: JSON, floats exactly."""
    return json.dumps([[item.logprob, item.tokens] for item in found])


def decode(text: str) -> list[Likelihood]:
    try:
        return [Likelihood(float(logprob), int(tokens)) for logprob, tokens in json.loads(text)]
    except (ValueError, TypeError) as error:
        raise ModelCallError(f"a recorded likelihood answer is not one: {error}") from None
