"""SQL over karma entries, generated from the domain's table of entry effects
(``domain.karma.ENTRY_EFFECTS``), so that a new kind of entry is declared once and every view
and query that sums entries follows it.

A statement names an entry's kind either by the stored event's topic (views folding staged
events) or by the kind itself (queries over ``karma_entries``): ``TOPICS`` and ``KINDS`` map
each kind to that label.
"""

from __future__ import annotations

from collections.abc import Mapping

from eventsourcing.utils import get_topic

from domain.karma import ENTRY_EFFECTS, ENTRY_KIND_OF, EntryKind

Labels = Mapping[EntryKind, str]
KINDS: Labels = {kind: kind.value for kind in EntryKind}
TOPICS: Labels = {kind: get_topic(cls) for cls, kind in ENTRY_KIND_OF.items()}


def _quoted(label: str) -> str:
    if "'" in label:
        raise ValueError(f"label {label!r} cannot be quoted as a plain literal")
    return f"'{label}'"


def labels_in(labels: Labels, kinds: list[EntryKind] | None = None) -> str:
    """``('a', 'b', ...)``: the labels of ``kinds`` (all kinds by default), for ``IN``."""
    return "(" + ", ".join(_quoted(labels[k]) for k in (kinds or list(EntryKind))) + ")"


def signed_amount(effect: str, labels: Labels, key: str, amount: str = "amount",
                  otherwise: str | None = None) -> str:
    """``CASE key WHEN <label> THEN ±amount ... END``: the amount of each entry as it moves
    ``effect`` (available, escrow, scoped, earns); kinds that leave it alone give
    ``otherwise`` (NULL, which sums skip, when None)."""
    whens = " ".join(
        f"WHEN {_quoted(labels[kind])} THEN {'' if sign > 0 else '-'}{amount}"
        for kind, item in ENTRY_EFFECTS.items() if (sign := getattr(item, effect)))
    return f"CASE {key} {whens}" + (f" ELSE {otherwise}" if otherwise else "") + " END"


def kinds_adding_to(total: str) -> list[EntryKind]:
    """The kinds whose amount adds to the running ``total`` (minted, burned, ...)."""
    return [kind for kind, item in ENTRY_EFFECTS.items() if item.total == total]


def kinds_moving(effect: str) -> list[EntryKind]:
    return [kind for kind, item in ENTRY_EFFECTS.items() if getattr(item, effect)]


def kind_of(key: str) -> str:
    """``CASE key WHEN <topic> THEN <kind> ... END``: an entry's kind from its event's topic."""
    whens = " ".join(f"WHEN {_quoted(TOPICS[kind])} THEN {_quoted(kind.value)}"
                     for kind in EntryKind)
    return f"CASE {key} {whens} END"
