"""Command handlers for knowledge-graph enrichments (seed 001): load the graph, let it decide,
move the KARMA agents' karma as the domain prescribes; the unit of work saves."""

from __future__ import annotations

from datetime import datetime

from domain.base import Provenance, event_id
from domain.graph import (
    KnowledgeGraph,
    ModelCalled,
    PlanProposed,
    Triple,
    TripleProposed,
)
from domain.graph_karma import SCOPE, KarmaMove, for_merge, for_rejection
from domain.karma import KarmaAccount
from domain.model_calls import prompt_digest
from handlers import commands as c
from handlers.unit_of_work import CommandContext, UnitOfWork, require_admin

ACTION = "enrich knowledge graphs"


def request_enrichment(
    svc: CommandContext, cmd: c.RequestEnrichment, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, ACTION)
    at, provenance = svc.clock(), svc.provenance(cmd)
    graph = unit.get_or_create(KnowledgeGraph, cmd.graph_id, lambda: KnowledgeGraph.create(
        cmd.graph_id, at=at, provenance=provenance))
    graph.request(cmd.enrichment_id, goal=cmd.goal, instructions=cmd.instructions,
                  model=cmd.model, documents=tuple(cmd.documents), nodes=tuple(cmd.nodes),
                  edges=tuple(cmd.edges), settings=cmd.settings, at=at, provenance=provenance)
    return _ids(cmd)


def record_graph_model_call(
    svc: CommandContext, cmd: c.RecordGraphModelCall, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    _graph(unit, cmd, actor).record(
        ModelCalled, enrichment_id=cmd.enrichment_id, agent=cmd.agent, adapter=cmd.adapter,
        model=cmd.model, prompt_digest=prompt_digest(cmd.prompt), prompt=cmd.prompt,
        response=cmd.response, prompt_tokens=cmd.prompt_tokens,
        completion_tokens=cmd.completion_tokens, latency_ms=cmd.latency_ms,
        parsed_successfully=cmd.parsed_successfully, error=cmd.error, at=svc.clock(),
        provenance=svc.provenance(cmd))
    return _ids(cmd)


def record_plan(
    svc: CommandContext, cmd: c.RecordPlan, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    _graph(unit, cmd, actor).record(
        PlanProposed, enrichment_id=cmd.enrichment_id, objective=cmd.objective,
        tasks=tuple(cmd.tasks), success_metrics=tuple(cmd.success_metrics), parsed=cmd.parsed,
        at=svc.clock(), provenance=svc.provenance(cmd))
    return _ids(cmd)


def propose_triple(
    svc: CommandContext, cmd: c.ProposeTriple, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    _graph(unit, cmd, actor).record(
        TripleProposed, enrichment_id=cmd.enrichment_id, candidate_id=cmd.candidate_id,
        document_index=cmd.document_index, subject=cmd.subject, predicate=cmd.predicate,
        object=cmd.object, confidence=cmd.confidence, justification=cmd.justification,
        at=svc.clock(), provenance=svc.provenance(cmd))
    return {**_ids(cmd), "candidate_id": cmd.candidate_id}


def reject_triple(
    svc: CommandContext, cmd: c.RejectTriple, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    graph = _graph(unit, cmd, actor)
    at, provenance = svc.clock(), svc.provenance(cmd)
    graph.reject(cmd.enrichment_id, cmd.candidate_id, candidate=cmd.candidate,
                 reason=cmd.reason, scores=cmd.scores, at=at, provenance=provenance)
    if cmd.extractor_id is not None:
        _move_karma(unit, for_rejection(
            svc.policy.knowledge, extractor_id=cmd.extractor_id, candidate_id=cmd.candidate_id,
            reason=cmd.reason, rejected_event=event_id(graph.id, graph.version)), at, provenance)
    return {**_ids(cmd), "candidate_id": cmd.candidate_id}


def decide_triple(
    svc: CommandContext, cmd: c.DecideTriple, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    """The graph decides; the answer names the candidate's edge and, when it lost a
    contradiction, the edge that kept its place (what the enrichment's response reports)."""
    graph = _graph(unit, cmd, actor)
    at, provenance = svc.clock(), svc.provenance(cmd)
    triple = Triple(subject=cmd.subject, predicate=cmd.predicate, object=cmd.object,
                    confidence=cmd.confidence, justification=cmd.justification)
    merge = graph.merge_candidate(cmd.enrichment_id, cmd.candidate_id, triple=triple,
                                  scores=cmd.scores, score=cmd.score,
                                  validator=cmd.validator_id, at=at, provenance=provenance)
    _move_karma(unit, for_merge(svc.policy.knowledge, merge, extractor_id=cmd.extractor_id,
                                validator_id=cmd.validator_id), at, provenance)
    ids = {**_ids(cmd), "candidate_id": cmd.candidate_id, "edge_id": merge.edge.id}
    if merge.kept_edge_id is not None:
        ids["kept_edge_id"] = merge.kept_edge_id
    return ids


def complete_enrichment(
    svc: CommandContext, cmd: c.CompleteEnrichment, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    _graph(unit, cmd, actor).complete(cmd.enrichment_id, at=svc.clock(),
                                      provenance=svc.provenance(cmd))
    return _ids(cmd)


def _graph(unit: UnitOfWork, cmd: c.GraphCommand, actor: c.Principal) -> KnowledgeGraph:
    require_admin(actor, ACTION)
    return unit.get(KnowledgeGraph, cmd.graph_id)


def _ids(cmd: c.GraphCommand) -> dict[str, str]:
    return {"graph_id": cmd.graph_id, "enrichment_id": cmd.enrichment_id}


def _move_karma(unit: UnitOfWork, moves: list[KarmaMove], at: datetime,
                provenance: Provenance) -> None:
    """Each entry is caused by the graph's event it answers to, not by the command."""
    for move in moves:
        account = unit.get(KarmaAccount, move.agent_id)
        entry = {"reason": move.reason, "task_id": None, "scope": SCOPE, "at": at,
                 "provenance": provenance.model_copy(update={"causation_id": move.cause})}
        if move.minted:
            account.mint(move.amount, **entry)
        else:
            account.burn_at_most(move.amount, **entry)
