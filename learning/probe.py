"""Looking inside what was learned (seed 003, phase 6): what the reward model says of candidate
responses, how the learner's adapter answers beside the frozen host, and where an evaluation
set's reward vectors lie on the manifold.

Training only reports aggregates (losses, the RHI). A person deciding whether to deploy, or
why an adapter drifted, needs to see single cases: which dimensions a response moves and how
that changes what it would teach (its intensity, its safety, the gate's weight), and what the
adapter now says that the host did not. Nothing here writes to the ledger; every adapter is
read back by its digest and checked against it.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.lora_host import LoraSettings, OrganelleHost
from app.bootstrap import Container
from domain.reward import RewardManifold, SafetyGate
from learning.harvest import training_data
from learning.loop import adapter_bytes, adapter_shape, load_learner
from learning.reward_model import RewardModel, RewardOutput
from learning.trainer import cut

SERVING = "serving"
"""The host's name for the learner's adapter while it is being looked at."""
HIGHLIGHTED = 3
ANSWER_BATCH = 8


# -- the reward probe ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeRow:
    name: str
    low: float
    high: float
    values: tuple[float, ...]
    """One per response, in the row's own range."""
    marked: tuple[bool, ...]
    """Per response: among the dimensions that moved most from the first response."""


@dataclass(frozen=True)
class Shift:
    """How a response differs from the first one: the dimensions that moved most (on the
    unit scale, largest first) and what that does to what it would teach."""

    response: int
    largest: tuple[tuple[str, float], ...]
    scalar: float
    intensity: float
    safety: float
    weight: float
    band_before: str
    band_after: str


@dataclass(frozen=True)
class ProbeTable:
    prompt: str
    responses: tuple[str, ...]
    rows: tuple[ProbeRow, ...]
    """Every dimension of the manifold in its order, then the scalar preference,
    ``reward_intensity``, ``safety_score`` and the safety gate's weight."""
    shifts: tuple[Shift, ...]
    """One per response after the first."""

    def row(self, name: str) -> ProbeRow:
        return next(row for row in self.rows if row.name == name)


def probe_rows(reward: RewardModel, gate: SafetyGate, prompt: str, responses: Sequence[str],
               *, highlight: int = HIGHLIGHTED) -> ProbeTable:
    """The reward model's reading of each response to ``prompt``, side by side."""
    if not responses:
        raise ValueError("give at least one response to probe")
    outputs = reward.score_many([(prompt, response) for response in responses])
    return probe_table(reward.manifold, gate, prompt, responses, outputs, highlight=highlight)


def probe_table(manifold: RewardManifold, gate: SafetyGate, prompt: str,
                responses: Sequence[str], outputs: Sequence[RewardOutput], *,
                highlight: int = HIGHLIGHTED) -> ProbeTable:
    """The table of already scored responses: ``probe_rows`` without the reward model."""
    first = outputs[0]
    shifts = tuple(_shift(manifold, gate, first, other, index, highlight)
                   for index, other in enumerate(outputs[1:], start=1))
    moved = [{name for name, _ in shift.largest} for shift in shifts]
    rows = [ProbeRow(d.name, d.low, d.high, tuple(out.vector[d.name] for out in outputs),
                     (False, *(d.name in names for names in moved)))
            for d in manifold.dimensions]
    unmarked = (False,) * len(outputs)
    weights = tuple(gate.weight(out.intensity, out.safety) for out in outputs)
    # The gate inverts an unsafe example to minus its intensity: its weight spans [-1, 1].
    rows += [ProbeRow("scalar", 0.0, 1.0, tuple(out.scalar for out in outputs), unmarked),
             ProbeRow("reward_intensity", 0.0, 1.0, tuple(out.intensity for out in outputs),
                      unmarked),
             ProbeRow("safety_score", 0.0, 1.0, tuple(out.safety for out in outputs), unmarked),
             ProbeRow("gate_weight", -1.0, 1.0, weights, unmarked)]
    return ProbeTable(prompt, tuple(responses), tuple(rows), shifts)


def largest_changes(manifold: RewardManifold, first: dict[str, float],
                    other: dict[str, float], count: int) -> tuple[tuple[str, float], ...]:
    """The ``count`` dimensions whose unit-scale value moved most from ``first`` to ``other``,
    largest first, with the signed move. Ranges differ ([-1, 1] against [0, 1]), so raw
    differences would favour the wider dimensions; a dimension that did not move is never one."""
    moves = [(d.name, d.unit(other[d.name]) - d.unit(first[d.name]))
             for d in manifold.dimensions]
    # A stable sort: on a tie the manifold's order decides, so the marks never flicker.
    ranked = sorted((move for move in moves if move[1] != 0), key=lambda move: -abs(move[1]))
    return tuple(ranked[:count])


def safety_band(gate: SafetyGate, safety: float) -> str:
    """Which part of the gate a safety score falls in: ``full``, ``scaled``, or what the gate
    does with an unsafe example (``skip``, ``downweight``, ``invert``)."""
    if safety >= gate.caution:
        return "full"
    if safety >= gate.block:
        return "scaled"
    return gate.unsafe.value


def _shift(manifold: RewardManifold, gate: SafetyGate, first: RewardOutput,
           other: RewardOutput, index: int, highlight: int) -> Shift:
    return Shift(
        response=index,
        largest=largest_changes(manifold, first.vector, other.vector, highlight),
        scalar=other.scalar - first.scalar,
        intensity=other.intensity - first.intensity,
        safety=other.safety - first.safety,
        weight=(gate.weight(other.intensity, other.safety)
                - gate.weight(first.intensity, first.safety)),
        band_before=safety_band(gate, first.safety),
        band_after=safety_band(gate, other.safety))


def describe(shift: Shift) -> str:
    """One line a person can read: what moved, and what it does to the example's weight."""
    moved = ", ".join(f"{name} {move:+.2f}" for name, move in shift.largest) or "nothing moved"
    band = (f"safety band {shift.band_before}" if shift.band_before == shift.band_after
            else f"safety band {shift.band_before} -> {shift.band_after}")
    return (f"response {shift.response + 1} vs 1: {moved} (unit scale); scalar "
            f"{shift.scalar:+.3f}, intensity {shift.intensity:+.3f}, safety "
            f"{shift.safety:+.3f} ({band}), gate weight {shift.weight:+.3f}")


# -- host against adapter -----------------------------------------------------------------------

@dataclass(frozen=True)
class DiffPart:
    operation: str
    """difflib's opcode: ``equal``, ``delete``, ``insert`` or ``replace``."""
    host: str
    adapter: str


@dataclass(frozen=True)
class Answer:
    text: str
    tokens: int
    reward: RewardOutput


@dataclass(frozen=True)
class Comparison:
    prompt: str
    host: Answer
    adapter: Answer
    diff: tuple[DiffPart, ...]

    @property
    def identical(self) -> bool:
        return self.host.text == self.adapter.text


def word_diff(host: str, adapter: str) -> tuple[DiffPart, ...]:
    """The two texts' difference word by word: a small model's answers differ in a word or two
    far more often than in whole lines, which a line diff would show as all changed."""
    before, after = host.split(), adapter.split()
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    return tuple(DiffPart(operation, " ".join(before[i1:i2]), " ".join(after[j1:j2]))
                 for operation, i1, i2, j1, j2 in matcher.get_opcodes())


def render_diff(parts: Sequence[DiffPart]) -> str:
    """``[-removed-]`` and ``{+added+}``, as ``git diff --word-diff`` writes them."""
    words = []
    for part in parts:
        if part.operation == "equal":
            words.append(part.host)
            continue
        if part.host:
            words.append(f"[-{part.host}-]")
        if part.adapter:
            words.append(f"{{+{part.adapter}+}}")
    return " ".join(words)


def trained_settings(container: Container, learner: str, digest: str) -> LoraSettings:
    """The LoRA shape ``digest`` was trained with; refused when the learner never trained it
    (only its own trained adapters can be compared)."""
    load_learner(container, learner)
    return adapter_shape(container, learner, digest)


def load_adapter(container: Container, learner: str, digest: str,
                 host: OrganelleHost | None = None) -> OrganelleHost:
    """A host holding the learner's adapter ``digest`` as ``SERVING``, its file checked against
    the digest; ``host`` is reused when given (it must have the adapter's LoRA shape)."""
    settings = trained_settings(container, learner, digest)
    data = adapter_bytes(container, learner, digest)
    host = host or OrganelleHost(settings)
    if (host.settings.rank, host.settings.alpha) != (settings.rank, settings.alpha):
        raise ValueError(f"the host carries rank {host.settings.rank} / alpha "
                         f"{host.settings.alpha} adapters, but {digest} has rank "
                         f"{settings.rank} / alpha {settings.alpha}")
    host.load(SERVING, data, digest)
    return host


def compare(host: OrganelleHost, reward: RewardModel, prompts: Sequence[str], *,
            adapter: str = SERVING, max_new_tokens: int, seed: int = 0) -> list[Comparison]:
    """Each prompt answered greedily by the frozen host and by ``adapter``, both scored."""
    if not prompts:
        return []
    by_host = host.sample(None, prompts, max_new_tokens=max_new_tokens, temperature=0.0,
                          seed=seed)
    by_adapter = host.sample(adapter, prompts, max_new_tokens=max_new_tokens, temperature=0.0,
                             seed=seed)
    scored = reward.score_many([(p, s.text) for p, s in zip(prompts, by_host, strict=True)]
                               + [(p, s.text) for p, s in zip(prompts, by_adapter, strict=True)])
    count = len(prompts)
    return [Comparison(prompt, Answer(before.text, before.tokens, scored[i]),
                       Answer(after.text, after.tokens, scored[count + i]),
                       word_diff(before.text, after.text))
            for i, (prompt, before, after) in enumerate(zip(prompts, by_host, by_adapter,
                                                            strict=True))]


# -- the manifold, in two dimensions ------------------------------------------------------------

@dataclass(frozen=True)
class EvalItem:
    prompt: str
    response: str
    category: str


@dataclass(frozen=True)
class Panel:
    title: str
    points: Any
    """(n, 2) array: each item's place on the two principal axes."""
    categories: tuple[str, ...]
    explained: tuple[float, float]
    """Share of the panel's own variance along each axis."""
    borrowed_axes: bool = False
    """Drawn on another panel's principal axes rather than its own."""


def pca(vectors: Any) -> tuple[Any, tuple[float, float]]:
    """The rows of ``vectors`` on their first two principal axes, and the share of the total
    variance each explains (0 when there is no variance to explain)."""
    points, _, _, explained = _principal(vectors)
    return points, explained


def _principal(vectors: Any) -> tuple[Any, Any, Any, tuple[float, float]]:
    """points, mean, axes (2, d) and the explained shares of centred ``vectors``."""
    import numpy as np

    data = np.asarray(vectors, dtype=float)
    if data.ndim != 2 or len(data) == 0:
        raise ValueError("pca needs a non-empty (n, d) array of vectors")
    mean = data.mean(axis=0)
    centred = data - mean
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    # SVD's signs are arbitrary: the largest loading of each axis is made positive, so the same
    # data always draws the same picture.
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    axes = np.vstack([axes, np.zeros((2, data.shape[1]))])[:2]  # fewer than 2 axes: pad
    variance = singular ** 2
    total = float(variance.sum())
    shares = [float(v) / total if total > 0 else 0.0 for v in variance[:2]] + [0.0, 0.0]
    return centred @ axes.T, mean, axes, (shares[0], shares[1])


def project(vectors: Any, mean: Any, axes: Any) -> tuple[Any, tuple[float, float]]:
    """``vectors`` on axes fitted elsewhere, and the share of their own variance along each."""
    import numpy as np

    data = np.asarray(vectors, dtype=float)
    points = (data - mean) @ axes.T
    total = float(((data - data.mean(axis=0)) ** 2).sum())
    along = ((points - points.mean(axis=0)) ** 2).sum(axis=0)
    return points, (float(along[0]) / total if total > 0 else 0.0,
                    float(along[1]) / total if total > 0 else 0.0)


def unit_vectors(reward: RewardModel, items: Sequence[EvalItem]) -> list[list[float]]:
    """Each item's reward vector on the unit scale: dimensions of different ranges weigh the
    same in the projection."""
    outputs = reward.score_many([(item.prompt, item.response) for item in items])
    return [[d.unit(out.vector[d.name]) for d in reward.manifold.dimensions] for out in outputs]


def manifold_panels(reward: RewardModel, items: Sequence[EvalItem], title: str,
                    adapter_items: Sequence[EvalItem] = (),
                    adapter_title: str = "") -> list[Panel]:
    """The evaluation set's reward vectors on their two principal axes; the adapter's answers
    (if any) on the same axes, so that where they moved shows as a shift."""
    points, mean, axes, explained = _principal(unit_vectors(reward, items))
    panels = [Panel(title, points, tuple(item.category for item in items), explained)]
    if adapter_items:
        moved, shares = project(unit_vectors(reward, adapter_items), mean, axes)
        panels.append(Panel(adapter_title, moved,
                            tuple(item.category for item in adapter_items), shares,
                            borrowed_axes=True))
    return panels


def plot_manifold(panels: Sequence[Panel], out: Path, heading: str) -> Path:
    """The panels side by side in one PNG at ``out``, points coloured by category."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    categories = sorted({c for panel in panels for c in panel.categories})
    figure = Figure(figsize=(6.2 * len(panels), 5.4))
    FigureCanvasAgg(figure)  # headless: no display, no global pyplot state
    colours = _colours(len(categories))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for axis, panel in zip(axes, panels, strict=True):
        for category, colour in zip(categories, colours, strict=True):
            rows = [i for i, c in enumerate(panel.categories) if c == category]
            if rows:
                axis.scatter(panel.points[rows, 0], panel.points[rows, 1], color=colour,
                             label=category, s=28, alpha=0.85)
        axis.set_title(f"{panel.title}\n{variance_note(panel)}", fontsize="medium")
        axis.set_xlabel("PC1")
        axis.set_ylabel("PC2")
        axis.grid(alpha=0.3)
    if len(panels) > 1:  # the same axes: the same limits, so a shift reads as a shift
        _share_limits(axes)
    axes[0].legend(fontsize="small", loc="best")
    figure.suptitle(heading)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110, format="png")
    return out


def variance_note(panel: Panel) -> str:
    pc1, pc2 = panel.explained
    whose = ("of its variance, on the first panel's axes" if panel.borrowed_axes
             else "of the variance")
    return f"PC1 {pc1:.1%}, PC2 {pc2:.1%} {whose}"


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(count)]


def _share_limits(axes: Sequence[Any]) -> None:
    lows = [min(axis.get_xlim()[0] for axis in axes), min(axis.get_ylim()[0] for axis in axes)]
    highs = [max(axis.get_xlim()[1] for axis in axes), max(axis.get_ylim()[1] for axis in axes)]
    for axis in axes:
        axis.set_xlim(lows[0], highs[0])
        axis.set_ylim(lows[1], highs[1])


def spread(items: Sequence[EvalItem], limit: int) -> list[EvalItem]:
    """At most ``limit`` items, taken from each category in turn so that every category
    shows; each category's own order is kept."""
    by_category: dict[str, list[EvalItem]] = defaultdict(list)
    for item in items:
        by_category[item.category].append(item)
    queues = [list(reversed(group)) for group in by_category.values()]
    chosen: list[EvalItem] = []
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return chosen


def ledger_items(container: Container, training_set: str, limit: int) -> list[EvalItem]:
    """The training set's labelled samples as recorded: (prompt, response, category)."""
    data = training_data(container, training_set)
    return spread([EvalItem(s.prompt, s.response, s.category or "uncategorised")
                   for s in data.samples], limit)


def answered(host: OrganelleHost, adapter: str | None, prompts: Sequence[EvalItem], *,
             max_new_tokens: int, max_prompt_chars: int, seed: int = 0) -> list[EvalItem]:
    """Each item's prompt answered greedily by ``adapter`` (None: the frozen host). The host
    reads the prompt cut as training cut it; the item keeps it whole, for the reward model."""
    samples = []
    # Batches of a few: a batch pads every row to its longest prompt.
    for start in range(0, len(prompts), ANSWER_BATCH):
        chunk = prompts[start:start + ANSWER_BATCH]
        samples += host.sample(adapter, [cut(item.prompt, max_prompt_chars) for item in chunk],
                               max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
    return [EvalItem(item.prompt, sample.text, item.category)
            for item, sample in zip(prompts, samples, strict=True)]
