"""The learning door (seed 003, phase 8): ``POST /v1/generate`` (the host with the learner's
serving adapter), ``POST /v1/reward`` (the reward model's vector, intensity and safety) and
``POST /v1/feedback`` (ratings, the seed's emotion labels, corrections and choices, which
become training data). All three need a bearer token; what a generation said is recorded by
the server, and only its requester (or an admin) may judge it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from domain.learning import Emotion
from handlers import commands as c
from learning.serving import Serving
from readside.models import error_responses


class LazyServing:
    """The served model, loaded on the first request that needs it (the API starts
    without it)."""

    def __init__(self, build: Callable[[], Serving]) -> None:
        self._build, self._serving, self._lock = build, None, threading.Lock()

    def get(self) -> Serving:
        with self._lock:
            if self._serving is None:
                self._serving = self._build()
            return self._serving


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateRequest(Strict):
    prompt: Annotated[str, Field(min_length=1, max_length=8192)]
    n: Annotated[int, Field(ge=1, le=4, description="Responses to sample (a choice between "
                                                    "them becomes a preference pair).")] = 1
    max_new_tokens: Annotated[int, Field(ge=1, le=512)] = 96
    temperature: Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)] = 0.0
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class Generated(BaseModel):
    generation_id: str
    responses: list[str]
    adapter_digest: str | None = Field(description="The serving adapter; null: the frozen "
                                                   "host.")
    model: str
    latency_ms: int
    position: int | None


class RewardRequest(Strict):
    prompt: Annotated[str, Field(min_length=1, max_length=32_768)]
    response: Annotated[str, Field(min_length=1, max_length=32_768)]


class Reward(BaseModel):
    vector: dict[str, float]
    reward_intensity: float
    safety_score: float
    scalar: float
    reward_model: str


class FeedbackRequest(Strict):
    generation_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    rating: Annotated[int, Field(ge=-2, le=2)] | None = None
    emotions: Annotated[list[Emotion], Field(max_length=10)] = []
    chosen: Annotated[int, Field(ge=0, le=3)] | None = None
    correction: Annotated[str, Field(min_length=1, max_length=32_768)] | None = None


class Retrain(BaseModel):
    examples: int = Field(description="New SFT examples since the learner's last run.")
    pairs: int
    due: bool
    started: bool = Field(description="A run started in the background (retrain.auto).")


class FeedbackRecorded(BaseModel):
    model_config = ConfigDict(extra="allow")

    generation_id: str
    position: int | None
    retrain: Retrain


def learning_router(caller: Any, serving: LazyServing) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["learning"])

    @router.post("/generate", summary="Answer with the host and the serving adapter",
                 response_model=Generated,
                 responses=error_responses(400, 401, 403, 404, 413, 415, 422))
    async def generate(body: GenerateRequest,
                       principal: c.Principal = Depends(caller)) -> dict[str, Any]:  # noqa: B008
        def work() -> dict[str, Any]:
            served = serving.get()
            served.require_learner()  # before loading a model for a learner that is not
            return served.generate(body.prompt, caller=principal, n=body.n,
                                   max_new_tokens=body.max_new_tokens,
                                   temperature=body.temperature, seed=body.seed)

        return await asyncio.to_thread(work)

    @router.post("/reward", summary="Score a response on the reward manifold",
                 response_model=Reward, responses=error_responses(400, 401, 404, 413, 415, 422))
    async def reward(body: RewardRequest,
                     principal: c.Principal = Depends(caller)) -> dict[str, Any]:  # noqa: B008, ARG001
        def work() -> dict[str, Any]:
            output, digest = serving.get().reward(body.prompt, body.response)
            return {"vector": output.vector, "reward_intensity": output.intensity,
                    "safety_score": output.safety, "scalar": output.scalar,
                    "reward_model": digest}

        return await asyncio.to_thread(work)

    @router.post("/feedback", summary="Judge a generation: rating, emotions, choice, correction",
                 response_model=FeedbackRecorded,
                 responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422))
    async def feedback(body: FeedbackRequest,
                       principal: c.Principal = Depends(caller)) -> dict[str, Any]:  # noqa: B008
        def work() -> dict[str, Any]:
            served = serving.get()
            command = c.GiveFeedback(training_set=served.config.training_set,
                                     **body.model_dump())
            return served.feedback(command, principal)

        return await asyncio.to_thread(work)

    return router
