"""Agents by id: role, persona, skills, and whether they are still active."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.agents import Agent, AgentRegistered, AgentRetired
from domain.base import key_of
from projections.base import Projection, handles


class AgentsProjection(Projection):
    name = "agents"
    tables = {"agents": "agent_id"}
    origins = {"agents": Agent.id_for("{agent_id}")}

    @handles(AgentRegistered)
    def _agent_registered(self, event: AgentRegistered, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "INSERT INTO agents (agent_id, role, persona, skills, status, registered_at)"
            " VALUES (%s, %s, %s, %s, 'active', %s)",
            (event.agent_id, event.role, event.persona, Jsonb(list(event.skills)),
             event.timestamp),
        )

    @handles(AgentRetired)
    def _agent_retired(self, event: AgentRetired, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "UPDATE agents SET status = 'retired', retired_at = %s WHERE agent_id = %s",
            (event.timestamp, key_of(event.originator_id)),
        )
