"""The figures a careful reader finds in a bundled paper: what a metric extractor's recall is
measured against. Every figure a digest states is listed once (a figure stated twice, in the
abstract and again in the results, is one entry); settings that are not results (a rank, an
expansion factor, a scaling coefficient) are not.

``value`` is in canonical units, so that figures printed differently compare: counts of
parameters, FLOPs and multiply-adds as plain numbers (4.7M is 4700000.0), memory in GB, time
in seconds (latency) or hours (training and compute time), speedups and reductions as factors
("x"), accuracies and error rates in % (also where a table prints the bare number), and a
score without a unit (a GLUE average, an mAP) with ``unit`` empty."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GoldMetric:
    paper: str
    """The digest's slug."""
    printed: str
    """The figure as the PDF prints it ("4.7M", "1.2 TB", "0.554s", "88.55"): it appears,
    word for word, in the text read back from the paper's PDF."""
    value: float
    unit: str
    """parameters | FLOPs | multiply-adds | GB | s | hours | TPUv3-core-days | images/s | x |
    % | points | bits | "" (a score without a unit)"""
    measures: str
    """What the figure measures: "top-1 accuracy", "trainable parameters", "inference
    latency", "pre-training compute"."""
    method: str
    """The method or model variant the figure belongs to, in the paper's words; a baseline's
    own figure names the baseline here."""
    model: str = ""
    """The model it was measured on, where the method adapts one (LoRA on GPT-3 175B)."""
    dataset: str = ""
    baseline: str = ""
    """What the paper sets the figure against, where it says."""
