"""The KARMA orchestrator: plan, extract, validate, merge — each step saved to the ledger as
it happens, so a graph's history says what every agent was asked, answered and decided.
Every step is a command run by the ledger service (handlers.knowledge_handlers); the graph
itself decides what a validated candidate does to it (KnowledgeGraph.merge_candidate).

Validation is sequential, documents in order and candidates in the order proposed, so the
same answers always give the same graph. A model call that fails or times out is reported
on the candidate it concerned and the run goes on (a failed call is first retried, as
``retries`` says, each attempt in the agent log); an answer that cannot be parsed is a
rejected candidate with that reason. When the Extractor's answer holds no triple, the triples
its document's sentences state are proposed instead (``knowledge.statements``), marked as such
by their ids (``.p<n>``). The Validator refuses what the document never names; a host that
gives likelihoods judges the rest by how much likelier "Yes" is than "No"."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from adapters.likelihoods import describe, encode, likelihoods_of
from adapters.llm import Completion, LanguageModel, Likelihood, ModelCallError
from domain.graph import ConflictResolved, KnowledgeGraph, TripleAccepted, TripleRejected
from domain.triage import Scoring
from handlers import commands as c
from handlers.service import LedgerService
from handlers.unit_of_work import Cause, CommandResult, require_admin
from knowledge import prompts, statements
from knowledge.export import graph_of_aggregate
from knowledge.parsing import as_dict, read_answer, strings, triples, verdict_scores
from knowledge.requests import EnrichRequest

AGENTS = {"planner": "kg-planner", "extractor": "kg-extractor", "validator": "kg-validator"}
TOKENS_PER_TRIPLE = 50
ASKED_TRIPLES = 4
"""The Extractor asks the model for at most this many triples per document: room for eight
triples' JSON (480 tokens) ran the default host past the call's 30 s. What the model does not
find, the document's sentences may (``statements``)."""
ANSWER_ENDS = ("\n\n", "\nGoal:", "\nDocument:")
"""Where an answer has ended: each worked example's answer is followed by a blank line and
the next example, which a base model goes on to write if nothing stops it."""


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
        self.svc, self.model, self.request, self.actor = service, model, request, actor
        self.graph_id = request.graph_id or f"kg-{service.make_id()[:12]}"
        self.outcome = Outcome(self.graph_id, f"enr-{service.make_id()[:12]}")
        self._cause = f"command:EnrichGraph:{self.outcome.enrichment_id}"

    # -- the steps ---------------------------------------------------------------------------

    def run(self) -> Outcome:
        self._register_agents()
        self._begin()
        self._plan()
        candidates = [candidate for index, document in enumerate(self.request.documents)
                      for candidate in self._extract(index, document)]
        for candidate in candidates:
            self._validate(candidate)
        self._execute(c.CompleteEnrichment(**self._step()))
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
        # Outside the enrichment's chain of causes: the agents outlive it.
        self.svc.execute_batch([c.EnsureAgent(agent_id=agent_id, role=role, skills=["kg"])
                                for role, agent_id in AGENTS.items()], self.actor)

    def _begin(self) -> None:
        r = self.request
        self._execute(c.RequestEnrichment(
            **self._step(), goal=r.goal, instructions=r.instructions, model=r.model,
            documents=r.documents, nodes=list(r.graph.domain_nodes()),
            edges=list(r.graph.domain_edges()),
            settings={"max_candidates_per_document": r.max_candidates_per_document,
                      "scoring": r.scoring.model_dump(), "timeout_s": r.timeout_s,
                      "retries": r.retries}))

    def _plan(self) -> None:
        prompt = prompts.PLAN.format(goal=self.request.goal,
                                     graph_summary=self._graph_summary(),
                                     instructions=self.request.instructions or "none")
        call = self._ask("planner", prompt, max_tokens=160)
        plan = as_dict(read_answer(call.answer, "{"))
        parsed = bool(plan and plan.get("objective"))
        self._log("planner", prompt, call, parsed)
        self.outcome.plan = _plan_or_default(plan if parsed else None, self.request.goal)
        self._execute(c.RecordPlan(
            **self._step(), objective=self.outcome.plan["objective"][:2000],
            tasks=self.outcome.plan["tasks"],
            success_metrics=self.outcome.plan["success_metrics"], parsed=parsed))

    def _extract(self, index: int, document: str) -> list[dict[str, Any]]:
        limit = self.request.max_candidates_per_document
        prompt = prompts.EXTRACT.format(limit=limit, document=document)
        call = self._ask("extractor", prompt,
                         max_tokens=TOKENS_PER_TRIPLE * min(limit, ASKED_TRIPLES))
        found = triples(read_answer(call.answer, "["))
        self._log("extractor", prompt, call, found is not None)
        prefix = f"{self.outcome.enrichment_id}.d{index}"
        if found is None:
            reason = (f"extractor call failed: {call.error}" if call.error
                      else "Extractor agent returned an unparsable response")
            # Not the Extractor's fault as a triple: it pays nothing for an unreadable answer.
            self._reject(f"{prefix}.x", {"document_index": index}, reason, {},
                         extractor_id=None)
        candidates = [{**triple, "candidate_id": f"{prefix}.c{number}", "document_index": index}
                      for number, triple in enumerate((found or [])[:limit])]
        if not candidates:
            labels = [node.label for node in self.request.graph.nodes]
            candidates = [{**triple, "candidate_id": f"{prefix}.p{number}",
                           "document_index": index}
                          for number, triple in enumerate(
                              statements.triples(document, labels, limit))]
        if candidates:
            self._execute(*(c.ProposeTriple(**self._step(), **candidate)
                            for candidate in candidates))
        return candidates

    def _validate(self, candidate: dict[str, Any]) -> None:
        document = self.request.documents[candidate["document_index"]]
        public = {k: candidate[k] for k in ("subject", "predicate", "object", "confidence",
                                            "justification")}
        unstated = statements.unstated(candidate["subject"], candidate["object"], document)
        if unstated is not None:
            self._reject(candidate["candidate_id"], public, unstated, {},
                         extractor_id=AGENTS["extractor"])
            return
        scorer = likelihoods_of(self.model)
        if scorer is not None:
            call, verdict = self._judge(scorer, candidate, document)
            scores = verdict_scores(verdict)
        else:
            prompt = prompts.VALIDATE.format(
                document=document, graph_summary=self._graph_summary(self._graph()),
                goal=self.request.goal, subject=candidate["subject"],
                predicate=candidate["predicate"], object=candidate["object"])
            call = self._ask("validator", prompt, max_tokens=80)
            verdict = as_dict(read_answer(call.answer, "{"))
            scores = verdict_scores(verdict)
            self._log("validator", prompt, call, scores is not None)
        reason = _refusal(call, verdict, scores, self.request.scoring)
        if reason is not None:
            self._reject(candidate["candidate_id"], public, reason, scores or {},
                         extractor_id=AGENTS["extractor"])
            return
        assert scores is not None  # an answer without scores is refused above
        self._decide(candidate, public, scores)

    def _judge(self, scorer: Any, candidate: dict[str, Any], document: str
               ) -> tuple[Call, dict[str, Any]]:
        """The host's verdict from its likelihoods: confidence is P(Yes) against P(No) after
        the judging prompt; clarity, whether the relation's words are in the sentence that
        names both ends; relevance, whether the triple touches the graph or the goal."""
        prompt = prompts.JUDGE.format(document=document, subject=candidate["subject"],
                                      predicate=candidate["predicate"],
                                      object=candidate["object"])
        rows = [(prompt, " Yes"), (prompt, " No")]
        started = time.time()
        try:
            yes, no = scorer.loglikelihoods(rows)
        except ModelCallError as error:
            call = Call(started, None, str(error)[:500])
            self._log("validator", describe(rows), call, False)
            return call, {}
        answer = encode([yes, no])
        call = Call(started, Completion(text=answer, adapter=scorer.adapter,
                                        model=scorer.model, prompt_tokens=0,
                                        completion_tokens=yes.tokens + no.tokens,
                                        latency_ms=int((time.time() - started) * 1000)), "")
        self._log("validator", describe(rows), call, True)
        confidence = _p_yes(yes, no)
        return call, {"valid": confidence >= 0.5, "confidence": confidence,
                      "clarity": statements.clarity(candidate, document),
                      "relevance": self._relevance(candidate),
                      "reason": f"P(Yes) = {confidence:.2f} after the judging prompt"}

    def _relevance(self, candidate: dict[str, Any]) -> float:
        labels = {node.label.lower() for node in self.request.graph.nodes}
        if {candidate["subject"].lower(), candidate["object"].lower()} & labels:
            return 1.0
        return statements.relevance(candidate, self.request.goal)

    # -- deciding ----------------------------------------------------------------------------

    def _reject(self, candidate_id: str, candidate: dict[str, Any], reason: str,
                scores: dict[str, float], extractor_id: str | None) -> None:
        self._execute(c.RejectTriple(**self._step(), candidate_id=candidate_id,
                                     candidate=candidate, reason=reason, scores=scores,
                                     extractor_id=extractor_id))
        self.outcome.rejected.append({"candidate": candidate, "candidate_id": candidate_id,
                                      "reason": reason})

    def _decide(self, candidate: dict[str, Any], public: dict[str, Any],
                scores: dict[str, float]) -> None:
        """The graph decides (and moves the karma); the outcome reports what it recorded."""
        result = self._execute(c.DecideTriple(
            **self._step(), **public, candidate_id=candidate["candidate_id"], scores=scores,
            score=self.request.scoring.score(**scores), extractor_id=AGENTS["extractor"],
            validator_id=AGENTS["validator"]))
        self._report(public, result)

    def _report(self, public: dict[str, Any], result: CommandResult) -> None:
        o, candidate_id = self.outcome, result.ids["candidate_id"]
        kept = result.ids.get("kept_edge_id")
        if kept is not None:  # it lost a contradiction; its edge may have lost one before
            o.conflicts.append({"candidate_id": candidate_id, "kept": kept,
                                "superseded": result.ids["edge_id"]})
        for event in self._graph_events(result):
            if isinstance(event, TripleAccepted):
                o.accepted.append({**public, "candidate_id": candidate_id,
                                   "edge_id": event.edge.id, "score": event.score,
                                   "scores": event.scores})
                o.new_nodes.extend(node.model_dump() for node in event.new_nodes)
                o.new_edges.append(event.edge.model_dump())
            elif isinstance(event, TripleRejected):
                o.rejected.append({"candidate": event.candidate, "candidate_id": candidate_id,
                                   "reason": event.reason})
            elif isinstance(event, ConflictResolved) and kept is None:
                o.conflicts.append({"candidate_id": candidate_id,
                                    "kept": event.winner_edge_id,
                                    "superseded": event.superseded.id})

    # -- plumbing ----------------------------------------------------------------------------

    def _ask(self, agent: str, prompt: str, max_tokens: int) -> Call:
        """One model call, retried ``retries`` times when it fails (a timeout, an error);
        each failed attempt that is retried goes to the agent log saying so."""
        attempts = self.request.retries + 1
        for attempt in range(1, attempts + 1):
            started = time.time()
            try:
                completion = self.model.complete(prompt, max_tokens=max_tokens,
                                                 stop=ANSWER_ENDS,
                                                 timeout_s=self.request.timeout_s)
            except ModelCallError as error:
                failed = Call(started, None, str(error)[:500])
                if attempt == attempts:
                    return failed
                self._log(agent, prompt, Call(started, None, (
                    f"{failed.error}; retrying (attempt {attempt} of {attempts})")), False)
                continue
            return Call(started, completion, "")
        raise AssertionError("unreachable: the last attempt returns")

    def _log(self, agent: str, prompt: str, call: Call, parsed: bool) -> None:
        completion, answer, error = call.completion, call.answer, call.error
        self.outcome.logs.append(AgentLog(agent, prompt, answer or error,
                                          int(call.started * 1000), parsed))
        self._execute(c.RecordGraphModelCall(
            **self._step(), agent=agent,
            adapter=completion.adapter if completion else self.model.adapter,
            model=completion.model if completion else self.model.model,
            prompt=prompt, response=answer,
            prompt_tokens=completion.prompt_tokens if completion else 0,
            completion_tokens=completion.completion_tokens if completion else 0,
            latency_ms=completion.latency_ms if completion else 0,
            parsed_successfully=parsed, error=error))

    def _step(self) -> dict[str, Any]:
        """What every command of the enrichment carries: its graph and its id."""
        return {"graph_id": self.graph_id, "enrichment_id": self.outcome.enrichment_id}

    def _execute(self, *commands: c.Command) -> CommandResult:
        """One step: its commands in one transaction (retried if it loses a race), caused by
        the last event of the step before, in the chain of the enrichment (its id is the
        correlation id of all it writes): the server's own cause, given as such."""
        cause = Cause(causation_id=self._cause, correlation_id=self.outcome.enrichment_id)
        result = self.svc.execute_batch(commands, self.actor, cause=cause)
        self.outcome.position = max(self.outcome.position, result.position)
        self._cause = result.event_ids[-1] if result.event_ids else self._cause
        return result

    def _graph(self) -> KnowledgeGraph:
        return self.svc.ledger.repository.get(KnowledgeGraph.id_for(self.graph_id))

    def _graph_events(self, result: CommandResult) -> list[Any]:
        """The graph's events that a step saved, read back as stored."""
        graph_id = KnowledgeGraph.id_for(self.graph_id)
        versions = [int(version) for originator, version in
                    (saved.rsplit("@", 1) for saved in result.event_ids) if originator == graph_id]
        return list(self.svc.ledger.repository.event_store.get(
            graph_id, gt=min(versions) - 1, lte=max(versions)))

    def _graph_summary(self, graph: KnowledgeGraph | None = None) -> str:
        if graph is None:
            nodes = [n.label for n in self.request.graph.nodes]
            edges = len(self.request.graph.edges)
        else:
            nodes = [n["label"] for n in graph.nodes.values()]
            edges = sum(e["status"] == "active" for e in graph.edges.values())
        shown = ", ".join(nodes[:20]) + (", ..." if len(nodes) > 20 else "")
        return f"{len(nodes)} nodes ({shown}), {edges} edges"


def _p_yes(yes: Likelihood, no: Likelihood) -> float:
    """P(" Yes") among the two answers: a softmax over their log-likelihoods."""
    top = max(yes.logprob, no.logprob)
    weights = math.exp(yes.logprob - top), math.exp(no.logprob - top)
    return round(weights[0] / sum(weights), 4)


def _plan_or_default(plan: dict[str, Any] | None, goal: str) -> dict[str, Any]:
    """The Planner's plan, or the pipeline's own when its answer could not be read."""
    if plan is None:
        return {"objective": goal,
                "tasks": ["extract candidate triples from each document",
                          "validate each candidate against its document and the graph"],
                "success_metrics": ["accepted triples are stated in their documents"]}
    return {"objective": str(plan.get("objective")), "tasks": strings(plan.get("tasks")),
            "success_metrics": strings(plan.get("success_metrics"))}


def _refusal(call: Call, verdict: dict[str, Any], scores: dict[str, float] | None,
             scoring: Scoring) -> str | None:
    """Why the Validator's answer turns the candidate down before it meets the graph."""
    if call.error:
        return f"validation error: {call.error}"
    if scores is None:
        return "Validator agent returned an unparsable response"
    if verdict.get("valid") is False:
        return f"the validator found it invalid: {str(verdict.get('reason', ''))[:500]}"
    return scoring.verdict(**scores)
