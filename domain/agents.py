"""An agent: a worker with a role that takes tasks and earns karma."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance
from domain.errors import AgentRetiredError


class AgentRegistered(AggregateCreated):
    """Version 2 added ``skills``; version 1 events are read with no skills."""

    class_version = 2

    agent_id: str
    role: str = Field(min_length=1, max_length=64)
    persona: str = Field(default="", max_length=1024)
    skills: tuple[str, ...] = ()

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["skills"] = []

    def apply(self, agent: Agent) -> None:
        agent.agent_id = self.agent_id
        agent.role = self.role
        agent.retired = False


class AgentRetired(AggregateEvent):
    reason: str = Field(default="", max_length=1024)

    def apply(self, agent: Agent) -> None:
        agent.retired = True


class Agent(Aggregate):
    id_prefix = "agent"

    @classmethod
    def register(
        cls,
        agent_id: str,
        *,
        role: str,
        persona: str,
        skills: tuple[str, ...],
        at: datetime,
        provenance: Provenance,
    ) -> Agent:
        return cls._create(
            AgentRegistered,
            id=cls.id_for(agent_id),
            agent_id=agent_id,
            role=role,
            persona=persona,
            skills=skills,
            timestamp=at,
            provenance=provenance,
        )

    def ensure_active(self) -> None:
        if self.retired:
            raise AgentRetiredError(f"agent {self.agent_id} is retired")

    def retire(self, reason: str, *, at: datetime, provenance: Provenance) -> None:
        self.ensure_active()
        self.trigger_event(AgentRetired, reason=reason, timestamp=at, provenance=provenance)
