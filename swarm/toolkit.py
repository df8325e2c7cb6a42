"""What the agents of one process share: the language model, the embedder, the passage store,
the papers' cache; and the per-task record of model calls that the ledger keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from adapters.embeddings import MiniLMEmbedder
from adapters.llm import LanguageModel
from adapters.llm_replay import ReplayDivergenceError
from adapters.vector_store import PassageStore
from handlers import commands as c
from workers.task_worker import PermanentTaskError


@dataclass
class Toolkit:
    model: LanguageModel
    embedder: MiniLMEmbedder
    passages: PassageStore
    papers_dir: Path

    def warm_up(self) -> None:
        """Load the models before the agents start: loading takes seconds to a minute, and
        two threads importing transformers at once can see it half-imported."""
        self.embedder.embed(["warm up"])
        load = getattr(self.model, "load", None)
        if load is not None:
            load()


@dataclass
class ModelSession:
    """One task's conversation with the model: every call becomes a RecordModelCall, saved
    with the task's result, so a replay can answer the same prompts without the model."""

    model: LanguageModel
    task_id: str
    calls: list[c.RecordModelCall] = field(default_factory=list)

    def ask(self, purpose: str, prompt: str, *, max_tokens: int,
            stop: tuple[str, ...] = ()) -> str:
        try:
            completion = self.model.complete(prompt, max_tokens=max_tokens, stop=stop)
        except ReplayDivergenceError as error:
            # Asking again will not help: the code asks what the recorded run never asked.
            raise PermanentTaskError(f"replay diverged at {purpose}: {error}") from None
        self.calls.append(c.RecordModelCall(
            task_id=self.task_id, adapter=completion.adapter, model=completion.model,
            purpose=purpose, prompt=prompt, response=completion.text,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens, latency_ms=completion.latency_ms))
        return completion.text.strip()

    @property
    def tokens(self) -> int:
        return sum(call.prompt_tokens + call.completion_tokens for call in self.calls)
