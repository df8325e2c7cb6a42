"""LoRA organelles on the frozen Gemma 3 270M host (seed 002), through peft: batched sampling
with any one adapter (or none), a training step whose loss covers only the answer's tokens,
merges that keep the sum of the parents' deltas, and adapters saved with their digest.

The host's own weights never change: only the adapters' A and B matrices get gradients. The
output layer is computed only at the answer's positions (``logits_to_keep``): Gemma's vocabulary
has 262k tokens, and full logits at every position would cost more than the rest of the step.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.gemma_host import GemmaHost
from adapters.tensor_digest import tensor_digest

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 8
    alpha: int = 16
    targets: tuple[str, ...] = TARGET_MODULES
    learning_rate: float = 1e-3


@dataclass(frozen=True)
class Sample:
    text: str
    """The continuation: its first line from ``sample`` (what a checker reads), all of it
    from ``generate``."""
    tokens: int
    """Tokens generated, the compute an episode is charged for."""


@dataclass(frozen=True)
class MergeCertificate:
    """What a merge did, checkably: its parents (by digest), their weights, the method, and
    how far the merged delta is from the exact weighted sum of the parents' deltas."""

    child: str
    child_digest: str
    parents: dict[str, str]
    weights: list[float]
    method: str
    relative_error: float
    """max over layers of ||merged delta - sum w_i delta_i|| / ||sum w_i delta_i||."""


@dataclass
class OrganelleHost:
    """One Gemma host (its own copy of the weights: the adapters are injected into its layers)
    carrying any number of named LoRA adapters."""

    settings: LoraSettings = field(default_factory=LoraSettings)
    gemma: GemmaHost = field(default_factory=GemmaHost)
    _model: Any = None
    _optimizers: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def tokenizer(self) -> Any:
        return self.gemma.load()[0]

    def spawn(self, name: str, seed: int, shape: LoraSettings | None = None) -> None:
        """A new adapter, initialised from ``seed``: B is zero (as LoRA starts), so a newborn
        answers exactly as the host does until it learns. ``shape``: its rank, alpha and
        targets, when not the host's."""
        import torch
        from peft import LoraConfig, get_peft_model

        shape = shape or self.settings
        config = LoraConfig(r=shape.rank, lora_alpha=shape.alpha,
                            target_modules=list(shape.targets), lora_dropout=0.0)
        with self._lock, warnings.catch_warnings():
            # peft asks transformers 5 for a renamed property: noise for a user, not a fault.
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated",
                                    FutureWarning)
            torch.manual_seed(seed)
            if self._model is None:
                self._model = get_peft_model(self.gemma.load()[1], config, adapter_name=name)
            else:
                self._model.add_adapter(name, config)

    def adapters(self) -> list[str]:
        return [] if self._model is None else list(self._model.peft_config)

    def sample(self, adapter: str | None, prompts: Sequence[str], *, max_new_tokens: int,
               temperature: float, seed: int) -> list[Sample]:
        """One continuation per prompt, all in one batch, cut at its first line (what a
        checker reads); greedy when ``temperature`` is 0. ``adapter`` None samples the frozen
        host itself."""
        tokenizer, rows = self._continue(adapter, prompts, max_new_tokens=max_new_tokens,
                                         temperature=temperature, seed=seed)
        return [self._sample(tokenizer, row) for row in rows]

    def generate(self, adapter: str | None, prompts: Sequence[str], *, max_new_tokens: int,
                 temperature: float, seed: int) -> list[Sample]:
        """Like ``sample``, but the whole continuation: an answer of several lines."""
        tokenizer, rows = self._continue(adapter, prompts, max_new_tokens=max_new_tokens,
                                         temperature=temperature, seed=seed)
        found = []
        for row in rows:
            ids = [int(t) for t in row if int(t) != tokenizer.pad_token_id]
            found.append(Sample(tokenizer.decode(ids, skip_special_tokens=True).strip(),
                                len(ids)))
        return found

    def _continue(self, adapter: str | None, prompts: Sequence[str], *, max_new_tokens: int,
                  temperature: float, seed: int) -> tuple[Any, Any]:
        import torch

        tokenizer, base = self.gemma.load()
        tokenizer.padding_side = "left"  # generation continues at the right end of each row
        batch = tokenizer(list(prompts), return_tensors="pt", padding=True).to(self.device)
        sampling = {"do_sample": True, "temperature": temperature} if temperature else {
            "do_sample": False}
        with self._lock, torch.inference_mode(), self._using(adapter) as model:
            torch.manual_seed(seed)
            output = model.generate(**batch, max_new_tokens=max_new_tokens,
                                    pad_token_id=tokenizer.pad_token_id, **sampling)
        return tokenizer, output[:, batch.input_ids.shape[1]:]

    @staticmethod
    def _sample(tokenizer: Any, generated: Any) -> Sample:
        ids = [int(t) for t in generated if int(t) != tokenizer.pad_token_id]
        text = tokenizer.decode(ids, skip_special_tokens=True)
        line = next((part.strip() for part in text.strip().splitlines() if part.strip()), "")
        return Sample(line, len(ids))

    @contextmanager
    def _using(self, adapter: str | None) -> Iterator[Any]:
        """The model answering as ``adapter``, or as the frozen host when None."""
        if self._model is None or (adapter is None and not self._model.peft_config):
            yield self.gemma.load()[1]  # no adapter left: the layers add nothing
        elif adapter is None:
            with self._model.disable_adapter():
                yield self._model
        else:
            self._model.set_adapter(adapter)
            yield self._model

    def train(self, adapter: str, examples: Sequence[tuple[str, str]]) -> float:
        """One optimiser step of the adapter on (prompt, answer) pairs; the loss (mean
        cross-entropy per answer token) covers the answers only."""
        import torch

        tokenizer, _ = self.gemma.load()
        with self._lock:
            self._model.set_adapter(adapter)
            self._model.train()
            ids, mask, targets = self._answer_batch(tokenizer, examples)
            positions = torch.nonzero(targets.ne(-100).any(dim=0)).flatten() - 1
            logits = self._model(input_ids=ids, attention_mask=mask,
                                 logits_to_keep=positions).logits  # (B, P, V)
            wanted = targets[:, positions + 1]  # (B, P): the token each kept logit predicts
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), wanted.reshape(-1),
                ignore_index=-100)
            optimiser = self._optimiser(adapter)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            self._model.eval()
            return float(loss.detach())

    def answer_logprobs(self, adapter: str | None, examples: Sequence[tuple[str, str]]) -> Any:
        """Each answer's summed log-probability given its prompt, and its token count: two
        tensors of shape (B,). Differentiable through ``adapter`` when gradients are on;
        ``adapter`` None answers as the frozen host (the reference of a preference loss).
        The caller holds ``lock`` around the forward and its backward pass."""
        import torch

        tokenizer, _ = self.gemma.load()
        ids, mask, targets = self._answer_batch(tokenizer, examples)
        positions = torch.nonzero(targets.ne(-100).any(dim=0)).flatten() - 1
        with self._using(adapter) as model:
            logits = model(input_ids=ids, attention_mask=mask,
                           logits_to_keep=positions).logits.float()  # (B, P, V)
        wanted = targets[:, positions + 1]
        known = wanted.ne(-100)
        picked = torch.log_softmax(logits, dim=-1).gather(
            -1, wanted.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (picked * known).sum(dim=1), known.sum(dim=1)

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    @property
    def device(self) -> Any:
        """Where the host's weights are (the CPU unless ``place`` moved them)."""
        return next(self.gemma.load()[1].parameters()).device

    def place(self, device: Any) -> None:
        """Move the host and its adapters to ``device`` (what accelerate chose: a GPU when
        there is one); inputs follow the weights."""
        with self._lock:
            self.gemma.load()[1].to(device)

    @contextmanager
    def training(self, adapter: str) -> Iterator[None]:
        """Hold the host with ``adapter`` active in training mode (dropout on, if any) for a
        forward and backward pass of one's own loss."""
        with self._lock:
            self._model.set_adapter(adapter)
            self._model.train()
            try:
                yield
            finally:
                self._model.eval()

    def weights(self, adapter: str) -> list[Any]:
        """The adapter's trainable tensors (its A and B matrices), in a stable order."""
        return [p for name, p in sorted(self._model.named_parameters())
                if f".{adapter}." in name and "lora_" in name]

    def keep(self, adapter: str) -> dict[str, Any]:
        """A copy of the adapter's tensors, to restore if an update is rolled back."""
        return {name: t.detach().clone() for name, t in self._adapter_state(adapter).items()}

    def restore(self, adapter: str, kept: dict[str, Any]) -> None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(self._model, kept, adapter_name=adapter)

    def _answer_batch(self, tokenizer: Any, examples: Sequence[tuple[str, str]]) -> Any:
        import torch

        rows, answers = [], []
        for prompt, answer in examples:
            head = tokenizer(prompt, add_special_tokens=True).input_ids
            tail = tokenizer(" " + answer.strip() + "\n", add_special_tokens=False).input_ids
            rows.append(head + tail)
            answers.append(len(tail))
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        targets = torch.full_like(ids, -100)
        for i, (row, answer) in enumerate(zip(rows, answers, strict=True)):
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
            targets[i, len(row) - answer:len(row)] = torch.tensor(row[-answer:])
        return ids.to(self.device), mask.to(self.device), targets.to(self.device)

    def _optimiser(self, adapter: str) -> Any:
        import torch

        if adapter not in self._optimizers:
            weights = [p for name, p in self._model.named_parameters()
                       if f".{adapter}." in name and "lora_" in name]
            self._optimizers[adapter] = torch.optim.AdamW(
                weights, lr=self.settings.learning_rate, weight_decay=0.0)
        return self._optimizers[adapter]

    def merge(self, parents: Sequence[str], weights: Sequence[float],
              child: str) -> MergeCertificate:
        """A child whose delta is exactly sum w_i scale_i B_i A_i (peft's ``cat``: the ranks
        concatenate), with the error of that claim measured layer by layer."""
        with self._lock:
            self._model.add_weighted_adapter(list(parents), list(weights), child,
                                             combination_type="cat")
            error = self._merge_error(parents, weights, child)
            return MergeCertificate(child, self.digest(child),
                                    {p: self.digest(p) for p in parents}, list(weights),
                                    "cat", error)

    def _merge_error(self, parents: Sequence[str], weights: Sequence[float],
                     child: str) -> float:
        import torch

        with torch.no_grad():
            return max((self._layer_error(module, parents, weights, child)
                        for module in self._model.modules()
                        if hasattr(module, "lora_A") and child in module.lora_A), default=0.0)

    @staticmethod
    def _layer_error(module: Any, parents: Sequence[str], weights: Sequence[float],
                     child: str) -> float:
        import torch

        exact = sum(w * _delta(module, p) for p, w in zip(parents, weights, strict=True))
        scale = float(torch.linalg.norm(exact)) or 1.0
        return float(torch.linalg.norm(_delta(module, child) - exact)) / scale

    def digest(self, adapter: str) -> str:
        """sha256 over the adapter's tensors, in name order: the same weights, the same id."""
        return tensor_digest(self._adapter_state(adapter))

    def _adapter_state(self, adapter: str) -> dict[str, Any]:
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(self._model, adapter_name=adapter)

    def save(self, adapter: str, folder: Path, lineage: dict[str, Any]) -> str:
        """The adapter in PEFT's format, with its lineage and digest beside it."""
        digest = self.digest(adapter)
        self._model.save_pretrained(str(folder), selected_adapters=[adapter])
        saved = folder / adapter if (folder / adapter).is_dir() else folder
        (saved / "lineage.json").write_text(json.dumps(
            {"adapter": adapter, "digest": digest, **lineage}, indent=2, sort_keys=True))
        return digest

    def export(self, adapter: str) -> bytes:
        """The adapter's tensors as safetensors bytes: what travels to another process."""
        from safetensors.torch import save

        return save({name: tensor.detach().cpu().contiguous()
                     for name, tensor in self._adapter_state(adapter).items()})

    def load(self, adapter: str, data: bytes, digest: str,
             shape: LoraSettings | None = None) -> None:
        """Take in an adapter exported elsewhere (a new one, or a newer version of one this
        host holds) and check that it is the one ``digest`` names."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load

        if adapter not in self.adapters():
            self.spawn(adapter, seed=0, shape=shape)
        with self._lock:
            set_peft_model_state_dict(self._model, load(data), adapter_name=adapter)
            self._optimizers.pop(adapter, None)  # its moments belong to the weights it had
        if self.digest(adapter) != digest:
            raise ValueError(f"adapter {adapter} loaded with digest {self.digest(adapter)}, "
                             f"not {digest}")

    def drop(self, adapter: str) -> None:
        """Forget a culled organelle's adapter and optimiser state."""
        with self._lock:
            self._optimizers.pop(adapter, None)
            others = [name for name in self._model.peft_config if name != adapter]
            if others and self._model.active_adapter == adapter:
                self._model.set_adapter(others[0])  # else peft warns that it switches itself
            self._model.delete_adapter(adapter)


def _delta(module: Any, adapter: str) -> Any:
    """The weight update an adapter makes in one layer: scale * B @ A."""
    return module.scaling[adapter] * (module.lora_B[adapter].weight @
                                      module.lora_A[adapter].weight)

