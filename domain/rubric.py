"""The Reviewer's checks that anyone can repeat, as pure functions of text.

They live in the domain, not beside the Reviewer (``swarm.reviewing``), because more than the
swarm reads them: harvesting the ledger's reviewed model calls into training data
(``learning.harvest``) labels each response with the same grounding the Reviewer measured, and
``learning`` may not import ``swarm``. One definition keeps the two from drifting apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

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


# -- faithfulness: numbers and names the source must contain -----------------------------------

NUMBER = re.compile(r"(?<![\w.,/)\[\]:#-])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")
"""A quantity as prose writes it ("4.7", "10,000", "0.01" of "0.01%"), not a digit inside a
name ("GPT-3", "T0-3B", "NF4", "(IA)3"), a citation ("[2]") or an identifier ("2106.09685"
after "arXiv:")."""
SCALES = tuple(10.0 ** (3 * k) for k in range(-4, 5))
"""Two numbers are one quantity when they differ by a unit prefix: "4.7M" is 4,700,000,
"1.2 TB" is 1,200 GB, "35 MB" is 0.035 GB."""
TIME_SCALES = SCALES + (60.0, 1 / 60, 3600.0, 1 / 3600, 24.0, 1 / 24)
"""Also a change of time unit (minutes, hours, days): for figures stored in one unit, not for
prose, where "48 hours" for "2 days" is a number the source never wrote."""
TOKEN = re.compile(r"\(?[A-Za-z][A-Za-z0-9()/.+-]*[A-Za-z0-9)]|[A-Za-z]")
UNITS = frozenset({"kb", "mb", "gb", "tb", "gpu", "gpus", "cpu", "cpus", "ii", "iii"})


def quantities(text: str) -> list[float]:
    """The numbers ``text`` states, in order."""
    return [float(match.group(1).replace(",", "")) for match in NUMBER.finditer(text)]


def same_quantity(a: float, b: float, scales: tuple[float, ...] = SCALES) -> bool:
    return any(math.isclose(a, b * scale, rel_tol=1e-6, abs_tol=1e-12) for scale in scales)


def numbers_found(text: str, source: str, scales: tuple[float, ...] = SCALES
                  ) -> tuple[int, int]:
    """(found, stated): how many of the distinct numbers ``text`` states the source states too,
    up to a unit prefix. A number the source never gave was invented, or changed."""
    stated = set(quantities(text))
    known = set(quantities(source))
    found = sum(1 for value in stated if any(same_quantity(value, k, scales) for k in known))
    return found, len(stated)


def name_key(token: str) -> str:
    """What two spellings of one name share: "(IA)3" and "ia3", "GPT-3" and "GPT3"."""
    return re.sub(r"[^a-z0-9]", "", token.lower())


def names(text: str) -> list[str]:
    """The names of methods, models and datasets ``text`` uses, in order: words with two
    capitals or with letters and digits ("LoRA", "GPT-3", "WikiSQL", "NF4", "(IA)3"); plain
    words, units and sentence-initial capitals are not names."""
    found = []
    for token in TOKEN.findall(text):
        token = token.rstrip(".")
        capitals = sum(ch.isupper() for ch in token)
        letters_and_digits = any(ch.isdigit() for ch in token) and any(
            ch.isalpha() for ch in token)
        key = name_key(token)
        if (capitals >= 2 or letters_and_digits) and len(key) >= 2 and key not in UNITS:
            found.append(token)
    return found


def names_found(text: str, source: str) -> tuple[int, int]:
    """(found, used): how many of the distinct names ``text`` uses appear in the source."""
    used = {name_key(name) for name in names(text)}
    known = {name_key(token) for token in TOKEN.findall(source)}
    return len(used & known), len(used)


def attribution(text: str, papers: Mapping[str, str], methods: Mapping[str, str],
                scales: tuple[float, ...] = SCALES) -> tuple[int, int]:
    """(kept, paired): of the numbers stated where a paper's method is named (the sentence, or
    the one before it in the same paragraph: "DoRA trains ... It improves LoRA by 3.7
    points"), how many the paper of one of those methods states. ``papers``: paper -> its
    text; ``methods``: a method's name key -> its paper. "LoRA reaches 99.3% of ChatGPT"
    pairs 99.3 with LoRA, whose paper never says it (QLoRA's does): a figure given to the
    wrong method."""
    stated = {paper: quantities(body) for paper, body in papers.items()}
    kept = paired = 0
    for paragraph in text.splitlines():
        before: set[str] = set()
        for sentence in sentence_split(paragraph):
            here = {methods[key] for key in map(name_key, TOKEN.findall(sentence))
                    if key in methods}
            named = here | before
            before = here
            if not named:
                continue
            for value in set(quantities(sentence)):
                paired += 1
                kept += any(same_quantity(value, known, scales) for paper in named
                            for known in stated.get(paper, ()))
    return kept, paired


# -- form: repetition, endings, the source's own sentences -------------------------------------

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[*#-])|\n+")


def sentence_split(text: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(text) if part.strip()]


def distinct_ngrams(text: str, n: int = 3) -> float:
    """Share of the text's word n-grams that are distinct: 1.0 for prose that never repeats
    itself, about 0.5 for a text that says everything twice; 1.0 for a text too short to
    repeat an n-gram, 0.0 for one that says nothing."""
    words = re.findall(r"[a-z0-9%.]+", text.lower())
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 1.0 if words else 0.0
    return len(set(grams)) / len(grams)


def ends_whole(text: str) -> bool:
    """Whether the text ends at the end of a sentence: an artifact cut short does not."""
    return text.rstrip().endswith((".", "!", "?", ")", "]", "|", "*", '"'))


def context_for(text: str, source: str, chars: int) -> str:
    """The source's sentences that share most content words with ``text``, in the source's
    order, up to ``chars`` characters: the passage a likelihood is conditioned on."""
    wanted = {w.lower() for w in WORD.findall(text)} | {name_key(n) for n in names(text)}
    ranked = sorted(
        enumerate(sentence_split(source)),
        key=lambda item: -len(wanted & ({w.lower() for w in WORD.findall(item[1])}
                                        | {name_key(n) for n in names(item[1])})))
    chosen, size = [], 0
    for index, sentence in ranked:
        if size + len(sentence) > chars and chosen:
            break
        chosen.append((index, sentence[:chars]))
        size += len(sentence) + 1
    return " ".join(sentence for _, sentence in sorted(chosen))
