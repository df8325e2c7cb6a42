"""A model that answers from a recording: the ModelCalled events of an earlier run. Used to
re-run a run against changed code without calling a model, and to find where it diverges."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from adapters.llm import Completion, ModelCallError
from domain.model_calls import prompt_digest


@dataclass(frozen=True)
class RecordedCall:
    purpose: str
    prompt_digest: str
    response: str
    model: str
    prompt_tokens: int
    completion_tokens: int


class ReplayDivergenceError(ModelCallError):
    """The code asked the model something the recorded run never asked."""

    def __init__(self, digest: str, prompt: str) -> None:
        super().__init__(f"no recorded answer for prompt {digest} ({prompt[:120]!r}...)")
        self.digest = digest


class RecordedModel:
    adapter = "replay"

    def __init__(self, calls: Iterable[RecordedCall], model: str = "recorded") -> None:
        self.model = model
        self._answers: dict[str, deque[RecordedCall]] = defaultdict(deque)
        for call in calls:
            self._answers[call.prompt_digest].append(call)
        self.misses: list[str] = []

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (),
                 timeout_s: float | None = None) -> Completion:
        digest = prompt_digest(prompt)
        queue = self._answers.get(digest)
        if not queue:
            self.misses.append(digest)
            raise ReplayDivergenceError(digest, prompt)
        # The same prompt asked twice gets the answers in the order they were recorded; the
        # last one keeps answering, as a deterministic model would.
        call = queue.popleft() if len(queue) > 1 else queue[0]
        return Completion(text=call.response, adapter=self.adapter, model=call.model,
                          prompt_tokens=call.prompt_tokens,
                          completion_tokens=call.completion_tokens, latency_ms=0)
