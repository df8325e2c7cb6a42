"""The KARMA orchestrator: plan, extract, validate, merge — each step saved to the ledger as
it happens, so a graph's history says what every agent was asked, answered and decided.

Validation is sequential, documents in order and candidates in the order proposed, so the
same answers always give the same graph. A model call that fails or times out is reported
on the candidate it concerned and the run goes on; an answer that cannot be parsed is a
rejected candidate with that reason."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adapters.llm import Completion, LanguageModel, ModelCallError
from domain.base import Provenance, event_id
from domain.graph import (
    ConflictDetected,
    GraphEdge,
    GraphNode,
    KnowledgeGraph,
    ModelCalled,
    PlanProposed,
    TripleProposed,
    edge_id,
    node_id_for,
)
from domain.karma import KarmaAccount, quantize
from domain.model_calls import prompt_digest
from domain.triage import opposite
from handlers import commands as c
from handlers.service import LedgerService
from handlers.unit_of_work import UnitOfWork, require_admin
from knowledge import prompts
from knowledge.export import graph_of_aggregate
from knowledge.parsing import find_json, unit_interval
from knowledge.requests import EnrichRequest

AGENTS = {"planner": "kg-planner", "extractor": "kg-extractor", "validator": "kg-validator"}
SCOPE = ("kg",)


@dataclass
class AgentLog:
    agent: str
    prompt: str
    response: str
    timestamp_ms: int
    parsed_successfully: bool


@dataclass(frozen=True)
class Call:
    started: float
    completion: Completion | None
    error: str

    @property
    def answer(self) -> str:
        return self.completion.text if self.completion is not None else ""


@dataclass
class Outcome:
    graph_id: str
    enrichment_id: str
    plan: dict[str, Any] = field(default_factory=dict)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    new_nodes: list[dict[str, Any]] = field(default_factory=list)
    new_edges: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    logs: list[AgentLog] = field(default_factory=list)
    position: int = 0


class Enrichment:
    def __init__(self, service: LedgerService, model: LanguageModel, request: EnrichRequest,
                 actor: c.Principal) -> None:
        require_admin(actor, "enrich knowledge graphs")
        self.svc, self.model, self.request = service, model, request
        self.graph_id = request.graph_id or f"kg-{service.make_id()[:12]}"
        self.outcome = Outcome(self.graph_id, f"enr-{service.make_id()[:12]}")
        self._cause = f"command:EnrichGraph:{self.outcome.enrichment_id}"

    # -- the steps ---------------------------------------------------------------------------

    def run(self) -> Outcome:
        self._register_agents()
        self._begin()
        self._plan()
        candidates = [c for index, document in enumerate(self.request.documents)
                      for c in self._extract(index, document)]
        for candidate in candidates:
            self._validate(candidate)
        self._save(lambda graph, unit: graph.complete(
            self.outcome.enrichment_id, **self._when()))
        return self.outcome

    def response(self) -> dict[str, Any]:
        """Seed 001's response body, with the graph's id, the enrichment's and the ledger
        position of its last event (to read the graph projection as of then)."""
        graph = self._graph()
        o = self.outcome
        return {
            "graph_id": o.graph_id, "enrichment_id": o.enrichment_id, "position": o.position,
            "plan": o.plan,
            "updated_graph": {k: v for k, v in graph_of_aggregate(
                o.graph_id, graph.nodes, graph.edges).items() if k in ("nodes", "edges")},
            "new_nodes": o.new_nodes, "new_edges": o.new_edges,
            "accepted_candidates": o.accepted, "rejected_candidates": o.rejected,
            "conflicts": o.conflicts,
            "agent_logs": [vars(log) for log in o.logs],
        }

    def _register_agents(self) -> None:
        self.svc.execute_batch([c.EnsureAgent(agent_id=agent_id, role=role, skills=["kg"])
                                for role, agent_id in AGENTS.items()])

    def _begin(self) -> None:
        r = self.request

        def request(graph: KnowledgeGraph, unit: UnitOfWork) -> None:
            graph.request(self.outcome.enrichment_id, goal=r.goal, instructions=r.instructions,
                          model=r.model, documents=tuple(r.documents),
                          nodes=r.graph.domain_nodes(), edges=r.graph.domain_edges(),
                          settings={"max_candidates_per_document": r.max_candidates_per_document,
                                    "scoring": r.scoring.model_dump(), "timeout_s": r.timeout_s},
                          **self._when())

        self._save(request, create=True)

    def _plan(self) -> None:
        prompt = prompts.PLAN.format(goal=self.request.goal,
                                     graph_summary=self._graph_summary(),
                                     instructions=self.request.instructions or "none")
        call = self._ask(prompt, max_tokens=160)
        plan = _as_dict(_read(call.answer, "{"))
        parsed = bool(plan and plan.get("objective"))
        self._log("planner", prompt, call, parsed)
        self.outcome.plan = {
            "objective": str(plan.get("objective")) if parsed else self.request.goal,
            "tasks": _strings(plan.get("tasks")) if parsed else [
                "extract candidate triples from each document",
                "validate each candidate against its document and the graph"],
            "success_metrics": _strings(plan.get("success_metrics")) if parsed else [
                "accepted triples are stated in their documents"],
        }
        self._save(lambda graph, unit: graph.record(
            PlanProposed, enrichment_id=self.outcome.enrichment_id,
            objective=self.outcome.plan["objective"][:2000],
            tasks=tuple(self.outcome.plan["tasks"]),
            success_metrics=tuple(self.outcome.plan["success_metrics"]),
            parsed=parsed, **self._when()))

    def _extract(self, index: int, document: str) -> list[dict[str, Any]]:
        limit = self.request.max_candidates_per_document
        prompt = prompts.EXTRACT.format(limit=limit, document=document)
        call = self._ask(prompt, max_tokens=60 * limit)
        found = _triples(_read(call.answer, "["))
        self._log("extractor", prompt, call, found is not None)
        if found is None:
            reason = (f"extractor call failed: {call.error}" if call.error
                      else "Extractor agent returned an unparsable response")
            candidate_id = f"{self.outcome.enrichment_id}.d{index}.x"
            self._save(lambda graph, unit: self._reject(
                graph, unit, candidate_id, {"document_index": index}, reason, {},
                blame_extractor=False))
            return []
        candidates = []
        for number, triple in enumerate(found[:limit]):
            candidate = {**triple, "candidate_id": f"{self.outcome.enrichment_id}.d{index}"
                                                   f".c{number}", "document_index": index}
            candidates.append(candidate)
        if candidates:
            self._save(lambda graph, unit: [graph.record(
                TripleProposed, enrichment_id=self.outcome.enrichment_id, **cand,
                **self._when()) for cand in candidates])
        return candidates

    def _validate(self, candidate: dict[str, Any]) -> None:
        graph_now = self._graph()
        prompt = prompts.VALIDATE.format(
            document=self.request.documents[candidate["document_index"]],
            graph_summary=self._graph_summary(graph_now), goal=self.request.goal,
            subject=candidate["subject"], predicate=candidate["predicate"],
            object=candidate["object"])
        call = self._ask(prompt, max_tokens=80)
        verdict = _as_dict(_read(call.answer, "{"))
        scores = _scores(verdict)
        self._log("validator", prompt, call, scores is not None)
        public = {k: candidate[k] for k in ("subject", "predicate", "object", "confidence",
                                            "justification")}
        cid = candidate["candidate_id"]
        if call.error:
            reason = f"validation error: {call.error}"
        elif scores is None:
            reason = "Validator agent returned an unparsable response"
        elif verdict.get("valid") is False:
            reason = f"the validator found it invalid: {str(verdict.get('reason', ''))[:500]}"
        else:
            reason = self.request.scoring.verdict(**scores)
        if reason is not None:
            self._save(lambda graph, unit: self._reject(graph, unit, cid, public, reason,
                                                        scores or {}))
            return
        self._save(lambda graph, unit: self._accept(graph, unit, candidate, public, scores))

    # -- deciding ----------------------------------------------------------------------------

    def _accept(self, graph: KnowledgeGraph, unit: UnitOfWork, candidate: dict[str, Any],
                public: dict[str, Any], scores: dict[str, float]) -> None:
        score = self.request.scoring.score(**scores)
        new_nodes: list[GraphNode] = []
        ends = []
        for label in (candidate["subject"], candidate["object"]):
            found = graph.node_for(label) or next(
                (n.id for n in new_nodes if n.label.lower() == label.strip().lower()), None)
            if found is None:
                node = GraphNode(id=node_id_for(label, set(graph.nodes) | {
                    n.id for n in new_nodes}), label=label.strip(), properties={
                    "source": self.outcome.enrichment_id})
                new_nodes.append(node)
                found = node.id
            ends.append(found)
        edge = GraphEdge(id=edge_id(ends[0], candidate["predicate"], ends[1]), source=ends[0],
                         target=ends[1], relation=candidate["predicate"],
                         properties={"confidence": candidate["confidence"],
                                     "justification": candidate["justification"],
                                     "score": score, "enrichment": self.outcome.enrichment_id})
        if edge.id in graph.edges and graph.edges[edge.id]["status"] == "active":
            self._reject(graph, unit, candidate["candidate_id"], public,
                         f"the graph already holds this relation as edge {edge.id}", scores,
                         blame_extractor=False)
            return
        rivals = [e for e in graph.active_edges_between(ends[0], ends[1])
                  if opposite(e["relation"], edge.relation)]
        when = self._when()
        for rival in rivals:
            graph.record(ConflictDetected, enrichment_id=self.outcome.enrichment_id,
                         candidate_id=candidate["candidate_id"], edge_id=rival["id"],
                         candidate_relation=edge.relation, edge_relation=rival["relation"],
                         **when)
        if rivals and max(r["score"] for r in rivals) >= score:
            winner = max(rivals, key=lambda r: r["score"])
            if edge.id not in graph.edges:  # a relation superseded before stays as it was
                graph.supersede(self.outcome.enrichment_id, candidate["candidate_id"],
                                winner_edge_id=winner["id"], loser=edge, loser_score=score,
                                loser_validator=AGENTS["validator"],
                                reason=f"contradicts edge {winner['id']} ({winner['relation']})"
                                       f", which scores {winner['score']:.3f} >= {score:.3f}",
                                **when)
            self.outcome.conflicts.append({"candidate_id": candidate["candidate_id"],
                                           "kept": winner["id"], "superseded": edge.id})
            self._reject(graph, unit, candidate["candidate_id"], public,
                         f"contradicts edge {winner['id']} of the graph, which scores higher",
                         scores)
            return
        graph.accept(self.outcome.enrichment_id, candidate["candidate_id"], edge=edge,
                     new_nodes=tuple(new_nodes), scores=scores, score=score,
                     validator=AGENTS["validator"], **when)
        accepted_event = event_id(graph.id, graph.version)
        overturned = []
        for rival in rivals:
            loser = GraphEdge(**{k: rival[k] for k in ("id", "source", "target", "relation",
                                                       "properties")})
            graph.supersede(self.outcome.enrichment_id, candidate["candidate_id"],
                            winner_edge_id=edge.id, loser=loser, loser_score=rival["score"],
                            loser_validator=rival.get("validator"),
                            reason=f"contradicted by {edge.relation} scoring {score:.3f} > "
                                   f"{rival['score']:.3f}", **when)
            self.outcome.conflicts.append({"candidate_id": candidate["candidate_id"],
                                           "kept": edge.id, "superseded": rival["id"]})
            if rival.get("validator"):
                overturned.append((rival, event_id(graph.id, graph.version)))
        knowledge = self.svc.policy.knowledge
        self._karma(unit, AGENTS["extractor"], "mint",
                    knowledge.triple_accepted * Decimal(str(score)),
                    f"triple {candidate['candidate_id']} accepted as edge {edge.id}",
                    accepted_event)
        self._karma(unit, AGENTS["validator"], "mint", knowledge.validation_held,
                    f"accepted triple {candidate['candidate_id']}", accepted_event)
        for rival, overturned_event in overturned:
            self._karma(unit, rival["validator"], "burn", knowledge.validation_overturned,
                        f"its acceptance of edge {rival['id']} was overturned by {edge.id}",
                        overturned_event)
        self.outcome.accepted.append({**public, "candidate_id": candidate["candidate_id"],
                                      "edge_id": edge.id, "score": score, "scores": scores})
        self.outcome.new_nodes.extend(n.model_dump() for n in new_nodes)
        self.outcome.new_edges.append(edge.model_dump())

    def _reject(self, graph: KnowledgeGraph, unit: UnitOfWork, candidate_id: str,
                candidate: dict[str, Any], reason: str, scores: dict[str, float],
                blame_extractor: bool = True) -> None:
        graph.reject(self.outcome.enrichment_id, candidate_id, candidate=candidate,
                     reason=reason, scores=scores, **self._when())
        if blame_extractor:
            self._karma(unit, AGENTS["extractor"], "burn",
                        self.svc.policy.knowledge.triple_rejected,
                        f"triple {candidate_id} rejected: {reason[:200]}",
                        event_id(graph.id, graph.version))
        self.outcome.rejected.append({"candidate": candidate, "candidate_id": candidate_id,
                                      "reason": reason})

    def _karma(self, unit: UnitOfWork, agent_id: str, kind: str, amount: Decimal,
               reason: str, cause: str) -> None:
        amount = quantize(amount)
        if amount <= 0:
            return
        account = unit.get(KarmaAccount, agent_id)
        entry = {"reason": reason, "task_id": None, "scope": SCOPE, "at": self.svc.clock(),
                 "provenance": self._provenance().model_copy(update={"causation_id": cause})}
        if kind == "burn":
            account.burn_at_most(amount, **entry)
        else:
            account.mint(amount, **entry)

    # -- plumbing ----------------------------------------------------------------------------

    def _ask(self, prompt: str, max_tokens: int) -> Call:
        started = time.time()
        try:
            completion = self.model.complete(prompt, max_tokens=max_tokens,
                                             timeout_s=self.request.timeout_s)
        except ModelCallError as error:
            return Call(started, None, str(error)[:500])
        return Call(started, completion, "")

    def _log(self, agent: str, prompt: str, call: Call, parsed: bool) -> None:
        completion, answer, error = call.completion, call.answer, call.error
        self.outcome.logs.append(AgentLog(agent, prompt, answer or error,
                                          int(call.started * 1000), parsed))
        self._save(lambda graph, unit: graph.record(
            ModelCalled, enrichment_id=self.outcome.enrichment_id, agent=agent,
            adapter=completion.adapter if completion else self.model.adapter,
            model=completion.model if completion else self.model.model,
            prompt_digest=prompt_digest(prompt), prompt=prompt, response=answer,
            prompt_tokens=completion.prompt_tokens if completion else 0,
            completion_tokens=completion.completion_tokens if completion else 0,
            latency_ms=completion.latency_ms if completion else 0,
            parsed_successfully=parsed, error=error, **self._when()))

    def _provenance(self) -> Provenance:
        return Provenance(run_id=None, correlation_id=self.outcome.enrichment_id,
                          causation_id=self._cause)

    def _when(self) -> dict[str, Any]:
        return {"at": self.svc.clock(), "provenance": self._provenance()}

    def _graph(self) -> KnowledgeGraph:
        return self.svc.ledger.repository.get(KnowledgeGraph.id_for(self.graph_id))

    def _graph_summary(self, graph: KnowledgeGraph | None = None) -> str:
        if graph is None:
            nodes = [n.label for n in self.request.graph.nodes]
            edges = len(self.request.graph.edges)
        else:
            nodes = [n["label"] for n in graph.nodes.values()]
            edges = sum(e["status"] == "active" for e in graph.edges.values())
        shown = ", ".join(nodes[:20]) + (", ..." if len(nodes) > 20 else "")
        return f"{len(nodes)} nodes ({shown}), {edges} edges"

    def _save(self, step: Any, create: bool = False) -> None:
        unit = UnitOfWork(self.svc.ledger)
        if create and not unit.exists(KnowledgeGraph, self.graph_id):
            graph = KnowledgeGraph.create(self.graph_id, **self._when())
            unit.add(graph)
        else:
            graph = unit.get(KnowledgeGraph, self.graph_id)
        step(graph, unit)
        result = unit.commit()
        self.outcome.position = max(self.outcome.position, result.position)
        self._cause = result.event_ids[-1] if result.event_ids else self._cause


def _read(answer: str, opener: str) -> Any:
    """The prompt ends where the JSON starts, so a base model's answer lacks the opener; an
    instruction-tuned model's answer has it."""
    if not answer:
        return None
    found = find_json(opener + answer, opener)
    return found if found is not None else find_json(answer, opener)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value] if value else []
    return [str(item)[:500] for item in items][:20]


def _triples(value: Any) -> list[dict[str, Any]] | None:
    """The well-formed triples of an extractor's answer; None if it held no list at all."""
    while isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list):
        return None
    triples = []
    for item in value:
        if not isinstance(item, dict):
            continue
        parts = [str(item.get(k, "")).strip() for k in ("subject", "predicate", "object")]
        if not all(parts) or any(len(p) > 256 for p in parts):
            continue
        confidence = unit_interval(item.get("confidence"))
        triples.append({"subject": parts[0], "predicate": parts[1], "object": parts[2],
                        "confidence": 0.5 if confidence is None else confidence,
                        "justification": str(item.get("justification", ""))[:1000]})
    return triples


def _scores(verdict: dict[str, Any]) -> dict[str, float] | None:
    values = {k: unit_interval(verdict.get(k)) for k in ("confidence", "clarity", "relevance")}
    if any(v is None for v in values.values()):
        return None
    return {k: float(v) for k, v in values.items()}  # type: ignore[arg-type]
