"""A real OpenAI-compatible HTTP server on loopback, serving scripted completions: the tests
talk to it through the openai client exactly as they would to vLLM or OpenAI.

A script maps a prompt to an answer; an answer may also be ``Slow(seconds, text)`` (to
trip a client's timeout) or ``Broken(status)`` (an HTTP error)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.threaded_server import in_thread


@dataclass(frozen=True)
class Slow:
    seconds: float
    text: str


@dataclass(frozen=True)
class Broken:
    status: int


Answer = str | Slow | Broken
Script = Callable[[str], Answer]


@dataclass
class ScriptedServer:
    script: Script
    prompts: list[str] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> JSONResponse:
            body = await request.json()
            prompt = "\n".join(m["content"] for m in body["messages"])
            self.prompts.append(prompt)
            answer = self.script(prompt)
            if isinstance(answer, Broken):
                return JSONResponse({"error": {"message": "scripted failure"}},
                                    status_code=answer.status)
            if isinstance(answer, Slow):
                await asyncio.sleep(answer.seconds)
                answer = answer.text
            return JSONResponse(_completion(body["model"], prompt, answer))

        return app


def _completion(model: str, prompt: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                  "total_tokens": len(prompt.split()) + len(text.split())},
    }


@contextmanager
def serving(script: Script) -> Iterator[ScriptedServer]:
    server = ScriptedServer(script)
    with in_thread(server.app(), timeout=10) as base:
        server.url = f"{base}/v1"
        yield server


def research_script(prompt: str) -> Answer:
    """Plausible answers for each of the swarm's prompts, keyed on where the prompt ends."""
    last = prompt.rstrip().rsplit("\n", 1)[-1]
    if last.startswith("Summary:"):
        excerpt = prompt.rsplit("Excerpt:", 1)[-1].split("\nSummary:")[0].strip()
        return " ".join(excerpt.split()[:40]) + "."
    if last.startswith("Rating:"):
        return "4"
    if last.startswith("Comparison:"):
        return ("LoRA trains the fewest parameters among the methods with counts, while QLoRA "
                "reaches 99.3% of ChatGPT on a single GPU.")
    if last.startswith("Optimist view:"):
        return "Training cost falls by orders of magnitude. One frozen model serves many tasks."
    if last.startswith("Skeptic view:"):
        return "The figures come from different benchmarks. Few methods report memory."
    if last.startswith("Overview:"):
        return "Parameter-efficient methods adapt large models by training a small add-on."
    return "I do not know."
