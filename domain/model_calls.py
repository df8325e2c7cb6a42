"""What a call of a language model was: enough to audit it, and to answer it again."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field


class ModelCallRecord(BaseModel):
    adapter: str
    model: str
    prompt_digest: str
    prompt: str
    response: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    latency_ms: int = Field(ge=0)


def prompt_digest(prompt: str) -> str:
    return "sha256:" + hashlib.sha256(prompt.encode()).hexdigest()
