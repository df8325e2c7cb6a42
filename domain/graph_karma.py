"""What the KARMA graph agents earn and lose for the graph's decisions, by the policy's
knowledge rule. Pure: each move names the event it answers to, which becomes the karma
entry's causation id, so `karma why` walks from the entry to the decision."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.economy import KnowledgeRule
from domain.graph import Merge
from domain.karma import quantize

SCOPE = ("kg",)
"""The scope of every karma entry of the graph agents."""


@dataclass(frozen=True)
class KarmaMove:
    agent_id: str
    amount: Decimal
    """Positive and quantized; a burn takes at most what the account holds."""
    minted: bool
    reason: str
    cause: str


def for_rejection(rule: KnowledgeRule, *, extractor_id: str, candidate_id: str, reason: str,
                  rejected_event: str) -> list[KarmaMove]:
    """The Extractor pays for a triple the Validator or the graph turned down."""
    return _worth_moving([KarmaMove(extractor_id, rule.triple_rejected, False,
                                    f"triple {candidate_id} rejected: {reason[:200]}",
                                    rejected_event)])


def for_merge(rule: KnowledgeRule, merge: Merge, *, extractor_id: str,
              validator_id: str) -> list[KarmaMove]:
    """An accepted triple pays its Extractor (by its score) and its Validator, and fines the
    validator of each edge it overturned; a rejected one fines the Extractor if to blame."""
    if not merge.accepted:
        if not merge.extractor_to_blame:
            return []
        return for_rejection(rule, extractor_id=extractor_id, candidate_id=merge.candidate_id,
                             reason=merge.reason, rejected_event=merge.event_id)
    edge_id = merge.edge.id
    return _worth_moving([
        KarmaMove(extractor_id, rule.triple_accepted * Decimal(str(merge.score)), True,
                  f"triple {merge.candidate_id} accepted as edge {edge_id}", merge.event_id),
        KarmaMove(validator_id, rule.validation_held, True,
                  f"accepted triple {merge.candidate_id}", merge.event_id),
        *(KarmaMove(loser.validator, rule.validation_overturned, False,
                    f"its acceptance of edge {loser.edge_id} was overturned by {edge_id}",
                    loser.event_id) for loser in merge.overturned),
    ])


def _worth_moving(moves: list[KarmaMove]) -> list[KarmaMove]:
    """Amounts at the ledger's precision; a rule set to zero moves nothing."""
    quantized = [KarmaMove(m.agent_id, quantize(m.amount), m.minted, m.reason, m.cause)
                 for m in moves]
    return [move for move in quantized if move.amount > 0]
