"""Reading JSON out of a model's answer, tolerantly: a small base model wraps it in prose,
code fences, single quotes or trailing commas, or stops before the closing bracket."""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
TRAILING_COMMA = re.compile(r",\s*([}\]])")


def find_json(text: str, opener: str) -> Any | None:
    """The first JSON value starting with ``opener`` ('{' or '[') that can be read, or None."""
    fenced = FENCE.findall(text)
    for candidate in [*fenced, text]:
        start = candidate.find(opener)
        while start >= 0:
            value = _read_from(candidate[start:], opener)
            if value is not None:
                return value
            start = candidate.find(opener, start + 1)
    return None


def _read_from(text: str, opener: str) -> Any | None:
    closer = "}" if opener == "{" else "]"
    depth, in_string, escaped = 0, False, False
    for index, char in enumerate(text):
        if in_string:
            escaped = char == "\\" and not escaped
            if char == '"' and not escaped:
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return _loads(text[: index + 1])
    # The answer stopped before its closing bracket: close it and try once.
    return _loads(text + closer * max(depth, 0)) if depth > 0 and not in_string else None


def _loads(snippet: str) -> Any | None:
    cleaned = TRAILING_COMMA.sub(r"\1", snippet)
    try:
        return json.loads(cleaned)
    except json.JSONDecodeError:
        pass
    try:  # single-quoted, Python-style dicts
        return ast.literal_eval(cleaned.replace("true", "True").replace("false", "False")
                                .replace("null", "None"))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def unit_interval(value: Any) -> float | None:
    """A score in [0, 1]; '85%' and 85 read as 0.85; anything else is None."""
    if isinstance(value, str):
        value = value.strip().rstrip("%")
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    if 1 < value <= 100:
        value = value / 100
    return float(value) if 0 <= value <= 1 else None


def read_answer(answer: str, opener: str) -> Any:
    """The prompt ends where the JSON starts, so a base model's answer lacks the opener; an
    instruction-tuned model's answer has it."""
    if not answer:
        return None
    found = find_json(opener + answer, opener)
    return found if found is not None else find_json(answer, opener)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def strings(value: Any) -> list[str]:
    """A list of short strings from a value that should be one (or a single string)."""
    items = value if isinstance(value, list) else [value] if value else []
    return [str(item)[:500] for item in items][:20]


def triples(value: Any) -> list[dict[str, Any]] | None:
    """The well-formed triples of an extractor's answer; None if it held no list at all."""
    while isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list):
        return None
    found = []
    for item in value:
        if not isinstance(item, dict):
            continue
        parts = [str(item.get(k, "")).strip() for k in ("subject", "predicate", "object")]
        if not all(parts) or any(len(p) > 256 for p in parts):
            continue
        confidence = unit_interval(item.get("confidence"))
        found.append({"subject": parts[0], "predicate": parts[1], "object": parts[2],
                      "confidence": 0.5 if confidence is None else confidence,
                      "justification": str(item.get("justification", ""))[:1000]})
    return found


def verdict_scores(verdict: dict[str, Any]) -> dict[str, float] | None:
    """A validator's three scores in [0, 1]; None unless all three can be read."""
    values = {k: unit_interval(verdict.get(k)) for k in ("confidence", "clarity", "relevance")}
    if any(v is None for v in values.values()):
        return None
    return {k: float(v) for k, v in values.items()}  # type: ignore[arg-type]
