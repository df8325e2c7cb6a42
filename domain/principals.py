"""Who is asking: the caller a command runs for, as the token that authenticated it says."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Principal(BaseModel):
    """Who is asking: an admin, or an agent that may act only as itself."""

    model_config = ConfigDict(frozen=True)

    role: Literal["admin", "agent"]
    agent_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def describe(self) -> str:
        return "admin" if self.is_admin else f"agent {self.agent_id}"


ADMIN = Principal(role="admin")
