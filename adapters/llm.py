"""Language models behind one interface: a prompt in, a completion with its token counts and
latency out. The adapters differ only in where the model runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Completion:
    text: str
    adapter: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int


class LanguageModel(Protocol):
    adapter: str
    model: str

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (),
                 timeout_s: float | None = None) -> Completion:
        """Continue ``prompt`` greedily; raise ModelCallError when no answer came, or none
        within ``timeout_s`` (the adapter's own limit when None)."""
        ...


@runtime_checkable
class LoadsWeights(Protocol):
    """A model that loads weights in this process: ``prepare`` does it up front as a step of
    its own, telling ``say`` what it does, rather than inside the first call."""

    def prepare(self, say: Callable[[str], None]) -> None: ...


@dataclass(frozen=True)
class Likelihood:
    """How likely a model finds a continuation after a prompt."""

    logprob: float
    """The continuation's tokens' log-probabilities (natural log), summed."""
    tokens: int
    """How many tokens the continuation has."""


@runtime_checkable
class ScoresLikelihood(Protocol):
    """A model that can say how likely a text is, not only continue one. Optional: a local
    host can; an OpenAI-compatible chat endpoint in general cannot, and whoever needs
    likelihoods (the Reviewer) works without them there (``adapters.likelihoods``)."""

    def loglikelihoods(self, rows: Sequence[tuple[str, str]]) -> list[Likelihood]:
        """For each (prompt, continuation): log p(continuation | prompt). An empty prompt
        scores the continuation on its own."""
        ...


class ModelCallError(RuntimeError):
    """The model gave no answer: a timeout, a refused request, an unreachable server."""


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    ends = [index for marker in stop if (index := text.find(marker)) >= 0]
    return text[: min(ends)] if ends else text


class OpenAICompatibleModel:
    """Any server speaking OpenAI's completions API: OpenAI, a vLLM server, LM Studio,
    llama.cpp's server, Ollama. The client retries refused and timed-out calls itself."""

    adapter = "openai"

    def __init__(self, base_url: str, model: str, api_key: str = "none",
                 timeout_s: float = 30.0, retries: int = 2) -> None:
        from openai import OpenAI

        self.model = model
        self._client = OpenAI(base_url=base_url, api_key=api_key or "none",
                              timeout=timeout_s, max_retries=retries)

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (),
                 timeout_s: float | None = None) -> Completion:
        import openai

        started = time.perf_counter()
        # A call with its own time limit is not retried: the limit is for the whole call.
        client = (self._client if timeout_s is None
                  else self._client.with_options(timeout=timeout_s, max_retries=0))
        try:
            reply = client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens, temperature=0, stop=list(stop)[:4] or None)
        except openai.OpenAIError as error:
            raise ModelCallError(f"{self.model}: {type(error).__name__}: {error}") from error
        text = reply.choices[0].message.content or ""
        usage = reply.usage
        return Completion(
            text=cut_at_stop(text, stop), adapter=self.adapter, model=reply.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=int((time.perf_counter() - started) * 1000))


class VllmModel:
    """vLLM in this process, for a machine with a GPU and the ``vllm`` extra installed."""

    adapter = "vllm"

    def __init__(self, model: str) -> None:
        try:
            from vllm import LLM
        except ImportError as error:
            raise ModelCallError(
                "the vllm adapter needs a GPU and `pip install 'karma-ledger[vllm]'`") from error
        self.model = model
        self._engine = LLM(model=model)
        self._lock = threading.Lock()

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (),
                 timeout_s: float | None = None) -> Completion:
        from vllm import SamplingParams

        started = time.perf_counter()
        params = SamplingParams(temperature=0, max_tokens=max_tokens, stop=list(stop) or None)
        with self._lock:
            result = self._engine.generate([prompt], params, use_tqdm=False)[0]
        output = result.outputs[0]
        return Completion(
            text=output.text, adapter=self.adapter, model=self.model,
            prompt_tokens=len(result.prompt_token_ids or ()),
            completion_tokens=len(output.token_ids),
            latency_ms=int((time.perf_counter() - started) * 1000))
