"""The Metrician's craft: the figures a paper states (parameter counts and shares, memory,
scores, reductions), found by pattern in each sentence, and tabulated with pandas."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import pandas as pd

from swarm.passages import sentences

NUMBER = r"(?<![\w).,])(\d[\d,]*(?:\.\d+)?)"
SCALE = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
BYTES = {"KB": 1e-6, "MB": 1e-3, "GB": 1.0, "TB": 1e3}


@dataclass(frozen=True)
class Figure:
    paper: str
    kind: str
    """params | model_size | param_share | memory_gb | score | reduction | relative | gain"""
    value: float
    subject: str
    sentence: str


PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("params", re.compile(NUMBER + r"\s*([KMBT])\b[\s-]*(?:trainable\s+)?param\w*(\s+model)?",
                          re.IGNORECASE)),
    ("param_share", re.compile(NUMBER + r"\s*%\s+of\s+(?:the\s+)?(?:model's\s+)?param", re.IGNORECASE)),
    ("memory_gb", re.compile(NUMBER + r"\s*(KB|MB|GB|TB)\b")),
    ("reduction", re.compile(r"by\s+" + NUMBER + r"\s+times")),
    ("relative", re.compile(NUMBER + r"\s*%\s+of\s+the\s+performance(?:\s+level)?\s+of\s+"
                            r"([A-Z][\w.-]*)")),
    ("gain", re.compile(r"by\s+" + NUMBER + r"\s+points")),
    ("score", re.compile(NUMBER + r"\s+(?:accuracy\s+)?on\s+([A-Z][\w/-]*[\w])")),
)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def extract(paper: str, text: str) -> list[Figure]:
    found: list[Figure] = []
    for sentence in sentences(text):
        for kind, pattern in PATTERNS:
            for match in pattern.finditer(sentence):
                found.append(_figure(paper, kind, match, sentence))
    return found


def _figure(paper: str, kind: str, match: re.Match[str], sentence: str) -> Figure:
    value, subject = _number(match.group(1)), ""
    if kind == "params":
        value *= SCALE[match.group(2).upper()]
        if match.group(3):
            kind = "model_size"
    elif kind == "memory_gb":
        value *= BYTES[match.group(2)]
        subject = "memory"
    elif kind in ("relative", "score"):
        subject = match.group(2)
    return Figure(paper, kind, value, subject, sentence[:300])


def table(figures: list[dict]) -> pd.DataFrame:
    """One row per figure, duplicates (the same figure stated twice) dropped."""
    frame = pd.DataFrame(figures, columns=[f for f in Figure.__dataclass_fields__])
    return frame.drop_duplicates(subset=["paper", "kind", "value", "subject"]).reset_index(
        drop=True)


def comparison(figures: list[dict]) -> pd.DataFrame:
    """Per method: the fewest trainable parameters it reports, its smallest share of the
    model's parameters, the memory it names, and its best-reported score with the benchmark."""
    frame = table(figures)
    rows = []
    for paper, group in frame.groupby("paper", sort=True):
        params = group[group.kind == "params"].value
        share = group[group.kind == "param_share"].value
        memory = sorted(set(group[group.kind == "memory_gb"].value))
        scores = group[group.kind == "score"]
        best = scores.loc[scores.value.idxmax()] if not scores.empty else None
        relative = group[group.kind == "relative"]
        rows.append({
            "method": paper,
            "trainable params": _human(params.min()) if not params.empty else "",
            "param share %": f"{share.min():g}" if not share.empty else "",
            "memory named (GB)": ", ".join(f"{value:g}" for value in memory),
            "best score": "; ".join(
                ([f"{best.value:g} on {best.subject}"] if best is not None else [])
                + [f"{r.value:g}% of {r.subject}" for r in relative.itertuples()]
                + [f"+{g:g} points" for g in group[group.kind == "gain"].value]),
            "figures": len(group),
        })
    return pd.DataFrame(rows)


def _human(count: float) -> str:
    for suffix, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:g}{suffix}"
    return f"{count:g}"


def as_records(figures: list[Figure]) -> list[dict]:
    return [asdict(figure) for figure in figures]


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub table, without the tabulate dependency pandas' to_markdown wants."""
    if frame.empty:
        return "_no figures were extracted_"
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(value) for value in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
