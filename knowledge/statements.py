"""What a document states, read without a model: the entities it names (the graph's own
labels, and capitalised names) and the relation a sentence puts between two of them.

The Extractor falls back on these triples when the model's answer holds none it can read (a
small model times out, or writes something other than JSON); the Validator refuses a
candidate whose subject or object its document never names. Both are checks anyone can
repeat on the document's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
NAME = re.compile(r"\b[A-Z][\w&.'-]*(?:\s+(?:of\s+|&\s+)?[A-Z][\w&.'-]*)*")
WORD = re.compile(r"[A-Za-z][\w'-]*")
COPULAS = frozenset({"is", "are", "was", "were", "has", "have", "had", "been", "be"})
FILLERS = frozenset({"a", "an", "the", "its", "their", "his", "her", "also", "now", "then",
                     "new", "newly", "recently", "still", "which", "that", "who"})
PREPOSITIONS = frozenset({"of", "to", "in", "with", "for", "by", "from", "on", "at", "into",
                          "as"})
RELATION_BETWEEN = re.compile(r"\b(?:relation|relationship|link|connection)s?\s+between\s+$",
                              re.IGNORECASE)
PATTERN_CONFIDENCE = 0.6
"""What a triple read off a sentence claims for itself: the sentence names both ends and a
relation, nothing more; the Validator decides."""
MAX_RELATION_WORDS = 6


@dataclass(frozen=True)
class Mention:
    text: str
    start: int
    end: int


def sentences(document: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(document) if part.strip()]


def mentions(sentence: str, labels: Iterable[str] = ()) -> list[Mention]:
    """The entities a sentence names, in order: the graph's labels wherever they occur, then
    capitalised names that overlap none of them (a sentence's first word alone is one only
    when it is a label: pass the names the document capitalises mid-sentence as labels)."""
    found: list[Mention] = []
    for label in sorted(set(labels), key=len, reverse=True):
        for match in re.finditer(rf"(?<!\w){re.escape(label)}(?!\w)", sentence, re.IGNORECASE):
            if not any(_overlaps(match.start(), match.end(), m) for m in found):
                found.append(Mention(label, match.start(), match.end()))
    for match in NAME.finditer(sentence):
        text, start = match.group(0).rstrip(".'"), match.start()
        if start == 0 and " " not in text:
            continue  # "Document text describing...": capitalised because it starts
        if start == 0 and text.split()[0].lower() in FILLERS:
            text, start = text.split(" ", 1)[1], start + len(text.split(" ", 1)[0]) + 1
        if not any(_overlaps(start, start + len(text), m) for m in found):
            found.append(Mention(text, start, start + len(text)))
    return sorted(found, key=lambda m: m.start)


def triples(document: str, labels: Iterable[str] = (), limit: int = 8) -> list[dict]:
    """Triples read off the document's sentences: for two entities a sentence names one after
    the other, the relation is the verb phrase between them (``supplies``, ``based_in``,
    ``partner_of``), or ``related_to`` where the sentence says there is a relation between
    them. Each carries its sentence as its justification."""
    labels = [*labels, *_names_mid_sentence(document)]
    found: list[dict] = []
    seen: set[tuple[str, str, str]] = set()
    for sentence in sentences(document):
        named = mentions(sentence, labels)
        for subject, object_ in zip(named, named[1:], strict=False):
            relation = _relation(sentence[:subject.start], sentence[subject.end:object_.start])
            key = (subject.text.lower(), relation or "", object_.text.lower())
            if relation is None or key in seen:
                continue
            seen.add(key)
            found.append({"subject": subject.text, "predicate": relation,
                          "object": object_.text, "confidence": PATTERN_CONFIDENCE,
                          "justification": sentence})
            if len(found) == limit:
                return found
    return found


def unstated(subject: str, object_: str, document: str) -> str | None:
    """Why the document does not state a relation between the two, or None: both must be
    named in one of its sentences."""
    for sentence in sentences(document):
        if _names(sentence, subject) and _names(sentence, object_):
            return None
    missing = [name for name in (subject, object_) if not _names(document, name)]
    if missing:
        return "not stated in its document: " + " and ".join(
            f"{name!r} is never named" for name in missing)
    return f"not stated in its document: no sentence names both {subject!r} and {object_!r}"


def clarity(triple: dict, document: str) -> float:
    """1 when a sentence naming both ends also holds the relation's words (``based_in``: based,
    in), down to 0.5 when it holds none of them: a relation the sentence does not say is a
    vague one."""
    words = [word for word in triple["predicate"].lower().replace("-", "_").split("_") if word]
    best = 0.0
    for sentence in sentences(document):
        if _names(sentence, triple["subject"]) and _names(sentence, triple["object"]):
            said = {word.lower() for word in WORD.findall(sentence)}
            found = sum(any(token.startswith(word[:5]) for token in said) for word in words)
            best = max(best, found / len(words) if words else 0.0)
    return round(0.5 + 0.5 * best, 4)


def relevance(triple: dict, goal: str) -> float:
    """How much of the triple's words the goal shares, from a floor of 0.5: a fact the
    document states is worth keeping even when the goal names other things."""
    goal_words = {word.lower()[:5] for word in WORD.findall(goal) if len(word) > 3}
    triple_words = {word.lower()[:5] for part in ("subject", "predicate", "object")
                    for word in WORD.findall(triple[part].replace("_", " ")) if len(word) > 3}
    if not triple_words:
        return 0.5
    return round(0.5 + 0.5 * len(goal_words & triple_words) / len(triple_words), 4)


def _names_mid_sentence(document: str) -> set[str]:
    """Names capitalised where no sentence starts: "Initech" once mid-sentence is a name
    when a sentence starts with it too."""
    return {match.group(0).rstrip(".'") for sentence in sentences(document)
            for match in NAME.finditer(sentence) if match.start() > 0}


def _relation(before: str, between: str) -> str | None:
    if RELATION_BETWEEN.search(before) and between.strip().lower() == "and":
        return "related_to"
    words = [word.lower() for word in WORD.findall(between)]
    if not words or len(words) > MAX_RELATION_WORDS + 2 or re.search(r"[;:]", between):
        return None
    words = [word for word in words if word not in FILLERS]
    while words and words[0] in COPULAS:
        words = words[1:]
    if not words:
        return None
    # "supplies lithium batteries to" -> supplies; "is based in" -> based_in;
    # "signed a partnership with" -> signed_partnership_with (the object's noun, then the
    # preposition that ties it to the next entity).
    head = [words[0]]
    if len(words) > 1 and words[-1] in PREPOSITIONS and words[0] not in PREPOSITIONS:
        if len(words) == 2:
            head.append(words[-1])
        elif words[0].endswith(("ed", "s")) and len(words) <= 4:
            head = words[:1] + words[-2:]
    relation = "_".join(head)
    return relation if len(relation) <= 64 else None


def _names(text: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


def _overlaps(start: int, end: int, mention: Mention) -> bool:
    return start < mention.end and mention.start < end
