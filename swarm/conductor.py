"""The research run's process manager: it reads the run's events from the ledger and
issues what comes next, so the chain Fetch -> Summarise -> Extract_Metrics ->
Compare_Methods -> Critique_Claim (optimist, skeptic) -> Synthesise_Report unfolds, and every
finished piece of work goes to the Reviewer.

Every task it issues has an id derived from the run and what the task is for, so a
conductor restarted mid-run re-derives its state from the ledger and issuing twice is
refused by the ledger, not done twice."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.base import AggregateEvent, key_of
from domain.errors import AlreadyExistsError
from domain.karma import KarmaAccount
from domain.runs import RunFinished
from domain.tasks import (
    ACTIVE_STATES,
    STATE_AFTER,
    TERMINAL_STATES,
    ArtifactProduced,
    ReviewScored,
    Task,
    TaskAssigned,
    TaskFailed,
    TaskIssued,
    TaskState,
)
from handlers import commands as c
from handlers.service import LedgerService
from swarm.roster import ROLE_OF_TASK, Role, agent_ids, all_agents

REVIEWED = ("Fetch_Paper", "Summarise_Paper", "Extract_Metrics", "Compare_Methods",
            "Critique_Claim", "Synthesise_Report")
PERSONAS = ("optimist", "skeptic")
MAX_COMPARED_FIGURES = 400


def paper_slugs(paths: list[Path]) -> dict[str, Path]:
    """A task-id-safe, unique name per paper, from its file name."""
    named: dict[str, Path] = {}
    for path in paths:
        base = re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-")[:24] or "paper"
        slug, number = base, 2
        while slug in named:
            slug, number = f"{base}-{number}", number + 1
        named[slug] = path
    return named


@dataclass
class TaskFacts:
    task_type: str
    payload: dict[str, Any]
    parent_id: str | None
    state: TaskState = TaskState.SUBMITTED
    assignee: str | None = None
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    uri: str = ""
    reviewed: bool = False
    content_hash: str = ""
    reason: str = ""


@dataclass
class Conductor:
    service: LedgerService
    run_id: str
    topic: str
    tasks: dict[str, TaskFacts] = field(default_factory=dict)
    position: int = 0
    finished: bool = False

    # -- starting ---------------------------------------------------------------------------

    def begin(self, papers: dict[str, str], workflow_digest: str, code_version: str,
              replay_of: str | None = None) -> None:
        """Start the run (a replay of the recorded run ``replay_of``, if given), register the
        agents it needs, and issue one Fetch per paper (``papers``: slug -> path or URL)."""
        self.service.execute(c.StartRun(run_id=self.run_id, workflow="research",
                                        config_digest=workflow_digest,
                                        code_version=code_version, replay_of=replay_of))
        self.service.execute_batch([
            c.EnsureAgent(agent_id=agent_id, role=role.name, persona=role.description[:1024],
                          skills=list(role.tags)) for agent_id, role in all_agents()])
        for slug, location in sorted(papers.items()):
            key = "url" if "://" in location else "path"
            self._issue(f"fetch.{slug}", "Fetch_Paper", {"paper": slug, key: location})

    # -- following --------------------------------------------------------------------------

    def observe(self, events: list[tuple[int, Any]]) -> None:
        """Fold events of the ledger (any run's: others are skipped) into the run's facts.
        A conductor that starts with no topic takes the one its tasks carry (a resume)."""
        for position, event in events:
            self.position = position
            if event.provenance.run_id != self.run_id:
                continue
            if isinstance(event, RunFinished):
                self.finished = True
            if not Task.owns(event.originator_id):
                continue
            task_id = key_of(event.originator_id)
            if isinstance(event, TaskIssued):
                self.tasks[task_id] = TaskFacts(event.task_type, event.payload, event.parent_id)
                self.topic = self.topic or event.payload.get("topic", "")
            elif (facts := self.tasks.get(task_id)) is not None:
                self._fold(facts, event)

    def _fold(self, facts: TaskFacts, event: AggregateEvent) -> None:
        """One event of a task the conductor knows, after its TaskIssued."""
        facts.state = STATE_AFTER.get(type(event), facts.state)
        match event:
            case TaskAssigned():
                facts.assignee = event.agent_id
            case TaskFailed():
                facts.reason = event.reason
            case ArtifactProduced():
                facts.content_hash = event.content_hash
                self._absorb(facts, event.parts)
            case ReviewScored():
                facts.reviewed = True

    @staticmethod
    def _absorb(facts: TaskFacts, parts: Any) -> None:
        for part in parts:
            if part.kind == "text":
                facts.text = part.text
            elif part.kind == "data":
                facts.data = dict(part.data)
            elif part.kind == "file":
                facts.uri = part.uri

    def advance(self) -> None:
        """Issue whatever the facts now call for. Safe to call as often as one likes."""
        if self.finished:
            return
        for task_id, facts in list(self.tasks.items()):
            if facts.state is TaskState.COMPLETED and facts.task_type in REVIEWED:
                self._request_review(task_id, facts)
            if facts.state is not TaskState.COMPLETED:
                continue
            if facts.task_type == "Fetch_Paper":
                self._issue(f"summarise.{facts.payload['paper']}", "Summarise_Paper",
                            {"paper": facts.payload["paper"], "uri": facts.uri},
                            parent=task_id)
            elif facts.task_type == "Summarise_Paper":
                paper = facts.payload["paper"]
                self._issue(f"metrics.{paper}", "Extract_Metrics",
                            {"paper": paper, "uri": facts.payload["uri"],
                             "method": facts.data.get("method", paper), "summary": facts.text},
                            parent=task_id)
        self._advance_to_comparison()

    def _advance_to_comparison(self) -> None:
        fetches = self._of("Fetch_Paper")
        if not fetches or not all(self._chain_done(task_id) for task_id in fetches):
            return
        # The Analyst needs the numbers, not the sentences they came from; and a task payload
        # has a size limit (64 KiB), which a corpus of many papers would otherwise pass.
        figures = [{k: v for k, v in row.items() if k != "sentence"}
                   for facts in self._of("Extract_Metrics").values()
                   if facts.state is TaskState.COMPLETED
                   for row in facts.data.get("figures", [])][:MAX_COMPARED_FIGURES]
        # Every paper has its row in the comparison, figures or none.
        papers = sorted(facts.payload["paper"] for facts in fetches.values())
        compare = self._issue("compare", "Compare_Methods", {"figures": figures,
                                                             "papers": papers})
        if compare is None or compare.state not in TERMINAL_STATES:
            return
        if compare.state is TaskState.COMPLETED:
            # The debate argues over what the comparison shows (a headline built from the
            # figures), not over the model's narrative of it, which may not hold.
            claim = next(iter(compare.data.get("headlines", [])), compare.text)
            for persona in PERSONAS:
                self._issue(f"critique.{persona}", "Critique_Claim",
                            {"persona": persona, "claim": claim}, parent=self._id("compare"))
        critiques = [self.tasks.get(self._id(f"critique.{p}")) for p in PERSONAS]
        if compare.state is TaskState.COMPLETED and not all(
                t is not None and t.state not in ACTIVE_STATES for t in critiques):
            return
        self._issue("synthesise", "Synthesise_Report", self._synthesis_payload(compare, critiques))
        report = self.tasks.get(self._id("synthesise"))
        if report is not None and report.state not in ACTIVE_STATES and (
                report.state is not TaskState.COMPLETED or report.reviewed
                or self._review_failed(self._id("synthesise"))):
            outcome = "succeeded" if report.state is TaskState.COMPLETED else "failed"
            self.service.execute(c.FinishRun(
                run_id=self.run_id, outcome=outcome,
                summary=f"{len(self._of('Fetch_Paper'))} papers; report {report.state}"))
            self.finished = True

    def _synthesis_payload(self, compare: TaskFacts, critiques: list[TaskFacts | None]) -> dict:
        summaries = [{"paper": facts.payload["paper"], "method": facts.data.get("method", ""),
                      "summary": facts.text}
                     for facts in self._of("Summarise_Paper").values()
                     if facts.state is TaskState.COMPLETED]
        debate = {persona: (t.data.get("points", []) if t and t.state is TaskState.COMPLETED
                            else [])
                  for persona, t in zip(PERSONAS, critiques, strict=True)}
        done = compare.state is TaskState.COMPLETED
        return {"topic": self.topic, "summaries": summaries, "debate": debate,
                "table": compare.data.get("markdown", "") if done else "",
                "headlines": compare.data.get("headlines", []) if done else [],
                "narrative": compare.text if done else ""}

    def _chain_done(self, fetch_id: str) -> bool:
        """A paper is done when its chain ended: a step failed, or its figures are in."""
        paper = self.tasks[fetch_id].payload["paper"]
        for step in (f"fetch.{paper}", f"summarise.{paper}", f"metrics.{paper}"):
            facts = self.tasks.get(self._id(step))
            if facts is None or facts.state in ACTIVE_STATES:
                return False
            if facts.state is not TaskState.COMPLETED:
                return True
        return True

    def _review_failed(self, task_id: str) -> bool:
        review = self.tasks.get(self._id(f"review.{task_id.removeprefix(self.run_id + '.')}"))
        return review is not None and review.state in TERMINAL_STATES - {TaskState.COMPLETED}

    def _request_review(self, task_id: str, facts: TaskFacts) -> None:
        local = task_id.removeprefix(self.run_id + ".")
        self._issue(f"review.{local}", "Review_Artifact", {
            "target_task_id": task_id, "task_type": facts.task_type, "text": facts.text[:6000],
            "data": _compact(facts.data), "uri": facts.uri or facts.payload.get("uri", "")})

    # -- issuing ----------------------------------------------------------------------------

    def _id(self, local: str) -> str:
        return f"{self.run_id}.{local}"

    def _of(self, task_type: str) -> dict[str, TaskFacts]:
        return {task_id: facts for task_id, facts in self.tasks.items()
                if facts.task_type == task_type}

    def _issue(self, local: str, task_type: str, payload: dict[str, Any],
               parent: str | None = None) -> TaskFacts | None:
        task_id = self._id(local)
        if task_id in self.tasks:
            return self.tasks[task_id]
        role: Role = ROLE_OF_TASK[task_type]
        candidates = agent_ids(role)
        payload = {"run_id": self.run_id, "topic": self.topic, **payload}
        try:
            result = self.service.execute_batch([
                c.IssueTask(run_id=self.run_id, task_id=task_id, task_type=task_type,
                            payload=payload, tags=list(role.tags), parent_id=parent,
                            stake_required=self._stake(task_type),
                            # The Reviewer is paid nothing: a judge with no stake in scores.
                            base_reward=0 if task_type == "Review_Artifact" else None),
                c.ScheduleTask(task_id=task_id, candidates=candidates,
                               loads=self._loads(candidates)),
            ])
        except AlreadyExistsError:
            return None  # issued before a restart; its TaskIssued comes with the next read
        # Known at once, not at the next read: the next task issued in this pass counts it.
        self.tasks[task_id] = TaskFacts(task_type, payload, parent,
                                        assignee=result.ids.get("agent_id"))
        return None

    def _loads(self, candidates: list[str]) -> dict[str, int]:
        held = [facts.assignee for facts in self.tasks.values()
                if facts.state in ACTIVE_STATES]
        return {agent: held.count(agent) for agent in candidates}

    def _stake(self, task_type: str) -> Any:
        """The policy's stake, unless no agent of the role could put it up: a newcomer with no
        karma yet still gets the work (stake waived), rather than the run stalling."""
        policy = self.service.policy
        wanted = policy.stake_for(policy.base_reward(task_type))
        if not wanted:
            return None
        balances = [self.service.ledger.repository.get(KarmaAccount.id_for(agent)).balance
                    for agent in agent_ids(ROLE_OF_TASK[task_type])]
        return None if max(balances) >= wanted else 0


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """What the Reviewer needs of an artifact's data, within a task payload's size."""
    kept = dict(data)
    if "figures" in kept:
        kept["figures"] = kept["figures"][:30]
    kept.pop("markdown", None)
    return kept
