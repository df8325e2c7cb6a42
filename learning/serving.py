"""The served model of one learner (seed 003, phase 8): the frozen host with the adapter the
ledger says serves, for ``/v1/generate``; the reward model for ``/v1/reward``; feedback that
turns into training data and, when enough has gathered, a new training run.

A newly deployed (or rolled-back) adapter is swapped in atomically: it is loaded beside the
old one and checked against its digest, then one assignment makes it the one new requests
use; a request already answering finishes with the adapter it started with.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog

from adapters.embeddings import MiniLMEmbedder
from adapters.lora_host import LoraSettings, OrganelleHost
from app.bootstrap import Container
from domain.learning import Learner, TrainingRunStarted
from domain.principals import ADMIN, Principal
from handlers import commands as c
from handlers.service import new_id
from learning import loop
from learning.config import DualConfig
from learning.harvest import training_data
from learning.reward_model import RewardModel, RewardOutput

log = structlog.get_logger(__name__)
REFRESH_S = 2.0
"""How often the ledger is asked which adapter serves: a deploy takes effect within this."""


@dataclass(frozen=True)
class Served:
    adapter: str | None
    """The host's name for it; None: the frozen host."""
    digest: str | None


@dataclass(frozen=True)
class Pending:
    examples: int
    pairs: int
    due: bool
    started: bool


class Serving:
    def __init__(self, container: Container, config: DualConfig,
                 host: OrganelleHost | None = None, refresh_s: float = REFRESH_S) -> None:
        self.container, self.config, self.refresh_s = container, config, refresh_s
        self.host = host or OrganelleHost(LoraSettings(rank=config.rank, alpha=config.alpha))
        self._served = Served(None, None)
        self._checked_at = 0.0
        self._swap = threading.Lock()
        self._reward: RewardModel | None = None
        self._embedder = MiniLMEmbedder()
        self._training = threading.Lock()

    def require_learner(self) -> None:
        loop.load_learner(self.container, self.config.learner)

    def served(self) -> Served:
        """The adapter new requests use, swapped first if the ledger names another."""
        if time.monotonic() - self._checked_at < self.refresh_s:
            return self._served
        with self._swap:
            wanted = self._serving_digest()
            self._checked_at = time.monotonic()
            if wanted != self._served.digest:
                self._swap_to(wanted)
        return self._served

    def _serving_digest(self) -> str | None:
        learner_id = Learner.id_for(self.config.learner)
        if not any(True for _ in self.container.ledger.events.get(learner_id, limit=1)):
            return None
        return self.container.ledger.repository.get(learner_id).serving

    def _swap_to(self, digest: str | None) -> None:
        old = self._served
        if digest is None:
            self._served = Served(None, None)
        else:
            name = f"serving-{digest[7:19]}"
            data = loop.adapter_bytes(self.container, self.config.learner, digest)
            shape = loop.adapter_shape(self.container, self.config.learner, digest)
            self.host.load(name, data, digest, shape)  # refuses bytes that are not ``digest``
            self._served = Served(name, digest)
        log.info("serving adapter swapped", learner=self.config.learner,
                 before=old.digest, after=digest)
        if old.adapter is not None and old.adapter != self._served.adapter:
            self.host.drop(old.adapter)  # waits (host lock) for a request still using it

    def generate(self, prompt: str, *, caller: Principal, n: int, max_new_tokens: int,
                 temperature: float, seed: int) -> dict[str, Any]:
        served = self.served()
        started = time.perf_counter()
        samples = self.host.generate(served.adapter, [prompt] * n,
                                     max_new_tokens=max_new_tokens, temperature=temperature,
                                     seed=seed)
        latency_ms = int((time.perf_counter() - started) * 1000)
        generation_id = new_id()[:24]
        model = self.host.gemma.model + (f"+lora:{served.digest[7:19]}" if served.digest
                                         else "")
        responses = [sample.text for sample in samples]
        result = self.container.service.execute(c.RecordGeneration(
            generation_id=generation_id, learner=self.config.learner,
            requested_by=caller.agent_id or "admin", prompt=prompt, responses=responses,
            adapter_digest=served.digest, model=model,
            completion_tokens=sum(sample.tokens for sample in samples),
            latency_ms=latency_ms), ADMIN)
        return {"generation_id": generation_id, "responses": responses,
                "adapter_digest": served.digest, "model": model, "latency_ms": latency_ms,
                "position": result.position}

    def reward(self, prompt: str, response: str) -> tuple[RewardOutput, str]:
        model = self._reward_model()
        return model.score(prompt, response), model.digest

    def _reward_model(self) -> RewardModel:
        manifold = loop.manifold_of(self.container, self.config.training_set)
        self._reward = loop.latest_reward_model(self.container, self.config.learner, manifold,
                                                self._embedder, cached=self._reward)
        return self._reward

    def feedback(self, command: c.GiveFeedback, caller: Principal) -> dict[str, Any]:
        result = self.container.service.execute(command, caller)
        pending = self.pending()
        return {**result.ids, "position": result.position, "retrain": vars(pending)}

    def pending(self) -> Pending:
        """New training data since the learner's last run, and whether a run is due (and,
        with ``retrain.auto``, started in the background)."""
        data = training_data(self.container, self.config.training_set)
        last = [e for e in self.container.ledger.events.get(Learner.id_for(self.config.learner))
                if isinstance(e, TrainingRunStarted)]
        seen = last[-1].data if last else {}
        examples = len(data.examples) - seen.get("examples", 0)
        pairs = len(data.pairs) - seen.get("pairs", 0) - seen.get("held_out", 0)
        due = self.config.retrain.due(examples, pairs)
        started = due and self.config.retrain.auto and self._start_training()
        return Pending(examples, pairs, due, started)

    def _start_training(self) -> bool:
        if not self._training.acquire(blocking=False):
            return False  # one run at a time; the next feedback asks again

        def work() -> None:
            try:
                run = f"feedback-{new_id()[:8]}"
                summary = loop.train(self.container, self.config, run=run)
                deployed = loop.deploy(self.container, self.config.learner, summary.digest)
                log.info("retrained from feedback", run=run, digest=summary.digest,
                         rhi=round(summary.rhi, 3), deployed=deployed)
            except Exception:
                log.exception("retraining from feedback failed")
            finally:
                self._training.release()

        threading.Thread(target=work, name="retrain", daemon=True).start()
        return True
