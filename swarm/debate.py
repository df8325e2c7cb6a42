"""The Debater: one agent, two personas. The optimist argues for a claim, the skeptic
against it; each answer is a list of points for the report's pros and cons."""

from __future__ import annotations

from domain.tasks import DataPart, TextPart
from handlers import commands as c
from swarm import prompts
from swarm.passages import sentences, tidy
from swarm.toolkit import ModelSession, Toolkit
from workers.task_worker import PermanentTaskError, TaskMessage, TaskOutcome


def critique_claim(message: TaskMessage, kit: Toolkit) -> TaskOutcome:
    persona = message.payload.get("persona")
    if persona not in prompts.PERSONAS:
        raise PermanentTaskError(
            f"unknown persona {persona!r}; known: {', '.join(prompts.PERSONAS)}")
    claim = message.payload.get("claim", "").strip()
    if not claim:
        raise PermanentTaskError("Critique_Claim needs a claim")
    line, example = prompts.PERSONAS[persona]
    session = ModelSession(kit.model, message.task_id)
    answer = session.ask(f"{persona} critique", prompts.CRITIQUE.format(
        persona_line=line, persona=persona.capitalize(), example=example, claim=claim),
        max_tokens=80, stop=prompts.STOP)
    points = sentences(tidy(answer, 4))
    return TaskOutcome(
        name=f"{persona} critique",
        parts=[TextPart(text=answer or "(no argument)"),
               DataPart(data={"persona": persona, "claim": claim, "points": points})],
        tokens=session.tokens,
        # The claim came from the Analyst; the skeptic is the one who judges it (one vote
        # from the Debater, not one per persona): worth building on if it says something.
        record=[*session.calls, c.CastPeerVote(task_id=message.task_id,
                                               voter_id=message.agent_id,
                                               up=len(claim.split()) >= 5)]
        if message.parent_id and persona == "skeptic" else session.calls,
    )
