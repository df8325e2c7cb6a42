"""The Metrician's craft: the quantities a paper states, on any topic, read from its sentences
and from its tables' rows, each with its unit, what it measures, what it was measured on (a
model or a dataset) and the baseline it is set against where the sentence names one; then
tabulated with pandas, one row per method.

A quantity is a number with a unit (%, x, GB, ms, hours, tokens/s, FLOPs, bits, parameters)
or a bare number that a measure's name stands beside ("73.4 accuracy", "perplexity of 18.2",
"F1 of 91.7", "WER 2.5", "91.7 on MNLI-m"). A bare number with neither (a year, a rank, a
layer count) is not a figure. The measure is read from the unit and the words around the
number, not from patterns tuned to one field.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import pandas as pd

from swarm.passages import sentences

NUMBER = r"(?<![\w).,/-])(\d[\d,]*(?:\.\d+)?)"
UNIT = (r"\s*(%|×|x(?=[\s,.;)])|times|-?fold|(?:[KMBT]|million|billion|thousand)\b"
        r"|[KMGT]B\b|ms\b|milliseconds|seconds|s\b|minutes|hours|hour|GPU[- ]hours|GPU[- ]days"
        r"|days|(?:tokens|images|samples|sequences|queries|frames)\s*(?:/|per)\s*(?:s|second)\b"
        r"|[GTP]?FLOPs|-?bits?\b|points?\b)?")
QUANTITY = re.compile(NUMBER + UNIT)
SCALE = {"K": 1e3, "thousand": 1e3, "M": 1e6, "million": 1e6, "B": 1e9, "billion": 1e9,
         "T": 1e12}
BYTES = {"KB": 1e-6, "MB": 1e-3, "GB": 1.0, "TB": 1e3}
SECONDS = {"ms": 1e-3, "milliseconds": 1e-3, "s": 1.0, "seconds": 1.0, "minutes": 60.0}
HOURS = {"hour": 1.0, "hours": 1.0, "days": 24.0}
LOWER_IS_BETTER = ("perplexity", "WER", "error", "CER", "FID", "latency", "loss")
MEASURE_WORDS = re.compile(
    r"\b(accuracy|top-1|top-5|exact match|F1|BLEU|ROUGE(?:-[12L])?|perplexity|WER|CER|FID|"
    r"error(?: rate)?|mAP|AUC|recall|precision|score|pass@1|win rate)\b", re.IGNORECASE)
SUBJECT = re.compile(r"\b(?:[Oo]n|[Oo]f|[Ff]or|[Ww]ith|[Uu]sing|[Ff]rom)\s+(?:the\s+)?"
                     r"((?:[A-Z][\w.+-]*|[a-z]+-?\d[\w.-]*)(?:[ -](?:[A-Z0-9][\w.+-]*))*)")
BASELINE = re.compile(r"\b(?:than|over|against|compared (?:to|with)|versus|vs\.?|relative to)"
                      r"\s+(?:the\s+|a\s+)?([A-Za-z][\w.+-]*(?:\s+[a-z][\w-]*){0,2})")
SPEED_WORDS = re.compile(r"\b(faster|speed\w*|throughput|latency|quicker)\b", re.IGNORECASE)
LESS_WORDS = re.compile(r"\b(reduc\w*|fewer|less|smaller|lower|cut\w*|sav\w*|compress\w*)\b",
                        re.IGNORECASE)
CELL = re.compile(r"^\s*[<>~≈]?\s*" + NUMBER + UNIT + r"\s*$")
HEADER_KINDS = (
    (re.compile(r"trainable", re.I), "params"), (re.compile(r"param", re.I), "model_size"),
    (re.compile(r"FLOP|MAdd|MAC", re.I), "flops"), (re.compile(r"latency|time", re.I), "latency_s"),
    (re.compile(r"throughput|im(?:age)?s?/s|per second", re.I), "throughput"),
    (re.compile(r"memory|VRAM|\bGB\b", re.I), "memory_gb"),
    (re.compile(r"speed-?up", re.I), "speedup"),
)
"""What a table's column holds, read from its header; a column of scores is named by its
measure (MEASURE_WORDS), any other keeps its header as what it measures."""


@dataclass(frozen=True)
class Figure:
    paper: str
    kind: str
    """params | model_size | param_share | memory_gb | score | reduction | speedup | latency_s
    | throughput | compute_hours | flops | bits | gain | percent"""
    value: float
    subject: str
    """what it was measured on: a dataset, a model (or "memory" for memory figures)"""
    sentence: str
    unit: str = ""
    measure: str = ""
    """what it measures, in the paper's words (accuracy, perplexity, WER, speedup...)"""
    baseline: str = ""
    """what the sentence sets it against (full fine-tuning, FP16, the dense model)"""


def extract(paper: str, text: str,
            table_rows: list[tuple[str, ...]] | None = None) -> list[Figure]:
    """Every figure the text states, sentence by sentence, then every table row's (rows as
    their cells, a header row naming the columns of the rows after it)."""
    found: list[Figure] = []
    for sentence in sentences(text):
        found.extend(_in_sentence(paper, sentence))
    header: tuple[str, ...] = ()
    for row in table_rows or []:
        if len(row) < 2:
            continue
        if not any(CELL.match(cell) for cell in row[1:]):
            header = row
            continue
        found.extend(_in_row(paper, row, header))
    return found


def _in_sentence(paper: str, sentence: str) -> list[Figure]:
    figures = []
    for match in QUANTITY.finditer(sentence):
        figure = _classify(paper, sentence, match)
        if figure is not None:
            figures.append(figure)
    return figures


def _classify(paper: str, sentence: str, match: re.Match[str]) -> Figure | None:
    value = float(match.group(1).replace(",", ""))
    unit = (match.group(2) or "").strip()
    before = sentence[max(0, match.start() - 60):match.start()]
    after = sentence[match.end():match.end() + 60]
    near = before + " " + after
    # A result is measured on what follows it ("73.4 on WikiSQL"), a count belongs to the
    # model named before it ("On GPT-3 175B, LoRA with 4.7M trainable parameters").
    subject = _subject(after) or _subject(before, last=True)
    baseline = _first(BASELINE, sentence)
    measure = _measure(before, after)

    def figure(kind: str, amount: float, unit_name: str = unit, what: str = measure,
               on: str = subject) -> Figure:
        return Figure(paper, kind, amount, on, sentence[:300], unit_name, what, baseline)

    if unit in SCALE:
        amount = value * SCALE[unit]
        if re.match(r"[\s-]*(?:trainable\s+)?param", after, re.IGNORECASE):
            owner = _subject(before, last=True) or subject
            if re.match(r"[\s-]*(?:trainable\s+)?param\w*\s+model", after, re.IGNORECASE):
                return figure("model_size", amount, "parameters", "model size")
            if re.search(r"fine-?tuning\s+of\s+$", before, re.IGNORECASE):
                return figure("model_size", amount, "parameters",
                              "parameters of full fine-tuning", owner)
            if not re.search(r"train|updat|tun|learn|add", before[-40:] + after[:25],
                             re.IGNORECASE):
                return figure("model_size", amount, "parameters", "model size", owner)
            return figure("params", amount, "parameters", "trainable parameters", owner)
        if re.search(r"(?:tokens|examples|images|hours)\b", after[:20]):
            return None  # a dataset's size, not a result
        return None
    if unit in BYTES:
        return figure("memory_gb", value * BYTES[unit], "GB", "memory", "memory")
    if unit == "%":
        if re.match(r"\s*of\s+(?:the\s+)?(?:model's\s+|total\s+)?param", after, re.IGNORECASE):
            return figure("param_share", value, "%", "share of parameters")
        relative = re.match(r"\s*of\s+the\s+performance(?:\s+level)?\s+of\s+([A-Z][\w.-]*)",
                            after)
        if relative:
            return figure("relative", value, "%", "share of a reference's performance",
                          relative.group(1))
        if measure:
            return figure("score", value, "%")
        if LESS_WORDS.search(near):
            return figure("reduction", value, "%", "reduction")
        return figure("percent", value, "%")
    if unit in ("×", "x", "times", "fold", "-fold"):
        # "8.4x smaller and 6.1x faster": the word right after decides, then the context.
        word_after = (re.match(r"[\s-]*(\w+)", after) or re.match("", "")).group(0)
        if SPEED_WORDS.search(word_after) or (
                not LESS_WORDS.search(word_after) and SPEED_WORDS.search(near)):
            return figure("speedup", value, "×", "speedup")
        return figure("reduction", value, "×", "reduction"
                      if LESS_WORDS.search(word_after) or LESS_WORDS.search(near) else "ratio")
    if unit in SECONDS:
        return figure("latency_s", value * SECONDS[unit], "s",
                      "latency" if re.search(r"latency|per\s+(?:token|image|query)", near)
                      else "time")
    if unit in HOURS or unit.startswith("GPU"):
        scale = 24.0 if "day" in unit else 1.0
        return figure("compute_hours", value * scale, "GPU-hours" if "GPU" in unit else "hours",
                      "compute time")
    if "/" in unit or " per " in unit:
        return figure("throughput", value, unit.replace(" ", ""), "throughput")
    if unit.endswith("FLOPs"):
        return figure("flops", value, unit, "compute")
    if unit.lstrip("-").startswith("bit"):
        return figure("bits", value, "bits", "precision")
    if unit.startswith("point"):
        return figure("gain", value, "points", "gain")
    # A bare number: a figure only where a measure names it, or "<number> on <Dataset>".
    if measure or re.match(r"\s+(?:accuracy\s+)?on\s+[A-Z]", after):
        if "(" in before[-3:] or re.search(r"[A-Za-z]$", before):
            return None  # part of a name: (IA)3, T0-3B
        return figure("score", value, "", measure or "score")
    return None


def _measure(before: str, after: str) -> str:
    """The measure named right after the number ("73.4 accuracy") or right before it
    ("perplexity of 18.2", "a WER of 2.5")."""
    following = MEASURE_WORDS.match(after.lstrip())
    if following:
        return following.group(1)
    preceding = list(MEASURE_WORDS.finditer(before[-40:]))
    if preceding and re.search(r"(?:of|is|was|=|:|reaches|achieves|at)?\s*(?:about\s+)?$",
                               before[preceding[-1].end() - 40:]):
        return preceding[-1].group(1)
    return ""


def _subject(text: str, last: bool = False) -> str:
    found = list(SUBJECT.finditer(text))
    if not found:
        return ""
    return found[-1 if last else 0].group(1).rstrip(".,;")


def _first(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text)
    if not found:
        return ""
    return re.sub(r"(?:\s+(?:on|in|of|at|for|with|and))+$", "", found.group(1).strip(" .,;"))


def _in_row(paper: str, row: tuple[str, ...], header: tuple[str, ...]) -> list[Figure]:
    label, cells = row[0], row[1:]
    # A row with a cell missing or merged cannot be told which column each cell is in.
    names = header[1:] if len(header) == len(row) else ("",) * len(cells)
    figures = []
    for column, cell in zip(names, cells, strict=True):
        match = CELL.match(cell)
        if match is None:
            continue
        value = float(match.group(1).replace(",", ""))
        unit = (match.group(2) or "").strip()
        kind, measure = _column(column, unit)
        if kind in ("params", "model_size", "flops") and unit in SCALE:
            value *= SCALE[unit]
        elif kind == "memory_gb" and unit in BYTES:
            value *= BYTES[unit]
        elif kind == "latency_s" and unit in SECONDS:
            value *= SECONDS[unit]
        figures.append(Figure(paper, kind, value, label, " | ".join(row)[:300], unit,
                              measure, ""))
    return figures


def _column(header: str, unit: str) -> tuple[str, str]:
    """The kind of figure a table column holds, and what it measures."""
    measured = MEASURE_WORDS.search(header)
    if measured:
        return "score", header.strip() or measured.group(1)
    for pattern, kind in HEADER_KINDS:
        if pattern.search(header):
            return kind, header.strip()
    if unit == "%":
        return "percent", header.strip()
    return "table", header.strip() or "table cell"


def table(figures: list[dict]) -> pd.DataFrame:
    """One row per figure, duplicates (the same figure stated twice) dropped."""
    frame = pd.DataFrame(figures, columns=[f for f in Figure.__dataclass_fields__])
    return frame.drop_duplicates(subset=["paper", "kind", "value", "subject"]).reset_index(
        drop=True)


def comparison(figures: list[dict], papers: list[str] | None = None) -> pd.DataFrame:
    """Per method: the fewest trainable parameters it reports, its smallest share of the
    model's parameters, the memory it names, its best-reported score with what it was measured
    on, and its speed and cost figures. Every paper in ``papers`` has its row, figures or not."""
    frame = table(figures)
    rows = []
    for paper in sorted(set(frame.paper) | set(papers or [])):
        group = frame[frame.paper == paper]
        share = group[group.kind == "param_share"].value
        memory = sorted(set(group[group.kind == "memory_gb"].value))
        relative = group[group.kind == "relative"]
        rows.append({
            "method": paper,
            "trainable params": _counts(group[group.kind == "params"]),
            "param share %": f"{share.min():g}%" if not share.empty else "",
            "model size": _counts(group[group.kind == "model_size"]),
            "memory named (GB)": ", ".join(f"{value:g} GB" for value in memory),
            "best score": "; ".join(
                _best_scores(group[group.kind == "score"])
                + [f"{r.value:g}% of {r.subject}" for r in relative.itertuples()]
                + [f"+{g:g} points" for g in group[group.kind == "gain"].value]),
            "speed and cost": "; ".join(_speed_and_cost(group)),
            "figures": len(group),
        })
    return pd.DataFrame(rows)


def headlines(figures: list[dict], papers: list[str] | None = None) -> list[str]:
    """What the comparison says across methods, as sentences built from the figures alone,
    each figure written as the comparison table writes it (so they say nothing the table
    does not): who trains the smallest share and the fewest parameters, who reports the
    largest speedup, against the others that report one, and who reports no figure at all."""
    frame = table(figures)
    said = []
    for kind, largest, what, shown in (
            ("param_share", False, "trains the smallest share of its model's parameters",
             lambda row: f"{row.value:g}%"),
            ("params", False, "trains the fewest parameters",
             lambda row: f"{_human(row.value)} on {row.subject}" if row.subject
             else _human(row.value)),
            ("speedup", True, "reports the largest speedup", lambda row: f"{row.value:g}×")):
        rows = frame[frame.kind == kind]
        if rows.paper.nunique() < 2:
            continue  # a comparison needs two methods
        best = {}
        for paper, of_paper in rows.groupby("paper", sort=True):
            best[paper] = of_paper.loc[of_paper.value.idxmax() if largest
                                       else of_paper.value.idxmin()]
        ranked = sorted(best.values(), key=lambda row: row.value, reverse=largest)
        top, others = ranked[0], ranked[1:]
        said.append(f"{top.paper} {what} ({shown(top)}), against "
                    + ", ".join(f"{row.paper} ({shown(row)})" for row in others) + ".")
    silent = sorted(set(papers or []) - set(frame.paper))
    if silent:
        said.append(f"{', '.join(silent)} report{'s' if len(silent) == 1 else ''} no figure "
                    f"that could be read.")
    return said


def _best_scores(scores: pd.DataFrame) -> list[str]:
    """The best score of each measure (the lowest where lower is better)."""
    best = []
    for measure, of_measure in scores.groupby(scores.measure.fillna(""), sort=True):
        lower = any(word.lower() in measure.lower() for word in LOWER_IS_BETTER)
        top = of_measure.loc[of_measure.value.idxmin() if lower else of_measure.value.idxmax()]
        named = "" if measure in ("", "score", "accuracy") else f"{measure} "
        on = f" on {top.subject}" if top.subject else ""
        best.append(f"{named}{top.value:g}{'%' if top.unit == '%' else ''}{on}")
    return best[:3]


SPEED_AND_COST = (("speedup", "speedup", True), ("reduction", "reduction", True),
                  ("latency_s", "latency", False), ("throughput", "throughput", True),
                  ("compute_hours", "compute", False), ("bits", "precision", False))
"""Each kind shown in the comparison, its label, and whether its largest value is the one
worth showing (else the smallest)."""


def _speed_and_cost(group: pd.DataFrame) -> list[str]:
    said = []
    for kind, label, largest in SPEED_AND_COST:
        values = group[group.kind == kind]
        if kind == "bits":  # a width is whole; "0.37 bits per parameter" is a saving
            values = values[values.value >= 1]
        if values.empty:
            continue
        top = values.loc[values.value.idxmax() if largest else values.value.idxmin()]
        said.append(f"{label} {top.value:g}{_shown(top.unit)}")
    return said


def _shown(unit: str) -> str:
    if unit in ("", "×", "%"):
        return unit
    return "-bit" if unit == "bits" else f" {unit}"


def _counts(params: pd.DataFrame) -> str:
    """Each trainable-parameter count with the model it was counted on: a method reports
    one per model, and the smallest alone would misattribute it."""
    said = []
    for value, on in sorted({(row.value, row.subject) for row in params.itertuples()},
                            reverse=True)[:3]:
        said.append(f"{_human(value)} on {on}" if on else _human(value))
    return "; ".join(said)


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
