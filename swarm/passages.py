"""Cutting a paper's pages into overlapping passages of whole words, for retrieval."""

from __future__ import annotations

import re

from adapters.pdf import Page
from adapters.vector_store import Passage

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def sentences(text: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(text) if part.strip()]


def tidy(text: str, limit: int) -> str:
    """The first ``limit`` distinct sentences (near-repeats count as repeats): a small base
    model repeats itself, and an answer cut at its token budget ends mid-sentence (that tail
    is dropped when a full sentence came before it)."""
    kept: list[str] = []
    for sentence in sentences(text):
        if not any(_alike(sentence, earlier) for earlier in kept):
            kept.append(sentence)
    if len(kept) > 1 and not kept[-1].endswith((".", "!", "?")):
        kept.pop()
    return " ".join(kept[:limit])


def _alike(a: str, b: str) -> bool:
    """The same sentence give or take a word ("QLoRA is a method..." / "It is a method...")."""
    words_a, words_b = set(a.lower().split()), set(b.lower().split())
    return len(words_a & words_b) >= 0.75 * len(words_a | words_b)


def chunk(paper: str, pages: list[Page], words: int = 90, overlap: int = 20) -> list[Passage]:
    passages: list[Passage] = []
    for page in pages:
        tokens = page.text.split()
        start = 0
        while start < len(tokens):
            passages.append(Passage(paper=paper, page=page.number, chunk=len(passages),
                                    text=" ".join(tokens[start:start + words])))
            if start + words >= len(tokens):
                break
            start += words - overlap
    return passages
