"""The Reviewer's checks that anyone can repeat, as pure functions of text.

They live in the domain, not beside the Reviewer (``swarm.reviewing``), because more than the
swarm reads them: harvesting the ledger's reviewed model calls into training data
(``learning.harvest``) labels each response with the same grounding the Reviewer measured, and
``learning`` may not import ``swarm``. One definition keeps the two from drifting apart.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]{3,}")
"""A content word: a letter then three or more letters, digits or hyphens (short function
words and bare numbers say little about where a text came from)."""


def grounding(text: str, source: str) -> float:
    """Share of the text's content words that the source contains."""
    words = {w.lower() for w in WORD.findall(text)}
    if not words:
        return 0.0
    known = {w.lower() for w in WORD.findall(source)}
    return len(words & known) / len(words)


def variety(text: str) -> float:
    """Share of the text's words that are distinct: low when it repeats itself."""
    words = text.lower().split()
    return len(set(words)) / len(words) if words else 0.0
