"""API bearer tokens: created once, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from domain.errors import NotFoundError
from domain.principals import Principal

TOKEN_PREFIX = "kl"


class InvalidTokenError(Exception):
    """The bearer token is missing, malformed, unknown or revoked."""


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    token: str
    """The secret itself: printed once, never stored."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, datastore: Any) -> None:
        self._datastore = datastore

    def create(self, role: str, agent_id: str | None = None, label: str = "") -> IssuedToken:
        if (role == "agent") != (agent_id is not None):
            raise ValueError("an agent token names exactly one agent; an admin token names none")
        token_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        with self._datastore.get_connection() as conn:
            conn.execute(
                "INSERT INTO api_tokens (token_id, token_hash, role, agent_id, label)"
                " VALUES (%s, %s, %s, %s, %s)",
                (token_id, _hash(token), role, agent_id, label),
            )
        return IssuedToken(token_id=token_id, token=token)

    def authenticate(self, token: str) -> Principal:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise InvalidTokenError("malformed bearer token")
        with self._datastore.get_connection() as conn:
            row = conn.execute(
                "SELECT token_hash, role, agent_id, revoked_at FROM api_tokens"
                " WHERE token_id = %s", (parts[1],),
            ).fetchone()
        if row is None or not hmac.compare_digest(row["token_hash"], _hash(token)):
            raise InvalidTokenError("unknown bearer token")
        if row["revoked_at"] is not None:
            raise InvalidTokenError("revoked bearer token")
        return Principal(role=row["role"], agent_id=row["agent_id"])

    def revoke(self, token_id: str) -> None:
        with self._datastore.get_connection() as conn:
            cursor = conn.execute(
                "UPDATE api_tokens SET revoked_at = now() WHERE token_id = %s"
                " AND revoked_at IS NULL", (token_id,),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"no active token {token_id!r}")

    def list(self) -> list[dict[str, Any]]:
        with self._datastore.get_connection() as conn:
            return conn.execute(
                "SELECT token_id, role, agent_id, label, created_at, revoked_at"
                " FROM api_tokens ORDER BY created_at"
            ).fetchall()
