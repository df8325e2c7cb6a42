"""Configuration from the environment (KARMA_*), with embedded defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KARMA_", extra="ignore")

    home: Path = Field(
        default=Path(".karma"),
        description="Data folder of the embedded servers and local state.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; when unset an embedded server in the data folder is used.",
    )
    nats_url: str | None = Field(
        default=None,
        description="NATS URL (JetStream enabled); when unset an embedded server is used.",
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_body_bytes: int = Field(
        default=256 * 1024, description="Largest HTTP request body accepted, in bytes."
    )
    max_payload_bytes: int = Field(
        default=64 * 1024, description="Largest task payload or artifact, as JSON, in bytes."
    )
    pool_size: int = 4
    decay_interval_s: float = Field(
        default=86400.0, ge=0, description="How often `karma serve` decays karma (0: never).")
    policy: Path | None = Field(
        default=None, description="Economy policy (TOML); the shipped default when unset.")
    nats_namespace: str = Field(
        default="", pattern=r"^[a-z0-9_]{0,32}$",
        description="Prefix of stream names and subjects, to share a NATS server.")
    nats_replicas: int = Field(default=1, ge=1, le=5,
                               description="JetStream replicas (3 on a cluster).")
    duplicate_window_s: float = Field(default=120.0, gt=0)
    task_max_deliver: int = Field(default=5, ge=1)
    task_ack_wait_s: float = Field(default=30.0, gt=0)

    @property
    def home_path(self) -> Path:
        return self.home.expanduser().resolve()
